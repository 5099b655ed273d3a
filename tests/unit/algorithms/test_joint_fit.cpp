#include "algorithms/joint_fit.hpp"
#include "core/io/errors.hpp"
#include "test_helpers.hpp"

#include <catch2/catch.hpp>

#include <numeric>
#include <set>

using namespace moesim;

TEST_CASE("Joint fit: two families on disjoint experts end on their own nodes with their own experts")
{
  const ModelSpec m = test::tiny_model(2, 8, 2);
  // Family r % 2 uses experts 4 * (r % 2) .. + 3; labels are deliberately uninformative (all 0).
  std::vector<int> lens(16, 10);
  const Trace t = test::make_trace(m, lens, [](int r, int i, int l, int j) { return (r % 2) * 4 + (i + l + 2 * j) % 4; });
  std::vector<int32_t> req(16);
  std::iota(req.begin(), req.end(), 0);
  for (int sig : {0, 3}) {
    const auto fit = policy::fit_joint(t, req, 2, {4, 4}, 7, sig);
    CHECK(fit.local_pairs == fit.total_pairs); // every pair on its request's node
    for (int l = 0; l < 2; ++l)
      for (int e = 0; e < 8; ++e)
        CHECK(fit.node_of_expert[l][e] == fit.node_of_expert[l][e / 4 * 4]);
    for (int r = 0; r < 16; ++r)
      CHECK(fit.node_of_request[r] == fit.node_of_request[r % 2]);
    CHECK(fit.node_of_request[0] != fit.node_of_request[1]);
  }
  CHECK_THROWS_AS(policy::fit_joint(t, req, 2, {4, 3}, 7, 0), InternalError);
}

TEST_CASE("Balanced and online assignments keep every node within its share of tokens")
{
  // Everyone prefers node 0; capacity is half the tokens each.
  const std::vector<std::vector<double>> score{{5, 1}, {4, 3}, {9, 0}, {2, 1}};
  const std::vector<int64_t> w{1, 1, 1, 1};
  const auto b = policy::balanced_assignment(score, w, 2);
  // Regret order: request 2 (9), request 0 (4), then requests 3 and 1 (1): the last two go to node 1.
  CHECK(b == std::vector<int>{0, 1, 0, 1});
  const auto o = policy::online_assignment(score, w, 2, {0, 0});
  CHECK(o == std::vector<int>{0, 0, 1, 1}); // without prices, arrival order: the first two fill node 0
  // With prices learnt on the same requests, a request goes where its share stands out: 0 and 2 lean most to node 0.
  const auto prices = policy::balancing_prices(score, w, 2);
  CHECK(prices[0] - prices[1] > 0);
  CHECK(policy::online_assignment(score, w, 2, prices) == std::vector<int>{0, 1, 0, 1});
}
