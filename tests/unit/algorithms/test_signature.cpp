// policies/algorithms/signature: requests to the node of their nearest cluster that has room.
#include "algorithms/signature.hpp"
#include "test_helpers.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace moesim;

TEST_CASE("Signature: each request goes to its family's node until that node's token share is full")
{
  const ModelSpec m = test::tiny_model(2, 8, 2);
  // Requests 0-5: even ones use experts 0..3, odd ones 4..7; 4 tokens each.
  const Trace t = test::make_trace(m, std::vector<int>(6, 4),
                                   [](int r, int i, int l, int j) { return (r % 2) * 4 + (i + l + 2 * j) % 4; });
  const auto c = policy::fit_activation_clusters(t, {0, 1, 2, 3, 4, 5}, 2, 2, 1);
  const int node_even = c.node_of_cluster[c.cluster_of_sample[0]], node_odd = c.node_of_cluster[c.cluster_of_sample[1]];
  REQUIRE(node_even != node_odd);
  int64_t from_prefill = -1;
  const auto nodes = policy::assign_by_signature(t, {0, 1, 2, 3, 4, 5}, c, 2, 2, &from_prefill);
  for (int r = 0; r < 6; ++r)
    CHECK(nodes[r] == (r % 2 ? node_odd : node_even));
  CHECK(from_prefill == 0); // an all-decode trace: classified from its first tokens
  // Only even requests: capacity (half the tokens per node) sends the overflow to the other node.
  const auto even = policy::assign_by_signature(t, {0, 2, 4, 0}, c, 2, 2);
  CHECK(std::count(even.begin(), even.end(), node_even) == 2);
  CHECK(std::count(even.begin(), even.end(), node_odd) == 2);
}
