#include "core/compute/compute_model.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace moesim {

namespace {
constexpr double kActBytes = 2.0; // activations in BF16
}

Work ComputeModel::attention(int64_t tokens, int64_t kv_tokens) const
{
  Work w;
  if (tokens == 0)
    return w;
  const double p = static_cast<double>(model_.attention_params());
  const double h = static_cast<double>(model_.hidden_size);
  // Projections: weights read once per step, 2 FLOPs per weight per token.
  w.flops += 2.0 * p * tokens;
  w.bytes += p * model_.param_bytes + 2.0 * tokens * h * kActBytes;
  // Attention core over the KV cache.
  const double heads = model_.num_attention_heads;
  if (model_.attention == AttentionKind::MLA) {
    // Absorbed MLA decode (DeepSeek-V2 paper, FlashMLA): scores over (kv_lora + rope) dims, values over kv_lora dims.
    w.flops += 2.0 * heads * kv_tokens * ((model_.kv_lora_rank + model_.qk_rope_head_dim) + model_.kv_lora_rank);
  } else {
    w.flops += 4.0 * heads * model_.head_dim * kv_tokens; // QK^T and PV
  }
  w.bytes += kv_tokens * model_.kv_bytes_per_token();
  w.kernels = 5; // norm, QKV projection (+rope), attention, output projection, residual add
  return w;
}

Work ComputeModel::dense_ffn(int64_t tokens) const
{
  const double p = 3.0 * model_.hidden_size * model_.dense_ffn_size;
  return Work{2.0 * p * tokens, p * model_.param_bytes + 2.0 * tokens * model_.hidden_size * kActBytes, 3};
}

Work ComputeModel::gate(int64_t tokens) const
{
  const double p = static_cast<double>(model_.hidden_size) * model_.num_routed_experts;
  return Work{2.0 * p * tokens, p * kActBytes + tokens * model_.hidden_size * kActBytes, 2}; // GEMM + top-k
}

Work ComputeModel::shared_experts(int64_t tokens) const
{
  if (model_.num_shared_experts == 0 || tokens == 0)
    return Work{};
  const double p = 3.0 * model_.hidden_size * model_.shared_expert_ffn_size * model_.num_shared_experts;
  return Work{2.0 * p * tokens, p * model_.expert_param_bytes + 2.0 * tokens * model_.hidden_size * kActBytes, 2};
}

Work ComputeModel::routed_experts(const std::vector<int32_t>& tokens_per_local_expert) const
{
  Work w;
  const double p = static_cast<double>(model_.expert_params());
  int64_t total = 0;
  for (int32_t n : tokens_per_local_expert) {
    if (n <= 0)
      continue; // an expert with no token reads no weights
    total += n;
    w.flops += 2.0 * p * n;
    w.bytes += p * model_.expert_param_bytes;
  }
  w.bytes += 2.0 * total * model_.hidden_size * kActBytes;
  w.kernels = 3; // grouped GEMM gate/up, activation, grouped GEMM down
  return w;
}

double ComputeModel::routed_experts_time_s(const std::vector<int32_t>& tokens_per_local_expert, const GpuInfo& gpu) const
{
  const double h = static_cast<double>(model_.hidden_size), f = static_cast<double>(model_.expert_ffn_size);
  const double bw = params_.hbm_efficiency * gpu.hbm_bandwidth_Bps;
  const double peak = params_.expert_flop_efficiency * peak_flops(gpu, true);
  const double tile = std::max(1, params_.expert_tile_m);
  int active = 0;
  double tokens = 0, tiles = 0;
  for (int32_t n : tokens_per_local_expert)
    if (n > 0) {
      ++active;
      tokens += n;
      tiles += std::ceil(n / tile);
    }
  double t = 0;
  if (active > 0) {
    // Gate/up GEMM: [m x h] x [h x 2f]; down GEMM: [m x f] x [f x h]. Activations in BF16 out, FP8 in.
    for (auto [n_dim, k_dim] : {std::pair{2 * f, h}, std::pair{h, f}}) {
      const double bytes = active * n_dim * k_dim * model_.expert_param_bytes + tokens * (k_dim + n_dim * kActBytes);
      const double flops = 2.0 * n_dim * k_dim * tiles * tile;
      t += params_.gemm_fixed() + std::max(bytes / bw, flops / peak);
    }
  }
  return t + params_.expert_fixed() + params_.expert_group_s * static_cast<double>(tokens_per_local_expert.size());
}

double ComputeModel::gemm_time_s(double m, double n, double k, int groups, const std::string& dtype,
                                 const GpuInfo& gpu) const
{
  const double tile = std::max(1, params_.expert_tile_m);
  const double bytes_per_weight = dtype == "fp8" ? 1.0 : 2.0;
  const double bytes = groups * (n * k * bytes_per_weight + m * k * bytes_per_weight + m * n * kActBytes);
  const double flops = 2.0 * groups * std::ceil(m / tile) * tile * n * k;
  const double peak = params_.expert_flop_efficiency *
                      (dtype == "fp8" && gpu.peak_flops_fp8 > 0 ? gpu.peak_flops_fp8 : gpu.peak_flops_bf16);
  return params_.gemm_fixed() + std::max(bytes / (params_.hbm_efficiency * gpu.hbm_bandwidth_Bps), flops / peak);
}

Work ComputeModel::lm_head(int64_t tokens) const
{
  const double p = static_cast<double>(model_.hidden_size) * model_.vocab_size;
  return Work{2.0 * p * tokens, p * model_.param_bytes, 2};
}

double ComputeModel::peak_flops(const GpuInfo& gpu, bool expert_math) const
{
  const std::string& dtype = expert_math ? model_.expert_param_dtype : model_.param_dtype;
  // FP8 weights run FP8 tensor-core GEMMs where the GPU has them; others (BF16, dequantised MXFP4) run at BF16 rate.
  if (dtype == "fp8" && gpu.peak_flops_fp8 > 0)
    return gpu.peak_flops_fp8;
  return gpu.peak_flops_bf16;
}

double ComputeModel::time_s(const Work& w, const GpuInfo& gpu, bool expert_math) const
{
  if (w.kernels == 0 && w.flops == 0 && w.bytes == 0)
    return 0.0;
  return std::max(w.flops / peak_flops(gpu, expert_math), w.bytes / (params_.hbm_efficiency * gpu.hbm_bandwidth_Bps)) +
         w.kernels * params_.kernel_overhead_s;
}

} // namespace moesim
