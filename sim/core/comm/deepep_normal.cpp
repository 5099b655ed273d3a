// `deepep-normal`: DeepEP's normal (high-throughput) kernels (github deepseek-ai/DeepEP, csrc/kernels/legacy/
// intranode.cu and internode.cu). A token goes once per destination node over RDMA to the GPU of the same rail
// (stage 1, NVLink directly inside the own node), which forwards it over NVLink once per destination GPU (stage 2);
// combine runs backwards, reduced at the forwarder. A notify phase (the layout exchange) precedes the transfer, and
// the kernel runs on a budget of SMs (half send, half receive: SMs / 2 channels), each channel moving data at a
// calibrated rate. Cost: notify [+ inter_s, both phases] fixed; each GPU's channels take units x bytes / (channels x
// rate) to move its data, plus tokens x token_s / channels for the per-token work (reading the top-k, the layout,
// the reduction) that does not grow with the copies; flows reach goodput_intra / goodput_inter of link bandwidth.
#include "core/comm/a2a_kernel.hpp"

#include <algorithm>

namespace moesim {
namespace {

class DeepEpNormal final : public A2aKernel {
public:
  CopyRule copy_rule() const override { return CopyRule::PerNodeForward; }

  std::vector<KernelParamSpec> params() const override
  {
    return {
        {"dispatch_fixed_s", 25e-6, 0, 1e-2, "s", "dispatch: notify (layout exchange) and launch"},
        {"inter_s", 20e-6, 0, 1e-2, "s", "both phases: extra fixed time when the GPUs span nodes"},
        {"dispatch_goodput_intra", 0.75, 0.01, 1, "fraction", "dispatch: NVLink goodput / link bandwidth"},
        {"dispatch_goodput_inter", 0.9, 0.01, 1, "fraction", "dispatch: RDMA goodput / NIC bandwidth"},
        {"dispatch_channel_Bps", 30e9, 1e8, 1e13, "B/s", "dispatch: data rate of one channel (2 SMs)"},
        {"dispatch_token_s", 0, 0, 1e-4, "s", "dispatch: channel time per token (its top-k and layout, whatever its copies)"},
        {"combine_fixed_s", 45e-6, 0, 1e-2, "s", "combine: notify and launch"},
        {"combine_goodput_intra", 0.75, 0.01, 1, "fraction", "combine: NVLink goodput / link bandwidth"},
        {"combine_goodput_inter", 0.9, 0.01, 1, "fraction", "combine: RDMA goodput / NIC bandwidth"},
        {"combine_channel_Bps", 17e9, 1e8, 1e13, "B/s", "combine: data rate of one channel (2 SMs)"},
        {"combine_token_s", 0, 0, 1e-4, "s", "combine: channel time per token (its reduction, whatever its copies)"},
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
    c.fixed_s = p.at(ph + "fixed_s") + (s.multi_node ? p.at("inter_s") : 0.0);
    c.goodput_intra = p.at(ph + "goodput_intra");
    c.goodput_inter = p.at(ph + "goodput_inter");
    const int channels = std::max(1, s.kernel_sms / 2);
    const double rate = channels * p.at(ph + "channel_Bps");
    c.send_s.assign(s.num_gpus, 0.0);
    for (int g = 0; g < s.num_gpus; ++g) {
      // Dispatch: what the GPU's tokens send in stage 1; combine: what it holds and sends back.
      const int64_t units = s.dispatch ? (*s.units_own)[g] : (*s.units_held)[g];
      c.send_s[g] = static_cast<double>(units) * s.unit_bytes / rate +
                    static_cast<double>((*s.tokens)[g]) * p.at(ph + "token_s") / channels;
    }
    return c;
  }
};

const bool registered = A2aKernelRegistry::instance().add(
    "deepep-normal",
    "DeepEP normal kernels (prefill, throughput): once per destination node over RDMA, NVLink forwarding, notify "
    "phase, SM-budget channels",
    [] { return std::make_shared<const DeepEpNormal>(); });

} // namespace
} // namespace moesim
