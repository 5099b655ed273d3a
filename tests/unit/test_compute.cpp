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
  CHECK(w3.bytes == Approx(v3.attention_params() * 1.0 + 2.0 * 7168 * 2 + 1000 * 1152.0));
  CHECK(c.attention(0, 0).kernels == 0);
}

TEST_CASE("A calibrated GEMM efficiency slows compute-bound expert GEMMs by 1/efficiency per expert")
{
  ModelSpec m = test::tiny_model(1, 8, 2);
  m.hidden_size = 4096;
  m.expert_ffn_size = 2048;
  GpuInfo gpu = h100_sxm();
  ComputeParams params(0);
  params.expert_gemm_efficiency.size = {64, 4096};
  params.expert_gemm_efficiency.factor = {0.25, 0.5};
  ComputeModel plain(m, ComputeParams(0)), calibrated(m, params);
  const double p = 3.0 * 4096 * 2048;
  const Work w = calibrated.routed_experts({4096, 4096});
  CHECK(w.flops == Approx(2 * 2 * p * 4096));               // the FLOPs themselves are unchanged
  CHECK(w.timed_flops() == Approx(2 * 2 * p * 4096 / 0.5)); // the time counts them at half the peak
  CHECK(calibrated.time_s(w, gpu, true) == Approx(2 * plain.time_s(plain.routed_experts({4096, 4096}), gpu, true)));
  // Experts are looked up by their own token counts (64 tokens: a quarter of the peak).
  const Work mixed = calibrated.routed_experts({64, 4096});
  CHECK(mixed.timed_flops() == Approx(2 * p * 64 / 0.25 + 2 * p * 4096 / 0.5));
}
