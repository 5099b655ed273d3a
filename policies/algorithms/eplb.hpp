#pragma once
// DeepSeek EPLB's packing, replication and hierarchical rebalancing (github deepseek-ai/EPLB, eplb.py).
#include <vector>

namespace moesim::policy {

/// DeepSeek EPLB's balanced_packing: items sorted by weight (descending) go to the lightest pack that still has
/// room; every pack gets items / packs items. Returns the pack of each item.
std::vector<int> balanced_packing(const std::vector<double>& weights, int packs);
/// The same with a capacity per pack (sum = items): uneven slot counts, e.g. 256 experts on 72 GPUs.
std::vector<int> balanced_packing(const std::vector<double>& weights, const std::vector<int>& capacity);

/// DeepSeek EPLB's replicate_experts: extends `logical` experts to `physical` slots, each extra slot copying the
/// expert with the largest load per copy. Returns phy2log (first `logical` entries are the identity).
std::vector<int> replicate_experts(const std::vector<double>& weights, int physical);

/// DeepSeek EPLB's rebalance_experts_hierarchical for one layer: `n_groups` expert groups packed onto `nodes`,
/// `physical` replica slots made inside each node by replicate_experts, packed onto the node's `gpus / nodes` GPUs
/// by load per replica. Global EPLB is n_groups = nodes = 1. `gpu_slots` [gpu] are the slots of each GPU (sum =
/// physical; equal inside a node's share unless nodes = 1). Returns the GPUs of every expert's copies.
std::vector<std::vector<int>> eplb_layer(const std::vector<double>& w, int physical, int n_groups, int nodes, int gpus,
                                         const std::vector<int>& gpu_slots);

} // namespace moesim::policy
