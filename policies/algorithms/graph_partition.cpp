#include "algorithms/graph_partition.hpp"

#include "algorithms/eplb.hpp"
#include "algorithms/gpu_packing.hpp"
#include "core/io/errors.hpp"

#include <metis.h>

#include <algorithm>
#include <functional>
#include <numeric>
#include <string>

namespace moesim::policy {

std::vector<int> partition(const std::vector<std::vector<double>>& w, int parts, uint64_t seed,
                           const std::vector<double>& vertex_weight)
{
  return partition(w, even_split(static_cast<int>(w.size()), parts), seed, vertex_weight);
}

std::vector<int> partition(const std::vector<std::vector<double>>& w, const std::vector<int>& sizes, uint64_t seed,
                           const std::vector<double>& vertex_weight)
{
  const int E = static_cast<int>(w.size());
  const int parts = static_cast<int>(sizes.size());
  std::vector<int> part(E, 0);
  int sum = 0;
  for (int s : sizes)
    sum += s;
  if (parts < 1 || sum != E)
    throw InternalError("partition: part sizes do not add up to the vertices");
  if (parts == 1 || E == 0)
    return part;
  std::vector<idx_t> xadj{0}, adj, adjw;
  for (int a = 0; a < E; ++a) {
    for (int b = 0; b < E; ++b)
      if (a != b && w[a][b] > 0) {
        adj.push_back(b);
        adjw.push_back(static_cast<idx_t>(std::min(w[a][b], 1e9)));
      }
    xadj.push_back(static_cast<idx_t>(adj.size()));
  }
  idx_t nv = E, ncon = 1, np = parts, objval = 0;
  // Vertex weights (scaled to integers) make METIS balance load; without them it balances counts.
  std::vector<idx_t> vw;
  if (!vertex_weight.empty()) {
    const double mx = std::max(1e-12, *std::max_element(vertex_weight.begin(), vertex_weight.end()));
    for (double v : vertex_weight)
      vw.push_back(1 + static_cast<idx_t>(1000.0 * v / mx));
  }
  std::vector<idx_t> out(E, 0);
  idx_t options[METIS_NOPTIONS];
  METIS_SetDefaultOptions(options);
  options[METIS_OPTION_SEED] = static_cast<idx_t>(seed & 0x7fffffff);
  options[METIS_OPTION_UFACTOR] = 1; // 0.1% imbalance in vertex counts
  if (adj.empty() || E <= parts) {
    // No co-activation at all (top-1 routing, e.g. Llama 4), or no more vertices than parts (METIS cannot bisect
    // that): balance counts and load as the partitioner would.
    return balanced_packing(vertex_weight.empty() ? std::vector<double>(E, 1.0) : vertex_weight, sizes);
  }
  const int rc = METIS_PartGraphKway(&nv, &ncon, xadj.data(), adj.data(), vw.empty() ? nullptr : vw.data(), nullptr, adjw.data(), &np, nullptr,
                                     nullptr, options, &objval, out.data());
  if (rc != METIS_OK)
    throw InternalError("METIS_PartGraphKway failed with code " + std::to_string(rc));
  for (int e = 0; e < E; ++e)
    part[e] = static_cast<int>(out[e]);
  // METIS labels parts arbitrarily: with sizes that differ, give its largest parts the largest sizes; then move the
  // expert with the weakest tie to its part into an under-full part, until every part has its size.
  if (std::adjacent_find(sizes.begin(), sizes.end(), std::not_equal_to<>()) != sizes.end()) {
    std::vector<int> got(parts, 0);
    for (int p : part)
      ++got[p];
    std::vector<int> by_got(parts), by_size(parts);
    std::iota(by_got.begin(), by_got.end(), 0);
    std::iota(by_size.begin(), by_size.end(), 0);
    std::stable_sort(by_got.begin(), by_got.end(), [&](int a, int b) { return got[a] > got[b]; });
    std::stable_sort(by_size.begin(), by_size.end(), [&](int a, int b) { return sizes[a] > sizes[b]; });
    std::vector<int> relabel(parts);
    for (int i = 0; i < parts; ++i)
      relabel[by_got[i]] = by_size[i];
    for (int& p : part)
      p = relabel[p];
  }
  for (;;) {
    std::vector<int> size(parts, 0);
    for (int p : part)
      ++size[p];
    int over = -1, under = -1;
    for (int p = 0; p < parts; ++p) {
      if (size[p] > sizes[p] && over < 0)
        over = p;
      if (size[p] < sizes[p] && under < 0)
        under = p;
    }
    if (over < 0)
      break;
    int best = -1;
    double best_gain = -1e300;
    for (int e = 0; e < E; ++e) {
      if (part[e] != over)
        continue;
      double to_over = 0, to_under = 0;
      for (int b = 0; b < E; ++b) {
        if (part[b] == over && b != e)
          to_over += w[e][b];
        if (part[b] == under)
          to_under += w[e][b];
      }
      if (to_under - to_over > best_gain) {
        best_gain = to_under - to_over;
        best = e;
      }
    }
    part[best] = under;
  }
  return part;
}

} // namespace moesim::policy
