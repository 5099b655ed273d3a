#include "simgrid/platform_loader.hpp"

#include "core/io/errors.hpp"
#include "core/io/input_guard.hpp"
#include "simgrid/platform_check.hpp"
#include "simgrid/simulation_impl.hpp"

#include <simgrid/Exception.hpp>
#include <spdlog/spdlog.h>
#include <xbt/log.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

namespace moesim {

Simulation::Simulation(const std::string& platform_file, const NetworkSettings& settings)
    : impl_(std::make_unique<Impl>())
{
  if (!std::filesystem::is_regular_file(platform_file))
    throw InputError(platform_file, "", "platform file not found");
  {
    std::ifstream in(platform_file);
    if (!in)
      throw InputError(platform_file, "", "cannot read platform file");
  }
  impl_->platform_file = platform_file;
  note_input_file(platform_file);
  const CheckedRoutes checked = check_platform_in_child(platform_file, settings);
  int argc = 1;
  char name[] = "moesim";
  char* argv[] = {name, nullptr};
  // SimGrid logs to stderr; moesim reports through its own logger.
  xbt_log_control_set("root.thresh:critical");
  impl_->engine = std::make_unique<simgrid::s4u::Engine>(&argc, argv);
  configure_engine(settings);
  impl_->recorded_routes = std::make_unique<RouteRecorder>();
  try {
    impl_->engine->load_platform(platform_file);
    impl_->engine->seal_platform();
    impl_->recorded_routes->stop();
  } catch (const std::exception& e) {
    throw InputError(platform_file, "", std::string("SimGrid cannot load the platform: ") + e.what());
  }
  const std::vector<HostProperties> hosts = host_properties(*impl_->engine);
  impl_->cluster = Cluster::from_hosts(hosts, platform_file);
  {
    std::map<std::string, std::string> zone_props;
    if (const auto* props = impl_->engine->get_netzone_root()->get_properties())
      for (const auto& [k, v] : *props)
        zone_props[k] = v;
    for (auto* zone : impl_->engine->get_netzone_root()->get_children())
      if (const auto* props = zone->get_properties())
        for (const auto& [k, v] : *props)
          zone_props[k] = v;
    impl_->calibration = PlatformCalibration::from_props(zone_props, platform_file);
  }
  for (const auto& g : impl_->cluster.gpus())
    impl_->hosts.push_back(impl_->engine->host_by_name(g.host_name));
  // Latencies are applied per message (docs/model.md): keep them, then zero them in the solver so that flows share
  // links max-min fairly instead of by route latency.
  for (auto* l : impl_->engine->get_all_links()) {
    impl_->link_latency[l] = l->get_latency();
    l->set_latency(0);
  }
  impl_->import_routes(checked);
}

Simulation::~Simulation() = default;

const Cluster& Simulation::cluster() const { return impl_->cluster; }

double Simulation::route_latency_s(int src, int dst) const { return impl_->latency(src, dst); }

const PlatformCalibration& Simulation::calibration() const { return impl_->calibration; }

void Simulation::set_calibration(const PlatformCalibration& c) { impl_->calibration = c; }

std::pair<uint64_t, uint64_t> Simulation::messages_outside_calibration() const
{
  return {impl_->messages_below_range, impl_->messages_above_range};
}

double Simulation::Impl::effective_bytes(int src, int dst, double bytes)
{
  if (bytes <= 0)
    return bytes;
  return bytes / nccl_factor(cluster.node_of(src) != cluster.node_of(dst), bytes);
}

double Simulation::collective_time_s(const CollectivePattern& pattern, double op_factor)
{
  FlowBatch batch;
  for (auto [src, dst, bytes] : pattern.transfers) {
    int len = 0;
    const int32_t* links = impl_->route(src, dst, len);
    batch.add(impl_->effective_bytes(src, dst, bytes) / op_factor, 0.0, links, len);
  }
  std::vector<double> finish;
  solver_.solve(impl_->network, batch, finish);
  impl_->raise_unrouted();
  // Every step of the pattern pays the route latency; the message overhead (launch, handshake) is paid once.
  double end = 0;
  for (size_t i = 0; i < pattern.transfers.size(); ++i) {
    const auto [src, dst, bytes] = pattern.transfers[i];
    const double net_overhead_s =
        impl_->calibration.overhead_s(impl_->cluster.node_of(src) != impl_->cluster.node_of(dst));
    const double overhead_s = pattern.overhead_s >= 0 ? pattern.overhead_s : net_overhead_s;
    end = std::max(end, finish[i] + pattern.latency_steps * (impl_->latency(src, dst) - net_overhead_s) + overhead_s);
  }
  return end;
}

std::vector<std::string> Simulation::route_links(int src, int dst) const
{
  std::vector<simgrid::s4u::Link*> links;
  double lat = 0;
  impl_->hosts[src]->route_to(impl_->hosts[dst], links, &lat);
  std::vector<std::string> out;
  for (auto* l : links)
    out.push_back(l->get_name());
  return out;
}

std::vector<std::string> Simulation::table_route_links(int src, int dst)
{
  int n = 0;
  const int32_t* links = impl_->route(src, dst, n);
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i)
    out.push_back(impl_->flow_links[links[i]]->get_name());
  return out;
}

bool Simulation::routes_from_check() const { return impl_->routes_imported; }

bool Simulation::routes_from_zone_search() const { return impl_->zone_routes_used; }

void Simulation::forget_route_table()
{
  impl_->route_begin.clear();
  impl_->route_size.clear();
  impl_->route_links.clear();
  impl_->zone_row_searched.clear();
  impl_->routes_imported = false;
}

double Simulation::Impl::nccl_factor(bool inter, double bytes)
{
  const FactorTable& t = inter ? calibration.bandwidth_inter : calibration.bandwidth_intra;
  if (t.empty())
    return 1.0;
  if (!t.covers(bytes))
    ++(bytes < t.size.front() ? messages_below_range : messages_above_range);
  return t.eval(bytes);
}

double Simulation::Impl::latency(int src, int dst)
{
  return route_latency_s(src, dst) + calibration.overhead_s(cluster.node_of(src) != cluster.node_of(dst));
}

double Simulation::Impl::route_latency_s(int src, int dst)
{
  int n = 0;
  double latency_s = 0;
  route_and_latency(src, dst, n, latency_s);
  return latency_s;
}

const int32_t* Simulation::Impl::route_and_latency(int src, int dst, int& n, double& latency_s)
{
  // The links' declared latencies summed along the route: a few additions instead of a [G x G] table (134 MB at
  // 4,096 GPUs).
  const int32_t* links = route(src, dst, n);
  double sum_s = 0;
  for (int i = 0; i < n; ++i)
    sum_s += network_latency_s[links[i]];
  latency_s = sum_s;
  return links;
}

bool Simulation::Impl::routes_and_latencies(int src, const std::pair<int, int32_t>* row, size_t m,
                                             const int32_t** links, int* n, double* latency_s)
{
  // The row's table entries 16 pairs ahead, their links (found through the entry, by then in cache) 8 ahead.
  constexpr size_t kEntryAhead = 16, kLinksAhead = 8;
  const size_t row_begin = static_cast<size_t>(src) * hosts.size();
  const bool table = !route_begin.empty();
  for (size_t j = 0; j < m; ++j) {
    if (table) {
      if (j + kEntryAhead < m) {
        __builtin_prefetch(&route_begin[row_begin + row[j + kEntryAhead].first]);
        __builtin_prefetch(&route_size[row_begin + row[j + kEntryAhead].first]);
      }
      if (j + kLinksAhead < m)
        if (const int32_t at = route_begin[row_begin + row[j + kLinksAhead].first]; at >= 0)
          __builtin_prefetch(route_links[static_cast<size_t>(at) / kRouteBlockLinks].data() + at % kRouteBlockLinks);
    }
    const int dst = row[j].first;
    n[j] = 0;
    latency_s[j] = 0;
    links[j] = dst == src ? nullptr : route_and_latency(src, dst, n[j], latency_s[j]);
  }
  return true;
}

void Simulation::Impl::allocate_route_table()
{
  const size_t G = hosts.size();
  route_begin.assign(G * G, -1);
  route_size.assign(G * G, 0);
  zone_row_searched.assign(G, 0);
}

void Simulation::Impl::extract_route(int src, int dst)
{
  const size_t G = hosts.size();
  if (route_begin.empty())
    allocate_route_table();
  const size_t k = static_cast<size_t>(src) * G + dst;
  if (route_begin[k] >= 0)
    return;
  if (recorded_routes) { // zone_routes not built yet
    std::string why;
    zone_routes = ZoneRoutes::build(*engine, hosts, platform_file, *recorded_routes, why);
    recorded_routes.reset();
    if (!zone_routes && why.rfind("moesim's", 0) == 0)
      spdlog::warn("{}: {}; asking SimGrid for every pair's route instead (slower, same results)", platform_file, why);
  }
  if (zone_routes && !zone_row_searched[src]) {
    zone_row_searched[src] = 1;
    std::vector<int32_t> row;
    std::vector<uint32_t> begin;
    if (zone_routes->route_ids_from(src, row, begin)) {
      zone_routes_used = true;
      // The search's link ids to flow-network links, each looked up once.
      flow_link_of_zone_link.resize(zone_routes->num_links(), -1);
      for (int32_t& id : row) {
        int32_t& f = flow_link_of_zone_link[id];
        if (f < 0)
          f = flow_link_of(zone_routes->link(id));
        id = f;
      }
      for (size_t d = 0; d < G; ++d) {
        const size_t pair = static_cast<size_t>(src) * G + d;
        if (d == static_cast<size_t>(src) || route_begin[pair] >= 0)
          continue;
        const size_t n = begin[d + 1] - begin[d];
        if (n > 255)
          throw InputError(platform_file, "route " + hosts[src]->get_name() + " -> " + hosts[d]->get_name(),
                           "routes of more than 255 links are not supported");
        std::copy_n(row.data() + begin[d], n, new_route(pair, n));
      }
      if (route_begin[k] >= 0)
        return;
    }
  }
  std::vector<simgrid::s4u::Link*> links;
  double ignored = 0;
  hosts[src]->route_to(hosts[dst], links, &ignored);
  if (links.size() > 255)
    throw InputError(platform_file, "route " + hosts[src]->get_name() + " -> " + hosts[dst]->get_name(),
                     "routes of more than 255 links are not supported");
  // Large platforms are checked on sampled pairs (platform_check.cpp): an unrouted pair met here would move data
  // for free. Actors cannot throw through SimGrid, so it is kept and raised once the engine returns.
  if (links.empty() && src != dst && unrouted_pair.empty())
    unrouted_pair = "route " + hosts[src]->get_name() + " -> " + hosts[dst]->get_name();
  store_route(k, links.data(), links.size());
}

int32_t* Simulation::Impl::new_route(size_t pair, size_t n)
{
  // Routes are kept in fixed-size blocks, each route within one block: the table grows without the copy (and the
  // two live buffers) of a growing vector.
  if (route_links.empty() || route_links.back().size() + n > kRouteBlockLinks) {
    route_links.emplace_back();
    route_links.back().reserve(kRouteBlockLinks);
  }
  auto& block = route_links.back();
  const int64_t at = static_cast<int64_t>(route_links.size() - 1) * kRouteBlockLinks + static_cast<int64_t>(block.size());
  if (at > std::numeric_limits<int32_t>::max())
    throw InputError(platform_file, "routes", "more than 2^31 route links in all are not supported");
  route_begin[pair] = static_cast<int32_t>(at);
  route_size[pair] = static_cast<uint8_t>(n);
  block.resize(block.size() + n); // within the reserved block: no reallocation
  return block.data() + (block.size() - n);
}

int32_t Simulation::Impl::flow_link_of(const simgrid::s4u::Link* l)
{
  // A direct-mapped cache in front of the hash map: the routes of one source reuse few links.
  auto& slot = link_cache_[(reinterpret_cast<uintptr_t>(l) >> 4) % link_cache_.size()];
  if (slot.first != l) {
    auto [it, added] = link_index.try_emplace(l, 0);
    if (added)
      it->second = add_flow_link(l);
    slot = {l, it->second};
  }
  return slot.second;
}

void Simulation::Impl::store_route(size_t pair, simgrid::s4u::Link* const* links, size_t n)
{
  int32_t* out = new_route(pair, n);
  for (size_t i = 0; i < n; ++i)
    out[i] = flow_link_of(links[i]);
}

void Simulation::Impl::import_routes(const CheckedRoutes& checked)
{
  const size_t G = hosts.size();
  if (checked.gpus != static_cast<int>(G) || !route_begin.empty())
    return;
  // The check's link names back to this engine's links; a name this engine does not know leaves the table to be
  // routed pair by pair as needed.
  std::vector<simgrid::s4u::Link*> link_of;
  link_of.reserve(checked.link_names.size());
  for (const auto& name : checked.link_names) {
    auto* l = engine->link_by_name_or_null(name);
    if (!l)
      return;
    link_of.push_back(l);
  }
  allocate_route_table();
  std::vector<simgrid::s4u::Link*> links;
  size_t p = 0, at = 0;
  for (size_t src = 0; src < G; ++src)
    for (size_t dst = 0; dst < G; ++dst) {
      if (src == dst)
        continue;
      links.clear();
      for (int i = 0; i < checked.route_size[p]; ++i)
        links.push_back(link_of[checked.route_links[at++]]);
      ++p;
      store_route(src * G + dst, links.data(), links.size());
    }
  routes_imported = true;
}

int32_t Simulation::Impl::add_flow_link(const simgrid::s4u::Link* l)
{
  const int32_t index = network.add_link(l->get_bandwidth(),
                                         l->get_sharing_policy() == simgrid::s4u::Link::SharingPolicy::FATPIPE);
  platform_bandwidth_Bps.push_back(l->get_bandwidth());
  network_latency_s.push_back(link_latency.at(l));
  flow_links.push_back(l);
  const std::string& name = l->get_name();
  link_class.push_back(name.rfind("nvl-", 0) == 0    ? 'n'
                       : name.rfind("ib-", 0) == 0   ? 'i'
                       : name.rfind("pcie-", 0) == 0 ? 'p'
                                                     : '-');
  apply_link_override(index);
  return index;
}

void Simulation::Impl::apply_link_override(int32_t link)
{
  const double base = platform_bandwidth_Bps[link];
  double bw = base;
  // Uplinks carry many NICs and stay as declared (they are sized for the full NIC load).
  switch (link_class[link]) {
    case 'n': bw = link_override.nvlink_Bps > 0 ? link_override.nvlink_Bps : base; break;
    case 'i': bw = link_override.nic_Bps > 0 ? link_override.nic_Bps : base; break;
    case 'p': bw = link_override.nic_Bps > 0 ? std::max(base, link_override.nic_Bps) : base; break;
    default: break;
  }
  network.bandwidth_Bps[link] = bw;
}

void Simulation::set_link_override(const LinkOverride& links)
{
  impl_->link_override = links;
  for (int32_t l = 0; l < static_cast<int32_t>(impl_->platform_bandwidth_Bps.size()); ++l)
    impl_->apply_link_override(l);
}

void Simulation::Impl::raise_unrouted() const
{
  if (!unrouted_pair.empty())
    throw InputError(platform_file, unrouted_pair,
                     "no link on the route: every pair of GPU hosts needs a route through at least one link");
}

double Simulation::engine_wall_s() const { return impl_->engine_wall_s; }

std::pair<double, double> Simulation::last_run_bytes() const { return {impl_->bytes_sent, impl_->bytes_received}; }

} // namespace moesim
