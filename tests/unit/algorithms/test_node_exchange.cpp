// policies/algorithms/node_exchange: pairwise expert exchanges between nodes.
#include "algorithms/node_exchange.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

using namespace moesim;

TEST_CASE("Exchanges between nodes fix an expert stranded by the greedy pass")
{
  // demand[node][layer][expert]: node 0 wants expert 0, node 1 wants expert 1, but they start the other way round.
  const std::vector<std::vector<std::vector<double>>> demand{{{5, 1, 0, 0}}, {{0, 4, 0, 0}}};
  std::vector<int> node_of{1, 0, 0, 1};
  policy::exchange_between_nodes(demand, 0, node_of);
  CHECK(node_of[0] == 0);
  CHECK(node_of[1] == 1);
  CHECK(std::count(node_of.begin(), node_of.end(), 0) == 2);
}
