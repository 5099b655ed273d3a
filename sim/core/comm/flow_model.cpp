#include "core/comm/flow_model.hpp"

#include "core/io/errors.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
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

void FlowBatch::add(double b, double start, const int32_t* links, int n, const std::vector<uint8_t>* skip)
{
  bytes.push_back(b);
  start_s.push_back(start);
  // Routes are a few links: appending one by one beats memmove's set-up and resize's zero fill.
  if (!skip) {
    for (int i = 0; i < n; ++i)
      route_links.push_back(links[i]);
  } else {
    const size_t known = skip->size();
    for (int i = 0; i < n; ++i) {
      const int32_t l = links[i];
      if (static_cast<size_t>(l) >= known || !(*skip)[l])
        route_links.push_back(l);
    }
  }
  route_begin.push_back(static_cast<int32_t>(route_links.size()));
}

void RouteCover::add_route(const int32_t* links, int n)
{
  for (int i = 0; i < n; ++i) {
    const int32_t l = links[i];
    if (static_cast<size_t>(l) >= seen_.size()) {
      seen_.resize(static_cast<size_t>(l) + 1, 0);
      with_.resize(static_cast<size_t>(l) + 1);
    }
    auto& w = with_[l];
    if (!seen_[l]) {
      seen_[l] = 1;
      for (int j = 0; j < n; ++j)
        if (links[j] != l && std::find(w.begin(), w.end(), links[j]) == w.end())
          w.push_back(links[j]);
      continue;
    }
    // Keep the links this route also crosses.
    w.erase(std::remove_if(w.begin(), w.end(), [&](int32_t o) { return std::find(links, links + n, o) == links + n; }),
            w.end());
  }
}

std::vector<uint8_t> RouteCover::covered(const FlowNetwork& net) const
{
  std::vector<uint8_t> out(seen_.size(), 0);
  for (size_t l = 0; l < seen_.size(); ++l)
    for (const int32_t o : with_[l]) {
      if (net.fatpipe[o] && !net.fatpipe[l])
        continue; // a fatpipe serves each flow at full rate: it does not bound a shared link's finishes
      const double bl = net.bandwidth_Bps[l], bo = net.bandwidth_Bps[o];
      const auto& wo = with_[o];
      const bool same_routes = std::find(wo.begin(), wo.end(), static_cast<int32_t>(l)) != wo.end();
      if (bo < bl || (bo == bl && (!same_routes || o < static_cast<int32_t>(l)))) {
        out[l] = 1;
        break;
      }
    }
  return out;
}

void FlowSolver::solve(const FlowNetwork& net, const FlowBatch& batch, std::vector<double>& finish_s)
{
  const size_t F = batch.size();
  const int L = net.num_links();
  finish_s.assign(batch.start_s.begin(), batch.start_s.end());
  // Flows in order of start (stable): each link's list is then in arrival order and needs no sort. Batches built
  // in that order (FastPhaseSolver) skip the sort.
  order_.resize(F);
  std::iota(order_.begin(), order_.end(), 0);
  if (!std::is_sorted(batch.start_s.begin(), batch.start_s.end()))
    std::stable_sort(order_.begin(), order_.end(),
                     [&](int32_t a, int32_t b) { return batch.start_s[a] < batch.start_s[b]; });
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
  for (const int32_t f : order_)
    if (batch.bytes[f] > 0)
      for (int32_t i = batch.route_begin[f]; i < batch.route_begin[f + 1]; ++i) {
        const int32_t l = batch.route_links[i];
        link_flows_[link_begin_[l] + link_count_[l]++] = f;
      }

  // A flow's size is the same on every link it crosses: its class (one per distinct size) is found once. Decode
  // messages are a few token sizes, so the table starts small (in cache) and grows when half full.
  if (slots_.empty())
    slots_.assign(64, Slot{});
  class_bytes_.clear();
  used_slots_.clear();
  flow_class_.resize(F);
  // A sender's flows are mostly one or two tokens: a flow often has its predecessor's size and class.
  double last_bytes = -1;
  int32_t last_class = -1;
  for (size_t f = 0; f < F; ++f) {
    const double b = batch.bytes[f];
    if (b != last_bytes) {
      last_bytes = b;
      last_class = b > 0 ? class_of(b) : -1;
    }
    flow_class_[f] = last_class;
  }
  for (const int32_t h : used_slots_)
    slots_[h] = Slot{};
  local_of_.assign(class_bytes_.size(), -1);

  // Slowest links first: their finishes are the likeliest to decide, so that a faster link's busy periods can
  // often be shown to decide nothing (serve_link). Any order gives the same finishes; the order only decides how
  // much is skipped, so it is kept while the number of links stays.
  if (link_order_.size() != static_cast<size_t>(L)) {
    link_order_.resize(L);
    std::iota(link_order_.begin(), link_order_.end(), 0);
    std::stable_sort(link_order_.begin(), link_order_.end(),
                     [&](int32_t a, int32_t b) { return net.bandwidth_Bps[a] < net.bandwidth_Bps[b]; });
  }
  // Links whose flows all start together (a GPU's uplinks) are solved in closed form, cheaply: first, so that
  // their finishes are there when the others' busy periods are tested.
  serve_order_.clear();
  for (const int32_t l : link_order_) {
    const int32_t b = link_begin_[l], e = link_begin_[l + 1];
    if (b < e && batch.start_s[link_flows_[b]] == batch.start_s[link_flows_[e - 1]])
      serve_order_.push_back(l);
  }
  for (const int32_t l : link_order_) {
    const int32_t b = link_begin_[l], e = link_begin_[l + 1];
    if (b < e && batch.start_s[link_flows_[b]] != batch.start_s[link_flows_[e - 1]])
      serve_order_.push_back(l);
  }
  for (const int32_t l : serve_order_) {
    const int32_t b = link_begin_[l], e = link_begin_[l + 1];
    const double C = net.bandwidth_Bps[l];
    if (net.fatpipe[l]) {
      for (int32_t i = b; i < e; ++i) {
        const int32_t f = link_flows_[i];
        finish_s[f] = std::max(finish_s[f], batch.start_s[f] + batch.bytes[f] / C);
      }
      continue;
    }
    serve_link(C, batch, link_flows_.data() + b, e - b, finish_s);
  }
}

void FlowSolver::serve_link(double C, const FlowBatch& batch, const int32_t* flows, int32_t n,
                            std::vector<double>& finish_s)
{
  // Processor sharing is work-conserving: a flow leaves no later than the end of its busy period (arrivals in
  // order, each period's work / C after its first arrival), and the periods are independent (the link is empty
  // between them). A period whose end is no later than the finish every one of its flows already has on a slower
  // link decides nothing and is not shared. The end is tested with a margin far above the rounding of either
  // computation, so that a period is skipped only when it cannot move a finish.
  const double inv_C = 1.0 / C;
  int32_t first = 0;
  double begin_s = batch.start_s[flows[0]], end_s = begin_s;
  for (int32_t i = 0; i <= n; ++i) {
    const double start = i < n ? batch.start_s[flows[i]] : std::numeric_limits<double>::infinity();
    if (start > end_s) { // the period [first, i) ends before flow i arrives
      const double margin = 1e-9 * (end_s - begin_s) + 1e-15;
      bool decides = false;
      for (int32_t j = first; j < i && !decides; ++j)
        decides = finish_s[flows[j]] < end_s + margin;
      if (decides)
        share_link(C, batch, flows + first, i - first, finish_s);
      if (i == n)
        return;
      first = i;
      begin_s = end_s = start;
    }
    end_s += batch.bytes[flows[i]] * inv_C;
  }
}

int32_t FlowSolver::class_of(double bytes)
{
  if (2 * (class_bytes_.size() + 1) > slots_.size()) {
    // Half full: twice the slots, the classes so far inserted again (same ids, in the same order).
    used_slots_.clear();
    slots_.assign(2 * slots_.size(), Slot{});
    const std::vector<double> sizes = std::move(class_bytes_);
    class_bytes_.clear();
    for (const double b : sizes)
      class_of(b);
  }
  uint64_t key = 0;
  std::memcpy(&key, &bytes, sizeof key);
  const size_t mask = slots_.size() - 1;
  for (size_t h = static_cast<size_t>((key * 0x9e3779b97f4a7c15ULL) >> 32) & mask;; h = (h + 1) & mask) {
    Slot& s = slots_[h];
    if (s.cls < 0) {
      s = {key, static_cast<int32_t>(class_bytes_.size())};
      used_slots_.push_back(static_cast<int32_t>(h));
      class_bytes_.push_back(bytes);
      return s.cls;
    }
    if (s.key == key)
      return s.cls;
  }
}

void FlowSolver::share_link(double C, const FlowBatch& batch, const int32_t* flows, int32_t n,
                            std::vector<double>& finish_s)
{
  // Flows of equal size form a class: within a class, processor sharing serves them first in, first out (a
  // later arrival has received no more service), so only the head of each class competes for the next departure.
  // The heap holds one entry per class instead of one per flow: O(n + departures x log classes) for n flows.
  // Local class ids on this link, in order of first appearance.
  link_classes_.clear();
  entry_class_.resize(n);
  // A link's flows are scattered over the batch: their class and start are fetched ahead (the start is read again
  // below, by then from cache).
  constexpr int32_t kAhead = 16;
  for (int32_t i = 0; i < n; ++i) {
    if (i + kAhead < n) {
      __builtin_prefetch(&flow_class_[flows[i + kAhead]]);
      __builtin_prefetch(&batch.start_s[flows[i + kAhead]]);
    }
    const int32_t g = flow_class_[flows[i]];
    if (local_of_[g] < 0) {
      local_of_[g] = static_cast<int32_t>(link_classes_.size());
      link_classes_.push_back(g);
    }
    entry_class_[i] = local_of_[g];
  }
  class_size_.clear();
  for (const int32_t g : link_classes_) {
    local_of_[g] = -1;
    class_size_.push_back(class_bytes_[g]);
  }
  const size_t K = link_classes_.size();
  // Members of each class in arrival order (CSR).
  class_begin_.assign(K + 1, 0);
  for (int32_t i = 0; i < n; ++i)
    class_begin_[entry_class_[i] + 1] += 1;
  for (size_t k = 0; k < K; ++k)
    class_begin_[k + 1] += class_begin_[k];
  class_tail_.assign(class_begin_.begin(), class_begin_.end() - 1);
  member_flow_.resize(n);
  for (int32_t i = 0; i < n; ++i)
    member_flow_[class_tail_[entry_class_[i]]++] = flows[i];

  const double t0 = batch.start_s[flows[0]];
  if (batch.start_s[flows[n - 1]] == t0) {
    // One start for all (a GPU's uplink): in order of size, a class ends once every flow has received its size:
    // (bytes of the smaller flows + flows not smaller x its size) / C.
    class_order_.resize(K);
    std::iota(class_order_.begin(), class_order_.end(), 0);
    std::sort(class_order_.begin(), class_order_.end(),
              [&](int32_t a, int32_t b) { return class_size_[a] < class_size_[b]; });
    double served = 0;
    int64_t left = n;
    for (const int32_t k : class_order_) {
      const double size = class_size_[k];
      const int32_t members = class_begin_[k + 1] - class_begin_[k];
      const double end = t0 + (served + static_cast<double>(left) * size) / C;
      for (int32_t m = class_begin_[k]; m < class_begin_[k + 1]; ++m)
        finish_s[member_flow_[m]] = std::max(finish_s[member_flow_[m]], end);
      served += static_cast<double>(members) * size;
      left -= members;
    }
    return;
  }

  // Processor sharing with arrivals: v is the service (bytes) every present flow has received since the link
  // started; a flow arriving at v0 with s bytes leaves when v reaches its tag v0 + s. With m flows present v grows
  // at C / m per second.
  class_head_.assign(class_begin_.begin(), class_begin_.end() - 1);
  class_tail_ = class_head_; // arrived members end here
  member_tag_.resize(n);
  heap_.clear();
  const auto later = std::greater<>();
  const double inv_C = 1.0 / C;
  // 1 / m for up to n flows present: multiplications instead of a division per event.
  while (reciprocal_.size() <= static_cast<size_t>(n))
    reciprocal_.push_back(reciprocal_.empty() ? 0.0 : 1.0 / static_cast<double>(reciprocal_.size()));
  double t = t0, v = 0;
  int64_t present = 0;
  auto depart_until = [&](double until) {
    while (!heap_.empty()) {
      const double tag = heap_.front().first;
      const double t_next = t + (tag - v) * static_cast<double>(present) * inv_C;
      if (t_next > until)
        return;
      t = t_next;
      v = tag;
      const int32_t k = heap_.front().second;
      std::pop_heap(heap_.begin(), heap_.end(), later);
      heap_.pop_back();
      // Every member of the class with this tag (arrived together) leaves now.
      int32_t& head = class_head_[k];
      while (head < class_tail_[k] && member_tag_[head] == tag) {
        const int32_t f = member_flow_[head++];
        finish_s[f] = std::max(finish_s[f], t);
        --present;
      }
      if (head < class_tail_[k]) {
        heap_.emplace_back(member_tag_[head], k);
        std::push_heap(heap_.begin(), heap_.end(), later);
      }
    }
  };
  for (int32_t i = 0; i < n;) {
    // Flows of one sender arrive together: the clock and the service advance once for all of them.
    const double start = batch.start_s[flows[i]];
    depart_until(start);
    if (present > 0)
      v += (start - t) * C * reciprocal_[present];
    t = start;
    for (; i < n && batch.start_s[flows[i]] == start; ++i) {
      const int32_t k = entry_class_[i];
      const int32_t pos = class_tail_[k]++;
      member_tag_[pos] = v + class_size_[k];
      if (pos == class_head_[k]) { // the class had no flow present
        heap_.emplace_back(member_tag_[pos], k);
        std::push_heap(heap_.begin(), heap_.end(), later);
      }
      ++present;
    }
  }
  depart_until(std::numeric_limits<double>::infinity());
}

} // namespace moesim
