// `linear`: contiguous blocks of experts per GPU (expert e on GPU e / (E / G)), the vLLM/SGLang default. With more
// GPUs than experts (e.g. 256 experts on 512 GPUs) each expert fills a contiguous block of G / E GPUs, one copy each.
#include "core/io/errors.hpp"
#include "core/policy/policy.hpp"

namespace moesim {
namespace {

Placement place_linear(const PlacementContext& ctx)
{
  const int E = ctx.model.num_routed_experts, G = ctx.cluster.num_gpus();
  if (E % G != 0 && G % E != 0)
    throw UsageError("placement linear: " + std::to_string(E) + " experts do not divide evenly over " +
                     std::to_string(G) + " GPUs (nor the GPUs over the experts)");
  Placement p;
  p.replicas.assign(ctx.model.num_moe_layers(), std::vector<std::vector<int>>(E));
  for (auto& layer : p.replicas)
    for (int e = 0; e < E; ++e)
      if (E % G == 0) {
        layer[e] = {e / (E / G)};
      } else {
        for (int g = e * (G / E); g < (e + 1) * (G / E); ++g)
          layer[e].push_back(g);
      }
  return p;
}

const bool registered = PlacementRegistry::instance().add(
    "linear", "contiguous blocks: expert e on GPU e / (experts / GPUs) (vLLM/SGLang default); with more GPUs than "
    "experts, expert e on a block of GPUs / experts GPUs", place_linear);

} // namespace
} // namespace moesim
