// `nccl`: an all-to-all(v) of deduplicated tokens through NCCL-like transports: a token goes once to each
// destination GPU, combine returns one copy per GPU. Its costs are the platform's NCCL calibration (size-keyed
// bandwidth factors and message overheads from nccl-tests, docs/calibration.md) and a fixed time per phase.
#include "core/comm/a2a_kernel.hpp"

namespace moesim {
namespace {

class Nccl final : public A2aKernel {
public:
  CopyRule copy_rule() const override { return CopyRule::PerGpu; }
  std::vector<KernelParamSpec> params() const override
  {
    return {{"fixed_s", 0, 0, 1e-2, "s", "fixed time per phase beyond the per-message overheads"}};
  }
  double unit_bytes(bool dispatch, int hidden, const std::string& dtype) const override
  {
    const double h = hidden;
    if (!dispatch || dtype == "bf16")
      return 2.0 * h;
    return h + 4.0 * static_cast<double>((hidden + 127) / 128);
  }
  PhaseCost cost(const PhaseShape&, const KernelParams& p) const override
  {
    PhaseCost c;
    c.fixed_s = p.at("fixed_s");
    c.nccl_factors = true;
    return c;
  }
};

const bool registered = A2aKernelRegistry::instance().add(
    "nccl", "NCCL-style all-to-all of deduplicated tokens (one copy per destination GPU), costed by the platform's "
            "nccl-tests calibration",
    [] { return std::make_shared<const Nccl>(); });

} // namespace
} // namespace moesim
