#pragma once
// The validated, immutable description of one `moesim run` (CLI -> RunSpec -> platform -> actors -> recorder).
#include "core/comm/flow_model.hpp"
#include "core/decode/decode_plan.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace moesim {

struct RunSpec {
  std::string platform_file;
  std::string model_file;
  std::string trace_file;
  std::string placement = "linear";
  std::string grouping = "round_robin";
  int redundant_experts_per_gpu = 0;
  /// Redundant experts in all, as EPLB and SGLang count them (-1: redundant_experts_per_gpu x GPUs).
  int redundant_experts_total = -1;
  /// The total for a cluster of `gpus` GPUs.
  int redundant_experts(int gpus) const
  {
    return redundant_experts_total >= 0 ? redundant_experts_total : redundant_experts_per_gpu * gpus;
  }
  double train_fraction = 0;  ///< 0: fit and serve every request; else fit on this share, serve the rest
  std::string fit_labels;     ///< "a,b": fit on the requests of these labels, serve the others ("" = by train_fraction)
  int clusters = 0;           ///< k of the activation clustering (0 = number of nodes)
  int signature_tokens = 32;  ///< tokens a request is classified from when it has no prefill
  /// Every served request whose signature would come from its tokens (no prefill) is replayed from after its first N
  /// tokens (at most all but the last), whatever the grouping: the tokens the signature groupings skip, so that runs
  /// compared with each other are judged on the same tokens (moesim compare sets N = signature_tokens). 0 = only the
  /// groupings that read tokens skip them.
  int skip_signature_tokens = 0;
  double gpu_balance = 1.5;   ///< activation placement: largest GPU load (x mean) to save copies
  int refit_every = 0;        ///< re-fit the placement before every N-th step on the tokens served (0 = never)
  int refit_window = 0;       ///< ... on the last N steps' tokens (0 = every step served so far)
  double refit_min_load_gain = 0; ///< keep a layer's layout unless the re-fit lowers its largest GPU load by this share
  int batch_per_gpu = 32;
  int steps = 64;
  uint64_t seed = 1;
  std::string dispatch_dtype = "fp8"; ///< "fp8" (DeepEP default: FP8 + one FP32 scale per 128 values) or "bf16"
  int micro_batches = 1;              ///< 2 = DeepSeek-style two-micro-batch overlap
  CommModel comm = CommModel::Fast;   ///< all-to-all model: fast (default) or exact (SimGrid per-pair reference)
  std::string a2a_kernel = "deepep-ll"; ///< all-to-all kernel model (moesim list): deepep-ll, deepep-normal, nccl
  int a2a_sms = 24;                      ///< SMs given to kernels that take a budget (deepep-normal)
  ReplayPhase replay = ReplayPhase::Auto;
  double kernel_overhead_s = 4e-6;
  std::string out_file;      ///< HDF5 result ("" = none)
  std::string timeline_file; ///< Chrome trace JSON ("" = none; .gz: compressed)
  /// Timeline filters: steps and GPUs [first, last] kept (last -1 = to the end).
  int timeline_first_step = 0, timeline_last_step = -1;
  int timeline_first_gpu = 0, timeline_last_gpu = -1;
  int matrix_steps = 2;      ///< record GPU x GPU dispatch matrices of the first N steps ...
  int matrix_layers = 4;     ///< ... for N MoE layers spread over the model
  double max_record_bytes = 4e9; ///< refuse runs whose recording would need more memory than this

  /// UsageError on impossible values (an unknown kernel included).
  void validate() const;
  nlohmann::json to_json() const;
};

/// Bundled defaults (the README's main job), found at run time: $MOESIM_DATA_DIR, else PREFIX/share/moesim beside
/// an installed PREFIX/bin/moesim, else the source and build trees this binary was built from.
std::string bundled_data_dir();
std::string default_platform_file();
std::string default_model_file();
std::string default_trace_file();
/// The calibration record the bundled calibrated platforms were generated from (moesim platform --calibration).
std::string default_calibration_record();

} // namespace moesim
