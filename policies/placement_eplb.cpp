// `eplb`: DeepSeek's expert-parallel load balancer (github deepseek-ai/EPLB, eplb.py), per MoE layer, with loads
// from the fitting split. Hierarchical when the expert groups divide evenly over nodes: pack groups onto nodes,
// replicate the hottest experts inside each node, pack the replicas onto the node's GPUs by load. Global otherwise
// (one group, one node: replicate over all experts, pack over all GPUs). Redundant experts: per GPU x GPUs in all.
#include "core/errors.hpp"
#include "policy_util.hpp"

#include <numeric>

namespace moesim {
namespace {

Placement place_eplb(const PlacementContext& ctx)
{
  const int E = ctx.model.num_routed_experts, G = ctx.cluster.num_gpus();
  const int slots = policy::slots_per_gpu("eplb", E, G, ctx.redundant_experts_per_gpu);
  const int physical = slots * G;
  const int groups = ctx.model.n_group;
  const bool hierarchical = groups % ctx.cluster.num_nodes() == 0;
  const int nodes = hierarchical ? ctx.cluster.num_nodes() : 1;
  const int n_groups = hierarchical ? groups : 1;
  if (E % n_groups != 0 || n_groups % nodes != 0 || physical % nodes != 0 || G % nodes != 0)
    throw UsageError("placement eplb: experts, groups and GPUs do not divide evenly over nodes");
  const int group_size = E / n_groups, groups_per_node = n_groups / nodes;
  const int experts_per_node = E / nodes, phy_per_node = physical / nodes, gpus_per_node = G / nodes;
  const auto loads = policy::expert_loads(ctx.trace, ctx.fit_requests);

  Placement p;
  p.replicas.assign(ctx.model.num_moe_layers(), std::vector<std::vector<int>>(E));
  for (int l = 0; l < ctx.model.num_moe_layers(); ++l) {
    const auto& w = loads[l];
    // Step 1: groups onto nodes.
    std::vector<double> group_w(n_groups, 0.0);
    for (int e = 0; e < E; ++e)
      group_w[e / group_size] += w[e];
    const auto group_node = policy::balanced_packing(group_w, nodes);
    for (int node = 0; node < nodes; ++node) {
      std::vector<int> experts; // logical experts of this node, in group order
      for (int g = 0; g < n_groups; ++g)
        if (group_node[g] == node)
          for (int i = 0; i < group_size; ++i)
            experts.push_back(g * group_size + i);
      if (static_cast<int>(experts.size()) != experts_per_node || groups_per_node * group_size != experts_per_node)
        throw InternalError("eplb: node packing broke the group balance");
      // Step 2: replicate inside the node.
      std::vector<double> node_w;
      for (int e : experts)
        node_w.push_back(w[e]);
      const auto phy2log = policy::replicate_experts(node_w, phy_per_node);
      std::vector<int> count(experts.size(), 0);
      for (int x : phy2log)
        ++count[x];
      // Step 3: replicas onto the node's GPUs by load per replica.
      std::vector<double> phy_w;
      for (int x : phy2log)
        phy_w.push_back(node_w[x] / count[x]);
      const auto gpu_of = policy::balanced_packing(phy_w, gpus_per_node);
      // Nodes here are EPLB's packing units; with `nodes` = cluster nodes they map onto the cluster's nodes.
      const int first_gpu = node * gpus_per_node;
      for (size_t i = 0; i < phy2log.size(); ++i)
        p.replicas[l][experts[phy2log[i]]].push_back(first_gpu + gpu_of[i]);
    }
  }
  return p;
}

const bool registered = PlacementRegistry::instance().add(
    "eplb",
    "DeepSeek EPLB: hierarchical (groups to nodes, replicas in nodes, packed by load) or global; "
    "loads from the fitting split; --redundant-experts replicas per GPU",
    place_eplb);

} // namespace
} // namespace moesim
