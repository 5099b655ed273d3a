// The fast communication model's per-link processor sharing, against hand computation.
#include "core/comm/flow_model.hpp"
#include "core/io/errors.hpp"

#include <catch2/catch.hpp>

using namespace moesim;

namespace {

std::vector<double> solve(const FlowNetwork& net, const std::vector<std::tuple<double, double, std::vector<int32_t>>>& flows)
{
  FlowBatch b;
  for (const auto& [bytes, start, links] : flows)
    b.add(bytes, start, links.data(), static_cast<int>(links.size()));
  std::vector<double> finish;
  FlowSolver().solve(net, b, finish);
  return finish;
}

} // namespace

TEST_CASE("One shared link: flows starting together share it equally until each ends")
{
  FlowNetwork net;
  net.add_link(1e9, false);
  const auto f = solve(net, {{1e6, 0, {0}}, {2e6, 0, {0}}, {3e6, 0, {0}}});
  // 3 flows at 1/3 GB/s until 1 MB each (3 ms), then 2 flows until 2 MB (5 ms), then the last (6 ms).
  CHECK(f[0] == Approx(3e-3));
  CHECK(f[1] == Approx(5e-3));
  CHECK(f[2] == Approx(6e-3));
}

TEST_CASE("One shared link: a flow arriving later shares what is left")
{
  FlowNetwork net;
  net.add_link(1e9, false);
  // A (2 MB) alone for 1 ms (1 MB done), then A and B (1 MB) share: both end 2 ms later.
  const auto f = solve(net, {{2e6, 0, {0}}, {1e6, 1e-3, {0}}});
  CHECK(f[0] == Approx(3e-3));
  CHECK(f[1] == Approx(3e-3));
  // A flow arriving after the link drained starts afresh.
  const auto g = solve(net, {{1e6, 0, {0}}, {1e6, 5e-3, {0}}});
  CHECK(g[0] == Approx(1e-3));
  CHECK(g[1] == Approx(6e-3));
}

TEST_CASE("Routes: a flow ends when its slowest link has served it; fat pipes do not share; empty flows end at start")
{
  FlowNetwork net;
  const int fast = net.add_link(4e9, false), slow = net.add_link(1e9, false), pipe = net.add_link(1e9, true);
  const auto f = solve(net, {{1e6, 0, {fast, slow}}, {1e6, 0, {fast}}, {1e6, 2e-3, {pipe}}, {1e6, 2e-3, {pipe}},
                             {0, 7e-3, {slow}}});
  CHECK(f[0] == Approx(1e-3));   // the 1 GB/s link alone
  CHECK(f[1] == Approx(0.5e-3)); // 2 flows on 4 GB/s
  CHECK(f[2] == Approx(3e-3));   // fat pipe: full bandwidth each
  CHECK(f[3] == Approx(3e-3));
  CHECK(f[4] == Approx(7e-3));
}

TEST_CASE("Communication model names")
{
  CHECK(parse_comm_model("fast") == CommModel::Fast);
  CHECK(parse_comm_model("exact") == CommModel::Exact);
  CHECK(comm_model_name(CommModel::Exact) == "exact");
  CHECK_THROWS_WITH(parse_comm_model("smpi"), Catch::Contains("unknown communication model 'smpi' (expected fast or exact)"));
  CHECK_THROWS_AS(FlowNetwork().add_link(0, false), InternalError);
}
