#pragma once
// Expert slots per GPU, experts packed onto GPUs by load, requests dealt to a node's GPUs.
#include "core/cluster/cluster.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace moesim::policy {

/// `count` over `bins` as evenly as it goes: the first count % bins bins get one more.
std::vector<int> even_split(int count, int bins);

/// The expert slots of a cluster, as serving engines lay them out (vLLM's and SGLang's expert maps): `experts`
/// primaries and `redundant` extra copies in all, spread as evenly as the counts allow over the nodes and then over
/// each node's GPUs (the first ones take the remainder), at least one slot per GPU (with fewer experts than GPUs the
/// spare slots hold copies).
struct SlotLayout {
  int experts = 0;
  int total = 0;             ///< physical slots, >= experts and >= GPUs
  std::vector<int> slots;    ///< [gpu] physical slots
  std::vector<int> primary;  ///< [gpu] of them, primaries: `experts` spread evenly (0 on some GPUs when G > E)
  /// Primaries of the GPUs of node n (gpn GPUs per node).
  int node_primary(int n, int gpn) const;
  /// Slots beyond the primaries on node n.
  int node_spare(int n, int gpn) const;
};
/// UsageError when redundant < 0.
SlotLayout slot_layout(int experts, int nodes, int gpus_per_node, int redundant);

/// Places the experts listed in `experts` (loads in `load`) on the GPUs `gpus`, gpu i taking capacity[i] of them
/// (sum = experts.size()), balancing load with balanced_packing; appends to replicas[e].
void pack_on_gpus(const std::vector<int>& experts, const std::vector<double>& load, const std::vector<int>& gpus,
                  const std::vector<int>& capacity, std::vector<std::vector<int>>& replicas);

/// Deals requests to the GPUs of a node: each goes to the node's GPU with the fewest tokens so far (ties: lowest).
class NodeDealer {
public:
  explicit NodeDealer(const Cluster& cluster) : gpn_(cluster.gpus_per_node()), tokens_(cluster.num_gpus(), 0) {}
  int deal(int node, int64_t tokens);

private:
  int gpn_;
  std::vector<int64_t> tokens_;
};

} // namespace moesim::policy
