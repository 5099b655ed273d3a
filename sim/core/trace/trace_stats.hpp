#pragma once
// Characterisation of an expert-routing trace (moesim trace stats): load imbalance, domain specificity,
// prefill/decode correlation, label classification from the first tokens, co-activation concentration.
// Definitions are in docs/traces.md; trace synthesis (trace_synth.cpp) calibrates against these same estimators.
#include "core/trace/trace.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace moesim {

// Estimators shared by `trace stats` and `trace synth` (one definition, so a synthetic trace is judged by the
// numbers it was calibrated against).

/// Zipf exponent of a popularity vector: minus the least-squares slope of log(count) over log(rank), counts sorted
/// in descending order, over the top half of the ranks with a non-zero count. NaN with fewer than 2 such ranks.
double zipf_exponent(const std::vector<double>& counts);
/// Overlap coefficient of two popularity vectors: sum over experts of min(share_a, share_b), in [0, 1].
double overlap_coefficient(const std::vector<double>& a, const std::vector<double>& b);
/// Jensen-Shannon divergence of two popularity vectors (base 2, in [0, 1]).
double js_divergence(const std::vector<double>& a, const std::vector<double>& b);
/// Pearson correlation; NaN when either vector is constant.
double pearson(const std::vector<double>& a, const std::vector<double>& b);
/// Gini coefficient of non-negative values (0 = all equal).
double gini(std::vector<double> v);
/// Experts in a label's top set for the top-N overlap: max(top_k, ceil(experts / 8)).
int top_set_size(int num_experts, int top_k);

struct TraceStatsOptions {
  int window_steps = 16;       ///< decode steps per window of the imbalance-over-time series
  int signature_tokens = 32;   ///< first tokens a request is classified from
  double train_fraction = 0.5; ///< share of each label's requests the centroids are fitted on
  uint64_t seed = 1;           ///< of the train/test split
};

struct LayerStats {
  int layer = 0;                     ///< model layer id
  double max_mean = 0, cv = 0, gini = 0;     ///< tokens per expert, all tokens
  double window_max_mean_mean = 0;   ///< max/mean per step window, averaged over windows
  double window_max_mean_max = 0;    ///< ... and its largest value
  double zipf = 0;                   ///< mean over labels of zipf_exponent of the label's popularity
  double js = 0;                     ///< mean over label pairs of js_divergence
  double overlap = 0;                ///< mean over label pairs of overlap_coefficient
  double top_overlap = 0;            ///< mean over label pairs of |top_a & top_b| / N
  double pd_correlation = 0;         ///< mean over requests of pearson(prefill counts, decode counts); NaN if none
  int64_t pd_requests = 0;           ///< requests the correlation averages over
  double coactivation_top1pct = 0;   ///< share of co-activated token pairs covered by the top 1% of expert pairs
};

struct TraceStats {
  std::string model_name;
  int num_experts = 0, top_k = 0, num_layers = 0, top_n = 0;
  std::vector<std::string> labels;
  std::vector<int64_t> label_requests; ///< [NL]
  std::vector<int64_t> label_tokens;   ///< [NL]
  TraceStatsOptions options;
  bool windows_over_decode = false;    ///< windows count decode steps (true) or token index in the request (false)
  std::vector<LayerStats> layers;      ///< [L]
  std::vector<int64_t> load;           ///< [L][E] tokens per expert
  std::vector<int64_t> label_load;     ///< [NL][L][E]
  std::vector<int32_t> top_experts;    ///< [NL][L][top_n], most popular first
  std::vector<double> window_max_mean; ///< [W][L], NaN where the window has fewer than 8 x E / top_k tokens
  std::vector<int64_t> window_tokens;  ///< [W]
  std::vector<double> label_zipf;      ///< [NL] mean over layers
  std::vector<double> label_js;        ///< [NL][NL] mean over layers
  std::vector<double> label_overlap;   ///< [NL][NL] mean over layers
  std::vector<double> label_top_overlap; ///< [NL][NL] mean over layers
  // Classification of the label from the first signature_tokens tokens (nearest centroid, held-out requests).
  std::string classify_source;          ///< "prefill" or "first decode tokens"
  std::vector<int32_t> classify_test;   ///< held-out request indices
  std::vector<int32_t> classify_predicted; ///< predicted label per held-out request
  double classify_accuracy = 0;         ///< NaN when the trace has a single label
  // Overall (means over layers; NaN where undefined).
  double max_mean = 0, cv = 0, gini_mean = 0, zipf = 0, js = 0, overlap = 0, top_overlap = 0, pd_correlation = 0,
         coactivation_top1pct = 0;
};

TraceStats compute_trace_stats(const Trace& trace, const TraceStatsOptions& options);
/// HDF5 result (layout in docs/traces.md), written under a temporary name and renamed.
void write_trace_stats(const TraceStats& stats, const std::string& path);
/// The human-readable report of `moesim trace stats`.
std::string format_trace_stats(const TraceStats& stats);

} // namespace moesim
