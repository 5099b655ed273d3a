// policies/algorithms/trace_counts: tokens, token-expert loads and co-activation counts of requests.
#include "algorithms/trace_counts.hpp"
#include "test_helpers.hpp"

#include <catch2/catch.hpp>

using namespace moesim;

TEST_CASE("Trace counts: tokens, loads per layer and expert, co-activation of expert pairs")
{
  // 4 experts, top-2, 2 layers. Request 0 (3 tokens) -> {0, 1} in layer 0, {2, 3} in layer 1; request 1 (2 tokens)
  // -> {1, 2} in both layers.
  const ModelSpec m = test::tiny_model(2, 4, 2);
  const Trace t = test::make_trace(m, {3, 2}, [](int r, int, int l, int j) { return r == 0 ? 2 * l + j : 1 + j; });
  CHECK(policy::total_tokens(t, {0, 1}) == 5);
  CHECK(policy::total_tokens(t, {1}) == 2);
  const auto load = policy::expert_loads(t, {0, 1});
  CHECK(load[0] == std::vector<double>{3, 5, 2, 0});
  CHECK(load[1] == std::vector<double>{0, 2, 5, 3});
  CHECK(policy::expert_loads(t, {1})[0] == std::vector<double>{0, 2, 2, 0});
  const auto w = policy::coactivation(t, {0, 1});
  CHECK(w[0][0][1] == 3);
  CHECK(w[0][1][0] == 3); // symmetric
  CHECK(w[0][1][2] == 2);
  CHECK(w[0][0][0] == 0); // a token's experts are distinct
  CHECK(w[1][2][3] == 3);
  CHECK(w[1][0][1] == 0);
}
