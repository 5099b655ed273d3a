#pragma once
// What every GPU does in each decode step, computed without SimGrid: which trace tokens each GPU's batch holds
// (the admission rule), where each token's experts are (the placement and replica rule), the resulting GPU-to-GPU
// token counts of dispatch/combine and the per-GPU compute times. docs/model.md describes the rules.
#include "core/cluster/cluster.hpp"
#include "core/comm/traffic.hpp"
#include "core/compute/compute_model.hpp"
#include "core/policy/policy.hpp"
#include "core/trace/trace.hpp"

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

namespace moesim {

enum class ReplayPhase { Auto, Decode, All };
ReplayPhase parse_replay_phase(const std::string& s);
std::string replay_phase_name(ReplayPhase p);

/// Admission: each GPU owns the requests the grouping gave it, in arrival order, and `batch_per_gpu` slots.
/// At step 0 slot j takes request queue[j mod n] at a seeded random token offset (a batch in steady state holds
/// requests at every stage); a slot whose request runs out of tokens takes the next request of the GPU's queue
/// from its first token, cycling through the queue. KV length of a token = prompt length + position + 1.
class BatchScheduler {
public:
  BatchScheduler(const Trace& trace, const Grouping& grouping, int num_gpus, int batch_per_gpu, ReplayPhase phase,
                 uint64_t seed);
  /// Advances one step. tokens[g] gets the trace token index of every slot of GPU g; kv[g][j] its KV length.
  void next_step(std::vector<std::vector<int64_t>>& tokens, std::vector<std::vector<int64_t>>& kv);
  /// True when decode-phase tokens are replayed, false when all tokens (e.g. teacher-forced traces) are.
  bool replays_decode_only() const { return decode_only_; }
  int batch_per_gpu() const { return batch_; }
  /// Requests the first step's slots hold, each counted once.
  int64_t distinct_requests() const { return distinct_; }
  /// Slots per distinct request at the first step: 1 = every slot holds its own request; above 1 a GPU's queue is
  /// shorter than its batch and the same request fills several slots at once.
  double reuse_factor() const { return distinct_ > 0 ? static_cast<double>(slots_used_) / distinct_ : 0.0; }

private:
  struct Slot {
    int32_t request = -1;
    int32_t cursor = 0; ///< index into eligible_[request]
  };
  const Trace& trace_;
  bool decode_only_ = false;
  int batch_;
  std::vector<std::vector<int64_t>> eligible_;  ///< [request] -> replayed token indices
  std::vector<std::vector<int32_t>> queue_;     ///< [gpu] -> requests
  std::vector<std::vector<Slot>> slots_;        ///< [gpu][slot]
  std::vector<int32_t> next_in_queue_;          ///< [gpu]
  bool started_ = false;
  int64_t distinct_ = 0;   ///< see distinct_requests()
  int64_t slots_used_ = 0; ///< slots of GPUs that serve requests
  std::mt19937_64 rng_;
};

/// Bytes of weights GPU `gpu` holds: every layer's attention, dense FFNs, shared experts, embeddings and LM head
/// (replicated), plus its routed expert copies under the placement.
double weight_bytes_on_gpu(const ModelSpec& model, const Placement& placement, int gpu);
/// weight_bytes_on_gpu of every GPU [0, gpus), in one pass over the placement.
std::vector<double> weight_bytes_per_gpu(const ModelSpec& model, const Placement& placement, int gpus);
/// UsageError when some GPU's weights exceed its HBM capacity (names the GPU, the need and the capacity).
void check_weights_fit(const ModelSpec& model, const Cluster& cluster, const Placement& placement,
                       const std::string& placement_name, int redundant_experts);

/// One MoE layer of one micro-batch: what its dispatch and combine move (the kernel's units per GPU pair and
/// stage) and what its experts compute.
struct LayerTraffic {
  LayerComm comm;                      ///< dispatch stages; combine runs them backwards (comm/traffic.hpp)
  PhaseCost dispatch_cost, combine_cost; ///< the kernel's costs of both phases (comm/phase.hpp applies them)
  double dispatch_unit_bytes = 0, combine_unit_bytes = 0; ///< bytes of one unit of each phase
  /// `moesim op` isolates one phase: a phase marked here moves nothing and costs nothing, only its flags
  /// synchronise the GPUs.
  bool dispatch_idle = false, combine_idle = false;
  std::vector<double> expert_time_s;   ///< [gpu] routed-expert compute time
  std::vector<int64_t> expert_tokens;  ///< [gpu] token-expert pairs computed there
  int64_t pairs_total = 0;             ///< token-expert pairs
  int64_t pairs_local_gpu = 0;         ///< served on the token's own GPU
  int64_t pairs_local_node = 0;        ///< served on the token's node (own GPU included)
};

/// The kernel's costs and unit sizes of a layer whose counts are in lt.comm, on the first `gpus` GPUs of the cluster
/// (planner and `moesim op`).
void cost_layer(const KernelSetup& kernel, const ModelSpec& model, const Cluster& cluster, int gpus, LayerTraffic& lt);

struct MicroBatchPlan {
  std::vector<int64_t> tokens;          ///< [gpu] tokens in this micro-batch
  std::vector<int64_t> kv_tokens;       ///< [gpu] sum of KV lengths
  std::vector<double> moe_pre_s;        ///< [gpu] attention + gate + shared experts of one MoE layer
  std::vector<double> dense_layer_s;    ///< [gpu] attention + FFN of one dense layer
  std::vector<double> lm_head_s;        ///< [gpu] final norm + LM head, once per step
  std::vector<std::vector<int64_t>> gpu_tokens; ///< [gpu] trace token indices of the micro-batch (planner input)
  /// [moe layer index]: filled by StepSource::next_step(); empty after begin_step(), whose layers are planned one at
  /// a time by plan_layer() (the engine keeps only the layers some actor is in).
  std::vector<LayerTraffic> layers;
};

struct StepPlan {
  int step = 0;
  std::vector<MicroBatchPlan> micro;    ///< [micro-batch]
  bool refit = false; ///< the placement was re-fitted before this step (run --refit-every; decode/refit.hpp)
  /// The expert-weight copies the re-fit needs, made before the step's first layer; null when it needs none.
  std::shared_ptr<const LayerTraffic> weight_moves;
  int64_t weight_copies = 0, weight_copies_inter_node = 0; ///< expert copies it sends, and across nodes
};

struct RefitSettings;

/// What the actors replay, step after step (the decode planner; `moesim op` plans a single layer). A step is
/// planned in two parts so that a run holds only the layers in flight: begin_step() admits the step's tokens and
/// computes the per-GPU compute times; plan_layer() plans one MoE layer of one micro-batch of it, in any order.
class StepSource {
public:
  virtual ~StepSource() = default;
  virtual StepPlan begin_step() = 0;
  virtual LayerTraffic plan_layer(const StepPlan& step, int micro, int moe_layer) = 0;
  virtual int micro_batches() const = 0;
  virtual int moe_layers() const = 0;
  /// True when some step plan may carry weight copies (StepPlan::weight_moves).
  virtual bool may_refit() const { return false; }
  /// begin_step() with every layer planned (tests, small tools).
  StepPlan next_step();
};

/// Builds the plan of successive steps: replica choice, the kernel's message counts and costs, expert times.
class DecodePlanner final : public StepSource {
public:
  DecodePlanner(const Trace& trace, const ModelSpec& model, const Cluster& cluster, const Placement& placement,
                const ComputeModel& compute, BatchScheduler& scheduler, int micro_batches, const KernelSetup& kernel);
  StepPlan begin_step() override;
  LayerTraffic plan_layer(const StepPlan& step, int micro, int moe_layer) override;
  int micro_batches() const override { return micro_batches_; }
  int moe_layers() const override { return model_.num_moe_layers(); }
  bool may_refit() const override { return !refits_.empty(); }
  const KernelSetup& kernel() const { return kernel_; }
  /// Re-fits the placement before every settings.every_steps-th step of a run of `steps` steps on the tokens served
  /// so far (or in the last window_steps steps), and puts the weight copies into that step's plan. Call before the
  /// first step: every re-fit is fitted here (UsageError naming the step when the policy refuses one).
  void enable_refit(const RefitSettings& settings, int steps);
  /// The placement layers are being planned on (a re-fit replaces it with the first layer of its step).
  const Placement& placement() const { return placement_; }
  ~DecodePlanner() override;

  /// Replica choice for one token's experts on `src_gpu` (exposed for tests): fills `dest` with one GPU per expert.
  /// Rule: a copy on the token's GPU, else on its node, else the copy with the fewest tokens so far in this layer
  /// (ties: lowest rank); `load` holds those counts per GPU for the layer.
  static void choose_replicas(const std::vector<std::vector<int>>& replicas_of_layer, ExpertIds experts, int k,
                              int src_gpu, const Cluster& cluster, const std::vector<int64_t>& load,
                              std::vector<int>& dest);

private:
  const Trace& trace_;
  const ModelSpec& model_;
  const Cluster& cluster_;
  Placement placement_; ///< a copy: a re-fit replaces it
  const ComputeModel& compute_;
  BatchScheduler& scheduler_;
  int micro_batches_;
  KernelSetup kernel_;
  TrafficBuilder traffic_;
  int step_ = 0;
  /// [moe layer][gpu] -> (expert, index in the GPU's local expert list) for the grouped-GEMM token counts
  std::vector<std::vector<std::vector<int>>> local_experts_;
  /// The placement's replicas flat, for choose_replicas' rule without a pointer chase per expert: the copies of
  /// expert e of MoE layer l are rep_gpu_[rep_begin_[l * E + e] .. rep_begin_[l * E + e + 1]), on nodes rep_node_.
  std::vector<int32_t> rep_begin_, rep_gpu_, rep_node_;
  std::vector<int32_t> expert_count_; ///< plan_layer's [gpu][expert] token counts, all zero between calls
  std::vector<std::pair<int, Placement>> refits_; ///< (step, placement from that step on), in step order
  size_t next_refit_ = 0;
  double expert_bytes_ = 0; ///< bytes of one routed expert's weights (re-fit copies)
  /// A re-fitted placement that takes effect with the layers of step pending_step_: layers of earlier steps may
  /// still be planned after begin_step() of the re-fit step (another micro-batch still in them), on the old one.
  std::unique_ptr<Placement> pending_;
  int pending_step_ = 0;
  void take_pending_placement(int step);
  /// Builds local_experts_ and the flat replica table from placement_.
  void index_placement();
};

} // namespace moesim
