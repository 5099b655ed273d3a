#pragma once
// Synthetic expert-routing traces with controlled statistics (moesim trace synth). The generative model and the
// calibration are described in docs/traces.md.
#include "core/trace/trace.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace moesim {

struct ModelSpec;

struct SynthSpec {
  std::string preset = "generic";
  std::vector<std::string> labels{"code", "math", "chat", "general"};
  std::vector<double> label_mix;  ///< weight of each label (empty = equal)
  int requests = 256;             ///< used when tokens == 0
  int64_t tokens = 0;             ///< > 0: generate requests until exactly this many tokens
  int prompt_min = 64, prompt_max = 256; ///< prefill tokens per request (uniform)
  int decode_min = 32, decode_max = 128; ///< decode tokens per request (uniform)
  int context = 0;                ///< untraced context before each request's first traced token (its KV length)
  double skew = 0.5;        ///< target Zipf exponent of each label's expert popularity (zipf_exponent)
  double overlap = 0.6;     ///< target overlap coefficient between the labels' popularity
  double correlation = 0.6; ///< target prefill/decode Pearson correlation of a request's expert counts
  double drift = 0;         ///< share of a request's decode distribution renewed every drift_window decode steps
  int drift_window = 16;
  /// Arrival order of the requests: "mixed" (labels drawn independently per request) or "by-label" (the same
  /// requests in label order: the task mix a server sees shifts over the trace, as when traffic changes with the
  /// time of day).
  std::string arrival = "mixed";
  uint64_t seed = 1;

  /// UsageError naming the option on impossible values.
  void validate() const;
};

/// Generator parameters found by calibration, and the statistics the calibration pilot reached with them.
struct SynthCalibration {
  double zipf = 0;          ///< exponent of the Zipf weights the labels' distributions are built from
  double tail = 0;          ///< extra exponent below the top half of the ranks
  double shared = 0;        ///< weight of the popularity component all labels share
  double alpha = 0;         ///< weight of the prefill distribution in a request's decode distribution
  double dispersion = 0;    ///< weight of a request's own favourite experts against its label's popularity
  double skew = 0, overlap = 0, correlation = 0; ///< reached on the pilot
};

/// Named presets: "generic", "deepseek-v3", "qwen3", "maverick" (published prefill/decode correlations).
SynthSpec synth_preset(const std::string& name);
std::vector<std::string> synth_preset_names();
/// The preset matching a model (by model_type), "generic" otherwise.
std::string default_synth_preset(const ModelSpec& model);

/// Generates a trace for `model` (all its MoE layers, its top-k and group-limited routing).
Trace synthesize_trace(const ModelSpec& model, const SynthSpec& spec, SynthCalibration* calibration = nullptr);

} // namespace moesim
