#include "core/io/errors.hpp"
#include "core/policy/policy.hpp"

namespace moesim {

void Placement::validate(int num_layers, int num_experts, int num_gpus, const std::string& policy) const
{
  if (static_cast<int>(replicas.size()) != num_layers)
    throw InternalError("placement '" + policy + "' returned " + std::to_string(replicas.size()) + " layers, expected " +
                        std::to_string(num_layers));
  for (int l = 0; l < num_layers; ++l) {
    if (static_cast<int>(replicas[l].size()) != num_experts)
      throw InternalError("placement '" + policy + "': layer " + std::to_string(l) + " has the wrong expert count");
    for (int e = 0; e < num_experts; ++e) {
      if (replicas[l][e].empty())
        throw InternalError("placement '" + policy + "': expert " + std::to_string(e) + " of MoE layer " +
                            std::to_string(l) + " has no GPU");
      for (int g : replicas[l][e])
        if (g < 0 || g >= num_gpus)
          throw InternalError("placement '" + policy + "': GPU " + std::to_string(g) + " out of range");
    }
  }
}

} // namespace moesim
