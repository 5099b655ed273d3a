#pragma once
// A layer's experts laid out on GPUs once each expert's node is chosen: inside a node, experts that tokens choose
// together share a GPU (METIS on co-activation, balanced by load, then swaps that save remote tokens' copies);
// redundant slots hold replicas of the experts a node's requests use most that live elsewhere, then copies of the
// experts with the highest load per copy. Shared by the `activation` and `joint` placements (docs/policies.md).
#include "algorithms/gpu_packing.hpp"
#include "core/policy/policy.hpp"

#include <cstdint>
#include <vector>

namespace moesim::policy {

/// Fitting tokens sampled per MoE layer for the copy refinement (enough for its set counts; bounds its cost).
constexpr int64_t kCopySampleTokens = 16384;

/// Lays out MoE layer `l`: node_of[e] = node of expert e's primary (counts per node as layout.node_primary);
/// demand[n][l][e] = tokens node n's requests send to e; requests_of_node = the fitting requests grouped onto nodes;
/// coact = the layer's co-activation counts; copy tokens sampled every `token_stride`-th. Appends to replicas[e]
/// (primary first).
void lay_out_layer(const PlacementContext& ctx, const SlotLayout& layout, int l, const std::vector<int>& node_of,
                   const std::vector<std::vector<std::vector<double>>>& demand,
                   const std::vector<std::vector<int32_t>>& requests_of_node,
                   const std::vector<std::vector<double>>& coact, int64_t token_stride,
                   std::vector<std::vector<int>>& replicas);

} // namespace moesim::policy
