#pragma once
// Exact assignment of items to capacitated bins (experts to nodes): a transportation problem with unit supplies.
#include <vector>

namespace moesim::policy {

/// Puts every item in one bin, bin b taking at most capacity[b] items (their sum must be >= the items), so that the
/// total gain[i][b] is the largest possible. Successive shortest paths with node potentials (min-cost flow): each
/// item is inserted along the cheapest chain of moves of already placed items, so the assignment stays optimal for
/// the items placed so far. O(items x (items + bins)^2) at worst, about O(items x bins) while bins have room.
/// InternalError when the capacities cannot hold the items or a gain is not finite.
std::vector<int> max_gain_assignment(const std::vector<std::vector<double>>& gain, const std::vector<int>& capacity);

} // namespace moesim::policy
