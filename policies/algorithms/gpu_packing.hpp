#pragma once
// Expert slots per GPU, experts packed onto GPUs by load, requests dealt to a node's GPUs.
#include "core/cluster/cluster.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace moesim::policy {

/// Checks the experts divide over GPUs and returns the slots per GPU (experts / GPUs + redundant per GPU);
/// UsageError naming the policy otherwise.
int slots_per_gpu(const std::string& policy, int experts, int gpus, int redundant_per_gpu);

/// UsageError naming the policy unless the experts divide evenly over the nodes (equal per-node capacity).
void check_experts_per_node(const std::string& policy, int experts, int nodes);

/// Places the experts listed in `experts` (loads in `load`) on the GPUs `gpus`, each with `capacity` slots,
/// balancing load with balanced_packing; appends to replicas[e].
void pack_on_gpus(const std::vector<int>& experts, const std::vector<double>& load, const std::vector<int>& gpus,
                  std::vector<std::vector<int>>& replicas);

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
