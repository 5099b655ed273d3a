#include "core/comm/phase.hpp"

#include <algorithm>

namespace moesim {

double effective_flow_bytes(NetworkView& net, const PhaseCost& cost, int src, int dst, double bytes)
{
  if (bytes <= 0)
    return bytes;
  const bool inter = net.node_of(src) != net.node_of(dst);
  if (cost.nccl_factors)
    return bytes / net.nccl_factor(inter, bytes);
  return bytes / (inter ? cost.goodput_inter : cost.goodput_intra);
}

double message_latency_s(NetworkView& net, const PhaseCost& cost, int src, int dst)
{
  double lat = net.route_latency_s(src, dst);
  if (cost.nccl_factors)
    lat += net.nccl_overhead_s(net.node_of(src) != net.node_of(dst));
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

void FastPhaseSolver::add_stage(NetworkView& net, const PhaseStage& st, double unit_bytes, const PhaseCost& cost,
                                const std::vector<double>& start_s)
{
  const auto& rows = st.units->out;
  for (int a = 0; a < static_cast<int>(rows.size()); ++a)
    for (auto [b, n] : rows[a]) {
      const int src = st.reversed ? b : a, dst = st.reversed ? a : b;
      if (src == dst)
        continue;
      const double bytes = static_cast<double>(static_cast<uint64_t>(n * unit_bytes));
      int len = 0;
      const int32_t* links = net.route(src, dst, len);
      batch_.add(effective_flow_bytes(net, cost, src, dst, bytes), start_s[src], links, len);
      flow_src_.push_back(src);
      flow_dst_.push_back(dst);
      bytes_ += bytes;
    }
}

void FastPhaseSolver::arrivals(NetworkView& net, const PhaseCost& cost, const std::vector<double>& start_s,
                               size_t flows)
{
  std::fill(ready_.begin(), ready_.end(), 0.0);
  for (size_t f = 0; f < flows; ++f) {
    const int s = flow_src_[f], d = flow_dst_[f];
    const double arrive = std::max(finish_s_[f], send_ready_s(cost, start_s, s)) + message_latency_s(net, cost, s, d);
    ready_[d] = std::max(ready_[d], arrive);
  }
}

double FastPhaseSolver::solve(NetworkView& net, const LayerComm& comm, bool dispatch, double unit_bytes,
                              const PhaseCost& cost, const std::vector<double>& start_s, std::vector<double>& end_s)
{
  const int G = static_cast<int>(start_s.size());
  batch_.clear();
  flow_src_.clear();
  flow_dst_.clear();
  bytes_ = 0;
  ready_.assign(G, 0.0);
  const auto stages = phase_stages(comm, dispatch);
  size_t first_stage_flows = 0;
  for (size_t i = 0; i < stages.size(); ++i) {
    add_stage(net, stages[i], unit_bytes, cost, start_s);
    if (i == 0)
      first_stage_flows = batch_.size();
  }
  // Every flow, forwarded ones included, shares the links from its GPU's start (forwarding is pipelined: chunks
  // move on as they arrive).
  solver_.solve(net.flow_network(), batch_, finish_s_);
  // A forwarded flow cannot arrive before its forwarder has received everything it forwards.
  arrivals(net, cost, start_s, first_stage_flows);
  // Flags: every pair, so a GPU waits for every peer's start plus the message latency.
  end_s.assign(G, 0.0);
  for (int dst = 0; dst < G; ++dst) {
    double end = send_ready_s(cost, start_s, dst); // its own (self) copies
    for (int src = 0; src < G; ++src)
      if (src != dst)
        end = std::max(end, start_s[src] + message_latency_s(net, cost, src, dst));
    end_s[dst] = end;
  }
  for (size_t f = 0; f < finish_s_.size(); ++f) {
    const int s = flow_src_[f], d = flow_dst_[f];
    const double lat = message_latency_s(net, cost, s, d);
    const double arrive = f < first_stage_flows ? std::max(finish_s_[f], send_ready_s(cost, start_s, s)) + lat
                                                : std::max(finish_s_[f] + lat, ready_[s] + lat);
    end_s[d] = std::max(end_s[d], arrive);
  }
  for (int g = 0; g < G; ++g)
    end_s[g] += (cost.post_s.empty() ? 0.0 : cost.post_s[g]) + cost.fixed_s;
  return bytes_;
}

} // namespace moesim
