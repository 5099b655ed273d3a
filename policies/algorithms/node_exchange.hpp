#pragma once
// Pairwise expert exchanges between nodes that raise the demand each node serves itself.
#include <vector>

namespace moesim::policy {

/// Pairwise exchanges of experts between nodes while one raises the demand served on its own node:
/// demand[node][l][e] = tokens the node's requests send to expert e at MoE layer l; node_of[e] = the expert's node
/// (counts per node are kept). Fixes what a greedy pass strands: an expert on a node that wanted it less than the
/// node holding a leftover wanted by the first.
void exchange_between_nodes(const std::vector<std::vector<std::vector<double>>>& demand, int l,
                            std::vector<int>& node_of);

} // namespace moesim::policy
