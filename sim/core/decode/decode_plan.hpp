#pragma once
// What every GPU does in each decode step, computed without SimGrid: which trace tokens each GPU's batch holds
// (the admission rule), where each token's experts are (the placement and replica rule), the resulting GPU-to-GPU
// token counts of dispatch/combine and the per-GPU compute times. docs/model.md describes the rules.
#include "core/cluster/cluster.hpp"
#include "core/compute/compute_model.hpp"
#include "core/policy/policy.hpp"
#include "core/trace/trace.hpp"

#include <cstdint>
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
  std::mt19937_64 rng_;
};

/// Bytes of weights GPU `gpu` holds: every layer's attention, dense FFNs, shared experts, embeddings and LM head
/// (replicated), plus its routed expert copies under the placement.
double weight_bytes_on_gpu(const ModelSpec& model, const Placement& placement, int gpu);
/// UsageError when some GPU's weights exceed its HBM capacity (names the GPU, the need and the capacity).
void check_weights_fit(const ModelSpec& model, const Cluster& cluster, const Placement& placement,
                       const std::string& placement_name, int redundant_per_gpu);

/// Token counts of one MoE layer's dispatch for one micro-batch (combine is its transpose).
struct LayerTraffic {
  /// out[src] = (dst, tokens) with dst != src and tokens > 0, ascending dst.
  std::vector<std::vector<std::pair<int, int32_t>>> out;
  /// in[dst] = (src, tokens): the transpose of out.
  std::vector<std::vector<std::pair<int, int32_t>>> in;
  std::vector<double> expert_time_s;   ///< [gpu] routed-expert compute time
  std::vector<int64_t> expert_tokens;  ///< [gpu] token-expert pairs computed there
  int64_t pairs_total = 0;             ///< token-expert pairs
  int64_t pairs_local_gpu = 0;         ///< served on the token's own GPU
  int64_t pairs_local_node = 0;        ///< served on the token's node (own GPU included)
  int64_t tokens_intra_node = 0;       ///< dispatch token copies to other GPUs of the same node
  int64_t tokens_inter_node = 0;       ///< dispatch token copies to other nodes
  int32_t max_message_tokens = 0;      ///< largest GPU-to-GPU message
  /// Hierarchical path only (DeepEP's normal kernels, `--dispatch-path hierarchical`), [src] -> (dst, tokens):
  /// stage 1 = to the GPUs of the own node over NVLink and to the same-rail GPU (peer) of each other destination
  /// node over the NIC, a token once per destination node; stage 2 = each peer forwards to the other destination
  /// GPUs of its node over NVLink, a token once per GPU. Combine runs both backwards (the peer reduces the node's
  /// results before sending them back once). Empty with the direct path.
  std::vector<std::vector<std::pair<int, int32_t>>> stage1, stage2;
  /// Their transposes, [dst] -> (src, tokens) in ascending src, like `in` for `out`.
  std::vector<std::vector<std::pair<int, int32_t>>> stage1_in, stage2_in;
};

/// How dispatch/combine data travels: `direct` = a token goes from its GPU to each destination GPU (DeepEP's
/// low-latency kernels, the default); `hierarchical` = once per destination node over the NIC, then NVLink.
enum class DispatchPath { Direct, Hierarchical };
DispatchPath parse_dispatch_path(const std::string& s); ///< UsageError on unknown names
std::string dispatch_path_name(DispatchPath p);

struct MicroBatchPlan {
  std::vector<int64_t> tokens;          ///< [gpu] tokens in this micro-batch
  std::vector<int64_t> kv_tokens;       ///< [gpu] sum of KV lengths
  std::vector<double> moe_pre_s;        ///< [gpu] attention + gate + shared experts of one MoE layer
  std::vector<double> dense_layer_s;    ///< [gpu] attention + FFN of one dense layer
  std::vector<double> lm_head_s;        ///< [gpu] final norm + LM head, once per step
  std::vector<LayerTraffic> layers;     ///< [moe layer index]
};

struct StepPlan {
  int step = 0;
  std::vector<MicroBatchPlan> micro;    ///< [micro-batch]
};

struct TrafficParams {
  double dispatch_bytes_per_token = 0; ///< hidden x dispatch dtype (+ FP8 scales)
  double combine_bytes_per_token = 0;  ///< hidden x BF16
};

/// Builds the plan of successive steps: replica choice, dispatch counts, expert times.
class DecodePlanner {
public:
  DecodePlanner(const Trace& trace, const ModelSpec& model, const Cluster& cluster, const Placement& placement,
                const ComputeModel& compute, BatchScheduler& scheduler, int micro_batches,
                DispatchPath path = DispatchPath::Direct);
  StepPlan next_step();
  int micro_batches() const { return micro_batches_; }
  DispatchPath dispatch_path() const { return path_; }

  /// Replica choice for one token's experts on `src_gpu` (exposed for tests): fills `dest` with one GPU per expert.
  /// Rule: a copy on the token's GPU, else on its node, else the copy with the fewest tokens so far in this layer
  /// (ties: lowest rank); `load` holds those counts per GPU for the layer.
  static void choose_replicas(const std::vector<std::vector<int>>& replicas_of_layer, const uint16_t* experts, int k,
                              int src_gpu, const Cluster& cluster, const std::vector<int64_t>& load,
                              std::vector<int>& dest);

private:
  void plan_layer(int moe_layer, const std::vector<std::vector<int64_t>>& tokens, LayerTraffic& out);
  const Trace& trace_;
  const ModelSpec& model_;
  const Cluster& cluster_;
  const Placement& placement_;
  const ComputeModel& compute_;
  BatchScheduler& scheduler_;
  int micro_batches_;
  DispatchPath path_;
  int step_ = 0;
  /// [moe layer][gpu] -> (expert, index in the GPU's local expert list) for the grouped-GEMM token counts
  std::vector<std::vector<std::vector<int>>> local_experts_;
};

} // namespace moesim
