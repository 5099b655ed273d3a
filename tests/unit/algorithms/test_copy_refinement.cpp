// policies/algorithms/copy_refinement: remote expert sets and GPU swaps that lower token copies.
#include "algorithms/copy_refinement.hpp"
#include "test_helpers.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace moesim;

TEST_CASE("Copy refinement: experts chosen together by remote tokens end on one GPU, within the load limit")
{
  // Four experts on two GPUs: remote tokens choose {0, 1} (10 tokens) and {2, 3} (10 tokens), and the start splits
  // both sets (40 copies); after one swap each set is on one GPU (20 copies).
  policy::CopySets sets{{0b0011, 10.0}, {0b1100, 10.0}};
  std::vector<int> part{0, 1, 0, 1};
  policy::refine_copies(sets, {1, 1, 1, 1}, 2, 2.0, part);
  CHECK(part[0] == part[1]);
  CHECK(part[2] == part[3]);
  CHECK(part[0] != part[2]);
  // Loads 3, 3, 1, 1: pairing {0, 1} would put 6 on one GPU: refused with a limit of 5, taken with 6.
  part = {0, 1, 0, 1};
  policy::refine_copies(sets, {3, 3, 1, 1}, 2, 5.0, part);
  CHECK(part == std::vector<int>{0, 1, 0, 1});
  policy::refine_copies(sets, {3, 3, 1, 1}, 2, 6.0, part);
  CHECK(part[0] == part[1]);
}

TEST_CASE("Remote copy sets count tokens from other nodes by the set of a node's experts they choose")
{
  // 4 experts, top-2, two nodes: experts 0, 1 on node 0 and 2, 3 on node 1.
  ModelSpec m = test::tiny_model(1, 4, 2);
  const Trace t = test::make_trace(m, {3, 2}, [](int r, int i, int, int j) {
    if (r == 0) // request 0 (node 0): token 0 -> {2, 3} (one set of two on node 1), tokens 1, 2 -> {0, 2}
      return i == 0 ? 2 + j : 2 * j;
    return j; // request 1 (node 1): both tokens -> {0, 1}
  });
  const auto sets = policy::remote_copy_sets(t, {{0}, {1}}, {0, 0, 1, 1}, 0, 1);
  REQUIRE(sets.size() == 2);
  CHECK(sets[0] == policy::CopySets{{0b11, 2.0}}); // request 1's two tokens; single experts are left out
  CHECK(sets[1] == policy::CopySets{{0b11, 1.0}}); // request 0's first token
  // Every second token only (the sample the placement takes on large traces).
  CHECK(policy::remote_copy_sets(t, {{0}, {1}}, {0, 0, 1, 1}, 0, 2)[1] == policy::CopySets{{0b11, 1.0}});
}
