// `activation`: requests' expert-activation vectors (per layer, L2-normalised) clustered with k-means (k =
// --clusters, default the number of nodes); clusters assigned to nodes with balanced work; the training requests
// are then grouped onto nodes by the same signature rule the `signature` grouping applies online, and each expert
// placed on the node whose requests use it most, under equal per-node capacity (then pairwise exchanges between
// nodes); inside a node experts that tokens choose together share a GPU, balanced by load, then swapped to save
// remote tokens' copies while no GPU exceeds --gpu-balance x the layer's mean GPU load (node and GPU shares follow
// the slot layout, uneven when the experts do not divide the GPUs); with redundant experts,
// most of each node's extra slots hold replicas of the experts its requests use most that live on other nodes, the
// rest copies of the experts with the highest load per copy (docs/policies.md).
#include "algorithms/copy_refinement.hpp"
#include "algorithms/gpu_packing.hpp"
#include "algorithms/graph_partition.hpp"
#include "algorithms/kmeans.hpp"
#include "algorithms/node_exchange.hpp"
#include "algorithms/signature.hpp"
#include "algorithms/trace_counts.hpp"
#include "core/io/errors.hpp"
#include "core/policy/policy.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>

namespace moesim {
namespace {

/// Share of the redundant slots used for locality replicas (the rest balance load); measured in docs/policies.md.
constexpr double kLocalityShare = 0.75;
/// Largest GPU load inside a node allowed before experts are swapped for balance (x the node's mean).
constexpr double kBalanceTolerance = 1.05;
/// Fitting tokens sampled per MoE layer for the copy refinement (enough for its set counts; bounds its cost).
constexpr int64_t kCopySampleTokens = 16384;

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

Placement place_activation(const PlacementContext& ctx)
{
  const int E = ctx.model.num_routed_experts, G = ctx.cluster.num_gpus(), N = ctx.cluster.num_nodes();
  const int gpn = ctx.cluster.gpus_per_node();
  const policy::SlotLayout layout = policy::slot_layout(E, ctx.cluster.num_nodes(), ctx.cluster.gpus_per_node(), ctx.redundant_experts);
  const int L = ctx.model.num_moe_layers();
  const auto clusters = policy::fit_activation_clusters(ctx.trace, ctx.fit_requests, ctx.clusters, N, ctx.seed);
  // Demand as the online grouping will see it: training requests placed by their signatures.
  // demand[node][l][e]: tokens that the node's requests send to expert e at MoE layer l.
  const auto fit_node =
      policy::assign_by_signature(ctx.trace, ctx.fit_requests, clusters, N, ctx.signature_tokens);
  std::vector<std::vector<int32_t>> fit_of_node(N);
  for (size_t i = 0; i < ctx.fit_requests.size(); ++i)
    fit_of_node[fit_node[i]].push_back(ctx.fit_requests[i]);
  std::vector<std::vector<std::vector<double>>> demand;
  for (int n = 0; n < N; ++n)
    demand.push_back(policy::expert_loads(ctx.trace, fit_of_node[n]));
  Placement p;
  p.replicas.assign(L, std::vector<std::vector<int>>(E));
  const auto coact_all = policy::coactivation(ctx.trace, ctx.fit_requests);
  const int64_t token_stride =
      std::max<int64_t>(1, policy::total_tokens(ctx.trace, ctx.fit_requests) / kCopySampleTokens);
  for (int l = 0; l < L; ++l) {
    const auto& coact = coact_all[l];
    // Primary copies: the (node, expert) pairs with most demand first.
    std::vector<std::tuple<double, int, int>> pairs;
    for (int n = 0; n < N; ++n)
      for (int e = 0; e < E; ++e)
        pairs.emplace_back(-demand[n][l][e], n, e);
    std::sort(pairs.begin(), pairs.end());
    std::vector<int> node_of(E, -1), room(N);
    for (int n = 0; n < N; ++n)
      room[n] = layout.node_primary(n, gpn);
    for (auto [d, n, e] : pairs)
      if (node_of[e] < 0 && room[n] > 0) {
        node_of[e] = n;
        --room[n];
      }
    policy::exchange_between_nodes(demand, l, node_of);
    const auto copy_sets = policy::remote_copy_sets(ctx.trace, fit_of_node, node_of, l, token_stride);
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
      auto gpu_part = policy::partition(sub, caps, ctx.seed + static_cast<uint64_t>(l), sub_load);
      rebalance_parts(sub, sub_load, gpn, gpu_part);
      policy::refine_copies(copy_sets[n], sub_load, gpn, max_gpu_load, gpu_part);
      for (size_t a = 0; a < experts.size(); ++a)
        p.replicas[l][experts[a]].push_back(n * gpn + gpu_part[a]);
      for (int e : experts) {
        gpu_load[p.replicas[l][e][0]] += total[e];
        ++gpu_used[p.replicas[l][e][0]];
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
        for (int g : p.replicas[l][e])
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
          p.replicas[l][e].push_back(best);
          ++gpu_used[best];
          gpu_load[best] += demand[n][l][e];
          gpu_load[p.replicas[l][e][0]] -= demand[n][l][e];
          ++added;
        }
      }
      // Balance: copy the expert with the highest load per copy until every slot is used.
      std::vector<double> per_copy(E);
      for (;;) {
        for (int e = 0; e < E; ++e)
          per_copy[e] = total[e] / static_cast<double>(p.replicas[l][e].size());
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
          const double share = per_copy[e] * static_cast<double>(p.replicas[l][e].size()) /
                               static_cast<double>(p.replicas[l][e].size() + 1);
          for (int g : p.replicas[l][e])
            gpu_load[g] -= per_copy[e] - share;
          p.replicas[l][e].push_back(best);
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
  return p;
}

const bool registered = PlacementRegistry::instance().add(
    "activation",
    "k-means clusters of requests' expert activations mapped to nodes; experts on the node that uses them most "
    "(equal capacity), co-activated experts on one GPU (within --gpu-balance); replicas of hot remote and hot experts",
    place_activation);

} // namespace
} // namespace moesim
