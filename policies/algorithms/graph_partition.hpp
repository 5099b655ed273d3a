#pragma once
// Balanced k-way graph partitioning with METIS (expert co-activation graphs).
#include <cstdint>
#include <vector>

namespace moesim::policy {

/// METIS k-way partition of a weighted graph (w[a][b] = edge weight, symmetric) into `parts` parts of sizes as
/// equal as the count allows (even_split), balancing `vertex_weight` when given: METIS minimises the cut, then the
/// vertex with the weakest tie to an over-full part moves to an under-full one until the sizes are right. Returns
/// the part of each vertex.
std::vector<int> partition(const std::vector<std::vector<double>>& w, int parts, uint64_t seed,
                           const std::vector<double>& vertex_weight = {});
/// The same with the size of every part given (sum = vertices; a size may be 0).
std::vector<int> partition(const std::vector<std::vector<double>>& w, const std::vector<int>& sizes, uint64_t seed,
                           const std::vector<double>& vertex_weight = {});

} // namespace moesim::policy
