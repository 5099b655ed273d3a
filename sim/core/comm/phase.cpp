#include "core/comm/phase.hpp"

#include <algorithm>
#include <numeric>

namespace moesim {

double effective_flow_bytes(NetworkView& net, const PhaseCost& cost, int src, int dst, double bytes)
{
  return effective_flow_bytes(net, cost, net.node_of(src) != net.node_of(dst), bytes);
}

double effective_flow_bytes(NetworkView& net, const PhaseCost& cost, bool inter_node, double bytes)
{
  if (bytes <= 0)
    return bytes;
  if (cost.nccl_factors)
    return bytes / net.nccl_factor(inter_node, bytes);
  return bytes / (inter_node ? cost.goodput_inter : cost.goodput_intra);
}

double message_latency_s(NetworkView& net, const PhaseCost& cost, int src, int dst)
{
  return message_latency_s(net, cost, net.node_of(src) != net.node_of(dst), net.route_latency_s(src, dst));
}

double message_latency_s(NetworkView& net, const PhaseCost& cost, bool inter_node, double route_latency_s)
{
  double lat = route_latency_s;
  if (cost.nccl_factors)
    lat += net.nccl_overhead_s(inter_node);
  return lat;
}

double send_ready_s(const PhaseCost& cost, const std::vector<double>& start_s, int src)
{
  return start_s[src] + (cost.send_s.empty() ? 0.0 : cost.send_s[src]);
}

std::vector<PhaseStage> phase_stages(const LayerComm& comm, bool dispatch)
{
  std::vector<PhaseStage> out;
  if (dispatch)
    for (const auto& st : comm.stages)
      out.push_back(PhaseStage{&st, false});
  else
    for (auto it = comm.stages.rbegin(); it != comm.stages.rend(); ++it)
      out.push_back(PhaseStage{&*it, true});
  return out;
}

void FastPhaseSolver::add_flows(NetworkView& net, const PhaseStage& st, int src, bool first_stage, double unit_bytes,
                                const PhaseCost& cost, const std::vector<double>& start_s)
{
  // A reversed stage (combine) sends src -> a for every a that sent src data: the `in` row of src.
  const auto& row = st.reversed ? st.units->in[src] : st.units->out[src];
  const int src_node = net.node_of(src);
  const size_t m = row.size();
  row_links_.resize(m);
  row_route_size_.resize(m);
  row_latency_s_.resize(m);
  const bool looked_up = net.routes_and_latencies(src, row.data(), m, row_links_.data(), row_route_size_.data(),
                                                  row_latency_s_.data());
  for (size_t j = 0; j < m; ++j) {
    const auto [dst, n] = row[j];
    if (src == dst)
      continue;
    const double bytes = static_cast<double>(static_cast<uint64_t>(n * unit_bytes));
    const bool inter_node = net.node_of(dst) != src_node;
    if (!looked_up) // the view's route pointer is valid until its next call: used at once
      row_links_[j] = net.route_and_latency(src, dst, row_route_size_[j], row_latency_s_[j]);
    batch_.add(effective_flow_bytes(net, cost, inter_node, bytes), start_s[src], row_links_[j], row_route_size_[j],
               &covered_);
    flow_latency_s_.push_back(message_latency_s(net, cost, inter_node, row_latency_s_[j]));
    flow_src_.push_back(src);
    flow_dst_.push_back(dst);
    flow_first_stage_.push_back(first_stage ? 1 : 0);
    bytes_ += bytes;
  }
}

void FastPhaseSolver::arrivals(const PhaseCost& cost, const std::vector<double>& start_s)
{
  std::fill(ready_.begin(), ready_.end(), 0.0);
  for (size_t f = 0; f < flow_src_.size(); ++f) {
    if (!flow_first_stage_[f])
      continue;
    const int s = flow_src_[f], d = flow_dst_[f];
    const double arrive = std::max(finish_s_[f], send_ready_s(cost, start_s, s)) + flow_latency_s_[f];
    ready_[d] = std::max(ready_[d], arrive);
  }
}

void FastPhaseSolver::prepare(NetworkView& net, int G)
{
  max_latency_into_.assign(G, 0.0);
  RouteCover cover;
  for (int src = 0; src < G; ++src)
    for (int dst = 0; dst < G; ++dst)
      if (src != dst) {
        int n = 0;
        double latency_s = 0;
        const int32_t* links = net.route_and_latency(src, dst, n, latency_s);
        cover.add_route(links, n);
        max_latency_into_[dst] = std::max(max_latency_into_[dst], latency_s);
      }
  covered_ = cover.covered(net.flow_network());
}

void FastPhaseSolver::flags(NetworkView& net, const PhaseCost& cost, const std::vector<double>& start_s,
                            std::vector<double>& end_s)
{
  // end[dst] = max over peers of start[src] + latency(src, dst). Peers in order of decreasing start: once a
  // peer's start plus the largest latency into dst cannot beat the maximum so far, no later peer can.
  const int G = static_cast<int>(start_s.size());
  const double overhead = cost.nccl_factors ? std::max(net.nccl_overhead_s(false), net.nccl_overhead_s(true)) : 0.0;
  end_s.assign(G, 0.0);
  for (int dst = 0; dst < G; ++dst) {
    double end = send_ready_s(cost, start_s, dst); // its own (self) copies
    const double bound = max_latency_into_[dst] + overhead;
    for (auto it = by_start_.rbegin(); it != by_start_.rend(); ++it) {
      const int src = *it;
      if (start_s[src] + bound <= end)
        break;
      if (src != dst)
        end = std::max(end, start_s[src] + message_latency_s(net, cost, src, dst));
    }
    end_s[dst] = end;
  }
}

double FastPhaseSolver::solve(NetworkView& net, const LayerComm& comm, bool dispatch, double unit_bytes,
                              const PhaseCost& cost, const std::vector<double>& start_s, std::vector<double>& end_s)
{
  const int G = static_cast<int>(start_s.size());
  if (max_latency_into_.size() != static_cast<size_t>(G))
    prepare(net, G);
  batch_.clear();
  flow_src_.clear();
  flow_dst_.clear();
  flow_first_stage_.clear();
  flow_latency_s_.clear();
  bytes_ = 0;
  ready_.assign(G, 0.0);
  // GPUs in order of start (stable): the flows are built in that order, so the flow solver needs no sort.
  by_start_.resize(G);
  std::iota(by_start_.begin(), by_start_.end(), 0);
  std::stable_sort(by_start_.begin(), by_start_.end(), [&](int a, int b) { return start_s[a] < start_s[b]; });
  const auto stages = phase_stages(comm, dispatch);
  for (const int src : by_start_)
    for (size_t i = 0; i < stages.size(); ++i)
      add_flows(net, stages[i], src, i == 0, unit_bytes, cost, start_s);
  // Every flow, forwarded ones included, shares the links from its GPU's start (forwarding is pipelined: chunks
  // move on as they arrive).
  solver_.solve(net.flow_network(), batch_, finish_s_);
  // A forwarded flow cannot arrive before its forwarder has received everything it forwards (one-stage kernels
  // forward nothing).
  if (stages.size() > 1)
    arrivals(cost, start_s);
  // Flags: every pair, so a GPU waits for every peer's start plus the message latency.
  flags(net, cost, start_s, end_s);
  for (size_t f = 0; f < finish_s_.size(); ++f) {
    const int s = flow_src_[f], d = flow_dst_[f];
    const double lat = flow_latency_s_[f];
    const double arrive = flow_first_stage_[f] ? std::max(finish_s_[f], send_ready_s(cost, start_s, s)) + lat
                                               : std::max(finish_s_[f] + lat, ready_[s] + lat);
    end_s[d] = std::max(end_s[d], arrive);
  }
  for (int g = 0; g < G; ++g)
    end_s[g] += (cost.post_s.empty() ? 0.0 : cost.post_s[g]) + cost.fixed_s;
  return bytes_;
}

} // namespace moesim
