// `round_robin`: expert e on GPU e mod G.
#include "core/io/errors.hpp"
#include "core/policy/policy.hpp"

namespace moesim {
namespace {

Placement place_round_robin(const PlacementContext& ctx)
{
  const int E = ctx.model.num_routed_experts, G = ctx.cluster.num_gpus();
  if (E % G != 0)
    throw UsageError("placement round_robin: " + std::to_string(E) + " experts do not divide evenly over " +
                     std::to_string(G) + " GPUs");
  Placement p;
  p.replicas.assign(ctx.model.num_moe_layers(), std::vector<std::vector<int>>(E));
  for (auto& layer : p.replicas)
    for (int e = 0; e < E; ++e)
      layer[e] = {e % G};
  return p;
}

const bool registered =
    PlacementRegistry::instance().add("round_robin", "expert e on GPU e mod GPUs", place_round_robin);

} // namespace
} // namespace moesim
