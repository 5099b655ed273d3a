#pragma once
// The fast communication model (`--comm fast`): completion times of a set of concurrent flows computed directly
// from the platform's links and routes, without an event-driven max-min solver. Plain C++ (no SimGrid): the
// SimGrid side (sim/simgrid/engine.cpp) extracts SimGrid's own routes and links into a FlowNetwork.
//
// Model: each link serves the flows crossing it by processor sharing (equal shares among the flows present,
// flows arriving at their start times), each link on its own; a flow ends when the last of its links has served
// all its bytes. On a single link this is exactly SimGrid's max-min fair sharing. Across links it ignores that a
// flow slowed elsewhere leaves capacity to the others; docs/performance.md measures the difference against
// SimGrid's solver (`--comm exact`). Cost per set of F flows crossing E link slots: O(F log F) to order them by
// start (none when given in that order), then O(E x c) to put each slot in its group (flows of one start and size
// on one link; c the sizes present on the link at that start, a few token sizes in decode), and
// O(groups x log k) to share the links (k the distinct sizes on a link), memory O(E). Links in series with a link
// no faster on every route are left out of the flows (RouteCover): an exact saving.
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

/// Which links no flow's finish depends on, from the routes the flows may take: link l is covered when every route
/// through it also crosses a link o that is no faster (and, for a shared link l, shared too). o's processor sharing
/// then serves a superset of l's flows at a lower or equal rate, so that no flow finishes later on l than on o (PS
/// is monotone: adding flows or slowing the server delays no flow). Of links with equal bandwidth and the same
/// routes the lowest index is kept. A GPU's PCIe link in series with its NIC port is the typical covered link.
class RouteCover {
public:
  void add_route(const int32_t* links, int n);
  /// [link] 1: covered (links of no route added are not).
  std::vector<uint8_t> covered(const FlowNetwork& net) const;

private:
  std::vector<uint8_t> seen_;              ///< [link] on some route added
  std::vector<std::vector<int32_t>> with_; ///< [link] the other links on every route added through it
};

/// A batch of flows in CSR form: flow i crosses links route_links[route_begin[i] .. route_begin[i + 1]).
struct FlowBatch {
  std::vector<double> bytes;
  std::vector<double> start_s;
  std::vector<int32_t> route_begin{0};
  std::vector<int32_t> route_links;
  void clear();
  /// Appends a flow; `links` points to `n` link indices, of which those with skip[link] = 1 are left out (skip may
  /// be null, or shorter than the links: indices beyond it are kept).
  void add(double bytes, double start_s, const int32_t* links, int n, const std::vector<uint8_t>* skip = nullptr);
  size_t size() const { return bytes.size(); }
};

/// Computes finish_s[i] for every flow of the batch (start + 0 for empty flows). Scratch buffers are reused
/// between calls: one FlowSolver per simulation.
///
/// Flows that start together and have the same size are served alike by every link they share: on each link they
/// form one weighted group (count x the flow), and the links share groups, not flows. A sender's flows to hundreds
/// of peers share its NIC and the leaf uplinks in a few groups, one per message size; per flow and link only the
/// group look-up and the final maximum remain.
class FlowSolver {
public:
  void solve(const FlowNetwork& net, const FlowBatch& batch, std::vector<double>& finish_s);

private:
  /// Groups [b, e) of one link, in arrival order: the busy periods that can move a finish, each shared by
  /// share_groups.
  void serve_link(double C, int32_t b, int32_t e);
  /// Processor sharing of one link's busy period, groups [b, e) in arrival order: group_end_s_ of each.
  void share_groups(double C, int32_t b, int32_t e);
  /// The class (index into class_bytes_) of a flow size.
  int32_t class_of(double bytes);

  std::vector<int32_t> order_;
  // Flow sizes -> classes (open addressing, once per batch).
  struct Slot {
    uint64_t key = 0;
    int32_t cls = -1;
  };
  std::vector<Slot> slots_;
  std::vector<int32_t> used_slots_, flow_class_;
  std::vector<double> class_bytes_;
  // Groups, in order of creation (= arrival order): link, class, flow count, start; without the slot table, the
  // next group of the same link and start (a chain, one per class present). entry_group_[i]: the group of route
  // entry i.
  std::vector<int32_t> group_link_, group_class_, group_count_, group_next_, entry_group_;
  std::vector<double> group_start_s_;
  std::vector<double> group_end_s_, lower_s_; ///< [group] its end; a bound on its flows' finishes
  std::vector<int32_t> link_order_;  ///< links by bandwidth, slowest first (rebuilt when the link count changes)
  std::vector<int32_t> serve_order_; ///< this batch's links of several starts, in link_order_
  struct LinkSlot {
    int32_t run = -1;  ///< the run the slot is for
    int32_t group = 0; ///< its group in that run
    int32_t count = 0; ///< the group's flows so far (written to group_count_ when the run ends)
  };
  std::vector<LinkSlot> link_slots_; ///< [class x link]
  int32_t next_run_ = 0;             ///< the id of the next batch's first run
  std::vector<int32_t> link_run_, link_head_;   ///< [link] the run its chain is for, the chain's first group
  /// A group at its place in its link's list (CSR by link, in arrival order).
  struct PlacedGroup {
    double start_s;
    int32_t count; ///< flows
    int32_t cls;
    int32_t group;
  };
  std::vector<PlacedGroup> placed_;
  std::vector<int32_t> link_begin_, link_fill_;
  // share_groups' scratch: the classes of one period and their groups in arrival order.
  std::vector<int32_t> local_of_, link_classes_, class_order_, entry_class_, class_begin_, class_head_, class_tail_,
      member_group_;
  std::vector<double> class_size_, member_tag_, reciprocal_;
  std::vector<std::pair<double, int32_t>> heap_; ///< (tag of a class's first present group, class)
};

} // namespace moesim
