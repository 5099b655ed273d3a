#pragma once
// The routing graph of a SimGrid Dijkstra zone and the rule by which SimGrid 3.32 finds a route in it, in plain C++
// (sim/simgrid/zone_routes.cpp fills it from the routes SimGrid is given). SimGrid's DijkstraZone answers each
// Host::route_to with a walk over its xbt graph whose edge look-ups scan a switch's edge list: about 3 us a pair at
// 4,096 GPUs, 16.7M pairs. This graph answers all routes from one source with one search and direct edge indices,
// and gives the same links in the same order:
// - vertices are numbered in the order SimGrid creates them (the source, then the destination, of each route in
//   the order the routes are added), and a vertex's edges are kept in the order they are added;
// - an edge costs its number of links; the search is Dijkstra's with a queue ordered by (cost, vertex number), and
//   a vertex keeps the first predecessor that reaches it at its lowest cost (a strictly lower cost replaces it);
// - a route is composed from the destination back to the source, each edge's links inserted reversed at the front
//   (SimGrid's insert_link_latency), so the route is each edge's link list reversed, the edges in path order.
// When a vertex cannot be reached from the source SimGrid's search overflows its unsigned costs and its routes are
// not shortest paths; search() then reports failure and the caller must ask SimGrid.
#include <cstdint>
#include <unordered_set>
#include <vector>

namespace moesim {

class RouteGraph {
public:
  /// Adds a vertex; returns its number (0, 1, ...).
  int32_t add_vertex();
  /// Adds the edge from -> to with `links` (link ids of the caller, in the order SimGrid's route keeps them). At
  /// most one edge per ordered pair of vertices (SimGrid refuses a second one); throws std::invalid_argument on a
  /// vertex out of range, a repeated edge or an edge without links (SimGrid forbids empty routes).
  void add_edge(int32_t from, int32_t to, const std::vector<int32_t>& links);
  int32_t num_vertices() const { return num_vertices_; }

  /// The shortest-path tree from `src` by SimGrid's rule: pred_edge[v] = the edge into v on its route (-1 for src).
  /// False (pred_edge unspecified) when some vertex cannot be reached from src.
  bool search(int32_t src, std::vector<int32_t>& pred_edge) const;
  /// Appends the links of the route src -> dst of a search() from src to `out`, in SimGrid's order; returns how
  /// many it appended (0 when dst == src).
  int compose(const std::vector<int32_t>& pred_edge, int32_t dst, std::vector<int32_t>& out) const;

private:
  void freeze() const; ///< builds the per-vertex edge lists (CSR) after the last add_edge
  int32_t num_vertices_ = 0;
  std::vector<int32_t> edge_from_, edge_to_;
  std::vector<int32_t> edge_link_begin_; ///< [edge + 1] offsets into links_
  std::vector<int32_t> links_;
  std::unordered_set<uint64_t> edge_keys_; ///< from << 32 | to, to refuse a second edge
  mutable bool frozen_ = false;
  mutable std::vector<int32_t> csr_begin_, csr_edge_; ///< [vertex + 1] offsets, edges in insertion order
  mutable std::vector<uint64_t> cost_;               ///< search() scratch, [vertex]
  mutable std::vector<int32_t> path_;                ///< compose() scratch
};

} // namespace moesim
