// RouteGraph: SimGrid 3.32's Dijkstra-zone routing rule on a plain graph (the engine test route_graph_* compares it
// with Host::route_to on real platforms).
#include "core/cluster/route_graph.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

using namespace moesim;

namespace {

struct Edge {
  int32_t from, to;
  std::vector<int32_t> links;
};

RouteGraph make(int vertices, const std::vector<Edge>& edges)
{
  RouteGraph g;
  for (int v = 0; v < vertices; ++v)
    g.add_vertex();
  for (const auto& e : edges)
    g.add_edge(e.from, e.to, e.links);
  return g;
}

std::vector<int32_t> route(const RouteGraph& g, int32_t src, int32_t dst)
{
  std::vector<int32_t> pred, out;
  REQUIRE(g.search(src, pred));
  g.compose(pred, dst, out);
  return out;
}

/// The rule as SimGrid states it, without search()'s shortcuts: every vertex queued from the start (the others at
/// "infinity"), no stale entry skipped, the lowest (cost, vertex) taken first, a strictly lower cost replacing a
/// predecessor. Returns the predecessor vertex of each vertex.
std::vector<int32_t> reference_preds(int V, const std::vector<Edge>& edges, int32_t src)
{
  const uint64_t inf = std::numeric_limits<uint64_t>::max();
  std::vector<uint64_t> cost(V, inf);
  std::vector<int32_t> pred(V, -1);
  cost[src] = 0;
  std::vector<std::pair<uint64_t, int32_t>> queue;
  for (int v = 0; v < V; ++v)
    queue.emplace_back(cost[v], v);
  while (!queue.empty()) {
    auto best = queue.begin();
    for (auto it = queue.begin(); it != queue.end(); ++it)
      if (*it < *best)
        best = it;
    const int32_t v = best->second;
    queue.erase(best);
    if (cost[v] == inf)
      continue; // only unreachable vertices are left (the graphs here are connected)
    for (const auto& e : edges) // edges in insertion order
      if (e.from == v && cost[v] + e.links.size() < cost[e.to]) {
        cost[e.to] = cost[v] + e.links.size();
        pred[e.to] = v;
        queue.emplace_back(cost[e.to], e.to);
      }
  }
  return pred;
}

} // namespace

TEST_CASE("Route graph: equal costs go through the lower-numbered vertex, each edge's links reversed")
{
  // 0 -> 1 -> 3 and 0 -> 2 -> 3 cost 2 each: 1 is taken first, so 3's route is through 1.
  const RouteGraph diamond = make(4, {{0, 2, {20}}, {0, 1, {10}}, {2, 3, {23}}, {1, 3, {13}}});
  CHECK(route(diamond, 0, 3) == std::vector<int32_t>{10, 13});
  CHECK(route(diamond, 0, 2) == std::vector<int32_t>{20});
  CHECK(route(diamond, 0, 0).empty());
  // An edge costs its links: 0 -> 2 directly over 3 links loses to 0 -> 1 -> 2 over 2; an edge's links come out in
  // reverse (SimGrid inserts each edge's links reversed at the front of the route).
  const RouteGraph weighted = make(3, {{0, 2, {1, 2, 3}}, {0, 1, {4}}, {1, 2, {5}}});
  CHECK(route(weighted, 0, 2) == std::vector<int32_t>{4, 5});
  const RouteGraph multi = make(3, {{0, 1, {7, 8}}, {1, 2, {9}}});
  CHECK(route(multi, 0, 2) == std::vector<int32_t>{8, 7, 9});
}

TEST_CASE("Route graph: a vertex the source cannot reach fails the search; bad edges are refused")
{
  const RouteGraph one_way = make(3, {{0, 1, {1}}, {2, 1, {2}}});
  std::vector<int32_t> pred;
  CHECK_FALSE(one_way.search(0, pred));
  CHECK_FALSE(one_way.search(5, pred));
  RouteGraph g = make(2, {{0, 1, {1}}});
  CHECK_THROWS_AS(g.add_edge(0, 1, {2}), std::invalid_argument);
  CHECK_THROWS_AS(g.add_edge(1, 0, {}), std::invalid_argument);
  CHECK_THROWS_AS(g.add_edge(0, 2, {1}), std::invalid_argument);
  g.add_edge(1, 0, {3});
  CHECK(route(g, 1, 0) == std::vector<int32_t>{3});
}

TEST_CASE("Route graph: search() takes the same predecessors as the rule without shortcuts, on random graphs")
{
  std::mt19937 rng(7);
  int compared = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const int V = 2 + static_cast<int>(rng() % 12);
    std::vector<Edge> edges;
    std::vector<std::vector<char>> has(V, std::vector<char>(V, 0));
    const auto add = [&](int a, int b) {
      if (a == b || has[a][b])
        return;
      has[a][b] = 1;
      Edge e{a, b, {}};
      const int n = 1 + static_cast<int>(rng() % 3); // few distinct costs: many ties
      for (int i = 0; i < n; ++i)
        e.links.push_back(static_cast<int32_t>(rng() % 50));
      edges.push_back(e);
    };
    for (int v = 0; v + 1 < V; ++v) { // a ring both ways: every vertex reaches every other
      add(v, v + 1);
      add(v + 1, v);
    }
    add(V - 1, 0);
    add(0, V - 1);
    for (int extra = static_cast<int>(rng() % (2 * V)); extra > 0; --extra)
      add(static_cast<int>(rng() % V), static_cast<int>(rng() % V));
    std::shuffle(edges.begin(), edges.end(), rng); // insertion order matters for ties
    const RouteGraph g = make(V, edges);
    for (int src = 0; src < V; ++src) {
      std::vector<int32_t> pred_edge;
      REQUIRE(g.search(src, pred_edge));
      const std::vector<int32_t> want = reference_preds(V, edges, src);
      for (int v = 0; v < V; ++v) {
        const int32_t got = pred_edge[v] < 0 ? -1 : edges[pred_edge[v]].from;
        CHECK(got == want[v]);
        ++compared;
      }
    }
  }
  CHECK(compared > 1000);
}
