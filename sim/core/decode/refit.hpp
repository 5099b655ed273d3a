#pragma once
// Online re-fitting of the placement (`moesim run --refit-every N`): the tokens a run has served, as a trace a
// placement policy can fit on, and the expert-weight copies that turn one placement into another. Plain C++; the
// planner decides when to re-fit and the engine simulates the copies as a transfer phase before the step.
#include "core/cluster/cluster.hpp"
#include "core/decode/decode_plan.hpp"
#include "core/policy/policy.hpp"
#include "core/trace/trace.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

namespace moesim {

/// Token indices of the trace served step by step (each step: every GPU's slots), for re-fitting on a window.
class ServedTokens {
public:
  /// tokens[g]: the trace token of every slot of GPU g in one step.
  void add_step(const std::vector<std::vector<int64_t>>& tokens);
  /// Forgets all but the last `window_steps` steps (0 = keep every step).
  void keep_last(int window_steps);
  /// The distinct tokens of the kept steps as a trace of `source`'s shape: one request per source request with a
  /// served token (its tokens in ascending position, prompt length and label kept), ids in the source's form and
  /// no gate weights. Its requests are in source order.
  Trace trace(const Trace& source) const;

private:
  std::deque<std::vector<int64_t>> steps_; ///< [kept step] token indices (every GPU's slots, flattened)
};

/// `to` with the GPUs of each node renumbered, layer by layer, so that as many of its copies as possible are where
/// `from` already has them: per node and layer, the GPU layouts of `to` are matched to the node's GPUs by an exact
/// maximum-overlap assignment (Hungarian method). Nodes keep their experts, so node-local pairs are unchanged; a
/// re-fit that only reshuffles GPUs inside a node moves nothing.
Placement keep_in_place(const Placement& from, const Placement& to, const Cluster& cluster);

/// Keeps, layer by layer, `from`'s layout where `to`'s does not lower the estimated largest GPU load by more than
/// `min_gain` (a share of `from`'s): loads are the token-expert pairs of `served` per expert, split evenly over its
/// copies. Returns the layers of `to` kept. A guard for load-balancing placements (eplb), whose layouts change
/// wholesale at every re-fit; it does not see locality, so locality-driven placements re-fit without it.
int keep_layers_that_balance(const Placement& from, Placement& to, const Trace& served, double min_gain);

/// The copies that turn placement `from` into `to`: every copy of `to` on a GPU that held no copy of the expert
/// before is sent whole from a GPU that did, one on the receiving GPU's node if any (NVLink), else any; among
/// those the one that has been given the fewest copies to send so far (ties: lowest rank). Copies that `to` drops
/// cost nothing.
struct WeightMoves {
  /// One phase of one stage: units are expert copies (dispatch_unit_bytes = bytes of one expert's weights); its
  /// cost is the links' bandwidth alone (a bulk copy, no per-message SM cost). combine_idle is set.
  LayerTraffic traffic;
  int64_t copies = 0;            ///< expert copies sent
  int64_t copies_inter_node = 0; ///< ... of which across nodes
};
WeightMoves plan_weight_moves(const Placement& from, const Placement& to, const Cluster& cluster,
                              double expert_bytes);

/// When and on what to re-fit.
struct RefitSettings {
  int every_steps = 0;  ///< re-fit before steps N, 2N, ... (0 = never)
  int window_steps = 0; ///< fit on the tokens of the last W steps served (0 = every step served so far)
  double min_load_gain = 0; ///< > 0: keep_layers_that_balance with this share (0: take every re-fitted layer)
  /// The run's placement policy with the run's settings, fitted on a trace of served tokens (all its requests).
  std::function<Placement(const Trace& served)> fit;
  double expert_bytes = 0; ///< bytes of one routed expert's weights
};

} // namespace moesim
