#include "algorithms/gpu_packing.hpp"

#include "algorithms/eplb.hpp"
#include "core/io/errors.hpp"

#include <algorithm>

namespace moesim::policy {

std::vector<int> even_split(int count, int bins)
{
  std::vector<int> out(static_cast<size_t>(std::max(bins, 0)), 0);
  for (int b = 0; b < bins; ++b)
    out[b] = count / bins + (b < count % bins ? 1 : 0);
  return out;
}

int SlotLayout::node_primary(int n, int gpn) const
{
  int s = 0;
  for (int g = n * gpn; g < (n + 1) * gpn; ++g)
    s += primary[g];
  return s;
}

int SlotLayout::node_spare(int n, int gpn) const
{
  int s = 0;
  for (int g = n * gpn; g < (n + 1) * gpn; ++g)
    s += slots[g] - primary[g];
  return s;
}

SlotLayout slot_layout(int experts, int nodes, int gpus_per_node, int redundant)
{
  if (redundant < 0)
    throw UsageError("redundant experts must be >= 0");
  if (experts < 1 || nodes < 1 || gpus_per_node < 1)
    throw InternalError("slot_layout: no expert or no GPU");
  const auto two_level = [&](int count) {
    std::vector<int> out;
    for (int per_node : even_split(count, nodes))
      for (int v : even_split(per_node, gpus_per_node))
        out.push_back(v);
    return out;
  };
  SlotLayout l;
  l.experts = experts;
  l.total = std::max(experts + redundant, nodes * gpus_per_node);
  l.slots = two_level(l.total);
  l.primary = two_level(experts);
  return l;
}

void pack_on_gpus(const std::vector<int>& experts, const std::vector<double>& load, const std::vector<int>& gpus,
                  const std::vector<int>& capacity, std::vector<std::vector<int>>& replicas)
{
  std::vector<double> w;
  for (int e : experts)
    w.push_back(load[e]);
  const auto pack = balanced_packing(w, capacity);
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
