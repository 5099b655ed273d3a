#pragma once
// The messages of one MoE layer's all-to-all under a kernel's copy rule: from each token's destination GPUs (one
// per selected expert, after replica choice) to unit counts per GPU pair and stage. Dispatch follows the stages in
// order; combine runs them backwards, each pair reversed. Plain C++, shared by the decode planner and `moesim op`.
#include "core/comm/a2a_kernel.hpp"

#include <cstdint>
#include <utility>
#include <vector>

namespace moesim {

/// Unit counts of one stage: out[src] = (dst, units) with dst != src, ascending dst; in[dst] = (src, units), its
/// transpose in ascending src.
struct PairUnits {
  std::vector<std::vector<std::pair<int, int32_t>>> out, in;
};

/// What one layer's dispatch (and, reversed, its combine) moves.
struct LayerComm {
  CopyRule rule = CopyRule::PerGpu;
  std::vector<PairUnits> stages;   ///< 1 stage, or 2 for PerNodeForward (node level, then NVLink forwarding)
  std::vector<int64_t> tokens;     ///< [gpu] tokens dispatched from the GPU
  std::vector<int64_t> units_own;  ///< [gpu] units its tokens make in the first stage, self copies included
  std::vector<int64_t> units_held; ///< [gpu] units it holds after dispatch, self copies included
  int64_t units_intra_node = 0;    ///< units crossing a link inside a node (every stage; self copies excluded)
  int64_t units_inter_node = 0;    ///< units crossing nodes
  int32_t max_message_units = 0;   ///< largest GPU-to-GPU message of any stage
};

/// The cost of one phase of `comm` under a kernel (PhaseShape filled from the layer's counts).
PhaseCost phase_cost(const KernelSetup& k, const LayerComm& comm, bool dispatch, int num_experts, int top_k, int hidden,
                     int sm_count, bool multi_node);

/// Accumulates tokens GPU by GPU (ascending source rank): begin, add_token for every token of a GPU, end_gpu, ...,
/// finish. Memory O(G x gpus per node); time O(tokens x k) plus O(G^2) per layer for the flush.
class TrafficBuilder {
public:
  TrafficBuilder(CopyRule rule, int num_gpus, int gpus_per_node);
  void begin();
  /// One token of GPU `src` whose k selected experts live on dest[0..k) (GPU ranks; repeats allowed).
  void add_token(int src, const int* dest, int k);
  /// After the last token of `src` (every source must be ended once, in ascending order, tokens or none).
  void end_gpu(int src);
  void finish(LayerComm& out);

private:
  int node_of(int g) const { return g / gpn_; }
  CopyRule rule_;
  int G_, gpn_;
  LayerComm acc_;
  std::vector<int32_t> row_, row1_;  ///< [dst] units of the current source (row1_: PerNodeForward stage 1)
  std::vector<int32_t> forward_;     ///< [peer][local index] PerNodeForward stage-2 units
  std::vector<char> seen_, seen1_;   ///< per token
  std::vector<int> touched_, touched1_;
  std::vector<uint64_t> row_bits_; ///< bit d: row_ (or row1_) [d] > 0 for the current source
  void mark(int d) { row_bits_[static_cast<size_t>(d) >> 6] |= uint64_t{1} << (d & 63); }
};

} // namespace moesim
