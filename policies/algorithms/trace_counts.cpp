#include "algorithms/trace_counts.hpp"

#include <algorithm>

namespace moesim::policy {

int64_t total_tokens(const Trace& trace, const std::vector<int32_t>& requests)
{
  int64_t total = 0;
  for (int32_t r : requests)
    total += trace.requests[r].token_count;
  return total;
}

std::vector<std::vector<double>> expert_loads(const Trace& trace, const std::vector<int32_t>& requests)
{
  const int L = trace.num_layers(), E = trace.num_experts, k = trace.top_k;
  std::vector<std::vector<double>> load(L, std::vector<double>(E, 0.0));
  for (int32_t r : requests) {
    const auto& q = trace.requests[r];
    for (int64_t t = q.token_offset; t < q.token_offset + q.token_count; ++t)
      for (int l = 0; l < L; ++l) {
        const ExpertIds ex = trace.experts_of(t, l);
        for (int j = 0; j < k; ++j)
          load[l][ex[j]] += 1;
      }
  }
  return load;
}

std::vector<std::vector<std::vector<double>>> coactivation(const Trace& trace, const std::vector<int32_t>& requests)
{
  const int E = trace.num_experts, k = trace.top_k, L = trace.num_layers();
  // Blocks of tokens small enough to stay in cache, scanned once per layer: reads of the routing and writes to
  // the layer's E x E float counts both stay local. Widened to double at the end.
  constexpr int64_t kBlockTokens = 512;
  std::vector<float> flat(static_cast<size_t>(L) * E * E, 0.0f);
  std::vector<std::pair<int64_t, int64_t>> block; // token ranges [begin, end)
  int64_t block_tokens = 0;
  auto flush = [&] {
    for (int l = 0; l < L; ++l) {
      float* m = flat.data() + static_cast<size_t>(l) * E * E;
      for (auto [b, e] : block)
        for (int64_t t = b; t < e; ++t) {
          const ExpertIds ex = trace.experts_of(t, l);
          for (int a = 0; a < k; ++a)
            for (int c = a + 1; c < k; ++c)
              m[static_cast<size_t>(ex[a]) * E + ex[c]] += 1.0f;
        }
    }
    block.clear();
    block_tokens = 0;
  };
  for (int32_t r : requests) {
    const auto& q = trace.requests[r];
    for (int64_t t = q.token_offset; t < q.token_offset + q.token_count; t += kBlockTokens) {
      const int64_t e = std::min<int64_t>(q.token_offset + q.token_count, t + kBlockTokens);
      block.emplace_back(t, e);
      block_tokens += e - t;
      if (block_tokens >= kBlockTokens)
        flush();
    }
  }
  flush();
  std::vector<std::vector<std::vector<double>>> w(L, std::vector<std::vector<double>>(E, std::vector<double>(E, 0.0)));
  for (int l = 0; l < L; ++l) {
    const float* m = flat.data() + static_cast<size_t>(l) * E * E;
    for (int a = 0; a < E; ++a)
      for (int b = 0; b < E; ++b)
        if (a != b) { // a token's top-k experts are distinct: the diagonal stays empty
          w[l][a][b] += m[static_cast<size_t>(a) * E + b];
          w[l][b][a] += m[static_cast<size_t>(a) * E + b];
        }
  }
  return w;
}

} // namespace moesim::policy
