#pragma once
// Private state of Simulation (SimGrid types stay inside sim/simgrid/).
#include "core/calibration/calibration.hpp"
#include "core/cluster/cluster.hpp"
#include "core/comm/flow_model.hpp"
#include "simgrid/platform_loader.hpp"

#include <simgrid/s4u.hpp>

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace moesim {

struct Simulation::Impl {
  std::string platform_file;
  std::unique_ptr<simgrid::s4u::Engine> engine;
  Cluster cluster;
  std::vector<simgrid::s4u::Host*> hosts;               ///< [GPU rank]
  std::map<const simgrid::s4u::Link*, double> link_latency; ///< latency declared in the platform, seconds
  std::vector<double> route_latency;                    ///< [src * G + dst] cache, NaN = not computed
  double engine_wall_s = 0;
  double bytes_sent = 0;     ///< last run: sum of message sizes put
  double bytes_received = 0; ///< last run: sum of message sizes the receivers expected
  /// Route latency (links as declared) plus the calibrated message overhead, seconds.
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
  std::vector<int32_t> route_begin; ///< [src * G + dst] into route_links, -1 = not extracted yet
  std::vector<uint8_t> route_size;  ///< [src * G + dst]
  std::vector<int32_t> route_links;
  /// Links of the route src -> dst as FlowNetwork indices.
  const int32_t* route(int src, int dst, int& n);
};

} // namespace moesim
