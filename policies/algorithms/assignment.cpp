#include "algorithms/assignment.hpp"

#include "core/io/errors.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace moesim::policy {

std::vector<int> max_gain_assignment(const std::vector<std::vector<double>>& gain, const std::vector<int>& capacity)
{
  const int I = static_cast<int>(gain.size()), B = static_cast<int>(capacity.size());
  if (I == 0)
    return {};
  if (B == 0 || std::accumulate(capacity.begin(), capacity.end(), 0LL) < I)
    throw InternalError("max_gain_assignment: the bins cannot hold the items");
  // Costs c[i][b] = top - gain >= 0, so zero potentials start valid.
  double top = -std::numeric_limits<double>::infinity();
  for (const auto& row : gain) {
    if (static_cast<int>(row.size()) != B)
      throw InternalError("max_gain_assignment: a gain row has the wrong size");
    for (double g : row) {
      if (!std::isfinite(g))
        throw InternalError("max_gain_assignment: a gain is not finite");
      top = std::max(top, g);
    }
  }
  const auto cost = [&](int i, int b) { return top - gain[i][b]; };
  constexpr double kInf = std::numeric_limits<double>::infinity();
  // Vertices: items 0..I-1, bins I..I+B-1. Residual edges: item -> every bin but its own (cost c), bin -> each item
  // it holds (cost -c).
  const int V = I + B;
  std::vector<int> bin_of(I, -1), load(B, 0);
  std::vector<std::vector<int>> members(B);
  std::vector<double> pot(V, 0.0), dist(V);
  std::vector<int> prev(V);
  std::vector<char> done(V);
  for (int s = 0; s < I; ++s) {
    std::fill(dist.begin(), dist.end(), kInf);
    std::fill(prev.begin(), prev.end(), -1);
    std::fill(done.begin(), done.end(), 0);
    dist[s] = 0;
    int terminal = -1;
    // Dense Dijkstra (the graph is complete between items and bins), stopped at the first bin with room.
    for (;;) {
      int u = -1;
      for (int v = 0; v < V; ++v)
        if (!done[v] && dist[v] < kInf && (u < 0 || dist[v] < dist[u]))
          u = v;
      if (u < 0)
        break;
      done[u] = 1;
      if (u < I) {
        for (int b = 0; b < B; ++b) {
          if (b == bin_of[u])
            continue;
          const int v = I + b;
          const double nd = dist[u] + cost(u, b) + pot[u] - pot[v];
          if (nd < dist[v]) {
            dist[v] = nd;
            prev[v] = u;
          }
        }
      } else {
        const int b = u - I;
        if (load[b] < capacity[b]) {
          terminal = u;
          break;
        }
        for (int i : members[b]) {
          const double nd = dist[u] - cost(i, b) + pot[u] - pot[i];
          if (nd < dist[i]) {
            dist[i] = nd;
            prev[i] = u;
          }
        }
      }
    }
    if (terminal < 0)
      throw InternalError("max_gain_assignment: no bin with room is reachable");
    // Potentials: capped at the terminal's distance, which keeps every reduced cost non-negative.
    const double D = dist[terminal];
    for (int v = 0; v < V; ++v)
      pot[v] += std::min(dist[v], D);
    // Augment: walk back from the terminal bin, moving each item on the path into the bin after it.
    int b = terminal - I;
    ++load[b];
    for (;;) {
      const int i = prev[I + b];
      const int old = bin_of[i];
      bin_of[i] = b;
      members[b].push_back(i);
      if (old < 0)
        break; // reached the inserted item
      auto& m = members[old];
      m.erase(std::find(m.begin(), m.end(), i));
      b = old;
    }
  }
  return bin_of;
}

} // namespace moesim::policy
