#include "algorithms/node_layout.hpp"

#include "algorithms/copy_refinement.hpp"
#include "algorithms/graph_partition.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace moesim::policy {
namespace {

/// Share of the redundant slots used for locality replicas (the rest balance load); measured in docs/policies.md.
constexpr double kLocalityShare = 0.75;
/// Largest GPU load inside a node allowed before experts are swapped for balance (x the node's mean).
constexpr double kBalanceTolerance = 1.05;

/// Swaps experts between the most and least loaded GPU of a node while that lowers the larger of the two loads,
/// choosing each time the swap that loses the least co-activation inside GPUs, until the most loaded GPU is within
/// kBalanceTolerance of the node's mean. Keeps expert counts per GPU.
void rebalance_parts(const std::vector<std::vector<double>>& w, const std::vector<double>& load, int parts,
                     std::vector<int>& part)
{
  const int n = static_cast<int>(load.size());
  // tie[v][p]: co-activation of v with the experts of part p (v itself excluded), updated on each swap.
  std::vector<std::vector<double>> tie(n, std::vector<double>(parts, 0.0));
  for (int v = 0; v < n; ++v)
    for (int u = 0; u < n; ++u)
      if (u != v)
        tie[v][part[u]] += w[v][u];
  std::vector<double> pl(parts, 0.0);
  for (int v = 0; v < n; ++v)
    pl[part[v]] += load[v];
  const double mean = std::accumulate(pl.begin(), pl.end(), 0.0) / parts;
  for (int iter = 0; iter < 4 * n; ++iter) {
    const int hi = static_cast<int>(std::max_element(pl.begin(), pl.end()) - pl.begin());
    const int lo = static_cast<int>(std::min_element(pl.begin(), pl.end()) - pl.begin());
    if (pl[hi] <= kBalanceTolerance * mean)
      return;
    int best_a = -1, best_b = -1;
    double best_loss = 1e300;
    for (int a = 0; a < n; ++a) {
      if (part[a] != hi)
        continue;
      for (int b = 0; b < n; ++b) {
        if (part[b] != lo || load[b] >= load[a])
          continue;
        const double new_hi = pl[hi] - load[a] + load[b], new_lo = pl[lo] - load[b] + load[a];
        if (std::max(new_hi, new_lo) >= pl[hi])
          continue;
        // Co-activation kept inside GPUs before minus after swapping a (hi -> lo) and b (lo -> hi).
        const double loss = tie[a][hi] + tie[b][lo] - (tie[a][lo] - w[a][b]) - (tie[b][hi] - w[b][a]);
        if (loss < best_loss) {
          best_loss = loss;
          best_a = a;
          best_b = b;
        }
      }
    }
    if (best_a < 0)
      return;
    for (int v = 0; v < n; ++v) {
      if (v != best_a) {
        tie[v][hi] -= w[v][best_a];
        tie[v][lo] += w[v][best_a];
      }
      if (v != best_b) {
        tie[v][lo] -= w[v][best_b];
        tie[v][hi] += w[v][best_b];
      }
    }
    pl[hi] += load[best_b] - load[best_a];
    pl[lo] += load[best_a] - load[best_b];
    std::swap(part[best_a], part[best_b]);
  }
}

/// One message per (token, expert): co-locating experts saves nothing, and experts the same tokens choose, on one
/// GPU, pile a step's tokens onto it. Heaviest first, each expert goes to the GPU with a free slot where its load
/// plus the tokens it shares with the experts already there (co-activation) is smallest.
std::vector<int> spread_parts(const std::vector<std::vector<double>>& w, const std::vector<double>& load,
                              const std::vector<int>& caps)
{
  const int n = static_cast<int>(load.size()), parts = static_cast<int>(caps.size());
  std::vector<int> order(n), part(n, -1), used(parts, 0);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return load[a] > load[b]; });
  std::vector<double> pl(parts, 0.0);
  std::vector<std::vector<double>> tie(n, std::vector<double>(parts, 0.0)); // co-activation with each part
  for (const int a : order) {
    int best = -1;
    double best_cost = 0;
    for (int p = 0; p < parts; ++p) {
      if (used[p] >= caps[p])
        continue;
      const double cost = pl[p] + tie[a][p];
      if (best < 0 || cost < best_cost) {
        best = p;
        best_cost = cost;
      }
    }
    part[a] = best;
    ++used[best];
    pl[best] += load[a];
    for (int v = 0; v < n; ++v)
      tie[v][best] += w[v][a];
  }
  return part;
}

} // namespace

void lay_out_layer(const PlacementContext& ctx, const SlotLayout& layout, int l, const std::vector<int>& node_of,
                   const std::vector<std::vector<std::vector<double>>>& demand,
                   const std::vector<std::vector<int32_t>>& requests_of_node,
                   const std::vector<std::vector<double>>& coact, int64_t token_stride,
                   std::vector<std::vector<int>>& replicas)
{
  const int E = ctx.model.num_routed_experts, G = ctx.cluster.num_gpus(), N = ctx.cluster.num_nodes();
  const int gpn = ctx.cluster.gpus_per_node();
  const auto copy_sets = remote_copy_sets(ctx.trace, requests_of_node, node_of, l, token_stride);
  std::vector<double> total(E, 0.0);
  for (int e = 0; e < E; ++e)
    for (int n = 0; n < N; ++n)
      total[e] += demand[n][l][e];
  // The largest GPU load the copy refinement accepts: --gpu-balance x the layer's mean over all GPUs (the
  // imbalance that slows the layer is the cluster's, not the node's).
  const double max_gpu_load = ctx.gpu_balance * std::accumulate(total.begin(), total.end(), 0.0) / G;
  // Per GPU: load estimate for packing primaries and replicas.
  std::vector<double> gpu_load(G, 0.0);
  std::vector<int> gpu_used(G, 0);
  for (int n = 0; n < N; ++n) {
    std::vector<int> experts;
    for (int e = 0; e < E; ++e)
      if (node_of[e] == n)
        experts.push_back(e);
    // Inside the node, experts that tokens choose together share a GPU (a token is sent once per destination
    // GPU): METIS on the node's co-activation subgraph balanced by load, equal expert counts per GPU, then
    // swaps until the most loaded GPU is within kBalanceTolerance of the node mean; then swaps that save
    // remote tokens' copies (the inter-node bytes) while no GPU exceeds max_gpu_load.
    std::vector<std::vector<double>> sub(experts.size(), std::vector<double>(experts.size(), 0.0));
    for (size_t a = 0; a < experts.size(); ++a)
      for (size_t b = 0; b < experts.size(); ++b)
        sub[a][b] = coact[experts[a]][experts[b]];
    std::vector<double> sub_load;
    for (int e : experts)
      sub_load.push_back(total[e]);
    const std::vector<int> caps(layout.primary.begin() + n * gpn, layout.primary.begin() + (n + 1) * gpn);
    std::vector<int> gpu_part;
    if (ctx.messages_per_expert)
      gpu_part = spread_parts(sub, sub_load, caps);
    else {
      gpu_part = partition(sub, caps, ctx.seed + static_cast<uint64_t>(l), sub_load);
      rebalance_parts(sub, sub_load, gpn, gpu_part);
      refine_copies(copy_sets[n], sub_load, gpn, max_gpu_load, gpu_part);
    }
    for (size_t a = 0; a < experts.size(); ++a)
      replicas[experts[a]].push_back(n * gpn + gpu_part[a]);
    for (int e : experts) {
      gpu_load[replicas[e][0]] += total[e];
      ++gpu_used[replicas[e][0]];
    }
  }
  // Replicas. A share of each node's redundant slots holds the experts its requests use most that live on other
  // nodes (locality; the replica rule sends a token to a copy on its own node); the rest go, EPLB-style, to the
  // experts with the highest load per copy (balance), each on the least-loaded GPU with a free slot of a node
  // without a copy. Loads are re-estimated as copies are added (a local copy takes its node's demand).
  if (layout.total > E) {
    auto least_loaded_free = [&](int n) {
      int best = -1;
      for (int g = n * gpn; g < (n + 1) * gpn; ++g)
        if (gpu_used[g] < layout.slots[g] && (best < 0 || gpu_load[g] < gpu_load[best]))
          best = g;
      return best;
    };
    auto has_copy_on = [&](int e, int n) {
      for (int g : replicas[e])
        if (g / gpn == n)
          return true;
      return false;
    };
    for (int n = 0; n < N; ++n) {
      const int locality_slots = static_cast<int>(std::lround(kLocalityShare * layout.node_spare(n, gpn)));
      std::vector<int> remote;
      for (int e = 0; e < E; ++e)
        if (node_of[e] != n && demand[n][l][e] > 0)
          remote.push_back(e);
      std::stable_sort(remote.begin(), remote.end(), [&](int a, int b) { return demand[n][l][a] > demand[n][l][b]; });
      int added = 0;
      for (int e : remote) {
        if (added == locality_slots)
          break;
        const int best = least_loaded_free(n);
        if (best < 0)
          break;
        replicas[e].push_back(best);
        ++gpu_used[best];
        gpu_load[best] += demand[n][l][e];
        gpu_load[replicas[e][0]] -= demand[n][l][e];
        ++added;
      }
    }
    // Balance, through the replica rule: node n's tokens for e go to e's copies on n (split evenly), else to all of
    // e's copies. While a slot is free, the most loaded GPU's heaviest expert gets one more copy: on the node that
    // sends it most of that load (a second copy in a node splits a hot local expert; a copy on a remote node takes
    // that node's tokens), else wherever a free GPU is least loaded.
    const auto estimate = [&](std::vector<std::vector<std::pair<int, double>>>* from) {
      std::fill(gpu_load.begin(), gpu_load.end(), 0.0);
      std::vector<int> local;
      for (int e = 0; e < E; ++e)
        for (int n = 0; n < N; ++n) {
          const double d = demand[n][l][e];
          if (d <= 0)
            continue;
          local.clear();
          for (int g : replicas[e])
            if (g / gpn == n)
              local.push_back(g);
          const auto& to = local.empty() ? replicas[e] : local;
          for (int g : to) {
            gpu_load[g] += d / static_cast<double>(to.size());
            if (from)
              (*from)[g].emplace_back(e * N + n, d / static_cast<double>(to.size()));
          }
        }
    };
    const auto holds = [&](int g, int e) {
      return std::find(replicas[e].begin(), replicas[e].end(), g) != replicas[e].end();
    };
    std::vector<std::vector<std::pair<int, double>>> from(G);
    for (;;) {
      for (auto& f : from)
        f.clear();
      estimate(&from);
      const int hot = static_cast<int>(std::max_element(gpu_load.begin(), gpu_load.end()) - gpu_load.begin());
      // The hot GPU's load per expert, and per expert the node sending it most.
      std::vector<double> load_of(E, 0.0), top_share(E, 0.0);
      std::vector<int> top_node(E, -1);
      for (auto [key, x] : from[hot]) {
        const int e = key / N, n = key % N;
        load_of[e] += x;
        if (x > top_share[e]) {
          top_share[e] = x;
          top_node[e] = n;
        }
      }
      std::vector<int> order;
      for (int e = 0; e < E; ++e)
        if (load_of[e] > 0)
          order.push_back(e);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return load_of[a] > load_of[b]; });
      int pick_e = -1, pick_g = -1;
      for (int e : order) {
        int g = least_loaded_free(top_node[e]);
        if (g >= 0 && holds(g, e))
          g = -1;
        if (g < 0) // the node is full: the least loaded free GPU anywhere that does not hold it
          for (int n = 0; n < N; ++n) {
            const int c = least_loaded_free(n);
            if (c >= 0 && !holds(c, e) && (g < 0 || gpu_load[c] < gpu_load[g]))
              g = c;
          }
        if (g >= 0) {
          pick_e = e;
          pick_g = g;
          break;
        }
      }
      if (pick_e < 0)
        break; // no free slot takes a copy of the hot GPU's experts: the rule below fills what is left
      replicas[pick_e].push_back(pick_g);
      ++gpu_used[pick_g];
    }
    estimate(nullptr);
    // Slots left: copy the expert with the highest load per copy.
    std::vector<double> per_copy(E);
    for (;;) {
      for (int e = 0; e < E; ++e)
        per_copy[e] = total[e] / static_cast<double>(replicas[e].size());
      std::vector<int> order(E);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return per_copy[a] > per_copy[b]; });
      bool placed = false;
      for (int e : order) {
        int best = -1;
        for (int n = 0; n < N; ++n) {
          if (has_copy_on(e, n))
            continue;
          const int g = least_loaded_free(n);
          if (g >= 0 && (best < 0 || gpu_load[g] < gpu_load[best]))
            best = g;
        }
        if (best < 0)
          continue;
        const double share = per_copy[e] * static_cast<double>(replicas[e].size()) /
                             static_cast<double>(replicas[e].size() + 1);
        for (int g : replicas[e])
          gpu_load[g] -= per_copy[e] - share;
        replicas[e].push_back(best);
        ++gpu_used[best];
        gpu_load[best] += share;
        placed = true;
        break;
      }
      if (!placed)
        break;
    }
  }
}

} // namespace moesim::policy
