// `linear`: contiguous blocks of experts per GPU, the vLLM/SGLang default; when the experts do not divide the GPUs
// the first E mod G GPUs hold one expert more (vLLM's expert map). With more GPUs than experts (e.g. 256 experts on
// 512 GPUs) each expert fills a contiguous block of about G / E GPUs (GPU g holds expert g * E / G), one copy each.
#include "algorithms/gpu_packing.hpp"
#include "core/io/errors.hpp"
#include "core/policy/policy.hpp"

namespace moesim {
namespace {

Placement place_linear(const PlacementContext& ctx)
{
  const int E = ctx.model.num_routed_experts, G = ctx.cluster.num_gpus();
  Placement p;
  p.replicas.assign(ctx.model.num_moe_layers(), std::vector<std::vector<int>>(E));
  std::vector<int> owner; // [expert] with E >= G
  if (E >= G) {
    const auto per_gpu = policy::even_split(E, G);
    for (int g = 0; g < G; ++g)
      owner.insert(owner.end(), static_cast<size_t>(per_gpu[g]), g);
  }
  for (auto& layer : p.replicas) {
    if (E >= G) {
      for (int e = 0; e < E; ++e)
        layer[e] = {owner[e]};
    } else {
      for (int g = 0; g < G; ++g)
        layer[static_cast<int>(static_cast<int64_t>(g) * E / G)].push_back(g);
    }
  }
  return p;
}

const bool registered = PlacementRegistry::instance().add(
    "linear", "contiguous blocks of experts per GPU, the first GPUs taking the remainder (vLLM/SGLang default); with "
    "more GPUs than experts, each expert on a block of about GPUs / experts GPUs", place_linear);

} // namespace
} // namespace moesim
