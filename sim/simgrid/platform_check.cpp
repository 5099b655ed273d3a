#include "simgrid/platform_check.hpp"

#include "core/io/errors.hpp"
#include "core/io/fence.hpp"
#include "simgrid/platform_loader.hpp"
#include "simgrid/zone_routes.hpp"

#include <simgrid/kernel/routing/NetZoneImpl.hpp>
#include <xbt/config.hpp>
#include <xbt/log.h>

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <sys/mman.h>
#include <sys/stat.h>
#include <typeinfo>
#include <unistd.h>
#include <unordered_map>

namespace sg4 = simgrid::s4u;

namespace moesim {

namespace {

/// Zones deeper than this are refused: SimGrid recurses over the zone tree (parsing and routing), and a tree a few
/// hundred deep overflows its stack.
constexpr int max_zone_depth = 64;
/// Above this many GPUs the route check routes from `sampled_sources` GPUs spread over the ranks (GPU 0 and the last
/// included) to every GPU instead of all G^2 pairs: SimGrid's Dijkstra routings cost one graph search per source
/// (about 4 ms each at 4,096 GPUs) and ~3 us a pair; moesim's copy of the search (ZoneRoutes, where it applies) a
/// few hundred us per source, and the run routes every pair it meets that way anyway. The fast model also finds
/// an unrouted pair the run meets (Impl::route).
constexpr int all_pairs_max_gpus = 1024;
constexpr int sampled_sources = 64;
/// How long the check may take before it is taken for a hang.
constexpr int check_timeout_s = 300;
/// GPUs moesim simulates at most (its per-pair tables grow with G^2: 26 GiB at this size).
constexpr long long max_gpus = 32768;

std::string number(double v)
{
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string first_line(const std::string& s)
{
  const auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

double physical_memory_bytes()
{
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0.0;
}

std::string gib(double bytes)
{
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / 1073741824.0);
  return buf;
}

void check_zones(const sg4::NetZone* zone, int depth, bool routed, const std::string& file)
{
  if (depth > max_zone_depth)
    throw InputError(file, "zone '" + zone->get_name() + "'",
                     "zones are nested more than " + std::to_string(max_zone_depth) + " deep");
  // The routing kind by the implementation's dynamic type name (SimGrid exports no typeinfo for dynamic_cast).
  const std::string kind = typeid(*zone->get_impl()).name();
  const auto is = [&kind](const char* z) { return kind.find(z) != std::string::npos; };
  const bool has_hosts = !zone->get_all_hosts().empty();
  const std::string place = "zone '" + zone->get_name() + "'";
  if (routed && has_hosts && is("EmptyZone"))
    throw InputError(file, place,
                     "routing=\"None\" holds GPU hosts, but all-to-alls need a route between every pair of GPUs "
                     "(use Full, Floyd, Dijkstra, DijkstraCache or Cluster routing)");
  if (has_hosts && is("VivaldiZone"))
    throw InputError(file, place,
                     "Vivaldi routing takes latencies from coordinates and routes over no shared link, which moesim's "
                     "models cannot represent (use Full, Floyd, Dijkstra or Cluster routing with links)");
  if (has_hosts && is("WifiZone"))
    throw InputError(file, place, "Wifi zones are not supported (GPU hosts need wired links)");
  for (const auto* child : zone->get_children())
    check_zones(child, depth + 1, routed, file);
}

void check_links(const sg4::Engine& engine, const std::string& file)
{
  for (const auto* l : engine.get_all_links()) {
    const double bw = l->get_bandwidth(), lat = l->get_latency();
    const std::string place = "link '" + l->get_name() + "'";
    if (!std::isfinite(bw) || bw <= 0)
      throw InputError(file, place, "expected a positive, finite bandwidth, got " + number(bw) + " B/s");
    if (!std::isfinite(lat) || lat < 0)
      throw InputError(file, place, "expected a finite, non-negative latency, got " + number(lat) + " s");
  }
}

/// Checks one pair's route: the one ZoneRoutes found, in `links` (`found`), else SimGrid's, asked here into `links`.
void check_route(const sg4::Host* src, const sg4::Host* dst, const std::string& file, std::vector<sg4::Link*>& links,
                 bool found)
{
  const auto place = [&] { return "route " + src->get_name() + " -> " + dst->get_name(); };
  double latency_s = 0;
  if (found) {
    for (const auto* l : links)
      latency_s += l->get_latency();
  } else {
    links.clear();
    try {
      src->route_to(dst, links, &latency_s);
    } catch (const std::exception& e) {
      throw InputError(file, place(), "SimGrid finds no route: " + first_line(e.what()));
    }
  }
  if (links.empty())
    throw InputError(file, place(),
                     "no link on the route: every pair of GPU hosts needs a route through at least one link");
  if (links.size() > 255)
    throw InputError(file, place(), "routes of more than 255 links are not supported");
  if (!std::isfinite(latency_s) || latency_s < 0)
    throw InputError(file, place(), "expected a finite, non-negative route latency");
}

/// Checks the routes from GPU `a` to every GPU (none to itself), calling visit(b, links) for each in order of b:
/// one search through `zone` when it has the routes, else Host::route_to per pair.
template <class Visit>
void check_routes_from(const std::vector<sg4::Host*>& hosts, int a, const ZoneRoutes* zone,
                       const std::string& file, Visit&& visit)
{
  std::vector<sg4::Link*> row, links;
  std::vector<uint32_t> begin;
  const bool found = zone && zone->routes_from(a, row, begin);
  const int G = static_cast<int>(hosts.size());
  for (int b = 0; b < G; ++b) {
    if (b == a)
      continue;
    if (found)
      links.assign(row.begin() + begin[b], row.begin() + begin[b + 1]);
    check_route(hosts[a], hosts[b], file, links, found);
    visit(b, links);
  }
}

/// Marks the start and the end of the route table the child hands to the parent (check_platform_in_child).
constexpr uint64_t routes_magic = 0x31534554554f524dULL; // "MROUTES1"

/// Writes to the route table; a failed write leaves a table the parent refuses (it then routes the pairs itself).
void put(std::FILE* out, const void* data, size_t bytes)
{
  if (bytes > 0)
    std::fwrite(data, 1, bytes, out);
}

/// Routes every pair (on large platforms, every pair from sampled sources). When it routes every pair and `out` is
/// given, writes the routes there: magic, G, then per pair (src-major, dst != src) its link count and each link as
/// an index into the names in order of first appearance (a new index is followed by the name's length and bytes),
/// then the magic again.
void check_routes(const sg4::Engine& engine, const Cluster& cluster, const std::string& file, std::FILE* out,
                  const RouteRecorder& recorded)
{
  std::vector<sg4::Host*> hosts;
  for (const auto& g : cluster.gpus())
    hosts.push_back(engine.host_by_name(g.host_name));
  const int G = cluster.num_gpus();
  std::string why;
  const std::unique_ptr<ZoneRoutes> zone = ZoneRoutes::build(engine, hosts, file, recorded, why);
  if (G > all_pairs_max_gpus) {
    for (int s = 0; s < sampled_sources; ++s) {
      const int a = static_cast<int>(static_cast<long long>(s) * (G - 1) / (sampled_sources - 1));
      check_routes_from(hosts, a, zone.get(), file, [](int, const std::vector<sg4::Link*>&) {});
    }
    return;
  }
  std::unordered_map<const sg4::Link*, uint32_t> index;
  const int32_t gpus = G;
  if (out) {
    put(out, &routes_magic, sizeof routes_magic);
    put(out, &gpus, sizeof gpus);
  }
  for (int a = 0; a < G; ++a)
    check_routes_from(hosts, a, zone.get(), file, [&](int, const std::vector<sg4::Link*>& links) {
      if (!out)
        return;
      const auto n = static_cast<uint8_t>(links.size());
      put(out, &n, 1);
      for (const auto* l : links) {
        const auto [it, added] = index.try_emplace(l, static_cast<uint32_t>(index.size()));
        put(out, &it->second, sizeof it->second);
        if (added) {
          const std::string& name = l->get_name();
          const auto len = static_cast<uint32_t>(name.size());
          put(out, &len, sizeof len);
          put(out, name.data(), name.size());
        }
      }
    });
  if (out)
    put(out, &routes_magic, sizeof routes_magic);
}

/// The checks, in this process (the child's body).
void check_here(const std::string& file, const NetworkSettings& settings, std::FILE* routes_out)
{
  int argc = 1;
  char name[] = "moesim";
  char* argv[] = {name, nullptr};
  xbt_log_control_set("root.thresh:critical");
  // Never destroyed: the child _exits right after the checks.
  auto& engine = *new sg4::Engine(&argc, argv);
  configure_engine(settings);
  RouteRecorder recorded;
  try {
    engine.load_platform(file);
    engine.seal_platform();
    recorded.stop();
  } catch (const std::exception& e) {
    throw InputError(file, "", "SimGrid cannot load the platform: " + first_line(e.what()));
  }
  const auto hosts = host_properties(engine);
  const double need = pair_table_bytes(static_cast<long long>(hosts.size()));
  const double have = physical_memory_bytes();
  if (static_cast<long long>(hosts.size()) > max_gpus)
    throw InputError(file, "",
                     std::to_string(hosts.size()) + " hosts: more than moesim's limit of " + std::to_string(max_gpus) +
                         " GPUs (the per-pair tables of a simulation would need " + gib(need) + ")");
  if (have > 0 && need > 0.8 * have)
    throw InputError(file, "",
                     std::to_string(hosts.size()) + " hosts: the per-pair tables of a simulation need " + gib(need) +
                         ", more than 80% of this machine's " + gib(have) + " of memory");
  const Cluster cluster = Cluster::from_hosts(hosts, file);
  check_zones(engine.get_netzone_root(), 0, cluster.num_gpus() > 1, file);
  check_links(engine, file);
  check_routes(engine, cluster, file, routes_out, recorded);
}

/// Writes a line the parent reads back (newlines in the text become spaces).
void report(const char* key, std::string text)
{
  for (char& c : text)
    if (c == '\n' || c == '\r')
      c = ' ';
  std::fprintf(stderr, "\n%s%s\n", key, text.c_str());
}

constexpr const char* place_key = "moesim-check-place: ";
constexpr const char* message_key = "moesim-check-message: ";

std::string line_after(const std::string& out, const char* key)
{
  const auto at = out.rfind(key);
  if (at == std::string::npos)
    return {};
  const auto begin = at + std::strlen(key);
  return out.substr(begin, out.find('\n', begin) - begin);
}

/// SimGrid's last words before it aborted: its last CRITICAL log line or C++ "what()", without the log prefix.
std::string last_words(const std::string& out)
{
  std::string found;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t end = out.find('\n', pos);
    if (end == std::string::npos)
      end = out.size();
    const std::string line = out.substr(pos, end - pos);
    if (const auto c = line.find("/CRITICAL] "); c != std::string::npos)
      found = line.substr(c + 11);
    else if (const auto w = line.find("what():"); w != std::string::npos)
      found = line.substr(w + 7);
    pos = end + 1;
  }
  while (!found.empty() && found.front() == ' ')
    found.erase(found.begin());
  return found.size() > 400 ? found.substr(0, 400) + "..." : found;
}

} // namespace

namespace {
SimgridOptions& options_storage()
{
  static SimgridOptions o;
  return o;
}
} // namespace

void set_simgrid_options(const SimgridOptions& options) { options_storage() = options; }
const SimgridOptions& simgrid_options() { return options_storage(); }

void print_simgrid_config_help()
{
  int argc = 1;
  char name[] = "moesim";
  char* argv[] = {name, nullptr};
  xbt_log_control_set("root.thresh:critical");
  sg4::Engine engine(&argc, argv);
  configure_engine(NetworkSettings{});
  simgrid::config::help();
}

void configure_engine(const NetworkSettings& settings)
{
  // CM02 without TCP effects: RDMA/NVLink move data at link rate (see docs/model.md, ../shared notes).
  sg4::Engine::set_config("network/model:CM02");
  sg4::Engine::set_config("network/optim:Full");
  sg4::Engine::set_config("network/crosstraffic:0");
  sg4::Engine::set_config("network/TCP-gamma:0");
  // Factors of 1 and no weight-S: the platform's bandwidths and latencies are used as written (calibrated platforms
  // carry their own values).
  sg4::Engine::set_config("network/latency-factor:1");
  sg4::Engine::set_config("network/bandwidth-factor:1");
  sg4::Engine::set_config("network/weight-S:0");
  sg4::Engine::set_config("surf/precision", settings.precision_s);
  sg4::Engine::set_config("maxmin/precision", settings.precision_s);
  // The user's SimGrid options last: they may override moesim's (docs/model.md says what that changes). Logs first,
  // so that their thresholds see the configuration changes.
  for (const auto& l : simgrid_options().log)
    xbt_log_control_set(l.c_str());
  for (const auto& c : simgrid_options().cfg) {
    try {
      sg4::Engine::set_config(c);
    } catch (const std::exception& e) {
      throw UsageError("--cfg=" + c + ": SimGrid refuses it: " + first_line(e.what()));
    }
  }
}

std::vector<HostProperties> host_properties(const sg4::Engine& engine)
{
  std::vector<HostProperties> hosts;
  for (const auto* h : engine.get_all_hosts()) {
    HostProperties hp;
    hp.name = h->get_name();
    if (const auto* props = h->get_properties())
      for (const auto& [k, v] : *props)
        hp.properties[k] = v;
    // The root's get_parent() is not null-safe in SimGrid 3.32: stop at the root.
    const sg4::NetZone* root = engine.get_netzone_root();
    for (const sg4::NetZone* z = h->get_englobing_zone();; z = z->get_parent()) {
      if (const auto* props = z->get_properties())
        for (const auto& [k, v] : *props)
          hp.properties.try_emplace(k, v);
      if (z == root)
        break;
    }
    hosts.push_back(std::move(hp));
  }
  return hosts;
}

double pair_table_bytes(long long gpus)
{
  // Route begin (4 B), length (1 B) and latency (8 B) per ordered pair, and about as much again for the per-pair
  // rows of a layer's traffic (comm/phase.hpp) at full fan-out.
  return 26.0 * static_cast<double>(gpus) * static_cast<double>(gpus);
}

CheckedRoutes read_checked_routes(int fd, int expect_gpus)
{
  CheckedRoutes out;
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || st.st_size <= 0)
    return out;
  std::vector<char> buf(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return out;
    got += static_cast<size_t>(n);
  }
  size_t at = 0;
  const auto take = [&](void* dst, size_t bytes) {
    if (buf.size() - at < bytes)
      return false;
    std::memcpy(dst, buf.data() + at, bytes);
    at += bytes;
    return true;
  };
  uint64_t magic = 0;
  int32_t G = 0;
  if (!take(&magic, sizeof magic) || magic != routes_magic || !take(&G, sizeof G) || G < 1 ||
      (expect_gpus > 0 && G != expect_gpus))
    return out;
  const size_t pairs = static_cast<size_t>(G) * static_cast<size_t>(G - 1);
  if (pairs > buf.size() - at) // every pair takes at least its count byte: a damaged count allocates nothing
    return out;
  out.route_size.resize(pairs);
  out.route_links.reserve(pairs * 4);
  for (size_t p = 0; p < pairs; ++p) {
    uint8_t n = 0;
    if (!take(&n, 1))
      return {};
    out.route_size[p] = n;
    for (int i = 0; i < n; ++i) {
      uint32_t l = 0;
      if (!take(&l, sizeof l) || l > out.link_names.size())
        return {};
      if (l == out.link_names.size()) {
        uint32_t len = 0;
        if (!take(&len, sizeof len) || buf.size() - at < len)
          return {};
        out.link_names.emplace_back(buf.data() + at, len);
        at += len;
      }
      out.route_links.push_back(l);
    }
  }
  if (!take(&magic, sizeof magic) || magic != routes_magic || at != buf.size())
    return {};
  out.gpus = G;
  return out;
}

CheckedRoutes check_platform_in_child(const std::string& file, const NetworkSettings& settings)
{
  // The child writes the routes it checked into a memory file both processes hold; none when it cannot be made.
  const int routes_fd = ::memfd_create("moesim-routes", MFD_CLOEXEC);
  const FenceResult r = run_fenced(
      [&] {
        std::FILE* routes_out = routes_fd >= 0 ? ::fdopen(::dup(routes_fd), "wb") : nullptr;
        try {
          check_here(file, settings, routes_out);
          if (routes_out)
            std::fclose(routes_out);
          return 0;
        } catch (const UsageError& e) {
          report(place_key, "");
          report(message_key, e.what());
        } catch (const InputError& e) {
          report(place_key, e.place());
          const std::string what = e.what();
          const std::string prefix = format_location(e.file(), e.place(), "");
          report(message_key, what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what);
        } catch (const std::exception& e) {
          report(place_key, "");
          report(message_key, std::string("SimGrid cannot load the platform: ") + first_line(e.what()));
        }
        return 2;
      },
      check_timeout_s);
  struct CloseFd {
    int fd;
    ~CloseFd()
    {
      if (fd >= 0)
        ::close(fd);
    }
  } close_routes{routes_fd};
  if (!r.started)
    throw InternalError("fork failed");
  const std::string& out = r.output;
  if (r.timed_out)
    throw InputError(file, "", "SimGrid did not finish loading and routing the platform in " +
                                   std::to_string(check_timeout_s) + " s");
  if (r.signal != 0) {
    const int sig = r.signal;
    const std::string words = last_words(out);
    throw InputError(file, "",
                     std::string("SimGrid ") + (sig == SIGABRT ? "aborted" : "crashed") + " (signal " +
                         std::to_string(sig) + ", " + (sigabbrev_np(sig) ? std::string("SIG") + sigabbrev_np(sig) : "?") +
                         ") while loading and routing the platform" + (words.empty() ? "" : ": " + words));
  }
  if (r.exit_code == 0)
    return read_checked_routes(routes_fd, 0);
  if (r.exit_code == 2) {
    const std::string message = line_after(out, message_key);
    if (message.rfind("--cfg=", 0) == 0)
      throw UsageError(message); // the command line's fault, not the platform's
    throw InputError(file, line_after(out, place_key), message);
  }
  throw InputError(file, "", "the platform check ended with exit status " + std::to_string(r.exit_code));
}

} // namespace moesim
