#pragma once
// Balanced k-way graph partitioning with METIS (expert co-activation graphs).
#include <cstdint>
#include <vector>

namespace moesim::policy {

/// METIS k-way partition of a weighted graph (w[a][b] = edge weight, symmetric) into `parts` parts of exactly equal
/// size (vertices / parts), balancing `vertex_weight` when given: METIS minimises the cut, then the vertex with the weakest tie to an over-full part moves
/// to an under-full one until the sizes are equal. Returns the part of each vertex.
std::vector<int> partition(const std::vector<std::vector<double>>& w, int parts, uint64_t seed,
                           const std::vector<double>& vertex_weight = {});

} // namespace moesim::policy
