// `linear`: contiguous blocks of experts per GPU (expert e on GPU e / (E / G)), the vLLM/SGLang default.
#include "core/errors.hpp"
#include "core/policy.hpp"

namespace moesim {
namespace {

Placement place_linear(const PlacementContext& ctx)
{
  const int E = ctx.model.num_routed_experts, G = ctx.cluster.num_gpus();
  if (E % G != 0)
    throw UsageError("placement linear: " + std::to_string(E) + " experts do not divide evenly over " +
                     std::to_string(G) + " GPUs");
  Placement p;
  p.replicas.assign(ctx.model.num_moe_layers(), std::vector<std::vector<int>>(E));
  for (auto& layer : p.replicas)
    for (int e = 0; e < E; ++e)
      layer[e] = {e / (E / G)};
  return p;
}

const bool registered = PlacementRegistry::instance().add(
    "linear", "contiguous blocks: expert e on GPU e / (experts / GPUs) (vLLM/SGLang default)", place_linear);

} // namespace
} // namespace moesim
