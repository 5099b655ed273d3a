#include "algorithms/gpu_packing.hpp"

#include "algorithms/eplb.hpp"
#include "core/io/errors.hpp"

namespace moesim::policy {

int slots_per_gpu(const std::string& policy, int experts, int gpus, int redundant_per_gpu)
{
  if (experts % gpus != 0)
    throw UsageError("placement " + policy + ": " + std::to_string(experts) + " experts do not divide evenly over " +
                     std::to_string(gpus) + " GPUs");
  return experts / gpus + redundant_per_gpu;
}

void check_experts_per_node(const std::string& policy, int experts, int nodes)
{
  if (experts % nodes != 0)
    throw UsageError("placement " + policy + ": " + std::to_string(experts) + " experts do not divide over " +
                     std::to_string(nodes) + " nodes");
}

void pack_on_gpus(const std::vector<int>& experts, const std::vector<double>& load, const std::vector<int>& gpus,
                  std::vector<std::vector<int>>& replicas)
{
  std::vector<double> w;
  for (int e : experts)
    w.push_back(load[e]);
  const auto pack = balanced_packing(w, static_cast<int>(gpus.size()));
  for (size_t i = 0; i < experts.size(); ++i)
    replicas[experts[i]].push_back(gpus[pack[i]]);
}

int NodeDealer::deal(int node, int64_t tokens)
{
  int best = node * gpn_;
  for (int g = node * gpn_; g < (node + 1) * gpn_; ++g)
    if (tokens_[g] < tokens_[best])
      best = g;
  tokens_[best] += tokens;
  return best;
}

} // namespace moesim::policy
