#pragma once
// Collects what the simulation measured (plain C++; the SimGrid actors call it) and writes the console summary,
// the HDF5 result file and the Chrome-trace timeline.
#include "core/decode/decode_plan.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <map>
#include <string>
#include <vector>

namespace moesim {

/// What a GPU does in a span. The first kNumSpanKinds are summed per step and layer; WeightMove (a re-fit's expert
/// copies before a step, and the wait for the last of them) is kept per step.
enum class SpanKind { Attention = 0, Dispatch = 1, Expert = 2, Combine = 3, Head = 4, Wait = 5, WeightMove = 6 };
inline constexpr int kNumSpanKinds = 6;
const char* span_kind_name(SpanKind k);

struct RecorderShape {
  int steps = 0;
  int gpus = 0;
  int gpus_per_node = 1;
  int layers = 0;       ///< all model layers (dense included)
  int micro_batches = 1;
  std::vector<int> moe_layers;
  double dispatch_unit_bytes = 0; ///< bytes of one dispatch unit of the all-to-all kernel (A2aKernel::unit_bytes)
  double combine_unit_bytes = 0;
  bool timeline = false;
  /// Timeline filters: steps and GPUs [first, last] kept (last -1 = to the end).
  int timeline_first_step = 0, timeline_last_step = -1;
  int timeline_first_gpu = 0, timeline_last_gpu = -1;
  std::vector<int> matrix_steps;      ///< steps whose dispatch byte matrices are kept
  std::vector<int> matrix_moe_layers; ///< MoE layer indices whose matrices are kept
};

/// Bytes the recorder will hold for this shape (per-step tables, sampled matrices, timeline spans): checked before a
/// run so an oversized recording is refused up front instead of failing mid-run.
double estimate_recording_bytes(const RecorderShape& shape);

class Recorder {
public:
  explicit Recorder(RecorderShape shape);
  /// Bytes of one routed expert's weights, for the re-fit's copy counts (0: the run does not re-fit).
  void set_expert_bytes(double bytes) { expert_bytes_ = bytes; }

  /// A phase of one GPU/micro-batch in layer `layer` (model layer id; -1 for the per-step LM head) of `step`.
  /// `tokens` and `bytes` (-1: not known) go into the timeline's args: tokens of the GPU's micro-batch (attention),
  /// token-expert pairs (experts), tokens sent and bytes the GPU sends (dispatch, combine).
  void span(int step, int gpu, int micro, int layer, SpanKind kind, double t0_s, double t1_s, int64_t tokens = -1,
            double bytes = -1);
  void step_done(int step, int gpu, double t_s);
  /// Metrics of a step's admitted batch (before it is simulated).
  void step_metrics(const StepPlan& plan);
  /// Traffic and load metrics of one planned MoE layer of a micro-batch, in any order.
  void layer_metrics(int step, int micro, int moe_layer, const LayerTraffic& lt);

  struct Summary {
    double tpot_mean_s = 0, tpot_p50_s = 0, tpot_p99_s = 0, tpot_max_s = 0;
    double tokens_per_s_per_gpu = 0, tokens_per_s_per_node = 0, tokens_per_s = 0;
    double simulated_s = 0;
    double dispatch_intra_bytes_per_step = 0, dispatch_inter_bytes_per_step = 0;
    double combine_intra_bytes_per_step = 0, combine_inter_bytes_per_step = 0;
    double locality_gpu = 0, locality_node = 0;
    double expert_load_max_over_mean = 0;
    double max_message_bytes = 0;
    int refits = 0;                 ///< re-fits of the placement (run --refit-every)
    double weight_move_s = 0;       ///< simulated time spent moving expert weights, summed over steps
    double weight_bytes = 0, weight_bytes_inter_node = 0; ///< expert-weight bytes copied (all GPUs)
  };
  Summary summary() const;
  std::string format_summary(const Summary& s) const;
  /// Per-layer breakdown, mean over steps and GPUs, in seconds: [layer][kind].
  std::vector<std::array<double, kNumSpanKinds>> layer_breakdown_mean() const;
  std::vector<double> step_end_times() const;

  /// Writes the result file atomically (temporary name, then rename).
  /// `attrs` become root attributes (strings), `summary_values` numeric attributes of /summary.
  void write_hdf5(const std::string& path, const nlohmann::json& config, const std::map<std::string, std::string>& attrs,
                  const std::map<std::string, double>& summary_values = {}) const;
  /// Chrome trace event JSON (gzip-compressed when `path` ends in .gz) for ui.perfetto.dev: one process per node,
  /// one track per GPU and micro-batch, a "step N" slice around each step's phases on it. Times are integer
  /// nanoseconds computed once per instant (a slice ends where the next begins), written as microseconds with three
  /// decimals.
  void write_timeline(const std::string& path) const;

  /// One recorded phase (shape.timeline only).
  struct TimelineSpan {
    int step, gpu, micro, layer;
    SpanKind kind;
    double t0, t1;
    int64_t tokens = -1;
    double bytes = -1;
  };
  const std::vector<TimelineSpan>& spans() const { return timeline_; }

private:
  struct StepMetrics {
    double batch_tokens = 0;
    double dispatch_intra_tokens = 0, dispatch_inter_tokens = 0;
    double pairs_total = 0, pairs_local_gpu = 0, pairs_local_node = 0;
    /// [micro-batch][MoE layer] max/mean expert pairs per GPU, -1 where the layer computed nothing; summed in this
    /// order whatever the order layers were planned in
    std::vector<double> load_ratio;
    double load_ratio_sum() const;
    int load_ratio_n() const;
    double max_message_tokens = 0;
    bool refit = false;                 ///< the placement was re-fitted before this step
    double weight_copies = 0, weight_copies_inter_node = 0;
    double weight_move_s = 0;           ///< longest weight-move span of a GPU (copies and the wait for the last)
  };
  size_t idx(int step, int layer, int kind) const
  {
    return (static_cast<size_t>(step) * shape_.layers + layer) * kNumSpanKinds + kind;
  }
  RecorderShape shape_;
  double expert_bytes_ = 0;
  std::vector<double> sums_;      ///< [step][layer][kind] summed over GPUs and micro-batches
  std::vector<double> head_;      ///< [step] LM head time summed over GPUs
  std::vector<double> step_end_;  ///< [step] max over GPUs
  std::vector<StepMetrics> metrics_;
  /// kept dispatch byte matrices, G x G each, micro-batches summed: (step, moe layer index) -> matrix
  std::map<std::pair<int, int>, std::vector<double>> matrices_;
  std::vector<TimelineSpan> timeline_;
  std::vector<double> layer_intra_tokens_; ///< [moe layer] dispatch token copies inside nodes, summed over steps
  std::vector<double> layer_inter_tokens_; ///< [moe layer] dispatch token copies across nodes, summed over steps
  std::vector<double> layer_gpu_pairs_;    ///< [moe layer][GPU] token-expert pairs computed, summed over steps
};

} // namespace moesim
