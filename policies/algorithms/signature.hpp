#pragma once
// The signature rule: a request goes to the node of its nearest activation cluster that has room.
#include "algorithms/kmeans.hpp"

#include <cstdint>
#include <vector>

namespace moesim::policy {

/// The signature rule: each request (in the given order) is classified from its prefill activations (or, when the
/// trace has no decode phase or the request no prefill, its first `signature_tokens` tokens) to the nearest
/// centroid whose node still has room; node capacity is an equal share of the requests' tokens. Returns the node of
/// each request (aligned with `requests`) and counts in `from_prefill` the requests classified from prefill.
std::vector<int> assign_by_signature(const Trace& trace, const std::vector<int32_t>& requests,
                                     const ActivationClusters& clusters, int nodes, int signature_tokens,
                                     int64_t* from_prefill = nullptr);

} // namespace moesim::policy
