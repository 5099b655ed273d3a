#pragma once
// Roofline compute times of one decode step's kernels on one GPU (docs/model.md has every formula).
#include "core/cluster/cluster.hpp"
#include "core/cluster/factor_table.hpp"
#include "core/model/model_spec.hpp"

#include <cstdint>
#include <vector>

namespace moesim {

struct ComputeParams {
  explicit ComputeParams(double kernel_overhead = 4e-6) : kernel_overhead_s(kernel_overhead) {}
  double kernel_overhead_s; ///< launch + tail per kernel (CUDA-graph decode, measured range 2-6 us)
  /// Achieved / peak FLOP/s of expert GEMMs by tokens per expert (a calibrated platform's
  /// moesim_gemm_efficiency_<dtype>); empty: the roofline's peak.
  FactorTable expert_gemm_efficiency;
  /// What a grouped GEMM of `flops` with `tokens` per expert costs in FLOPs at peak rate.
  double peak_equivalent_flops(double flops, double tokens) const
  {
    return expert_gemm_efficiency.empty() ? flops : flops / expert_gemm_efficiency.eval(tokens);
  }
};

/// FLOPs and bytes of a kernel group; time = max(flops / peak, bytes / HBM) + kernels x overhead, where a
/// calibrated GEMM efficiency turns flops into more peak-rate FLOPs (peak_flops_equivalent).
struct Work {
  double flops = 0;
  double bytes = 0;
  int kernels = 0;
  double peak_flops_equivalent = -1; ///< >= 0: the FLOPs the time is computed from (calibrated GEMM efficiency)
  Work& operator+=(const Work& o)
  {
    if (peak_flops_equivalent >= 0 || o.peak_flops_equivalent >= 0)
      peak_flops_equivalent = timed_flops() + o.timed_flops();
    flops += o.flops;
    bytes += o.bytes;
    kernels += o.kernels;
    return *this;
  }
  double timed_flops() const { return peak_flops_equivalent >= 0 ? peak_flops_equivalent : flops; }
};

class ComputeModel {
public:
  ComputeModel(const ModelSpec& model, ComputeParams params) : model_(model), params_(params) {}

  /// Attention of `tokens` decode tokens whose KV lengths sum to kv_tokens (projections + attention core).
  Work attention(int64_t tokens, int64_t kv_tokens) const;
  /// FFN of a dense layer.
  Work dense_ffn(int64_t tokens) const;
  /// Router (gate) GEMM.
  Work gate(int64_t tokens) const;
  /// Shared experts of an MoE layer (replicated: every GPU runs them on its own tokens).
  Work shared_experts(int64_t tokens) const;
  /// Routed experts held by one GPU, given the tokens each local expert receives (grouped GEMM).
  Work routed_experts(const std::vector<int32_t>& tokens_per_local_expert) const;
  /// Final norm + LM head once per step.
  Work lm_head(int64_t tokens) const;

  /// Roofline time on a GPU; `expert_math` picks the expert weight dtype's peak instead of the attention one.
  double time_s(const Work& w, const GpuInfo& gpu, bool expert_math) const;
  double peak_flops(const GpuInfo& gpu, bool expert_math) const;
  const ComputeParams& params() const { return params_; }

private:
  const ModelSpec& model_;
  ComputeParams params_;
};

} // namespace moesim
