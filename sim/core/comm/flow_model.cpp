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
  // Flows in order of start (stable): groups are then made in arrival order and each link's list needs no sort.
  // Batches built in that order (FastPhaseSolver) skip the sort.
  order_.resize(F);
  std::iota(order_.begin(), order_.end(), 0);
  if (!std::is_sorted(batch.start_s.begin(), batch.start_s.end()))
    std::stable_sort(order_.begin(), order_.end(),
                     [&](int32_t a, int32_t b) { return batch.start_s[a] < batch.start_s[b]; });

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

  // Groups: each (link, start, class) once, in arrival order. A run is a set of flows with one start. The group
  // of (link, class) in the current run is found in a [class x link] table while it stays small (decode: tens of
  // thousands of links, a few dozen sizes), otherwise along a chain per link of its groups in the run. Run ids go
  // on across batches, so that the table is never cleared.
  group_link_.clear();
  group_class_.clear();
  group_count_.clear();
  group_next_.clear();
  group_start_s_.clear();
  const size_t K = class_bytes_.size();
  const bool table = static_cast<size_t>(L) * K <= (size_t{1} << 22);
  if (next_run_ > (int32_t{1} << 30)) { // the ids would overflow within a few more batches: start again
    link_slots_.clear();
    next_run_ = 0;
  }
  if (table && link_slots_.size() < static_cast<size_t>(L) * K)
    link_slots_.resize(static_cast<size_t>(L) * K);
  if (!table) {
    link_run_.assign(L, -1);
    link_head_.resize(L);
  }
  entry_group_.resize(batch.route_links.size());
  int32_t run = next_run_ - 1;
  double run_start = 0;
  const auto new_group = [&](int32_t l, int32_t cls, double start) {
    const auto g = static_cast<int32_t>(group_link_.size());
    group_link_.push_back(l);
    group_class_.push_back(cls);
    group_count_.push_back(0);
    group_start_s_.push_back(start);
    return g;
  };
  for (const int32_t f : order_) {
    const int32_t cls = flow_class_[f];
    if (cls < 0)
      continue; // empty: crosses no link
    const double start = batch.start_s[f];
    if (run < next_run_ || start != run_start) {
      ++run;
      run_start = start;
    }
    for (int32_t i = batch.route_begin[f]; i < batch.route_begin[f + 1]; ++i) {
      const int32_t l = batch.route_links[i];
      if (table) {
        // The slot counts its group's flows while the run lasts: one cache line for look-up and count.
        LinkSlot& slot = link_slots_[static_cast<size_t>(cls) * static_cast<size_t>(L) + static_cast<size_t>(l)];
        if (slot.run != run) {
          if (slot.run >= next_run_) // a group of this batch: its count is final
            group_count_[slot.group] = slot.count;
          slot = LinkSlot{run, new_group(l, cls, start), 0};
        }
        slot.count += 1;
        entry_group_[i] = slot.group;
        continue;
      }
      int32_t g = -1;
      if (link_run_[l] == run) {
        g = link_head_[l];
        while (g >= 0 && group_class_[g] != cls)
          g = group_next_[g];
      } else {
        link_run_[l] = run;
        link_head_[l] = -1;
      }
      if (g < 0) {
        g = new_group(l, cls, start);
        group_next_.resize(group_link_.size());
        group_next_[g] = link_head_[l];
        link_head_[l] = g;
      }
      group_count_[g] += 1;
      entry_group_[i] = g;
    }
  }
  if (table) // the counts still in their slots: each (link, class)'s last group
    for (size_t g = 0; g < group_link_.size(); ++g) {
      const LinkSlot& slot = link_slots_[static_cast<size_t>(group_class_[g]) * static_cast<size_t>(L) +
                                         static_cast<size_t>(group_link_[g])];
      if (slot.group == static_cast<int32_t>(g) && slot.run >= next_run_)
        group_count_[g] = slot.count;
    }
  next_run_ = run + 1;
  const auto G = static_cast<int32_t>(group_link_.size());

  // Groups per link (CSR, in arrival order), then each link on its own.
  link_begin_.assign(L + 1, 0);
  for (int32_t g = 0; g < G; ++g)
    link_begin_[group_link_[g] + 1] += 1;
  for (int l = 0; l < L; ++l)
    link_begin_[l + 1] += link_begin_[l];
  // Each link reads its groups in order from one array.
  link_fill_.assign(link_begin_.begin(), link_begin_.end() - 1);
  placed_.resize(G);
  for (int32_t g = 0; g < G; ++g)
    placed_[link_fill_[group_link_[g]]++] = PlacedGroup{group_start_s_[g], group_count_[g], group_class_[g], g};
  // Two rounds. First the links whose flows all start together (a GPU's uplinks: closed form, cheap) and the fat
  // pipes; from their ends every group gets a lower bound on its flows' finishes (lower_s_: the least over its
  // flows). Then the other links, slowest first: a busy period that ends before the bound of each of its groups
  // cannot move a finish and is not shared (serve_link), which skips most of a receiver's short periods, its
  // flows being held longer by their senders' uplinks.
  constexpr double kNone = -std::numeric_limits<double>::infinity();
  group_end_s_.assign(G, kNone);
  if (link_order_.size() != static_cast<size_t>(L)) {
    // Any order gives the same finishes; the order only decides how much is skipped, so it is kept while the
    // number of links stays.
    link_order_.resize(L);
    std::iota(link_order_.begin(), link_order_.end(), 0);
    std::stable_sort(link_order_.begin(), link_order_.end(),
                     [&](int32_t a, int32_t b) { return net.bandwidth_Bps[a] < net.bandwidth_Bps[b]; });
  }
  serve_order_.clear();
  for (const int32_t l : link_order_) {
    const int32_t b = link_begin_[l], e = link_begin_[l + 1];
    if (b == e)
      continue;
    const double C = net.bandwidth_Bps[l];
    if (net.fatpipe[l]) {
      for (int32_t i = b; i < e; ++i)
        group_end_s_[placed_[i].group] = placed_[i].start_s + class_bytes_[placed_[i].cls] / C;
    } else if (placed_[b].start_s == placed_[e - 1].start_s) {
      share_groups(C, b, e);
    } else {
      serve_order_.push_back(l);
    }
  }
  if (!serve_order_.empty()) {
    lower_s_.assign(G, std::numeric_limits<double>::infinity());
    for (size_t f = 0; f < F; ++f) {
      if (flow_class_[f] < 0)
        continue;
      const int32_t rb = batch.route_begin[f], re = batch.route_begin[f + 1];
      double end = finish_s[f];
      for (int32_t i = rb; i < re; ++i)
        end = std::max(end, group_end_s_[entry_group_[i]]);
      finish_s[f] = end;
      for (int32_t i = rb; i < re; ++i) {
        const int32_t g = entry_group_[i];
        if (group_end_s_[g] == kNone) // on a link of the second round
          lower_s_[g] = std::min(lower_s_[g], end);
      }
    }
    for (const int32_t l : serve_order_)
      serve_link(net.bandwidth_Bps[l], link_begin_[l], link_begin_[l + 1]);
  }

  // A flow ends when the last of its links has served it.
  for (size_t f = 0; f < F; ++f) {
    if (flow_class_[f] < 0)
      continue;
    double end = finish_s[f];
    for (int32_t i = batch.route_begin[f]; i < batch.route_begin[f + 1]; ++i)
      end = std::max(end, group_end_s_[entry_group_[i]]);
    finish_s[f] = end;
  }
}

void FlowSolver::serve_link(double C, int32_t b, int32_t e)
{
  // Processor sharing is work-conserving: a flow leaves no later than the end of its busy period (arrivals in
  // order, each period's work / C after its first arrival), and the periods are independent (the link is empty
  // between them). A period whose end is no later than the bound of every one of its groups decides nothing. The
  // end is tested with a margin far above the rounding of either computation, so that a period is skipped only
  // when it cannot move a finish.
  const double inv_C = 1.0 / C;
  int32_t first = b;
  double begin_s = placed_[b].start_s, end_s = begin_s;
  for (int32_t i = b; i <= e; ++i) {
    const double start = i < e ? placed_[i].start_s : std::numeric_limits<double>::infinity();
    if (start > end_s) { // the period [first, i) ends before group i arrives
      const double margin = 1e-9 * (end_s - begin_s) + 1e-15;
      bool decides = false;
      for (int32_t j = first; j < i && !decides; ++j)
        decides = lower_s_[placed_[j].group] < end_s + margin;
      if (decides)
        share_groups(C, first, i);
      if (i == e)
        return;
      first = i;
      begin_s = end_s = start;
    }
    end_s += static_cast<double>(placed_[i].count) * class_bytes_[placed_[i].cls] * inv_C;
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

void FlowSolver::share_groups(double C, int32_t b, int32_t e)
{
  // Groups of equal size form a class: within a class, processor sharing serves them first in, first out (a
  // later arrival has received no more service), so only the head of each class competes for the next departure.
  // The heap holds one entry per class: O(groups x log classes).
  const PlacedGroup* groups = placed_.data() + b;
  const int32_t n = e - b;
  const double t0 = groups[0].start_s;
  if (groups[n - 1].start_s == t0) {
    // One start for all (a GPU's uplink, or most of a receiver's short periods): one group per class. In order of
    // size, a class ends once every flow has received its size: (bytes of the smaller flows + flows not smaller x
    // its size) / C.
    class_order_.resize(n);
    std::iota(class_order_.begin(), class_order_.end(), b);
    const auto size_of = [&](int32_t g) { return class_bytes_[placed_[g].cls]; };
    if (n > 1)
      std::sort(class_order_.begin(), class_order_.end(), [&](int32_t a, int32_t b) { return size_of(a) < size_of(b); });
    int64_t left = 0;
    for (int32_t i = 0; i < n; ++i)
      left += groups[i].count;
    double served = 0;
    for (const int32_t g : class_order_) {
      const double size = size_of(g);
      const int64_t members = placed_[g].count;
      group_end_s_[placed_[g].group] = t0 + (served + static_cast<double>(left) * size) / C;
      served += static_cast<double>(members) * size;
      left -= members;
    }
    return;
  }

  // Local class ids on this period, in order of first appearance.
  link_classes_.clear();
  entry_class_.resize(n);
  for (int32_t i = 0; i < n; ++i) {
    const int32_t c = groups[i].cls;
    if (local_of_[c] < 0) {
      local_of_[c] = static_cast<int32_t>(link_classes_.size());
      link_classes_.push_back(c);
    }
    entry_class_[i] = local_of_[c];
  }
  class_size_.clear();
  for (const int32_t c : link_classes_) {
    local_of_[c] = -1;
    class_size_.push_back(class_bytes_[c]);
  }
  const size_t K = link_classes_.size();
  // Groups of each class in arrival order (CSR).
  class_begin_.assign(K + 1, 0);
  for (int32_t i = 0; i < n; ++i)
    class_begin_[entry_class_[i] + 1] += 1;
  for (size_t k = 0; k < K; ++k)
    class_begin_[k + 1] += class_begin_[k];
  class_tail_.assign(class_begin_.begin(), class_begin_.end() - 1);
  member_group_.resize(n);
  for (int32_t i = 0; i < n; ++i)
    member_group_[class_tail_[entry_class_[i]]++] = b + i;

  // Processor sharing with arrivals: v is the service (bytes) every present flow has received since the period
  // started; a flow arriving at v0 with s bytes leaves when v reaches its tag v0 + s. With m flows present v grows
  // at C / m per second.
  class_head_.assign(class_begin_.begin(), class_begin_.end() - 1);
  class_tail_ = class_head_; // arrived groups end here
  member_tag_.resize(n);
  heap_.clear();
  const auto later = std::greater<>();
  const double inv_C = 1.0 / C;
  int64_t flows = 0;
  for (int32_t i = 0; i < n; ++i)
    flows += groups[i].count;
  // 1 / m for up to the period's flows present: multiplications instead of a division per event.
  while (reciprocal_.size() <= static_cast<size_t>(flows))
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
      // Every group of the class with this tag (arrived together) leaves now.
      int32_t& head = class_head_[k];
      while (head < class_tail_[k] && member_tag_[head] == tag) {
        const PlacedGroup& g = placed_[member_group_[head++]];
        group_end_s_[g.group] = t;
        present -= g.count;
      }
      if (head < class_tail_[k]) {
        heap_.emplace_back(member_tag_[head], k);
        std::push_heap(heap_.begin(), heap_.end(), later);
      }
    }
  };
  for (int32_t i = 0; i < n;) {
    // Groups of one start arrive together: the clock and the service advance once for all of them.
    const double start = groups[i].start_s;
    depart_until(start);
    if (present > 0)
      v += (start - t) * C * reciprocal_[present];
    t = start;
    for (; i < n && groups[i].start_s == start; ++i) {
      const int32_t k = entry_class_[i];
      const int32_t pos = class_tail_[k]++;
      member_tag_[pos] = v + class_size_[k];
      if (pos == class_head_[k]) { // the class had no flow present
        heap_.emplace_back(member_tag_[pos], k);
        std::push_heap(heap_.begin(), heap_.end(), later);
      }
      present += groups[i].count;
    }
  }
  depart_until(std::numeric_limits<double>::infinity());
}

} // namespace moesim
