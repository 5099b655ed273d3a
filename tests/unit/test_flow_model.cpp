// The fast communication model's per-link processor sharing, against hand computation.
#include "core/comm/flow_model.hpp"
#include "core/io/errors.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <limits>
#include <random>

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

namespace {

/// Processor sharing on one link, one heap entry per flow (the textbook event simulation): the reference the
/// size-class solver must agree with.
std::vector<double> reference_ps(double C, const std::vector<double>& bytes, const std::vector<double>& start)
{
  const size_t n = bytes.size();
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return start[a] < start[b]; });
  std::vector<double> finish(n, 0.0);
  std::vector<std::pair<double, size_t>> heap; // (tag, flow), min-heap
  const auto later = std::greater<>();
  double t = start[order[0]], v = 0;
  auto depart = [&](double until) {
    while (!heap.empty()) {
      const double t_next = t + (heap.front().first - v) * static_cast<double>(heap.size()) / C;
      if (t_next > until)
        return;
      t = t_next;
      v = heap.front().first;
      finish[heap.front().second] = t;
      std::pop_heap(heap.begin(), heap.end(), later);
      heap.pop_back();
    }
  };
  for (size_t i : order) {
    depart(start[i]);
    if (!heap.empty())
      v += (start[i] - t) * C / static_cast<double>(heap.size());
    t = start[i];
    heap.emplace_back(v + bytes[i], i);
    std::push_heap(heap.begin(), heap.end(), later);
  }
  depart(std::numeric_limits<double>::infinity());
  return finish;
}

} // namespace

TEST_CASE("Size classes: the solver equals per-flow processor sharing on random links (ties, bursts, one start)")
{
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    FlowNetwork net;
    const double C = 1e9 * (1 + static_cast<double>(rng() % 50));
    net.add_link(C, false);
    const int n = 1 + static_cast<int>(rng() % 200);
    const int senders = 1 + static_cast<int>(rng() % 20), sizes = 1 + static_cast<int>(rng() % 6);
    std::vector<double> bytes(n), start(n);
    const bool one_start = trial % 5 == 0;
    for (int i = 0; i < n; ++i) {
      bytes[i] = 7168.0 * (1 + static_cast<double>(rng() % sizes)); // whole tokens: a few distinct sizes
      start[i] = one_start ? 1e-3 : 1e-6 * static_cast<double>(rng() % senders); // bursts of one sender
    }
    const int32_t link = 0;
    FlowBatch b;
    for (int i = 0; i < n; ++i) // unsorted on purpose: the solver orders by start itself
      b.add(bytes[i], start[i], &link, 1);
    std::vector<double> got;
    FlowSolver().solve(net, b, got);
    const auto want = reference_ps(C, bytes, start);
    for (int i = 0; i < n; ++i)
      REQUIRE(got[i] == Approx(want[i]).epsilon(1e-12));
  }
}

namespace {

/// Random flows over a small network: each link's finishes by per-flow processor sharing, a flow's = the latest.
struct RandomNetwork {
  FlowNetwork net;
  std::vector<std::vector<int32_t>> routes; ///< the routes flows may take
  std::vector<double> bytes, start;
  std::vector<int> route_of; ///< [flow]

  std::vector<double> reference() const
  {
    std::vector<double> finish(start);
    for (int l = 0; l < net.num_links(); ++l) {
      std::vector<size_t> on;
      std::vector<double> b, s;
      for (size_t f = 0; f < bytes.size(); ++f)
        if (bytes[f] > 0 && std::count(routes[route_of[f]].begin(), routes[route_of[f]].end(), l)) {
          on.push_back(f);
          b.push_back(bytes[f]);
          s.push_back(start[f]);
        }
      if (on.empty())
        continue;
      const auto fin = net.fatpipe[l] ? std::vector<double>() : reference_ps(net.bandwidth_Bps[l], b, s);
      for (size_t i = 0; i < on.size(); ++i)
        finish[on[i]] = std::max(finish[on[i]], net.fatpipe[l] ? s[i] + b[i] / net.bandwidth_Bps[l] : fin[i]);
    }
    return finish;
  }
  std::vector<double> solve(const std::vector<uint8_t>* skip) const
  {
    FlowBatch b;
    for (size_t f = 0; f < bytes.size(); ++f) {
      const auto& r = routes[route_of[f]];
      b.add(bytes[f], start[f], r.data(), static_cast<int>(r.size()), skip);
    }
    std::vector<double> finish;
    FlowSolver().solve(net, b, finish);
    return finish;
  }
};

} // namespace

TEST_CASE("Routes: the solver equals per-link processor sharing on random networks, idle gaps and skipped periods")
{
  // Sparse starts leave links idle between busy periods; links of mixed speeds let the solver skip the periods of
  // the faster ones that decide nothing. Every finish must still be the reference's.
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    RandomNetwork rn;
    const int L = 2 + static_cast<int>(rng() % 8);
    for (int l = 0; l < L; ++l)
      rn.net.add_link(1e9 * (1 + static_cast<double>(rng() % 8)), rng() % 10 == 0);
    const int R = 1 + static_cast<int>(rng() % 12);
    for (int r = 0; r < R; ++r) {
      std::vector<int32_t> route;
      for (int l = 0; l < L; ++l)
        if (rng() % 3 == 0)
          route.push_back(l);
      if (route.empty())
        route.push_back(static_cast<int32_t>(rng() % L));
      rn.routes.push_back(route);
    }
    const int n = 1 + static_cast<int>(rng() % 150);
    const double gap_s = trial % 2 ? 1e-6 : 1e-4; // dense bursts, or arrivals far apart
    for (int i = 0; i < n; ++i) {
      rn.bytes.push_back(rng() % 20 == 0 ? 0.0 : 7168.0 * (1 + static_cast<double>(rng() % 4)));
      rn.start.push_back(gap_s * static_cast<double>(rng() % 30));
      rn.route_of.push_back(static_cast<int>(rng() % R));
    }
    const auto want = rn.reference();
    const auto got = rn.solve(nullptr);
    for (int i = 0; i < n; ++i)
      REQUIRE(got[i] == Approx(want[i]).epsilon(1e-12));
  }
}

TEST_CASE("Groups: one solver over many batches, and more links x sizes than its look-up table holds")
{
  // The solver keeps its group look-up between batches and falls back to per-link chains when links x distinct
  // sizes outgrow the table (2^22 slots here: 2,100 links x 2,500 sizes); both must still give the reference.
  std::mt19937_64 rng(13);
  FlowSolver reused;
  for (int trial = 0; trial < 12; ++trial) {
    RandomNetwork rn;
    const bool many = trial % 4 == 3;
    const int L = many ? 2100 : 2 + static_cast<int>(rng() % 8);
    for (int l = 0; l < L; ++l)
      rn.net.add_link(1e9 * (1 + static_cast<double>(rng() % 8)), rng() % 10 == 0);
    const int R = many ? 600 : 1 + static_cast<int>(rng() % 12);
    for (int r = 0; r < R; ++r) {
      std::vector<int32_t> route;
      for (int hop = 0; hop < 3; ++hop)
        route.push_back(static_cast<int32_t>(rng() % L));
      std::sort(route.begin(), route.end());
      route.erase(std::unique(route.begin(), route.end()), route.end());
      rn.routes.push_back(route);
    }
    const int n = many ? 6000 : 1 + static_cast<int>(rng() % 150);
    const int sizes = many ? 4000 : 4;
    for (int i = 0; i < n; ++i) {
      rn.bytes.push_back(rng() % 20 == 0 ? 0.0 : 7168.0 * (1 + static_cast<double>(rng() % sizes)));
      rn.start.push_back(1e-6 * static_cast<double>(rng() % 30));
      rn.route_of.push_back(static_cast<int>(rng() % R));
    }
    FlowBatch b;
    for (size_t f = 0; f < rn.bytes.size(); ++f) {
      const auto& r = rn.routes[rn.route_of[f]];
      b.add(rn.bytes[f], rn.start[f], r.data(), static_cast<int>(r.size()));
    }
    std::vector<double> got;
    reused.solve(rn.net, b, got);
    const auto want = rn.reference();
    for (int i = 0; i < n; ++i)
      REQUIRE(got[i] == Approx(want[i]).epsilon(1e-12));
  }
}

TEST_CASE("Route cover: a link every route of which crosses a link no faster decides no finish")
{
  FlowNetwork net;
  const int pcie = net.add_link(64e9, false), nic = net.add_link(50e9, false); // in series on every route
  const int a = net.add_link(10e9, false), b = net.add_link(10e9, false);      // the same routes, as fast
  const int c = net.add_link(10e9, false);                                      // a strict subset of d's routes
  const int d = net.add_link(10e9, false);
  const int pipe = net.add_link(1e9, true), shared = net.add_link(5e9, false); // a fat pipe bounds no shared link
  const int alone = net.add_link(1e9, false);
  RouteCover cover;
  const std::vector<std::vector<int32_t>> routes = {
      {pcie, nic, alone}, {pcie, nic}, {a, b}, {b, a, alone}, {c, d}, {d}, {pipe, shared}, {shared}};
  for (const auto& r : routes)
    cover.add_route(r.data(), static_cast<int>(r.size()));
  const auto covered = cover.covered(net);
  REQUIRE(covered.size() == static_cast<size_t>(net.num_links()));
  CHECK(covered[pcie] == 1); // the slower NIC port serves the same flows
  CHECK(covered[nic] == 0);
  CHECK(covered[a] == 0); // equal routes, equal speed: the lower index is kept
  CHECK(covered[b] == 1);
  CHECK(covered[c] == 1); // d carries c's flows and more, as fast
  CHECK(covered[d] == 0);
  CHECK(covered[pipe] == 0);
  CHECK(covered[shared] == 0);
  CHECK(covered[alone] == 0); // routes through it cross no link that is on all of them and no faster

  // Leaving the covered links out of the flows changes no finish, on random networks with links in series.
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 100; ++trial) {
    RandomNetwork rn;
    const int L = 3 + static_cast<int>(rng() % 6);
    for (int l = 0; l < L; ++l)
      rn.net.add_link(1e9 * (1 + static_cast<double>(rng() % 4)), rng() % 8 == 0);
    RouteCover rc;
    const int R = 1 + static_cast<int>(rng() % 10);
    for (int r = 0; r < R; ++r) {
      std::vector<int32_t> route;
      for (int l = 0; l < L; ++l)
        if (rng() % 2 == 0) {
          route.push_back(l);
          if (l + 1 < L && l % 2 == 0) // even links mostly come with their odd neighbour (a series pair)
            route.push_back(++l);
        }
      if (route.empty())
        route.push_back(0);
      rn.routes.push_back(route);
      rc.add_route(route.data(), static_cast<int>(route.size()));
    }
    const auto skip = rc.covered(rn.net);
    for (int i = 0, n = 1 + static_cast<int>(rng() % 120); i < n; ++i) {
      rn.bytes.push_back(7168.0 * (1 + static_cast<double>(rng() % 3)));
      rn.start.push_back(1e-6 * static_cast<double>(rng() % 20));
      rn.route_of.push_back(static_cast<int>(rng() % R));
    }
    const auto full = rn.solve(nullptr), reduced = rn.solve(&skip);
    for (size_t i = 0; i < full.size(); ++i)
      REQUIRE(reduced[i] == Approx(full[i]).epsilon(1e-12));
  }
}
