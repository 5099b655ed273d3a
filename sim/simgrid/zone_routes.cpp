#include "simgrid/zone_routes.hpp"

#include <simgrid/kernel/routing/NetPoint.hpp>
#include <simgrid/kernel/routing/NetZoneImpl.hpp>
#include <simgrid/version.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <typeinfo>
#include <unordered_map>

#if SIMGRID_VERSION_MAJOR != 3 || SIMGRID_VERSION_MINOR != 32
// The search copied in RouteGraph is SimGrid 3.32's DijkstraZone::get_local_route; another version may route
// otherwise. Check it against Host::route_to (the route_graph_* engine tests) before changing this.
#error "zone_routes.cpp copies SimGrid 3.32's Dijkstra routing"
#endif

namespace sg4 = simgrid::s4u;
namespace routing = simgrid::kernel::routing;

namespace moesim {

RouteRecorder::RouteRecorder()
{
  slot_ = routing::NetZoneImpl::on_route_creation.connect(
      [this](bool symmetrical, routing::NetPoint* src, routing::NetPoint* dst, routing::NetPoint*, routing::NetPoint*,
             const std::vector<simgrid::kernel::resource::StandardLinkImpl*>& links) {
        routes.push_back(Added{symmetrical, src, dst, links});
      });
  connected_ = true;
}

void RouteRecorder::stop()
{
  if (connected_)
    routing::NetZoneImpl::on_route_creation.disconnect(slot_);
  connected_ = false;
}

RouteRecorder::~RouteRecorder() { stop(); }

namespace {

/// Whether the file names a bypass route (<bypassRoute>, <bypassZoneRoute>, <bypassASroute>): SimGrid takes those
/// before its zone's search, and they are not among the recorded routes.
bool mentions_bypass(const std::string& file)
{
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return true; // unreadable now: assume the worst
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text.find("bypass") != std::string::npos;
}

/// The other direction of a split-duplex half (x_UP <-> x_DOWN), else the link itself: what SimGrid's
/// get_link_list_impl(..., backroute = true) takes for the way back of a symmetrical route.
sg4::Link* way_back(const sg4::Engine& engine, sg4::Link* l)
{
  const std::string& name = l->get_name();
  for (const auto& [suffix, up] : {std::pair<const char*, bool>{"_UP", true}, {"_DOWN", false}}) {
    const size_t n = std::char_traits<char>::length(suffix);
    if (name.size() <= n || name.compare(name.size() - n, n, suffix) != 0)
      continue;
    sg4::SplitDuplexLink* sd = nullptr;
    try {
      sd = engine.split_duplex_link_by_name(name.substr(0, name.size() - n));
    } catch (const std::invalid_argument&) {
      return l;
    }
    if (up && sd->get_link_up() == l)
      return sd->get_link_down();
    if (!up && sd->get_link_down() == l)
      return sd->get_link_up();
  }
  return l;
}

} // namespace

std::unique_ptr<ZoneRoutes> ZoneRoutes::build(const sg4::Engine& engine, const std::vector<sg4::Host*>& hosts,
                                              const std::string& platform_file, const RouteRecorder& recorded,
                                              std::string& why)
{
  if (hosts.empty()) {
    why = "no GPU host";
    return nullptr;
  }
  const routing::NetZoneImpl* zone = hosts.front()->get_netpoint()->get_englobing_zone();
  for (const auto* h : hosts)
    if (h->get_netpoint()->get_englobing_zone() != zone) {
      why = "the GPU hosts are in more than one zone";
      return nullptr;
    }
  const std::string kind = typeid(*zone).name();
  if (kind.find("DijkstraZone") == std::string::npos) {
    why = "the GPUs' zone does not route by Dijkstra";
    return nullptr;
  }
  if (!zone->get_children().empty()) {
    why = "the GPUs' zone holds zones";
    return nullptr;
  }
  if (mentions_bypass(platform_file)) {
    why = "the platform declares bypass routes";
    return nullptr;
  }

  std::unique_ptr<ZoneRoutes> out(new ZoneRoutes());
  std::unordered_map<const sg4::Link*, int32_t> id_of_link;
  std::unordered_map<const simgrid::kernel::resource::StandardLinkImpl*, sg4::Link*> link_of_impl;
  for (auto* l : engine.get_all_links())
    link_of_impl.emplace(l->get_impl(), l);
  std::unordered_map<const routing::NetPoint*, int32_t> vertex;
  const auto vertex_of = [&](const routing::NetPoint* p) {
    auto [it, added] = vertex.try_emplace(p, 0);
    if (added)
      it->second = out->graph_.add_vertex();
    return it->second;
  };
  const auto id_of = [&](sg4::Link* l) {
    auto [it, added] = id_of_link.try_emplace(l, static_cast<int32_t>(out->link_.size()));
    if (added)
      out->link_.push_back(l);
    return it->second;
  };
  std::vector<int32_t> ids;
  try {
    for (const auto& r : recorded.routes) {
      if (r.src->get_englobing_zone() != zone)
        continue;
      std::vector<sg4::Link*> links;
      for (const auto* impl : r.links) {
        const auto it = link_of_impl.find(impl);
        if (it == link_of_impl.end()) {
          why = "a route crosses a link the engine does not list";
          return nullptr;
        }
        links.push_back(it->second);
      }
      // DijkstraZone::new_edge creates the source's vertex, then the destination's.
      const int32_t a = vertex_of(r.src), b = vertex_of(r.dst);
      ids.clear();
      for (auto* l : links)
        ids.push_back(id_of(l));
      out->graph_.add_edge(a, b, ids);
      if (r.symmetrical) { // the way back: each link's other direction, in reverse order
        ids.clear();
        for (auto it = links.rbegin(); it != links.rend(); ++it)
          ids.push_back(id_of(way_back(engine, *it)));
        out->graph_.add_edge(b, a, ids);
      }
    }
  } catch (const std::invalid_argument& e) {
    why = e.what();
    return nullptr;
  }
  for (const auto* h : hosts) {
    const auto it = vertex.find(h->get_netpoint());
    if (it == vertex.end()) {
      why = "GPU host '" + h->get_name() + "' is on no route";
      return nullptr;
    }
    out->vertex_of_gpu_.push_back(it->second);
  }

  // SimGrid's own answer on a sample of pairs, as a guard against a platform this copy does not cover.
  const int G = static_cast<int>(hosts.size());
  const int sources = std::min(G, 64), dests = std::min(G, 64);
  std::vector<sg4::Link*> mine, theirs;
  std::vector<uint32_t> begin;
  for (int s = 0; s < sources; ++s) {
    const int a = G == 1 ? 0 : static_cast<int>(static_cast<long long>(s) * (G - 1) / std::max(1, sources - 1));
    if (!out->routes_from(a, mine, begin))
      continue;
    for (int t = 0; t < dests; ++t) {
      const int b = static_cast<int>((static_cast<long long>(a) + 1 + static_cast<long long>(t) * G / dests) % G);
      if (a == b)
        continue;
      theirs.clear();
      double latency_s = 0;
      try {
        hosts[a]->route_to(hosts[b], theirs, &latency_s);
      } catch (const std::exception&) {
        why = "SimGrid finds no route " + hosts[a]->get_name() + " -> " + hosts[b]->get_name();
        return nullptr;
      }
      if (!std::equal(theirs.begin(), theirs.end(), mine.begin() + begin[b], mine.begin() + begin[b + 1])) {
        why = "moesim's route search differs from SimGrid's on " + hosts[a]->get_name() + " -> " +
              hosts[b]->get_name();
        return nullptr;
      }
    }
  }
  return out;
}

bool ZoneRoutes::route_ids_from(int src, std::vector<int32_t>& ids, std::vector<uint32_t>& begin) const
{
  ids.clear();
  begin.assign(1, 0);
  if (!graph_.search(vertex_of_gpu_[src], pred_))
    return false;
  const int G = static_cast<int>(vertex_of_gpu_.size());
  for (int d = 0; d < G; ++d) {
    if (d != src)
      graph_.compose(pred_, vertex_of_gpu_[d], ids);
    begin.push_back(static_cast<uint32_t>(ids.size()));
  }
  return true;
}

bool ZoneRoutes::routes_from(int src, std::vector<sg4::Link*>& links, std::vector<uint32_t>& begin) const
{
  links.clear();
  if (!route_ids_from(src, ids_, begin))
    return false;
  links.reserve(ids_.size());
  for (const int32_t id : ids_)
    links.push_back(link_[id]);
  return true;
}

} // namespace moesim
