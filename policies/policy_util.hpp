#pragma once
// Building blocks shared by the placement and grouping policies (plain functions, no registration here).
#include "core/policy.hpp"

#include <bitset>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace moesim::policy {

/// Tokens of the given requests (a request holds a batch slot for as many steps as it has tokens).
int64_t total_tokens(const Trace& trace, const std::vector<int32_t>& requests);

/// Token-expert counts of the given requests: [moe layer][expert].
std::vector<std::vector<double>> expert_loads(const Trace& trace, const std::vector<int32_t>& requests);

/// Checks the experts divide over GPUs and returns the slots per GPU (experts / GPUs + redundant per GPU);
/// UsageError naming the policy otherwise.
int slots_per_gpu(const std::string& policy, int experts, int gpus, int redundant_per_gpu);

/// UsageError naming the policy unless the experts divide evenly over the nodes (equal per-node capacity).
void check_experts_per_node(const std::string& policy, int experts, int nodes);

/// DeepSeek EPLB's balanced_packing: items sorted by weight (descending) go to the lightest pack that still has
/// room; every pack gets items / packs items. Returns the pack of each item.
std::vector<int> balanced_packing(const std::vector<double>& weights, int packs);

/// DeepSeek EPLB's replicate_experts: extends `logical` experts to `physical` slots, each extra slot copying the
/// expert with the largest load per copy. Returns phy2log (first `logical` entries are the identity).
std::vector<int> replicate_experts(const std::vector<double>& weights, int physical);

/// DeepSeek EPLB's rebalance_experts_hierarchical for one layer: `n_groups` expert groups packed onto `nodes`,
/// `physical` replica slots made inside each node by replicate_experts, packed onto the node's `gpus / nodes` GPUs
/// by load per replica. Global EPLB is n_groups = nodes = 1. Returns the GPUs of every expert's copies.
std::vector<std::vector<int>> eplb_layer(const std::vector<double>& w, int physical, int n_groups, int nodes, int gpus);

/// Places the experts listed in `experts` (loads in `load`) on the GPUs `gpus`, each with `capacity` slots,
/// balancing load with balanced_packing; appends to replicas[e].
void pack_on_gpus(const std::vector<int>& experts, const std::vector<double>& load, const std::vector<int>& gpus,
                  std::vector<std::vector<int>>& replicas);

/// Requests' expert activations, L2-normalised per layer and concatenated (scaled so the whole vector has unit
/// norm), clustered with token-weighted k-means (k-means++ seeding, Lloyd iterations, best of 4 restarts), and
/// clusters assigned to nodes with balanced
/// work (tokens: a request occupies a batch slot for as many steps as it has tokens). Shared by the `activation` placement and the `signature` grouping, which fit identical models
/// from the same inputs.
struct ActivationClusters {
  int k = 0;
  int dim = 0;                                ///< moe layers x experts
  std::vector<std::vector<double>> centroids; ///< [k][dim]
  std::vector<double> centroid_norm2;         ///< [k] squared norms of the centroids
  std::vector<int> node_of_cluster;           ///< [k]
  std::vector<int> cluster_of_sample;         ///< cluster of each request the centroids were fitted on
};
using SparseVec = std::vector<std::pair<int, double>>;
/// Activation vector of a request from its first `max_tokens` tokens of the given phase (-1 = any phase, 0 = all
/// tokens when max_tokens <= 0).
SparseVec activation_vector(const Trace& trace, int32_t request, int max_tokens, int phase);
ActivationClusters fit_activation_clusters(const Trace& trace, const std::vector<int32_t>& fit_requests, int k,
                                           int nodes, uint64_t seed);
/// Clusters ordered from nearest to farthest (squared Euclidean distance to the centroid).
std::vector<int> nearest_clusters(const ActivationClusters& c, const SparseVec& x);

/// METIS k-way partition of a weighted graph (w[a][b] = edge weight, symmetric) into `parts` parts of exactly equal
/// size (vertices / parts), balancing `vertex_weight` when given: METIS minimises the cut, then the vertex with the weakest tie to an over-full part moves
/// to an under-full one until the sizes are equal. Returns the part of each vertex.
std::vector<int> partition(const std::vector<std::vector<double>>& w, int parts, uint64_t seed,
                           const std::vector<double>& vertex_weight = {});

/// Co-activation counts over the given requests: w[layer][a][b] = tokens choosing both a and b at that MoE layer.
std::vector<std::vector<std::vector<double>>> coactivation(const Trace& trace, const std::vector<int32_t>& requests);

/// The signature rule: each request (in the given order) is classified from its prefill activations (or, when the
/// trace has no decode phase or the request no prefill, its first `signature_tokens` tokens) to the nearest
/// centroid whose node still has room; node capacity is an equal share of the requests' tokens. Returns the node of
/// each request (aligned with `requests`) and counts in `from_prefill` the requests classified from prefill.
std::vector<int> assign_by_signature(const Trace& trace, const std::vector<int32_t>& requests,
                                     const ActivationClusters& clusters, int nodes, int signature_tokens,
                                     int64_t* from_prefill = nullptr);

/// Pairwise exchanges of experts between nodes while one raises the demand served on its own node:
/// demand[node][l][e] = tokens the node's requests send to expert e at MoE layer l; node_of[e] = the expert's node
/// (counts per node are kept). Fixes what a greedy pass strands: an expert on a node that wanted it less than the
/// node holding a leftover wanted by the first.
void exchange_between_nodes(const std::vector<std::vector<std::vector<double>>>& demand, int l,
                            std::vector<int>& node_of);

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
