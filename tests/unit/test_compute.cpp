#include "core/compute/compute_model.hpp"
#include "core/model/model_spec.hpp"
#include "test_helpers.hpp"

#include <catch2/catch.hpp>

using namespace moesim;

TEST_CASE("Roofline: memory-bound at few tokens, compute-bound at many, plus kernel overheads")
{
  ModelSpec m = test::tiny_model(1, 8, 2);
  m.hidden_size = 4096;
  m.expert_ffn_size = 2048;
  GpuInfo gpu = h100_sxm();
  ComputeModel c(m, ComputeParams{5e-6});
  const double p = 3.0 * 4096 * 2048; // params per expert
  SECTION("one expert, one token: weight read dominates")
  {
    Work w = c.routed_experts({1});
    CHECK(w.flops == Approx(2 * p));
    CHECK(w.bytes == Approx(p * 2 + 2.0 * 4096 * 2));
    CHECK(c.time_s(w, gpu, true) == Approx((p * 2 + 2.0 * 4096 * 2) / 3.35e12 + 3 * 5e-6));
  }
  SECTION("experts with no token read no weights")
  {
    Work w = c.routed_experts({0, 4, 0});
    CHECK(w.bytes == Approx(p * 2 + 2.0 * 4 * 4096 * 2));
  }
  SECTION("many tokens: FLOP-bound at the BF16 peak")
  {
    Work w = c.routed_experts({4096});
    CHECK(c.time_s(w, gpu, true) == Approx(2 * p * 4096 / 989e12 + 3 * 5e-6));
  }
  SECTION("FP8 weights use the FP8 peak")
  {
    m.expert_param_dtype = "fp8";
    m.expert_param_bytes = 1;
    Work w = c.routed_experts({4096});
    CHECK(c.time_s(w, gpu, true) == Approx(2 * p * 4096 / 1979e12 + 3 * 5e-6));
  }
}

TEST_CASE("Attention work: GQA reads the KV cache, MLA the compressed latent")
{
  ModelSpec m = test::tiny_model(1, 8, 2);
  ComputeModel c(m, ComputeParams{0});
  Work w = c.attention(2, 100);
  const double p = static_cast<double>(m.attention_params());
  CHECK(w.flops == Approx(2 * p * 2 + 4.0 * 4 * 64 * 100));
  CHECK(w.bytes == Approx(p * 2 + 2.0 * 2 * 256 * 2 + 100 * (2.0 * 2 * 4 * 64)));
  auto v3 = load_model_spec(test::source_path("data/models/DeepSeek-V3/config.json"));
  ComputeModel c3(v3, ComputeParams{0});
  Work w3 = c3.attention(1, 1000);
  CHECK(w3.bytes == Approx(v3.attention_params() * v3.param_bytes + 2.0 * 7168 * 2 + 1000 * 1152.0)); // FP8, block scales
  CHECK(c.attention(0, 0).kernels == 0);
}

TEST_CASE("Grouped-GEMM model: each GEMM a roofline with padded tiles, plus fixed and per-group times")
{
  ModelSpec m = test::tiny_model(1, 8, 2);
  m.hidden_size = 4096;
  m.expert_ffn_size = 2048;
  m.expert_param_dtype = "fp8";
  m.expert_param_bytes = 1;
  GpuInfo gpu = h100_sxm();
  ComputeParams params(0);
  params.hbm_efficiency = 0.8;
  params.gemm_fixed_s = 3e-6;
  params.expert_fixed_s = 14e-6;
  params.expert_group_s = 1e-6;
  params.expert_flop_efficiency = 0.5;
  params.expert_tile_m = 64;
  ComputeModel c(m, params);
  const double h = 4096, f = 2048, bw = 0.8 * 3.35e12, peak = 0.5 * 1979e12;
  SECTION("one token on one of four local experts: memory-bound weight reads of both GEMMs")
  {
    // gate/up: 2f x h FP8 weights + 1 x (h FP8 in + 2f BF16 out); down: h x f weights + 1 x (f in + h x 2 out).
    const double bytes = (2 * f * h + h + 2 * f * 2) + (h * f + f + h * 2);
    CHECK(c.routed_experts_time_s({1, 0, 0, 0}, gpu) == Approx(bytes / bw + 20e-6 + 4 * 1e-6));
  }
  SECTION("no token at all: no GEMM runs, the rest of the layer and the group visits remain")
  {
    CHECK(c.routed_experts_time_s({0, 0}, gpu) == Approx(14e-6 + 2e-6));
  }
  SECTION("many tokens: compute-bound, a partial tile computes as a full one")
  {
    const double t4096 = c.routed_experts_time_s({4096}, gpu) - 21e-6;
    CHECK(t4096 == Approx(2 * (2 * f) * h * 4096 / peak + 2 * h * f * 4096 / peak));
    const double t4097 = c.routed_experts_time_s({4097}, gpu) - 21e-6;
    CHECK(t4097 == Approx(t4096 * (4096.0 + 64) / 4096));
  }
  SECTION("a DeepGEMM-style GEMM: the same roofline without fixed time")
  {
    const double t = c.gemm_time_s(256, 4096, 7168, 4, "fp8", gpu);
    const double bytes = 4 * (4096.0 * 7168 + 256.0 * 7168 + 256.0 * 4096 * 2);
    CHECK(t == Approx(3e-6 + std::max(bytes / bw, 2.0 * 4 * 256 * 4096 * 7168 / peak)));
  }
}
