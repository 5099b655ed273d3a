// `activation`: requests' expert-activation vectors (per layer, L2-normalised) clustered with k-means (k =
// --clusters, default the number of nodes); clusters assigned to nodes with balanced work; the training requests
// are then grouped onto nodes by the same signature rule the `signature` grouping applies online, and each expert
// placed on the node whose requests use it most, under equal per-node capacity (then pairwise exchanges between
// nodes); inside a node experts that tokens choose together share a GPU, balanced by load, then swapped to save
// remote tokens' copies while no GPU exceeds --gpu-balance x the layer's mean GPU load (node and GPU shares follow
// the slot layout, uneven when the experts do not divide the GPUs); with redundant experts,
// most of each node's extra slots hold replicas of the experts its requests use most that live on other nodes, the
// rest copies of the experts with the highest load per copy (docs/policies.md).
#include "algorithms/gpu_packing.hpp"
#include "algorithms/kmeans.hpp"
#include "algorithms/node_exchange.hpp"
#include "algorithms/node_layout.hpp"
#include "algorithms/signature.hpp"
#include "algorithms/trace_counts.hpp"
#include "core/io/errors.hpp"
#include "core/policy/policy.hpp"

#include <algorithm>
#include <tuple>

namespace moesim {
namespace {

Placement place_activation(const PlacementContext& ctx)
{
  const int E = ctx.model.num_routed_experts, N = ctx.cluster.num_nodes();
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
      std::max<int64_t>(1, policy::total_tokens(ctx.trace, ctx.fit_requests) / policy::kCopySampleTokens);
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
    policy::lay_out_layer(ctx, layout, l, node_of, demand, fit_of_node, coact, token_stride, p.replicas[l]);
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
