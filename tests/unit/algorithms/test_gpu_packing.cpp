// policies/algorithms/gpu_packing: expert slots per GPU, experts packed by load, requests dealt to GPUs.
#include "algorithms/gpu_packing.hpp"
#include "core/io/errors.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace moesim;

TEST_CASE("GPU packing: slot layouts as serving engines make them, even or not")
{
  CHECK(policy::even_split(10, 4) == std::vector<int>{3, 3, 2, 2});
  CHECK(policy::even_split(0, 2) == std::vector<int>{0, 0});
  // 64 experts, 2 redundant per GPU on 16 GPUs: 6 slots each.
  auto l = policy::slot_layout(64, 2, 8, 32);
  CHECK(l.total == 96);
  CHECK(l.slots == std::vector<int>(16, 6));
  CHECK(l.primary == std::vector<int>(16, 4));
  // SGLang's large-scale EP: 256 experts + 32 redundant = 288 slots, 4 per GPU on 72 GPUs.
  l = policy::slot_layout(256, 9, 8, 32);
  CHECK(l.total == 288);
  CHECK(l.slots == std::vector<int>(72, 4));
  CHECK(l.node_primary(0, 8) == 29); // 256 = 4 x 29 + 5 x 28 over the nodes
  CHECK(l.node_primary(4, 8) == 28);
  CHECK(l.primary[0] == 4);          // 29 = 5 x 4 + 3 x 3 over the node's GPUs
  CHECK(l.primary[5] == 3);
  CHECK(l.node_spare(4, 8) == 4);
  // 256 experts on 7 GPUs: 37 x 4 + 36 x 3.
  l = policy::slot_layout(256, 1, 7, 0);
  CHECK(l.slots == std::vector<int>{37, 37, 37, 37, 36, 36, 36});
  // Fewer experts than GPUs: one slot per GPU, the spare ones for copies.
  l = policy::slot_layout(32, 8, 8, 0);
  CHECK(l.total == 64);
  CHECK(l.node_primary(7, 8) == 4); // spread over every node
  CHECK(l.primary[3] == 1);
  CHECK(l.primary[4] == 0);
  CHECK_THROWS_AS(policy::slot_layout(32, 8, 8, -1), UsageError);
}

TEST_CASE("GPU packing: experts onto GPUs with equal counts and balanced load")
{
  // Loads 8, 1, 1, 6 onto GPUs 4 and 5: 8 -> 4, 6 -> 5, 1 -> 5, 1 -> 4 (the lighter pack with room each time).
  std::vector<std::vector<int>> replicas(4);
  policy::pack_on_gpus({0, 1, 2, 3}, {8, 1, 1, 6}, {4, 5}, {2, 2}, replicas);
  CHECK(replicas[0] == std::vector<int>{4});
  CHECK(replicas[3] == std::vector<int>{5});
  CHECK(replicas[1] == std::vector<int>{5});
  CHECK(replicas[2] == std::vector<int>{4});
  // Uneven capacities: GPU 4 takes three, GPU 5 one (8 -> 4, 6 -> 5, then 5 is full).
  std::vector<std::vector<int>> uneven(4);
  policy::pack_on_gpus({0, 1, 2, 3}, {8, 1, 1, 6}, {4, 5}, {3, 1}, uneven);
  CHECK(uneven[3] == std::vector<int>{5});
  CHECK(uneven[1] == std::vector<int>{4});
}

TEST_CASE("GPU packing: requests go to the node's GPU with the fewest tokens so far")
{
  const Cluster c = Cluster::uniform(2, 2, h100_sxm());
  policy::NodeDealer dealer(c);
  CHECK(dealer.deal(1, 10) == 2); // ties: the lowest GPU of node 1
  CHECK(dealer.deal(1, 3) == 3);
  CHECK(dealer.deal(1, 3) == 3); // GPU 3 holds 3 < 10
  CHECK(dealer.deal(1, 1) == 3); // 6 < 10
  CHECK(dealer.deal(0, 1) == 0); // node 0 is untouched
}
