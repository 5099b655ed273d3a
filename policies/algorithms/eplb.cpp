#include "algorithms/eplb.hpp"

#include "core/io/errors.hpp"

#include <algorithm>
#include <numeric>

namespace moesim::policy {

std::vector<int> balanced_packing(const std::vector<double>& weights, int packs)
{
  const int n = static_cast<int>(weights.size());
  if (packs < 1 || n % packs != 0)
    throw InternalError("balanced_packing: items do not divide over packs");
  return balanced_packing(weights, std::vector<int>(packs, n / packs));
}

std::vector<int> balanced_packing(const std::vector<double>& weights, const std::vector<int>& capacity)
{
  const int n = static_cast<int>(weights.size());
  const int packs = static_cast<int>(capacity.size());
  int room = 0;
  for (int c : capacity)
    room += c;
  if (packs < 1 || room != n)
    throw InternalError("balanced_packing: capacities do not add up to the items");
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return weights[a] > weights[b]; });
  std::vector<double> pack_w(packs, 0.0);
  std::vector<int> pack_n(packs, 0), pack_of(n, -1);
  for (int item : order) {
    int best = -1;
    for (int p = 0; p < packs; ++p)
      if (pack_n[p] < capacity[p] && (best < 0 || pack_w[p] < pack_w[best]))
        best = p;
    pack_of[item] = best;
    pack_w[best] += weights[item];
    ++pack_n[best];
  }
  return pack_of;
}

std::vector<int> replicate_experts(const std::vector<double>& weights, int physical)
{
  const int logical = static_cast<int>(weights.size());
  std::vector<int> phy2log(physical);
  std::vector<int> count(logical, 1);
  std::iota(phy2log.begin(), phy2log.begin() + logical, 0);
  for (int i = logical; i < physical; ++i) {
    int best = 0;
    for (int e = 1; e < logical; ++e)
      if (weights[e] / count[e] > weights[best] / count[best])
        best = e;
    phy2log[i] = best;
    ++count[best];
  }
  return phy2log;
}

std::vector<std::vector<int>> eplb_layer(const std::vector<double>& w, int physical, int n_groups, int nodes, int gpus,
                                         const std::vector<int>& gpu_slots)
{
  const int E = static_cast<int>(w.size());
  const int group_size = E / n_groups, groups_per_node = n_groups / nodes;
  const int experts_per_node = E / nodes, phy_per_node = physical / nodes, gpus_per_node = gpus / nodes;
  std::vector<std::vector<int>> replicas(E);
  // Step 1: groups onto nodes.
  std::vector<double> group_w(n_groups, 0.0);
  for (int e = 0; e < E; ++e)
    group_w[e / group_size] += w[e];
  const auto group_node = balanced_packing(group_w, nodes);
  for (int node = 0; node < nodes; ++node) {
    std::vector<int> experts; // logical experts of this node, in group order
    for (int g = 0; g < n_groups; ++g)
      if (group_node[g] == node)
        for (int i = 0; i < group_size; ++i)
          experts.push_back(g * group_size + i);
    if (static_cast<int>(experts.size()) != experts_per_node || groups_per_node * group_size != experts_per_node)
      throw InternalError("eplb: node packing broke the group balance");
    // Step 2: replicate inside the node.
    std::vector<double> node_w;
    for (int e : experts)
      node_w.push_back(w[e]);
    const auto phy2log = replicate_experts(node_w, phy_per_node);
    std::vector<int> count(experts.size(), 0);
    for (int x : phy2log)
      ++count[x];
    // Step 3: replicas onto the node's GPUs by load per replica.
    std::vector<double> phy_w;
    for (int x : phy2log)
      phy_w.push_back(node_w[x] / count[x]);
    const std::vector<int> caps(gpu_slots.begin() + node * gpus_per_node, gpu_slots.begin() + (node + 1) * gpus_per_node);
    const auto gpu_of = balanced_packing(phy_w, caps);
    for (size_t i = 0; i < phy2log.size(); ++i)
      replicas[experts[phy2log[i]]].push_back(node * gpus_per_node + gpu_of[i]);
  }
  return replicas;
}

} // namespace moesim::policy
