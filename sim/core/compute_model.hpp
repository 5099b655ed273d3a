#pragma once
// Roofline compute times of one decode step's kernels on one GPU (docs/model.md has every formula).
#include "core/cluster.hpp"
#include "core/model_spec.hpp"

#include <cstdint>
#include <vector>

namespace moesim {

struct ComputeParams {
  double kernel_overhead_s = 4e-6; ///< launch + tail per kernel (CUDA-graph decode, measured range 2-6 us)
};

/// FLOPs and bytes of a kernel group; time = max(flops / peak, bytes / HBM) + kernels x overhead.
struct Work {
  double flops = 0;
  double bytes = 0;
  int kernels = 0;
  Work& operator+=(const Work& o)
  {
    flops += o.flops;
    bytes += o.bytes;
    kernels += o.kernels;
    return *this;
  }
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
