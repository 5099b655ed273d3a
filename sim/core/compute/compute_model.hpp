#pragma once
// Roofline compute times of one decode step's kernels on one GPU (docs/model.md has every formula).
#include "core/cluster/cluster.hpp"
#include "core/model/model_spec.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace moesim {

struct ComputeParams {
  explicit ComputeParams(double kernel_overhead = 4e-6) : kernel_overhead_s(kernel_overhead) {}
  double kernel_overhead_s; ///< launch + tail per kernel (CUDA-graph decode, measured range 2-6 us)
  /// Achieved / datasheet HBM bandwidth of every kernel's memory term (calibrated: `moesim_hbm_efficiency`).
  double hbm_efficiency = 1.0;
  /// Routed experts of one MoE layer on one GPU, the masked grouped GEMMs of decode (DeepGEMM under DeepEP-MoE:
  /// gate/up GEMM, activation + FP8 quantisation, down GEMM). Each GEMM is a roofline of its own:
  /// gemm_fixed_s + max(weights and activations / (hbm_efficiency x HBM), padded FLOPs / (expert_flop_efficiency x
  /// peak)), where a local expert with m tokens computes ceil(m / expert_tile_m) full tiles and an expert with none
  /// reads nothing; then expert_fixed_s for the rest of the layer (activation and quantisation kernel, gaps) and
  /// expert_group_s per local expert (the masked kernels visit every group, empty ones too).
  double gemm_fixed_s = -1;           ///< per GEMM kernel; < 0: kernel_overhead_s
  double expert_fixed_s = -1;         ///< < 0: kernel_overhead_s
  double expert_group_s = 0;
  double expert_flop_efficiency = 1;  ///< achieved / peak FLOP/s of full tiles
  int expert_tile_m = 64;             ///< tokens per M tile
  double gemm_fixed() const { return gemm_fixed_s >= 0 ? gemm_fixed_s : kernel_overhead_s; }
  double expert_fixed() const { return expert_fixed_s >= 0 ? expert_fixed_s : kernel_overhead_s; }
};

/// FLOPs and bytes of a kernel group; time = max(flops / peak, bytes / (hbm_efficiency x HBM)) + kernels x
/// overhead.
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
  /// Routed experts held by one GPU, given the tokens each local expert receives: unpadded FLOPs and bytes.
  Work routed_experts(const std::vector<int32_t>& tokens_per_local_expert) const;
  /// Their time on `gpu` by the grouped-GEMM model of ComputeParams (the expert phase of a MoE layer).
  double routed_experts_time_s(const std::vector<int32_t>& tokens_per_local_expert, const GpuInfo& gpu) const;
  /// One GEMM of m x n x k in `groups` groups (DeepGEMM's measurements): gemm_fixed_s + the roofline with padded
  /// tiles.
  double gemm_time_s(double m, double n, double k, int groups, const std::string& dtype, const GpuInfo& gpu) const;
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
