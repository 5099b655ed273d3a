#pragma once
// The fast communication model (`--comm fast`): completion times of a set of concurrent flows computed directly
// from the platform's links and routes, without an event-driven max-min solver. Plain C++ (no SimGrid): the
// SimGrid side (sim/simgrid/engine.cpp) extracts SimGrid's own routes and links into a FlowNetwork.
//
// Model: each link serves the flows crossing it by processor sharing (equal shares among the flows present,
// flows arriving at their start times), each link on its own; a flow ends when the last of its links has served
// all its bytes. On a single link this is exactly SimGrid's max-min fair sharing. Across links it ignores that a
// flow slowed elsewhere leaves capacity to the others; docs/performance.md measures the difference against
// SimGrid's solver (`--comm exact`). Cost: O(F log F) per set of F flows, memory O(F).
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace moesim {

/// How the engine moves all-to-all data: `exact` = one SimGrid message per GPU pair solved by SimGrid's max-min
/// solver (the reference), `fast` = this file's direct computation over SimGrid's routes (the default).
enum class CommModel { Exact, Fast };
CommModel parse_comm_model(const std::string& name); ///< UsageError on unknown names
std::string comm_model_name(CommModel m);

struct FlowNetwork {
  std::vector<double> bandwidth_Bps; ///< [link]
  std::vector<uint8_t> fatpipe;      ///< [link] 1: every flow gets the full bandwidth (no sharing)
  int add_link(double bandwidth_Bps, bool is_fatpipe);
  int num_links() const { return static_cast<int>(bandwidth_Bps.size()); }
};

/// A batch of flows in CSR form: flow i crosses links route_links[route_begin[i] .. route_begin[i + 1]).
struct FlowBatch {
  std::vector<double> bytes;
  std::vector<double> start_s;
  std::vector<int32_t> route_begin{0};
  std::vector<int32_t> route_links;
  void clear();
  /// Appends a flow; `links` points to `n` link indices.
  void add(double bytes, double start_s, const int32_t* links, int n);
  size_t size() const { return bytes.size(); }
};

/// Computes finish_s[i] for every flow of the batch (start + 0 for empty flows). Scratch buffers are reused
/// between calls: one FlowSolver per simulation.
class FlowSolver {
public:
  void solve(const FlowNetwork& net, const FlowBatch& batch, std::vector<double>& finish_s);

private:
  std::vector<int32_t> link_count_, link_begin_, link_flows_;
  struct Event {
    double start_s;
    double bytes;
    int32_t flow;
  };
  std::vector<Event> events_;
  std::vector<uint8_t> served_;                      ///< [link] 0: a slower link carries the same flows
  std::unordered_map<uint64_t, int32_t> signature_; ///< hash of a link's flow list -> link
  std::vector<std::pair<double, int32_t>> heap_;
};

} // namespace moesim
