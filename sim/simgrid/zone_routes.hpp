#pragma once
// GPU-pair routes of a platform whose GPUs all sit in one Dijkstra zone, found by moesim's copy of SimGrid's search
// (core/cluster/route_graph.hpp) instead of one Host::route_to per pair: one search per source GPU gives its routes
// to every GPU, the same links in the same order as SimGrid's. Any other platform (other routings, zones inside
// the GPUs' zone, bypass routes, a GPU on no route) is left to Host::route_to.
#include "core/cluster/route_graph.hpp"

#include <simgrid/s4u.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace moesim {

/// Records every route SimGrid is given while it lives (NetZoneImpl::on_route_creation): create it before
/// Engine::load_platform.
class RouteRecorder {
public:
  RouteRecorder();
  ~RouteRecorder();
  RouteRecorder(const RouteRecorder&) = delete;
  RouteRecorder& operator=(const RouteRecorder&) = delete;
  /// Stops recording (after Engine::seal_platform); the routes stay.
  void stop();

  struct Added {
    bool symmetrical = false;
    const simgrid::kernel::routing::NetPoint* src = nullptr;
    const simgrid::kernel::routing::NetPoint* dst = nullptr;
    std::vector<simgrid::kernel::resource::StandardLinkImpl*> links; ///< as SimGrid keeps them for src -> dst
  };
  std::vector<Added> routes; ///< in the order SimGrid added them

private:
  unsigned int slot_ = 0;
  bool connected_ = false;
};

class ZoneRoutes {
public:
  /// The routes of `hosts` (GPU ranks in order) on a sealed engine, or nullptr with the reason in `why` when
  /// SimGrid must be asked pair by pair. Before returning a table, compares the routes of 64 sampled sources to 64
  /// destinations each with Host::route_to; a difference (a moesim bug) also gives nullptr and says which pair.
  static std::unique_ptr<ZoneRoutes> build(const simgrid::s4u::Engine& engine,
                                           const std::vector<simgrid::s4u::Host*>& hosts,
                                           const std::string& platform_file, const RouteRecorder& recorded,
                                           std::string& why);

  /// The routes from GPU `src` to every GPU d: links[begin[d] .. begin[d + 1]) (none for d == src). False when this
  /// source's routes are not SimGrid's shortest paths (a vertex it cannot reach): ask Host::route_to for them.
  bool routes_from(int src, std::vector<simgrid::s4u::Link*>& links, std::vector<uint32_t>& begin) const;
  /// The same as ids: link(ids[i]) is the link (ids are dense, 0 .. num_links() - 1).
  bool route_ids_from(int src, std::vector<int32_t>& ids, std::vector<uint32_t>& begin) const;
  simgrid::s4u::Link* link(int32_t id) const { return link_[id]; }
  int32_t num_links() const { return static_cast<int32_t>(link_.size()); }

private:
  ZoneRoutes() = default;
  RouteGraph graph_;
  std::vector<simgrid::s4u::Link*> link_;   ///< [graph link id]
  std::vector<int32_t> vertex_of_gpu_;      ///< [GPU rank]
  mutable std::vector<int32_t> pred_, ids_; ///< routes_from() scratch
};

} // namespace moesim
