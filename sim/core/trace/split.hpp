#pragma once
// Train/test split of a trace's requests: by request, stratified by label, seeded.
#include "core/trace/trace.hpp"

#include <cstdint>
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

} // namespace moesim
