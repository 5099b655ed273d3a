#include "algorithms/copy_refinement.hpp"

#include <algorithm>

namespace moesim::policy {

std::vector<CopySets> remote_copy_sets(const Trace& trace, const std::vector<std::vector<int32_t>>& requests_of_node,
                                       const std::vector<int>& node_of, int l, int64_t stride)
{
  const int N = static_cast<int>(requests_of_node.size()), E = static_cast<int>(node_of.size());
  std::vector<int> bit(E, 0), count(N, 0); // bit of each expert in its node's sets: the order of experts there
  for (int e = 0; e < E; ++e)
    bit[e] = count[node_of[e]]++;
  std::vector<CopySets> sets(N);
  std::vector<ExpertSet> m(N);
  std::vector<int> members(N, 0), touched;
  for (int src = 0; src < N; ++src)
    for (int32_t r : requests_of_node[src]) {
      const auto& q = trace.requests[r];
      for (int64_t t = q.token_offset; t < q.token_offset + q.token_count; ++t) {
        if (t % stride != 0)
          continue;
        const ExpertIds ex = trace.experts_of(t, l);
        for (int j = 0; j < trace.top_k; ++j) {
          const int n = node_of[ex[j]];
          if (n == src || bit[ex[j]] >= kCopySetExperts)
            continue;
          if (members[n]++ == 0)
            touched.push_back(n);
          m[n].set(static_cast<size_t>(bit[ex[j]]));
        }
        for (int n : touched) {
          if (members[n] >= 2) // routing ids are distinct per token: members = bits set
            sets[n][m[n]] += 1;
          m[n].reset();
          members[n] = 0;
        }
        touched.clear();
      }
    }
  return sets;
}

/// Passes of refine_copies over all expert pairs (it stops earlier when a pass finds nothing to improve).
constexpr int kRefinePasses = 8;

void refine_copies(const CopySets& sets, const std::vector<double>& load, int parts, double max_load,
                   std::vector<int>& part)
{
  const int n = static_cast<int>(load.size());
  if (sets.empty() || n > kCopySetExperts || parts > 64)
    return;
  // Each set as a list of its experts: set i = member[begin[i] .. begin[i + 1]).
  std::vector<int32_t> begin{0}, member;
  std::vector<double> weight;
  std::vector<std::vector<int32_t>> sets_of(n); // expert -> indices of the sets that contain it
  for (const auto& [s, w] : sets) {
    const auto i = static_cast<int32_t>(weight.size());
    for (int e = 0; e < n; ++e)
      if (s.test(static_cast<size_t>(e))) {
        member.push_back(e);
        sets_of[e].push_back(i);
      }
    begin.push_back(static_cast<int32_t>(member.size()));
    weight.push_back(w);
  }
  std::vector<double> pl(parts, 0.0);
  for (int v = 0; v < n; ++v)
    pl[part[v]] += load[v];
  const double limit = std::max(max_load, *std::max_element(pl.begin(), pl.end()));
  const auto copies = [&](int32_t i, int a, int pa, int b, int pb) { // GPUs set i touches, a -> pa, b -> pb
    uint64_t gpus = 0;
    int count = 0;
    for (int32_t k = begin[i]; k < begin[i + 1]; ++k) {
      const int e = member[k];
      const uint64_t g = uint64_t{1} << (e == a ? pa : e == b ? pb : part[e]);
      count += (gpus & g) == 0;
      gpus |= g;
    }
    return count;
  };
  const auto contains = [&](int32_t i, int e) {
    return std::binary_search(member.begin() + begin[i], member.begin() + begin[i + 1], e);
  };
  // First-improvement passes over all pairs (each pass costs what one best-swap search would).
  for (int pass = 0; pass < kRefinePasses; ++pass) {
    bool improved = false;
    for (int a = 0; a < n; ++a)
      for (int b = a + 1; b < n; ++b) {
        const int pa = part[a], pb = part[b];
        if (pa == pb || pl[pa] - load[a] + load[b] > limit || pl[pb] - load[b] + load[a] > limit)
          continue;
        double delta = 0;
        for (int x : {a, b})
          for (int32_t i : sets_of[x]) {
            if (contains(i, x == a ? b : a)) // both move: the set of GPUs is the same
              continue;
            delta += weight[i] * (copies(i, a, pb, b, pa) - copies(i, -1, 0, -1, 0));
          }
        if (delta < 0) {
          pl[pa] += load[b] - load[a];
          pl[pb] += load[a] - load[b];
          std::swap(part[a], part[b]);
          improved = true;
        }
      }
    if (!improved)
      return;
  }
}

} // namespace moesim::policy
