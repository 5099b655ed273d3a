#include "algorithms/assignment.hpp"
#include "core/io/errors.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <random>

using namespace moesim;

namespace {

/// The best total gain over every assignment that respects the capacities (exhaustive search).
double brute_force(const std::vector<std::vector<double>>& gain, std::vector<int> room)
{
  const int I = static_cast<int>(gain.size()), B = static_cast<int>(room.size());
  double best = -1e300;
  std::function<void(int, double)> go = [&](int i, double sum) {
    if (i == I) {
      best = std::max(best, sum);
      return;
    }
    for (int b = 0; b < B; ++b)
      if (room[b] > 0) {
        --room[b];
        go(i + 1, sum + gain[i][b]);
        ++room[b];
      }
  };
  go(0, 0.0);
  return best;
}

} // namespace

TEST_CASE("max_gain_assignment: the exact optimum under capacities, on random instances against exhaustive search")
{
  std::mt19937 rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    const int I = 1 + static_cast<int>(rng() % 7), B = 1 + static_cast<int>(rng() % 4);
    std::vector<int> cap(B, 0);
    for (int i = 0; i < I + static_cast<int>(rng() % 3); ++i)
      ++cap[rng() % B];
    std::vector<std::vector<double>> gain(I, std::vector<double>(B));
    for (auto& row : gain)
      for (double& g : row)
        g = static_cast<double>(rng() % 20) - (trial % 3 == 0 ? 10 : 0); // ties and negative gains too
    const auto a = policy::max_gain_assignment(gain, cap);
    REQUIRE(static_cast<int>(a.size()) == I);
    std::vector<int> used(B, 0);
    double total = 0;
    for (int i = 0; i < I; ++i) {
      REQUIRE(a[i] >= 0);
      REQUIRE(a[i] < B);
      ++used[a[i]];
      total += gain[i][a[i]];
    }
    for (int b = 0; b < B; ++b)
      CHECK(used[b] <= cap[b]);
    CHECK(total == Approx(brute_force(gain, cap)));
  }
}

TEST_CASE("max_gain_assignment: a greedy pass is not enough; too little room is refused")
{
  // Greedy by largest gain puts item 0 in bin 0 (gain 10) and item 1 then in bin 1 (gain 1): 11. The optimum
  // puts item 1 in bin 0 (9) and item 0 in bin 1 (8): 17.
  const std::vector<std::vector<double>> gain{{10, 8}, {9, 1}};
  CHECK(policy::max_gain_assignment(gain, {1, 1}) == std::vector<int>{1, 0});
  CHECK_THROWS_AS(policy::max_gain_assignment(gain, {1, 0}), InternalError);
}
