#include "algorithms/signature.hpp"

#include "algorithms/trace_counts.hpp"

#include <algorithm>

namespace moesim::policy {

std::vector<int> assign_by_signature(const Trace& trace, const std::vector<int32_t>& requests,
                                     const ActivationClusters& clusters, int nodes, int signature_tokens,
                                     int64_t* from_prefill, std::vector<int32_t>* read_tokens)
{
  const int64_t cap = (total_tokens(trace, requests) + nodes - 1) / nodes;
  const bool trace_has_decode = trace.count_phase(Phase::Decode) > 0;
  std::vector<int64_t> node_tokens(nodes, 0);
  std::vector<int> out;
  out.reserve(requests.size());
  int64_t prefill = 0;
  if (read_tokens)
    read_tokens->assign(requests.size(), 0);
  for (size_t i = 0; i < requests.size(); ++i) {
    const int32_t r = requests[i];
    const auto& q = trace.requests[r];
    const bool use_prefill = signature_from_prefill(trace, r, trace_has_decode);
    prefill += use_prefill;
    const int n = use_prefill ? 0 : signature_length(trace, r, signature_tokens);
    if (read_tokens)
      (*read_tokens)[i] = n;
    const auto x = use_prefill ? activation_vector(trace, r, 0, static_cast<int>(Phase::Prefill))
                   : n > 0     ? activation_vector(trace, r, n, -1)
                               : SparseVec{};
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

std::string signature_note(int64_t from_prefill, int64_t from_tokens, int signature_tokens)
{
  std::string s = "signature from prefill activations for " + std::to_string(from_prefill) + " requests, from the first " +
                  std::to_string(signature_tokens) + " tokens (at most all but the last) for " + std::to_string(from_tokens);
  if (from_tokens > 0)
    s += "; those tokens are not replayed (a server serves them before it can classify the request)";
  return s;
}

int signature_length(const Trace& trace, int32_t r, int signature_tokens)
{
  return std::max(0, std::min(signature_tokens, trace.requests[r].token_count - 1));
}

void skip_signature_tokens(const Trace& trace, const std::vector<int32_t>& requests, int n, Grouping& grouping)
{
  const bool has_decode = trace.count_phase(Phase::Decode) > 0;
  if (grouping.read_tokens.empty())
    grouping.read_tokens.assign(trace.requests.size(), 0);
  for (const int32_t r : requests)
    if (!signature_from_prefill(trace, r, has_decode))
      grouping.read_tokens[r] = std::max(grouping.read_tokens[r], signature_length(trace, r, n));
}

bool signature_from_prefill(const Trace& trace, int32_t r, bool trace_has_decode)
{
  // A trace where every token is prefill (teacher-forced) has no decode to hide: its first tokens are used then.
  if (!trace_has_decode)
    return false;
  const auto& q = trace.requests[r];
  for (int64_t t = q.token_offset; t < q.token_offset + q.token_count; ++t)
    if (trace.token_phase[t] == static_cast<uint8_t>(Phase::Prefill))
      return true;
  return false;
}

} // namespace moesim::policy
