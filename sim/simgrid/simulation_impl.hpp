#pragma once
// Private state of Simulation (SimGrid types stay inside sim/simgrid/).
#include "core/cluster.hpp"
#include "simgrid/platform_loader.hpp"

#include <simgrid/s4u.hpp>

#include <map>
#include <memory>
#include <string>
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
  double latency(int src, int dst);
};

} // namespace moesim
