// `round_robin`: expert e on GPU e mod G (uneven counts when G does not divide E); with more GPUs than experts,
// GPU g holds a copy of expert g mod E.
#include "core/io/errors.hpp"
#include "core/policy/policy.hpp"

namespace moesim {
namespace {

Placement place_round_robin(const PlacementContext& ctx)
{
  const int E = ctx.model.num_routed_experts, G = ctx.cluster.num_gpus();
  Placement p;
  p.replicas.assign(ctx.model.num_moe_layers(), std::vector<std::vector<int>>(E));
  for (auto& layer : p.replicas) {
    if (E >= G)
      for (int e = 0; e < E; ++e)
        layer[e] = {e % G};
    else
      for (int g = 0; g < G; ++g)
        layer[g % E].push_back(g);
  }
  return p;
}

const bool registered =
    PlacementRegistry::instance().add("round_robin", "expert e on GPU e mod GPUs", place_round_robin);

} // namespace
} // namespace moesim
