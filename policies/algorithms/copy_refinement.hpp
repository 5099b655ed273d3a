#pragma once
// Remote token copies inside a node: the expert sets remote tokens choose, and GPU swaps that lower them.
#include "core/trace/trace.hpp"

#include <bitset>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace moesim::policy {

/// Remote-token expert sets of one node at one layer: for each distinct set (bit i = the node's i-th expert, in
/// ascending expert order) of at least two experts, the number of tokens from other nodes that choose exactly
/// that set there. Experts past a node's kCopySetExperts-th are left out.
constexpr int kCopySetExperts = 256;
using ExpertSet = std::bitset<kCopySetExperts>;
using CopySets = std::unordered_map<ExpertSet, double>;
/// CopySets of every node at MoE layer `l` from every `stride`-th token of the requests grouped onto nodes
/// (requests_of_node), under the node of each expert (node_of).
std::vector<CopySets> remote_copy_sets(const Trace& trace, const std::vector<std::vector<int32_t>>& requests_of_node,
                                       const std::vector<int>& node_of, int l, int64_t stride);
/// Swaps experts between a node's GPUs (part[i] = GPU of the node's i-th expert, load[i] its load) while that
/// lowers the copies its remote tokens need (a token goes once to every GPU holding one of its experts; sets of one
/// expert never change), keeping every GPU's load within `max_load`, or within the node's current largest load if
/// that is higher. First-improvement passes over all pairs. Nodes of more than kCopySetExperts experts or 64 GPUs
/// are left as they are.
void refine_copies(const CopySets& sets, const std::vector<double>& load, int parts, double max_load,
                   std::vector<int>& part);

} // namespace moesim::policy
