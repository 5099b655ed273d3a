// policies/algorithms/eplb: DeepSeek EPLB's packing, replication and hierarchical rebalancing.
#include "algorithms/eplb.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <vector>

using namespace moesim;

namespace {

std::multiset<int> gpu_experts(const std::vector<std::vector<int>>& replicas, int gpu)
{
  std::multiset<int> s;
  for (size_t e = 0; e < replicas.size(); ++e)
    for (int g : replicas[e])
      if (g == gpu)
        s.insert(static_cast<int>(e));
  return s;
}

} // namespace

TEST_CASE("EPLB reproduces the worked example of deepseek-ai/EPLB's README")
{
  // weight, 16 physical experts, 4 groups, 2 nodes, 8 GPUs (hierarchical).
  const std::vector<std::vector<double>> w{{90, 132, 40, 61, 104, 165, 39, 4, 73, 56, 183, 86},
                                           {20, 107, 104, 64, 19, 197, 187, 157, 172, 86, 16, 27}};
  // The README's phy2log, two physical experts per GPU in GPU order.
  const std::vector<std::vector<int>> phy2log{{5, 6, 5, 7, 8, 4, 3, 4, 10, 9, 10, 2, 0, 1, 11, 1},
                                              {7, 10, 6, 8, 6, 11, 8, 9, 2, 4, 5, 1, 5, 0, 3, 1}};
  for (int l = 0; l < 2; ++l) {
    const auto reps = policy::eplb_layer(w[l], 16, 4, 2, 8, std::vector<int>(8, 2));
    for (int g = 0; g < 8; ++g) {
      const std::multiset<int> want{phy2log[l][2 * g], phy2log[l][2 * g + 1]};
      CHECK(gpu_experts(reps, g) == want);
    }
  }
}

TEST_CASE("EPLB primitives: balanced packing and replication")
{
  // Sorted descending 9, 7, 5, 3 into 2 packs of 2: 9 -> A, 7 -> B, 5 -> B (lighter), 3 -> A.
  CHECK(policy::balanced_packing({5, 9, 3, 7}, 2) == std::vector<int>{1, 0, 0, 1});
  // Capacities 3 and 1: 9 -> A, 7 -> B (B full), 5 and 3 -> A.
  CHECK(policy::balanced_packing({5, 9, 3, 7}, std::vector<int>{3, 1}) == std::vector<int>{0, 0, 0, 1});
  // Extra slots copy the expert with the largest load per copy: 10 -> 10/2=5 vs 6 -> copy 6 next.
  CHECK(policy::replicate_experts({10, 6, 1}, 5) == std::vector<int>{0, 1, 2, 0, 1});
}
