// policies/algorithms/gpu_packing: expert slots per GPU, experts packed by load, requests dealt to GPUs.
#include "algorithms/gpu_packing.hpp"
#include "core/io/errors.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace moesim;

TEST_CASE("GPU packing: slots per GPU and the capacity checks name the policy")
{
  CHECK(policy::slots_per_gpu("p", 64, 16, 0) == 4);
  CHECK(policy::slots_per_gpu("p", 64, 16, 2) == 6);
  CHECK_THROWS_WITH(policy::slots_per_gpu("p", 60, 16, 0),
                    Catch::Contains("placement p") && Catch::Contains("60 experts do not divide evenly over 16 GPUs"));
  CHECK_NOTHROW(policy::check_experts_per_node("p", 64, 4));
  CHECK_THROWS_AS(policy::check_experts_per_node("p", 64, 3), UsageError);
}

TEST_CASE("GPU packing: experts onto GPUs with equal counts and balanced load")
{
  // Loads 8, 1, 1, 6 onto GPUs 4 and 5: 8 -> 4, 6 -> 5, 1 -> 5, 1 -> 4 (the lighter pack with room each time).
  std::vector<std::vector<int>> replicas(4);
  policy::pack_on_gpus({0, 1, 2, 3}, {8, 1, 1, 6}, {4, 5}, replicas);
  CHECK(replicas[0] == std::vector<int>{4});
  CHECK(replicas[3] == std::vector<int>{5});
  CHECK(replicas[1] == std::vector<int>{5});
  CHECK(replicas[2] == std::vector<int>{4});
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
