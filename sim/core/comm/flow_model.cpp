#include "core/comm/flow_model.hpp"

#include "core/io/errors.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <unordered_map>

namespace moesim {

CommModel parse_comm_model(const std::string& name)
{
  if (name == "exact")
    return CommModel::Exact;
  if (name == "fast")
    return CommModel::Fast;
  throw UsageError("unknown communication model '" + name + "' (expected fast or exact)");
}

std::string comm_model_name(CommModel m) { return m == CommModel::Exact ? "exact" : "fast"; }

int FlowNetwork::add_link(double bw, bool is_fatpipe)
{
  if (!(bw > 0))
    throw InternalError("flow model: a link needs a positive bandwidth");
  bandwidth_Bps.push_back(bw);
  fatpipe.push_back(is_fatpipe ? 1 : 0);
  return num_links() - 1;
}

void FlowBatch::clear()
{
  bytes.clear();
  start_s.clear();
  route_begin.assign(1, 0);
  route_links.clear();
}

void FlowBatch::add(double b, double start, const int32_t* links, int n)
{
  bytes.push_back(b);
  start_s.push_back(start);
  route_links.insert(route_links.end(), links, links + n);
  route_begin.push_back(static_cast<int32_t>(route_links.size()));
}

void FlowSolver::solve(const FlowNetwork& net, const FlowBatch& batch, std::vector<double>& finish_s)
{
  const size_t F = batch.size();
  const int L = net.num_links();
  finish_s.assign(batch.start_s.begin(), batch.start_s.end());
  // Flows per link (CSR), non-empty flows only.
  link_count_.assign(L + 1, 0);
  for (size_t f = 0; f < F; ++f)
    if (batch.bytes[f] > 0)
      for (int32_t i = batch.route_begin[f]; i < batch.route_begin[f + 1]; ++i)
        link_count_[batch.route_links[i]] += 1;
  link_begin_.assign(L + 1, 0);
  for (int l = 0; l < L; ++l)
    link_begin_[l + 1] = link_begin_[l] + link_count_[l];
  link_flows_.resize(link_begin_[L]);
  std::fill(link_count_.begin(), link_count_.end(), 0);
  for (size_t f = 0; f < F; ++f)
    if (batch.bytes[f] > 0)
      for (int32_t i = batch.route_begin[f]; i < batch.route_begin[f + 1]; ++i) {
        const int32_t l = batch.route_links[i];
        link_flows_[link_begin_[l] + link_count_[l]++] = static_cast<int32_t>(f);
      }

  // Links in series that carry exactly the same flows (a GPU's PCIe and NIC links) need only the slowest of them
  // served: processor sharing on a faster server finishes every flow no later.
  served_.assign(L, 1);
  signature_.clear();
  for (int l = 0; l < L; ++l) {
    const int32_t b = link_begin_[l], e = link_begin_[l + 1];
    if (b == e || net.fatpipe[l])
      continue;
    uint64_t h = static_cast<uint64_t>(e - b);
    for (int32_t i = b; i < e; ++i)
      h = (h ^ static_cast<uint64_t>(link_flows_[i])) * 0x100000001b3ULL;
    auto [it, added] = signature_.try_emplace(h, l);
    if (added)
      continue;
    const int32_t o = it->second, ob = link_begin_[o], oe = link_begin_[o + 1];
    if (oe - ob != e - b || !std::equal(link_flows_.begin() + b, link_flows_.begin() + e, link_flows_.begin() + ob))
      continue;
    if (net.bandwidth_Bps[l] < net.bandwidth_Bps[o]) {
      served_[o] = 0;
      it->second = l;
    } else {
      served_[l] = 0;
    }
  }

  for (int l = 0; l < L; ++l) {
    const int32_t b = link_begin_[l], e = link_begin_[l + 1];
    if (b == e || !served_[l])
      continue;
    const double C = net.bandwidth_Bps[l];
    if (net.fatpipe[l]) {
      for (int32_t i = b; i < e; ++i) {
        const int32_t f = link_flows_[i];
        finish_s[f] = std::max(finish_s[f], batch.start_s[f] + batch.bytes[f] / C);
      }
      continue;
    }
    events_.clear();
    bool one_start = true;
    for (int32_t i = b; i < e; ++i) {
      const int32_t f = link_flows_[i];
      events_.push_back({batch.start_s[f], batch.bytes[f], f});
      one_start = one_start && batch.start_s[f] == events_.front().start_s;
    }
    if (one_start) {
      // All flows start together (e.g. one GPU's uplink): the k-th smallest ends after every flow has received
      // its bytes, i.e. (sum of the smaller ones + (n - k) x its own) / C.
      std::sort(events_.begin(), events_.end(),
                [](const Event& x, const Event& y) { return x.bytes < y.bytes || (x.bytes == y.bytes && x.flow < y.flow); });
      const double t0 = events_.front().start_s;
      const size_t n = events_.size();
      double served = 0;
      for (size_t k = 0; k < n; ++k) {
        const double end = t0 + (served + static_cast<double>(n - k) * events_[k].bytes) / C;
        finish_s[events_[k].flow] = std::max(finish_s[events_[k].flow], end);
        served += events_[k].bytes;
      }
      continue;
    }
    std::sort(events_.begin(), events_.end(),
              [](const Event& x, const Event& y) { return x.start_s < y.start_s || (x.start_s == y.start_s && x.flow < y.flow); });
    // Processor sharing with arrivals: v is the service (bytes) every present flow has received since the link
    // started; a flow arriving at v0 with s bytes leaves when v reaches v0 + s. With n flows present v grows at
    // C / n per second.
    heap_.clear();
    const auto later = std::greater<>();
    double t = events_.front().start_s, v = 0;
    auto depart_until = [&](double until) {
      while (!heap_.empty()) {
        const double n = static_cast<double>(heap_.size());
        const double t_next = t + (heap_.front().first - v) * n / C;
        if (t_next > until)
          return;
        t = t_next;
        v = heap_.front().first;
        const int32_t f = heap_.front().second;
        std::pop_heap(heap_.begin(), heap_.end(), later);
        heap_.pop_back();
        finish_s[f] = std::max(finish_s[f], t);
      }
    };
    for (const Event& ev : events_) {
      depart_until(ev.start_s);
      if (!heap_.empty())
        v += (ev.start_s - t) * C / static_cast<double>(heap_.size());
      t = ev.start_s;
      heap_.emplace_back(v + ev.bytes, ev.flow);
      std::push_heap(heap_.begin(), heap_.end(), later);
    }
    depart_until(std::numeric_limits<double>::infinity());
  }
}

} // namespace moesim
