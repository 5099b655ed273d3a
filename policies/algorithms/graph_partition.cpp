#include "algorithms/graph_partition.hpp"

#include "algorithms/eplb.hpp"
#include "core/io/errors.hpp"

#include <metis.h>

#include <algorithm>
#include <string>

namespace moesim::policy {

std::vector<int> partition(const std::vector<std::vector<double>>& w, int parts, uint64_t seed,
                           const std::vector<double>& vertex_weight)
{
  const int E = static_cast<int>(w.size());
  std::vector<int> part(E, 0);
  if (parts == 1)
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
  if (adj.empty()) {
    // No co-activation at all (top-1 routing, e.g. Llama 4): every split cuts nothing, so balance counts and
    // load as the partitioner would.
    if (E % parts != 0)
      throw InternalError("partition: " + std::to_string(E) + " vertices do not divide over " +
                          std::to_string(parts) + " parts");
    return balanced_packing(vertex_weight.empty() ? std::vector<double>(E, 1.0) : vertex_weight, parts);
  }
  const int rc = METIS_PartGraphKway(&nv, &ncon, xadj.data(), adj.data(), vw.empty() ? nullptr : vw.data(), nullptr, adjw.data(), &np, nullptr,
                                     nullptr, options, &objval, out.data());
  if (rc != METIS_OK)
    throw InternalError("METIS_PartGraphKway failed with code " + std::to_string(rc));
  for (int e = 0; e < E; ++e)
    part[e] = static_cast<int>(out[e]);
  // Exact balance: move the expert with the weakest tie to its part into an under-full part, until balanced.
  const int cap = E / parts;
  for (;;) {
    std::vector<int> size(parts, 0);
    for (int p : part)
      ++size[p];
    int over = -1, under = -1;
    for (int p = 0; p < parts; ++p) {
      if (size[p] > cap && over < 0)
        over = p;
      if (size[p] < cap && under < 0)
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
