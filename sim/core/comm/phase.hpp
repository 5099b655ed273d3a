#pragma once
// One all-to-all phase (a dispatch or a combine) as both communication models time it. The rules, shared by the
// fast model below and the exact model in sim/simgrid/engine.cpp (docs/model.md):
// - every GPU pair exchanges a flag (the count message of real kernels): a GPU's phase cannot end before every
//   peer has started it plus the route latency;
// - each unit count of the kernel's LayerComm is a flow of units x unit_bytes bytes, sent as bytes / goodput of its
//   link class (or / the platform's NCCL factor of its size, for NCCL-like kernels) on the platform's route, from
//   the sending GPU's start;
// - a flow from `src` arrives at max(end of its transfer, start[src] + send_s[src]) + latency(src, dst): a GPU whose
//   SMs issue its messages more slowly than the links carry them delivers them later;
// - a two-stage kernel forwards (stage 2) as its data arrives (pipelined, as DeepEP's chunked normal kernels do),
//   and a forwarded flow arrives no earlier than its forwarder's last stage-1 arrival plus the latency;
// - end[gpu] = latest arrival + post_s[gpu] + fixed_s.
#include "core/comm/a2a_kernel.hpp"
#include "core/comm/flow_model.hpp"
#include "core/comm/traffic.hpp"

#include <cstdint>
#include <vector>

namespace moesim {

/// The platform as the phase rules see it; sim/simgrid implements it over SimGrid's routes and links.
class NetworkView {
public:
  virtual ~NetworkView() = default;
  virtual const FlowNetwork& flow_network() const = 0;
  /// Flow-network links of the route src -> dst (valid until the next call).
  virtual const int32_t* route(int src, int dst, int& n) = 0;
  /// Sum of the route's link latencies as declared in the platform, seconds.
  virtual double route_latency_s(int src, int dst) = 0;
  /// route() and route_latency_s() of one pair in one look-up.
  virtual const int32_t* route_and_latency(int src, int dst, int& n, double& latency_s)
  {
    latency_s = route_latency_s(src, dst);
    return route(src, dst, n);
  }
  /// route_and_latency() of the pairs (src, row[j].first), j < m, into links[j], n[j], latency_s[j] (n[j] = 0 for
  /// src itself): one call per sender's row, so that an implementation can fetch its table ahead (a phase asks for
  /// hundreds of thousands of routes scattered over a [G x G] table that does not stay in cache). Only for views
  /// whose route pointers stay valid across calls; false (the default): ask route_and_latency() pair by pair.
  virtual bool routes_and_latencies(int /*src*/, const std::pair<int, int32_t>* /*row*/, size_t /*m*/,
                                    const int32_t** /*links*/, int* /*n*/, double* /*latency_s*/)
  {
    return false;
  }
  virtual int node_of(int gpu) const = 0;
  /// NCCL-like kernels: the platform's calibrated message overhead and size-keyed bandwidth factor (1 / 0 when the
  /// platform is not calibrated).
  virtual double nccl_overhead_s(bool inter_node) const = 0;
  virtual double nccl_factor(bool inter_node, double bytes) = 0;
};

/// Bytes a flow of `bytes` occupies its links for under the phase's cost.
double effective_flow_bytes(NetworkView& net, const PhaseCost& cost, int src, int dst, double bytes);
/// The same, given whether the pair is on different nodes.
double effective_flow_bytes(NetworkView& net, const PhaseCost& cost, bool inter_node, double bytes);
/// Latency a message pays on top of its transfer: the route's, plus the NCCL overhead for NCCL-like kernels.
double message_latency_s(NetworkView& net, const PhaseCost& cost, int src, int dst);
/// The same, given the route's latency already looked up (route_and_latency) and whether the pair is on different
/// nodes.
double message_latency_s(NetworkView& net, const PhaseCost& cost, bool inter_node, double route_latency_s);
/// Earliest arrival of `src`'s data: start[src] + send_s[src] (0 without SM cost).
double send_ready_s(const PhaseCost& cost, const std::vector<double>& start_s, int src);

/// The stages of a phase in the order they run, as (rows, reversed): dispatch runs stage 0 then 1 along `out`;
/// combine runs the last stage first, every pair reversed.
struct PhaseStage {
  const PairUnits* units;
  bool reversed;
};
std::vector<PhaseStage> phase_stages(const LayerComm& comm, bool dispatch);

/// The fast model of one phase: every GPU's end time, computed directly (no simulated time passes).
class FastPhaseSolver {
public:
  /// start_s[g]: when GPU g reached the phase. end_s is resized to the GPUs. Returns the bytes put on links.
  double solve(NetworkView& net, const LayerComm& comm, bool dispatch, double unit_bytes, const PhaseCost& cost,
               const std::vector<double>& start_s, std::vector<double>& end_s);

private:
  /// The flows of `src` in stage `st`.
  void add_flows(NetworkView& net, const PhaseStage& st, int src, bool first_stage, double unit_bytes,
                 const PhaseCost& cost, const std::vector<double>& start_s);
  /// ready_[g] = arrival of the last first-stage flow addressed to g.
  void arrivals(const PhaseCost& cost, const std::vector<double>& start_s);
  /// Once per platform: every pair's route, for the largest latency into each GPU and the links no finish depends on.
  void prepare(NetworkView& net, int gpus);
  /// end_s[g] = the latest of g's own start and every peer's start plus the message latency (the flags).
  void flags(NetworkView& net, const PhaseCost& cost, const std::vector<double>& start_s, std::vector<double>& end_s);
  FlowSolver solver_;
  FlowBatch batch_;
  std::vector<double> finish_s_, ready_, flow_latency_s_;
  std::vector<int32_t> flow_src_, flow_dst_, by_start_;
  std::vector<const int32_t*> row_links_; ///< add_flows(): the routes of a sender's row
  std::vector<int> row_route_size_;
  std::vector<double> row_latency_s_;
  std::vector<uint8_t> flow_first_stage_;
  std::vector<double> max_latency_into_; ///< [gpu] the largest route latency into it (the platform's, fixed)
  std::vector<uint8_t> covered_;         ///< [link] RouteCover over every pair's route: left out of the flows
  double bytes_ = 0;
};

} // namespace moesim
