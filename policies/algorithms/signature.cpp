#include "algorithms/signature.hpp"

#include "algorithms/trace_counts.hpp"

namespace moesim::policy {

std::vector<int> assign_by_signature(const Trace& trace, const std::vector<int32_t>& requests,
                                     const ActivationClusters& clusters, int nodes, int signature_tokens,
                                     int64_t* from_prefill)
{
  const int64_t cap = (total_tokens(trace, requests) + nodes - 1) / nodes;
  const bool trace_has_decode = trace.count_phase(Phase::Decode) > 0;
  std::vector<int64_t> node_tokens(nodes, 0);
  std::vector<int> out;
  out.reserve(requests.size());
  int64_t prefill = 0;
  for (int32_t r : requests) {
    const auto& q = trace.requests[r];
    bool has_prefill = false;
    for (int64_t t = q.token_offset; t < q.token_offset + q.token_count && !has_prefill; ++t)
      has_prefill = trace.token_phase[t] == static_cast<uint8_t>(Phase::Prefill);
    // A trace where every token is prefill (teacher-forced) has no decode to hide: use its first tokens then.
    const bool use_prefill = has_prefill && trace_has_decode;
    prefill += use_prefill;
    const auto x = use_prefill ? activation_vector(trace, r, 0, static_cast<int>(Phase::Prefill))
                               : activation_vector(trace, r, signature_tokens, -1);
    int node = -1;
    for (int c : nearest_clusters(clusters, x))
      if (node_tokens[clusters.node_of_cluster[c]] < cap) {
        node = clusters.node_of_cluster[c];
        break;
      }
    node_tokens[node] += q.token_count;
    out.push_back(node);
  }
  if (from_prefill)
    *from_prefill = prefill;
  return out;
}

} // namespace moesim::policy
