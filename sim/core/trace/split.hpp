#pragma once
// Train/test split of a trace's requests: by request, stratified by label, seeded.
#include "core/trace/trace.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace moesim {

struct RequestSplit {
  std::vector<int32_t> fit;   ///< requests the policies are fitted on (training part)
  std::vector<int32_t> serve; ///< requests the simulation serves (held-out part), in arrival (trace) order
};

/// train_fraction 0 means no split: fit and serve are both every request. Otherwise each label's requests are
/// shuffled with the seed and the first round(fraction x n) go to `fit` (at least one request stays on each side
/// when the label has two or more).
RequestSplit split_requests(const Trace& trace, double train_fraction, uint64_t seed);

/// A split by task family: `fit` = the requests whose label is one of `labels` (names of Trace::labels), `serve` =
/// every other request. UsageError naming `trace_file`, the unknown label and the trace's labels, or when a side
/// is empty.
RequestSplit split_by_labels(const Trace& trace, const std::vector<std::string>& labels, const std::string& trace_file);
/// "a,b,c" into names (UsageError on an empty name or a repeat).
std::vector<std::string> parse_label_list(const std::string& text);

} // namespace moesim
