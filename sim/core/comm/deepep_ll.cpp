// `deepep-ll`: DeepEP's low-latency kernels (github deepseek-ai/DeepEP, csrc/kernels/legacy/internode_ll.cu), what
// decode uses. Dispatch sends one message per (token, selected expert) to the expert's rank (FP8 + scales + a 16 B
// header), over NVLink inside a node and as IBGDA RDMA writes between nodes; combine sends one BF16 copy per
// (token, expert) back, reduced (weighted sum) at the token's rank.
// Geometry from the kernels' launch: ceil(E / SMs) experts per SM ("warp groups"), ceil(E / groups) SMs for
// dispatch; combine adds SMs for the reduction of its tokens. Cost model (docs/model.md, fitted by moesim
// calibrate):
//   dispatch: fixed + group x warp groups [+ inter_s when the GPUs span nodes, the same for both phases]; each
//     GPU's SMs take ceil(tokens / SMs) x (token + byte x message bytes) to cast and issue its messages (one warp
//     per message);
//   combine: fixed + group x warp groups [+ inter_s]; send SMs issue the held copies at byte_send per byte over the
//     dispatch SMs; after the last arrival the reduction takes ceil(tokens / combine SMs) x (token + byte x copies
//     x message bytes);
//   flows reach goodput_intra / goodput_inter of the link bandwidth.
#include "core/comm/a2a_kernel.hpp"

#include <algorithm>

namespace moesim {
namespace {

class DeepEpLowLatency final : public A2aKernel {
public:
  CopyRule copy_rule() const override { return CopyRule::PerExpert; }

  std::vector<KernelParamSpec> params() const override
  {
    // Defaults: a fit of the H200 single-node and H800 multi-node measurements (docs/calibration.md), so that an
    // uncalibrated platform starts close; calibrated platforms carry their own values.
    return {
        {"dispatch_fixed_s", 6e-6, 0, 1e-3, "s", "dispatch: launch, count flags and receive bookkeeping"},
        {"dispatch_group_s", 1.5e-6, 0, 1e-4, "s", "dispatch: extra fixed time per expert per SM (warp group)"},
        {"inter_s", 25e-6, 0, 1e-3, "s",
         "both phases: extra fixed time when the GPUs span nodes (RDMA doorbells, network flag round trip)"},
        {"dispatch_goodput_intra", 0.55, 0.01, 1, "fraction", "dispatch: NVLink goodput / link bandwidth"},
        {"dispatch_goodput_inter", 0.85, 0.01, 1, "fraction", "dispatch: RDMA goodput / NIC bandwidth"},
        {"dispatch_token_s", 1.3e-6, 0, 1e-4, "s", "dispatch: SM time per token (FP8 cast, top-k read)"},
        {"dispatch_byte_s", 1.7e-10, 0, 1e-8, "s/B", "dispatch: SM time per message byte (one warp per message)"},
        {"combine_fixed_s", 8e-6, 0, 1e-3, "s", "combine: launch, flags and bookkeeping"},
        {"combine_group_s", 0, 0, 1e-4, "s", "combine: extra fixed time per expert per SM"},
        {"combine_goodput_intra", 0.53, 0.01, 1, "fraction", "combine: NVLink goodput / link bandwidth"},
        {"combine_goodput_inter", 0.9, 0.01, 1, "fraction", "combine: RDMA goodput / NIC bandwidth"},
        {"combine_send_byte_s", 4e-11, 0, 1e-8, "s/B", "combine: SM time per byte sent, over the dispatch SMs"},
        {"combine_token_s", 0.9e-6, 0, 1e-4, "s", "combine: reduction SM time per token"},
        {"combine_byte_s", 2.7e-11, 0, 1e-8, "s/B", "combine: reduction SM time per byte of every copy"},
    };
  }

  double unit_bytes(bool dispatch, int hidden, const std::string& dtype) const override
  {
    return dispatch ? deepep_dispatch_message_bytes(hidden, dtype) : 2.0 * hidden;
  }

  PhaseCost cost(const PhaseShape& s, const KernelParams& p) const override
  {
    PhaseCost c;
    const std::string ph = s.dispatch ? "dispatch_" : "combine_";
    const int groups = deepep_ll_warp_groups(s.num_experts, s.sm_count);
    const int sms = deepep_ll_dispatch_sms(s.num_experts, s.sm_count);
    c.fixed_s = p.at(ph + "fixed_s") + p.at(ph + "group_s") * groups + (s.multi_node ? p.at("inter_s") : 0.0);
    c.goodput_intra = p.at(ph + "goodput_intra");
    c.goodput_inter = p.at(ph + "goodput_inter");
    const auto& tokens = *s.tokens;
    c.send_s.assign(s.num_gpus, 0.0);
    if (s.dispatch) {
      const double per_token = p.at("dispatch_token_s") + p.at("dispatch_byte_s") * s.unit_bytes;
      for (int g = 0; g < s.num_gpus; ++g)
        c.send_s[g] = static_cast<double>((tokens[g] + sms - 1) / sms) * per_token;
      return c;
    }
    c.post_s.assign(s.num_gpus, 0.0);
    for (int g = 0; g < s.num_gpus; ++g) {
      c.send_s[g] = static_cast<double>((*s.units_held)[g]) * s.unit_bytes * p.at("combine_send_byte_s") / sms;
      if (tokens[g] == 0)
        continue;
      const int rsms = deepep_ll_combine_sms(s.num_experts, tokens[g], s.sm_count);
      const double copies = static_cast<double>((*s.units_own)[g]) / static_cast<double>(tokens[g]);
      c.post_s[g] = static_cast<double>((tokens[g] + rsms - 1) / rsms) *
                    (p.at("combine_token_s") + p.at("combine_byte_s") * copies * s.unit_bytes);
    }
    return c;
  }
};

const bool registered = A2aKernelRegistry::instance().add(
    "deepep-ll",
    "DeepEP low-latency kernels (decode): one FP8 message per (token, expert), NVLink in a node, RDMA between "
    "nodes, combine reduced at the token's GPU; fixed, SM and goodput costs calibrated",
    [] { return std::make_shared<const DeepEpLowLatency>(); });

} // namespace
} // namespace moesim
