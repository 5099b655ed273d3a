#pragma once
// Requests as activation vectors and their token-weighted k-means clusters, assigned to nodes.
#include "core/trace/trace.hpp"

#include <cstdint>
#include <utility>
#include <vector>

namespace moesim::policy {

/// Requests' expert activations, L2-normalised per layer and concatenated (scaled so the whole vector has unit
/// norm), clustered with token-weighted k-means (k-means++ seeding, Lloyd iterations, best of 4 restarts), and
/// clusters assigned to nodes with balanced work (tokens: a request occupies a batch slot for as many steps as it
/// has tokens). Shared by the `activation` placement and the `signature` grouping, which fit identical models from
/// the same inputs.
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

} // namespace moesim::policy
