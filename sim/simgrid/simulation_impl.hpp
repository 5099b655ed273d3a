#pragma once
// Private state of Simulation (SimGrid types stay inside sim/simgrid/).
#include "core/calibration/calibration.hpp"
#include "core/cluster/cluster.hpp"
#include "core/comm/flow_model.hpp"
#include "core/comm/phase.hpp"
#include "simgrid/platform_check.hpp"
#include "simgrid/platform_loader.hpp"
#include "simgrid/zone_routes.hpp"

#include <simgrid/s4u.hpp>

#include <array>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace moesim {

struct Simulation::Impl final : public NetworkView {
  std::string platform_file;
  std::unique_ptr<simgrid::s4u::Engine> engine;
  Cluster cluster;
  std::vector<simgrid::s4u::Host*> hosts;               ///< [GPU rank]
  std::map<const simgrid::s4u::Link*, double> link_latency; ///< latency declared in the platform, seconds
  double engine_wall_s = 0;
  double bytes_sent = 0;     ///< last run: sum of message sizes put
  double bytes_received = 0; ///< last run: sum of message sizes the receivers expected
  /// Route latency (links as declared) plus the calibrated NCCL message overhead, seconds (collectives).
  double latency(int src, int dst);

  /// Calibration read from the platform's root zone (empty for uncalibrated platforms).
  PlatformCalibration calibration;
  uint64_t messages_below_range = 0; ///< messages smaller / larger than the calibrated sizes (not extrapolated
  uint64_t messages_above_range = 0; ///< silently: the run reports them)
  /// Bytes a message of `bytes` occupies the links for: divided by its calibrated bandwidth factor.
  double effective_bytes(int src, int dst, double bytes);

  // The fast communication model's view of the platform: SimGrid's own links and routes, extracted once per pair.
  FlowNetwork network;
  std::unordered_map<const simgrid::s4u::Link*, int32_t> link_index;
  std::vector<double> network_latency_s; ///< [flow-network link] latency declared in the platform, seconds
  /// route(): recently looked-up links and their indices (direct-mapped by address).
  std::array<std::pair<const simgrid::s4u::Link*, int32_t>, 4096> link_cache_{};
  /// A SimGrid link's index in the flow network, added on first sight.
  int32_t add_flow_link(const simgrid::s4u::Link* l);
  static constexpr int64_t kRouteBlockLinks = 1 << 20; ///< links per block of route_links
  /// [src * G + dst] block * kRouteBlockLinks + offset into route_links, -1 = not extracted yet
  std::vector<int32_t> route_begin;
  std::vector<uint8_t> route_size; ///< [src * G + dst]
  std::vector<std::vector<int32_t>> route_links; ///< blocks of at most kRouteBlockLinks links

  /// Link values a calibration fit sets for measurements taken on other GPUs (0 = the platform's own), applied to
  /// the flow network's links by their generated names (nvl-*, ib-*, pcie-*).
  LinkOverride link_override;
  std::vector<double> platform_bandwidth_Bps; ///< [flow-network link] as declared
  std::vector<char> link_class;               ///< [flow-network link] 'n'vlink, 'i'b, 'p'cie, '-' other
  void apply_link_override(int32_t link);
  /// The first GPU pair route() found without a link ("" = none); raise_unrouted() throws it as an InputError.
  std::string unrouted_pair;
  void raise_unrouted() const;
  /// Links of the route src -> dst as FlowNetwork indices (asked of SimGrid on first use unless imported). The
  /// look-up is inline: it runs once per flow.
  const int32_t* route(int src, int dst, int& n) override
  {
    const size_t k = static_cast<size_t>(src) * hosts.size() + static_cast<size_t>(dst);
    if (route_begin.empty() || route_begin[k] < 0) [[unlikely]]
      extract_route(src, dst);
    const int32_t at = route_begin[k];
    n = route_size[k];
    return route_links[static_cast<size_t>(at) / kRouteBlockLinks].data() + at % kRouteBlockLinks;
  }
  /// Stores the route src -> dst (route()'s first use of a pair): with every route from src when zone_routes has
  /// them, else asked of SimGrid.
  void extract_route(int src, int dst);
  /// The routes SimGrid was given while loading the platform, until zone_routes is built from them (null after).
  std::unique_ptr<RouteRecorder> recorded_routes;
  /// The routes of every pair by moesim's copy of SimGrid's Dijkstra search (null: SimGrid is asked per pair),
  /// built on the first pair the table lacks.
  std::unique_ptr<ZoneRoutes> zone_routes;
  bool zone_routes_used = false;
  std::vector<char> zone_row_searched; ///< [src] its row was asked of zone_routes already
  /// route_begin / route_size for every pair, none routed yet (allocated on first use: runs that never route a
  /// pair do not hold them).
  void allocate_route_table();
  /// Appends the route of pair src * G + dst to the table.
  void store_route(size_t pair, simgrid::s4u::Link* const* links, size_t n);
  /// Room for the n links of pair's route in the table (route_begin / route_size set).
  int32_t* new_route(size_t pair, size_t n);
  /// A SimGrid link's flow-network index (added on first sight).
  int32_t flow_link_of(const simgrid::s4u::Link* l);
  std::vector<int32_t> flow_link_of_zone_link; ///< [ZoneRoutes link id] flow-network link, -1 = not looked up yet
  /// Takes every pair's route from the platform check, which has routed them all already (small platforms).
  void import_routes(const CheckedRoutes& checked);
  bool routes_imported = false;
  std::vector<const simgrid::s4u::Link*> flow_links; ///< [flow-network link] its SimGrid link (owned by the engine)

  // NetworkView (comm/phase.hpp) for the all-to-all phases of both communication models.
  const FlowNetwork& flow_network() const override { return network; }
  double route_latency_s(int src, int dst) override;
  const int32_t* route_and_latency(int src, int dst, int& n, double& latency_s) override;
  /// The route table's pointers stay valid (its blocks never move).
  bool routes_and_latencies(int src, const std::pair<int, int32_t>* row, size_t m, const int32_t** links, int* n,
                            double* latency_s) override;
  int node_of(int gpu) const override { return cluster.node_of(gpu); }
  double nccl_overhead_s(bool inter_node) const override { return calibration.overhead_s(inter_node); }
  double nccl_factor(bool inter_node, double bytes) override;
};

} // namespace moesim
