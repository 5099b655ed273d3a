#include "core/decode/run_spec.hpp"
#include "core/trace/split.hpp"

#include "core/comm/a2a_kernel.hpp"
#include "core/io/errors.hpp"

#include <cmath>
#include <cstdlib>
#include <filesystem>

namespace moesim {

void RunSpec::validate() const
{
  if (batch_per_gpu < 1 || batch_per_gpu > 65536)
    throw UsageError("--batch-per-gpu must be between 1 and 65536");
  if (steps < 1 || steps > 10'000'000)
    throw UsageError("--steps must be between 1 and 10000000");
  if (dispatch_dtype != "fp8" && dispatch_dtype != "bf16")
    throw UsageError("--dispatch-dtype must be fp8 or bf16, got '" + dispatch_dtype + "'");
  if (micro_batches != 1 && micro_batches != 2)
    throw UsageError("--micro-batches must be 1 or 2 (two-micro-batch overlap)");
  if (micro_batches > batch_per_gpu)
    throw UsageError("--micro-batches exceeds --batch-per-gpu");
  if (!(kernel_overhead_s >= 0) || !std::isfinite(kernel_overhead_s) || kernel_overhead_s > 1)
    throw UsageError("--kernel-overhead must be between 0 and 1 s");
  if (redundant_experts_per_gpu < 0 || redundant_experts_per_gpu > 1024)
    throw UsageError("--redundant-experts must be between 0 and 1024");
  if (redundant_experts_total < -1 || redundant_experts_total > 1 << 20)
    throw UsageError("--redundant-experts-total must be between 0 and 1048576");
  if (redundant_experts_total >= 0 && redundant_experts_per_gpu > 0)
    throw UsageError("--redundant-experts (per GPU) and --redundant-experts-total are exclusive: give one");
  if (!(train_fraction >= 0 && train_fraction < 1))
    throw UsageError("--train-fraction must be in [0, 1)");
  if (!fit_labels.empty() && train_fraction > 0)
    throw UsageError("--fit-labels and --train-fraction are exclusive: split by label or by share");
  if (!fit_labels.empty())
    parse_label_list(fit_labels);
  if (!(gpu_balance >= 1 && gpu_balance <= 100))
    throw UsageError("--gpu-balance must be between 1 and 100 (x the mean GPU expert load)");
  if (clusters < 0 || clusters > 4096)
    throw UsageError("--clusters must be between 0 (= nodes) and 4096");
  if (signature_tokens < 1)
    throw UsageError("--signature-tokens must be >= 1");
  if (skip_signature_tokens < 0 || skip_signature_tokens > 1'000'000)
    throw UsageError("--skip-signature-tokens must be between 0 and 1000000");
  if (refit_every < 0 || refit_every > 10'000'000)
    throw UsageError("--refit-every must be between 0 (never) and 10000000 steps");
  if (refit_window < 0 || refit_window > 10'000'000)
    throw UsageError("--refit-window must be between 0 (every step served so far) and 10000000 steps");
  if (!(refit_min_load_gain >= 0 && refit_min_load_gain < 1))
    throw UsageError("--refit-min-load-gain must be in [0, 1) (a share of the layer's largest GPU load)");
  if ((refit_window > 0 || refit_min_load_gain > 0) && refit_every == 0)
    throw UsageError("--refit-window and --refit-min-load-gain need --refit-every (they shape each re-fit)");
  if (!(max_record_bytes > 0))
    throw UsageError("--max-record-bytes must be positive");
  make_a2a_kernel(a2a_kernel); // UsageError listing the known kernels
  if (a2a_sms < 2 || a2a_sms > 4096)
    throw UsageError("--a2a-sms must be between 2 and 4096");
  if (timeline_first_step < 0 || timeline_first_gpu < 0 ||
      (timeline_last_step >= 0 && timeline_last_step < timeline_first_step) ||
      (timeline_last_gpu >= 0 && timeline_last_gpu < timeline_first_gpu))
    throw UsageError("--timeline-steps and --timeline-gpus take FIRST:LAST with 0 <= FIRST <= LAST (or FIRST:)");
  if (matrix_steps < 0 || matrix_layers < 0)
    throw UsageError("--matrix-steps and --matrix-layers must be >= 0");
}

nlohmann::json RunSpec::to_json() const
{
  // Inputs as absolute paths: the record re-runs (run --from) from any directory.
  const auto resolved = [](const std::string& p) {
    std::error_code ec;
    const auto a = std::filesystem::absolute(p, ec);
    return ec || p.empty() || p.rfind("synth:", 0) == 0 ? p : a.lexically_normal().string();
  };
  return nlohmann::json{{"platform", resolved(platform_file)},
                        {"model", resolved(model_file)},
                        {"trace", resolved(trace_file)},
                        {"placement", placement},
                        {"grouping", grouping},
                        {"redundant_experts", redundant_experts_per_gpu},
                        {"redundant_experts_total", redundant_experts_total},
                        {"train_fraction", train_fraction},
                        {"fit_labels", fit_labels},
                        {"clusters", clusters},
                        {"gpu_balance", gpu_balance},
                        {"signature_tokens", signature_tokens},
                        {"skip_signature_tokens", skip_signature_tokens},
                        {"refit_every", refit_every},
                        {"refit_window", refit_window},
                        {"refit_min_load_gain", refit_min_load_gain},
                        {"batch_per_gpu", batch_per_gpu},
                        {"steps", steps},
                        {"seed", seed},
                        {"dispatch_dtype", dispatch_dtype},
                        {"micro_batches", micro_batches},
                        {"comm", comm_model_name(comm)},
                        {"a2a_kernel", a2a_kernel},
                        {"a2a_sms", a2a_sms},
                        {"replay", replay_phase_name(replay)},
                        {"kernel_overhead_s", kernel_overhead_s},
                        {"matrix_steps", matrix_steps},
                        {"matrix_layers", matrix_layers},
                        {"timeline_steps", {timeline_first_step, timeline_last_step}},
                        {"timeline_gpus", {timeline_first_gpu, timeline_last_gpu}}};
}

namespace {

/// Where the bundled inputs are, decided once per process:
/// - MOESIM_DATA_DIR in the environment (a directory laid out like the installed share/moesim);
/// - an installed tree: the binary in PREFIX/bin, the data in PREFIX/share/moesim (cmake --install), wherever the
///   prefix was copied;
/// - otherwise the build tree: the source directory and the build's data/ (the trace converted at build time).
struct DataDirs {
  std::string inputs;    ///< holds platforms/ and data/models/
  std::string generated; ///< holds esft-deepseek-v2-lite.h5
};

const DataDirs& data_dirs()
{
  static const DataDirs dirs = [] {
    namespace fs = std::filesystem;
    const auto laid_out = [](const fs::path& d) {
      std::error_code ec;
      return fs::is_directory(d / "platforms", ec) && fs::is_directory(d / "data" / "models", ec);
    };
    if (const char* env = std::getenv("MOESIM_DATA_DIR"); env != nullptr && *env != '\0') {
      if (!laid_out(env))
        throw UsageError(std::string("MOESIM_DATA_DIR=") + env + ": not a moesim data directory (expected "
                         "platforms/ and data/models/ in it, as in PREFIX/share/moesim of an installed moesim)");
      return DataDirs{env, (fs::path(env) / "data").string()};
    }
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
      const fs::path share = exe.parent_path().parent_path() / "share" / "moesim";
      if (laid_out(share))
        return DataDirs{share.string(), (share / "data").string()};
    }
    return DataDirs{MOESIM_DATA_DIR, MOESIM_BUILD_DATA_DIR};
  }();
  return dirs;
}

} // namespace

std::string bundled_data_dir() { return data_dirs().inputs; }
std::string default_platform_file() { return data_dirs().inputs + "/platforms/h100-calibrated-2n.xml"; }
std::string default_model_file() { return data_dirs().inputs + "/data/models/DeepSeek-V2-Lite/config.json"; }
std::string default_calibration_record()
{
  return data_dirs().inputs + "/platforms/h100-calibrated.calibration.json";
}
std::string default_trace_file() { return data_dirs().generated + "/esft-deepseek-v2-lite.h5"; }

} // namespace moesim
