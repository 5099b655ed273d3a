#include "core/cluster/route_graph.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <queue>
#include <stdexcept>
#include <string>
#include <utility>

namespace moesim {

int32_t RouteGraph::add_vertex()
{
  frozen_ = false;
  return num_vertices_++;
}

void RouteGraph::add_edge(int32_t from, int32_t to, const std::vector<int32_t>& links)
{
  const int32_t V = num_vertices();
  if (from < 0 || from >= V || to < 0 || to >= V)
    throw std::invalid_argument("route graph: edge " + std::to_string(from) + " -> " + std::to_string(to) +
                                " names a vertex out of range (" + std::to_string(V) + " vertices)");
  if (links.empty())
    throw std::invalid_argument("route graph: edge " + std::to_string(from) + " -> " + std::to_string(to) +
                                " has no link");
  if (!edge_keys_.insert(static_cast<uint64_t>(from) << 32 | static_cast<uint32_t>(to)).second)
    throw std::invalid_argument("route graph: a second edge " + std::to_string(from) + " -> " + std::to_string(to));
  frozen_ = false;
  if (edge_link_begin_.empty())
    edge_link_begin_.push_back(0);
  edge_from_.push_back(from);
  edge_to_.push_back(to);
  links_.insert(links_.end(), links.begin(), links.end());
  edge_link_begin_.push_back(static_cast<int32_t>(links_.size()));
}

void RouteGraph::freeze() const
{
  if (frozen_)
    return;
  const int32_t V = num_vertices();
  csr_begin_.assign(static_cast<size_t>(V) + 1, 0);
  for (int32_t from : edge_from_)
    ++csr_begin_[static_cast<size_t>(from) + 1];
  for (int32_t v = 0; v < V; ++v)
    csr_begin_[v + 1] += csr_begin_[v];
  csr_edge_.assign(edge_from_.size(), 0);
  std::vector<int32_t> fill(csr_begin_.begin(), csr_begin_.end() - 1);
  for (int32_t e = 0; e < static_cast<int32_t>(edge_from_.size()); ++e)
    csr_edge_[fill[edge_from_[e]]++] = e; // in insertion order within each vertex
  frozen_ = true;
}

bool RouteGraph::search(int32_t src, std::vector<int32_t>& pred_edge) const
{
  freeze();
  const int32_t V = num_vertices();
  if (src < 0 || src >= V)
    return false;
  constexpr uint64_t unreached = std::numeric_limits<uint64_t>::max();
  cost_.assign(V, unreached);
  pred_edge.assign(V, -1);
  cost_[src] = 0;
  // SimGrid's queue also holds every other vertex at cost "infinity" from the start; those entries come after every
  // finite one and relax nothing once every vertex is reached, so leaving them out changes no choice. Stale entries
  // (a vertex queued again at a lower cost) relax nothing either: a strictly lower cost is needed to replace a
  // predecessor.
  using Entry = std::pair<uint64_t, int32_t>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> queue;
  queue.emplace(0, src);
  int32_t reached = 0;
  while (!queue.empty()) {
    const auto [c, v] = queue.top();
    queue.pop();
    if (c != cost_[v])
      continue;
    ++reached;
    for (int32_t i = csr_begin_[v]; i < csr_begin_[v + 1]; ++i) {
      const int32_t e = csr_edge_[i];
      const int32_t u = edge_to_[e];
      const uint64_t through = c + static_cast<uint64_t>(edge_link_begin_[e + 1] - edge_link_begin_[e]);
      if (through < cost_[u]) {
        cost_[u] = through;
        pred_edge[u] = e;
        queue.emplace(through, u);
      }
    }
  }
  return reached == V;
}

int RouteGraph::compose(const std::vector<int32_t>& pred_edge, int32_t dst, std::vector<int32_t>& out) const
{
  path_.clear();
  for (int32_t v = dst; pred_edge[v] >= 0; v = edge_from_[pred_edge[v]])
    path_.push_back(pred_edge[v]);
  const size_t before = out.size();
  for (auto it = path_.rbegin(); it != path_.rend(); ++it)
    for (int32_t i = edge_link_begin_[*it + 1] - 1; i >= edge_link_begin_[*it]; --i)
      out.push_back(links_[i]);
  return static_cast<int>(out.size() - before);
}

} // namespace moesim
