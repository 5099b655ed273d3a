// `eplb`: DeepSeek's expert-parallel load balancer (github deepseek-ai/EPLB, eplb.py), per MoE layer, with loads
// from the fitting split. Hierarchical when the expert groups divide evenly over nodes: pack groups onto nodes,
// replicate the hottest experts inside each node, pack the replicas onto the node's GPUs by load. Global otherwise
// (one group, one node: replicate over all experts, pack over all GPUs by their slot counts). Redundant experts: a
// total (--redundant-experts-total, or per GPU x GPUs), spread over the GPUs as evenly as it goes.
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
  const int E = ctx.model.num_routed_experts, G = ctx.cluster.num_gpus(), N = ctx.cluster.num_nodes();
  const policy::SlotLayout layout = policy::slot_layout(E, ctx.cluster.num_nodes(), ctx.cluster.gpus_per_node(), ctx.redundant_experts);
  const int physical = layout.total;
  const int groups = ctx.model.n_group;
  // Hierarchical as in eplb.py when groups, experts and slots divide evenly over the nodes and slots over the GPUs;
  // global (one group, one node, each GPU its own slot count) otherwise.
  const bool hierarchical = groups % N == 0 && E % groups == 0 && physical % G == 0 && (E / groups) > 0;
  const int nodes = hierarchical ? N : 1;
  const int n_groups = hierarchical ? groups : 1;
  const auto loads = policy::expert_loads(ctx.trace, ctx.fit_requests);
  Placement p;
  for (int l = 0; l < ctx.model.num_moe_layers(); ++l)
    p.replicas.push_back(policy::eplb_layer(loads[l], physical, n_groups, nodes, G, layout.slots));
  return p;
}

const bool registered = PlacementRegistry::instance().add(
    "eplb",
    "DeepSeek EPLB: hierarchical (groups to nodes, replicas in nodes, packed by load) or global; "
    "loads from the fitting split; --redundant-experts replicas per GPU",
    place_eplb);

} // namespace
} // namespace moesim
