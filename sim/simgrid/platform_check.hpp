#pragma once
// Checks a platform file before moesim simulates on it. SimGrid aborts the process (xbt_die, failed assertions,
// stack overflows) on some legal or malformed platforms, so the file is first loaded and routed in a child process:
// whatever happens there comes back as an InputError naming the file.
#include "core/cluster/cluster.hpp"

#include <simgrid/s4u.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace moesim {

struct NetworkSettings;

/// The network-model configuration of every engine moesim starts (the check's and the simulation's).
void configure_engine(const NetworkSettings& settings);

/// Every host's properties, with those of its zones (innermost first) as defaults: a SimGrid <cluster> or a zone
/// can carry moesim_gpus_per_node, moesim_gpu and the GPU values for all its hosts.
std::vector<HostProperties> host_properties(const simgrid::s4u::Engine& engine);

/// Peak bytes the per-pair tables of a G-GPU simulation take (route and latency caches, traffic matrices).
double pair_table_bytes(long long gpus);

/// The routes the check found, when it routed every GPU pair (platforms up to 1,024 GPUs): the simulation takes its
/// route table from them instead of asking SimGrid for every pair a second time.
struct CheckedRoutes {
  int gpus = 0;                        ///< 0: the check sampled the pairs, nothing below
  std::vector<std::string> link_names; ///< SimGrid link names, in the order the routes first cross them
  std::vector<uint8_t> route_size;     ///< [pair] links on the route; pairs (src, dst != src) src-major
  std::vector<uint32_t> route_links;   ///< the routes one after the other, as indices into link_names
};

/// Parses the route table the check's child wrote into `fd` (the platform's GPU count when expect_gpus > 0); a table
/// that is damaged in any way (truncated, a count or link index out of range, bytes after its end) gives gpus = 0.
CheckedRoutes read_checked_routes(int fd, int expect_gpus);

/// Loads `platform_file` in a child process and checks everything a run relies on, in this order: SimGrid loads
/// it; the hosts are GPUs (Cluster::from_hosts); the per-pair tables fit in memory; no zone uses a routing moesim
/// cannot model (None, Vivaldi, Wifi); every link has a positive, finite bandwidth and a finite, non-negative
/// latency; every pair of GPUs has a route with at least one link. Throws InputError naming the file, the place
/// and what was expected (SimGrid's own message when it aborted). The caller must not have started an engine.
/// Returns the routes of every pair when it routed every pair (else gpus = 0).
CheckedRoutes check_platform_in_child(const std::string& platform_file, const NetworkSettings& settings);

} // namespace moesim
