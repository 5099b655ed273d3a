// `eplb`: DeepSeek's expert-parallel load balancer (github deepseek-ai/EPLB, eplb.py), per MoE layer, with loads
// from the fitting split. Hierarchical when the expert groups divide evenly over nodes: pack groups onto nodes,
// replicate the hottest experts inside each node, pack the replicas onto the node's GPUs by load. Global otherwise
// (one group, one node: replicate over all experts, pack over all GPUs). Redundant experts: per GPU x GPUs in all.
#include "algorithms/eplb.hpp"
#include "algorithms/gpu_packing.hpp"
#include "algorithms/trace_counts.hpp"
#include "core/io/errors.hpp"
#include "core/policy/policy.hpp"

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
  const auto loads = policy::expert_loads(ctx.trace, ctx.fit_requests);
  Placement p;
  for (int l = 0; l < ctx.model.num_moe_layers(); ++l)
    p.replicas.push_back(policy::eplb_layer(loads[l], physical, n_groups, nodes, G));
  return p;
}

const bool registered = PlacementRegistry::instance().add(
    "eplb",
    "DeepSeek EPLB: hierarchical (groups to nodes, replicas in nodes, packed by load) or global; "
    "loads from the fitting split; --redundant-experts replicas per GPU",
    place_eplb);

} // namespace
} // namespace moesim
