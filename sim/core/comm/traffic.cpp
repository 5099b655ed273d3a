#include "core/comm/traffic.hpp"

#include "core/io/errors.hpp"

#include <algorithm>

namespace moesim {

PhaseCost phase_cost(const KernelSetup& k, const LayerComm& comm, bool dispatch, int num_experts, int top_k, int hidden,
                     int sm_count, bool multi_node)
{
  PhaseShape s;
  s.dispatch = dispatch;
  s.multi_node = multi_node;
  s.num_gpus = static_cast<int>(comm.tokens.size());
  s.num_experts = num_experts;
  s.top_k = top_k;
  s.hidden = hidden;
  s.sm_count = sm_count;
  s.kernel_sms = k.kernel_sms;
  s.unit_bytes = k.unit_bytes(dispatch, hidden);
  s.tokens = &comm.tokens;
  s.units_held = &comm.units_held;
  s.units_own = &comm.units_own;
  return k.kernel->cost(s, k.params);
}

TrafficBuilder::TrafficBuilder(CopyRule rule, int num_gpus, int gpus_per_node)
    : rule_(rule), G_(num_gpus), gpn_(gpus_per_node)
{
  if (G_ < 1 || gpn_ < 1 || G_ % gpn_ != 0)
    throw InternalError("TrafficBuilder: GPUs do not divide into nodes");
  row_.assign(G_, 0);
  row_bits_.assign((static_cast<size_t>(G_) + 63) / 64, 0);
  seen_.assign(G_, 0);
  if (rule_ == CopyRule::PerNodeForward) {
    row1_.assign(G_, 0);
    seen1_.assign(G_, 0);
    forward_.assign(static_cast<size_t>(G_) * gpn_, 0);
  }
}

void TrafficBuilder::begin()
{
  acc_ = LayerComm{};
  acc_.rule = rule_;
  acc_.stages.assign(rule_ == CopyRule::PerNodeForward ? 2 : 1, PairUnits{});
  for (auto& st : acc_.stages) {
    st.out.assign(G_, {});
    st.in.assign(G_, {});
  }
  acc_.tokens.assign(G_, 0);
  acc_.units_own.assign(G_, 0);
  acc_.units_held.assign(G_, 0);
}

void TrafficBuilder::add_token(int src, const int* dest, int k)
{
  ++acc_.tokens[src];
  switch (rule_) {
    case CopyRule::PerExpert:
      // One message per selected expert; copies to the own GPU are local (no link) but still units.
      for (int i = 0; i < k; ++i) {
        ++acc_.units_own[src];
        ++acc_.units_held[dest[i]];
        if (dest[i] != src) {
          ++row_[dest[i]];
          mark(dest[i]);
        }
      }
      return;
    case CopyRule::PerGpu:
      for (int i = 0; i < k; ++i) {
        const int d = dest[i];
        if (seen_[d])
          continue;
        seen_[d] = 1;
        touched_.push_back(d);
        ++acc_.units_own[src];
        ++acc_.units_held[d];
        if (d != src) {
          ++row_[d];
          mark(d);
        }
      }
      break;
    case CopyRule::PerNodeForward: {
      const int node = node_of(src);
      for (int i = 0; i < k; ++i) {
        const int d = dest[i];
        if (seen_[d])
          continue;
        seen_[d] = 1;
        touched_.push_back(d);
        ++acc_.units_held[d];
        // Own node: directly over NVLink. Other node: once per node to the same-rail GPU, which forwards.
        const int hop = node_of(d) == node ? d : node_of(d) * gpn_ + src % gpn_;
        if (!seen1_[hop]) {
          seen1_[hop] = 1;
          touched1_.push_back(hop);
          ++acc_.units_own[src];
          if (hop != src) {
            ++row1_[hop];
            mark(hop);
          }
        }
        if (hop != d)
          ++forward_[static_cast<size_t>(hop) * gpn_ + d % gpn_];
      }
      for (int h : touched1_)
        seen1_[h] = 0;
      touched1_.clear();
      break;
    }
  }
  for (int d : touched_)
    seen_[d] = 0;
  touched_.clear();
}

void TrafficBuilder::end_gpu(int src)
{
  const int node = node_of(src);
  auto flush = [&](std::vector<int32_t>& row, PairUnits& st) {
    // The destinations this source sent to, ascending, from the bits add_token set: G / 64 words read instead of
    // G counts (a GPU's batch reaches a few hundred of the G peers).
    for (size_t w = 0; w < row_bits_.size(); ++w) {
      for (uint64_t bits = row_bits_[w]; bits != 0; bits &= bits - 1) {
        const int d = static_cast<int>(w * 64 + static_cast<size_t>(__builtin_ctzll(bits)));
        st.out[src].emplace_back(d, row[d]); // `in` is the transpose, built once in finish()
        (node_of(d) == node ? acc_.units_intra_node : acc_.units_inter_node) += row[d];
        acc_.max_message_units = std::max(acc_.max_message_units, row[d]);
        row[d] = 0;
      }
      row_bits_[w] = 0;
    }
  };
  flush(rule_ == CopyRule::PerNodeForward ? row1_ : row_, acc_.stages[0]);
}

void TrafficBuilder::finish(LayerComm& out)
{
  if (rule_ == CopyRule::PerNodeForward) {
    PairUnits& st = acc_.stages[1];
    for (int p = 0; p < G_; ++p)
      for (int j = 0; j < gpn_; ++j) {
        const int32_t n = forward_[static_cast<size_t>(p) * gpn_ + j];
        if (n == 0)
          continue;
        const int d = node_of(p) * gpn_ + j;
        st.out[p].emplace_back(d, n);
        acc_.units_intra_node += n;
        acc_.max_message_units = std::max(acc_.max_message_units, n);
        forward_[static_cast<size_t>(p) * gpn_ + j] = 0;
      }
  }
  // Every stage's `in` rows: the transpose of `out`, sources ascending, each row allocated once.
  std::vector<int32_t> count(G_);
  for (PairUnits& st : acc_.stages) {
    std::fill(count.begin(), count.end(), 0);
    for (int p = 0; p < G_; ++p)
      for (const auto& e : st.out[p])
        ++count[e.first];
    for (int d = 0; d < G_; ++d)
      st.in[d].reserve(count[d]);
    for (int p = 0; p < G_; ++p)
      for (auto [d, n] : st.out[p])
        st.in[d].emplace_back(p, n);
  }
  out = std::move(acc_);
  acc_ = LayerComm{};
}

} // namespace moesim
