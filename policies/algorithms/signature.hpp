#pragma once
// The signature rule: a request goes to the node of its nearest activation cluster that has room.
#include "algorithms/kmeans.hpp"
#include "core/policy/policy.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace moesim::policy {

/// The signature rule: each request (in the given order) is classified from its prefill activations (or, when the
/// trace has no decode phase or the request no prefill, its first `signature_tokens` tokens) to the nearest
/// centroid whose node still has room; node capacity is an equal share of the requests' tokens. Returns the node of
/// each request (aligned with `requests`) and counts in `from_prefill` the requests classified from prefill.
/// A signature from the first tokens reads at most all but the last token of a request, and read_tokens (when
/// given; aligned with `requests`) gets how many it read (0 for prefill signatures).
std::vector<int> assign_by_signature(const Trace& trace, const std::vector<int32_t>& requests,
                                     const ActivationClusters& clusters, int nodes, int signature_tokens,
                                     int64_t* from_prefill = nullptr, std::vector<int32_t>* read_tokens = nullptr);

/// The leading tokens of request r a signature reads when it cannot use prefill: signature_tokens, but at most all
/// tokens but the last (so that the request keeps a token to serve).
int signature_length(const Trace& trace, int32_t r, int signature_tokens);
/// The grouping note of a signature rule: how many requests were classified from prefill and from their first
/// tokens, and that those tokens are not replayed.
std::string signature_note(int64_t from_prefill, int64_t from_tokens, int signature_tokens);
/// Judging every grouping on the same tokens: each of `requests` whose signature would come from its tokens (not
/// signature_from_prefill) skips at least its first signature_length(n) tokens (grouping.read_tokens raised to it).
void skip_signature_tokens(const Trace& trace, const std::vector<int32_t>& requests, int n, Grouping& grouping);
/// True when request r's signature is its prefill: it has prefill tokens and the trace has decode tokens (replayed
/// instead of them).
bool signature_from_prefill(const Trace& trace, int32_t r, bool trace_has_decode);

} // namespace moesim::policy
