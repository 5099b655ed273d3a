// Trace statistics estimators and synthetic traces: the statistics `trace synth` is asked for come back from
// `trace stats` (within 0.05), group-limited routing holds, and generation is deterministic.
#include "core/io/errors.hpp"
#include "core/model/model_spec.hpp"
#include "core/trace/trace_stats.hpp"
#include "core/trace/trace_synth.hpp"
#include "test_helpers.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <set>

using namespace moesim;

namespace {

ModelSpec bundled(const std::string& name) { return load_model_spec(test::source_path("data/models/" + name + "/config.json")); }

SynthSpec small_spec(const std::string& preset, int requests)
{
  SynthSpec s = synth_preset(preset);
  s.requests = requests;
  s.prompt_min = 24;
  s.prompt_max = 64;
  s.decode_min = 16;
  s.decode_max = 48;
  return s;
}

} // namespace

TEST_CASE("Estimators on hand-computed cases")
{
  std::vector<double> zipf(64);
  for (int i = 0; i < 64; ++i)
    zipf[(i * 37) % 64] = 1000.0 * std::pow(i + 1.0, -0.8);
  CHECK(zipf_exponent(zipf) == Approx(0.8).margin(1e-9));
  CHECK(std::isnan(zipf_exponent({5, 0, 0, 0})));
  CHECK(overlap_coefficient({1, 1, 0, 0}, {2, 2, 0, 0}) == Approx(1));
  CHECK(overlap_coefficient({1, 1, 0, 0}, {0, 0, 3, 1}) == Approx(0));
  CHECK(overlap_coefficient({3, 1}, {1, 3}) == Approx(0.5));
  CHECK(js_divergence({1, 0}, {0, 1}) == Approx(1));
  CHECK(js_divergence({2, 3}, {4, 6}) == Approx(0).margin(1e-12));
  CHECK(pearson({1, 2, 3}, {2, 4, 6}) == Approx(1));
  CHECK(pearson({1, 2, 3}, {3, 2, 1}) == Approx(-1));
  CHECK(std::isnan(pearson({1, 1, 1}, {1, 2, 3})));
  CHECK(gini({5, 5, 5, 5}) == Approx(0).margin(1e-12));
  CHECK(gini({0, 0, 0, 8}) == Approx(0.75));
  CHECK(top_set_size(256, 8) == 32);
  CHECK(top_set_size(64, 6) == 8);
  CHECK(top_set_size(8, 2) == 2);
}

TEST_CASE("trace stats on a hand-made trace: two labels with disjoint experts")
{
  const ModelSpec m = test::tiny_model(2, 8, 2);
  // Label 0 uses experts 0,1 (prefill) and 0,1 (decode); label 1 uses 4,5 / 6,7.
  Trace t = test::make_trace(m, {4, 4, 4, 4}, [](int r, int, int, int slot) { return (r % 2 == 0 ? 0 : 4) + slot; },
                             {0, 1, 0, 1});
  for (int64_t i = 0; i < t.num_tokens(); ++i)
    t.token_phase[i] = static_cast<uint8_t>(t.token_position[i] >= 2 ? Phase::Decode : Phase::Prefill);
  const TraceStats s = compute_trace_stats(t, {});
  CHECK(s.label_overlap[1] == Approx(0));
  CHECK(s.label_js[1] == Approx(1));
  CHECK(s.js == Approx(1));
  CHECK(s.layers[0].max_mean == Approx(2.0)); // 4 experts of 8 share the load equally
  CHECK(s.layers[0].gini == Approx(0.5));
  CHECK(s.classify_accuracy == Approx(1));
  // Two expert pairs, (0,1) and (4,5), carry every token pair equally; the top 1% of 28 pairs is one pair.
  CHECK(s.coactivation_top1pct == Approx(0.5));
}

TEST_CASE("Synthetic traces reproduce the requested skew and label overlap and prefill/decode correlation")
{
  struct Case {
    const char* model;
    double skew, overlap, correlation;
  };
  for (const Case c : {Case{"DeepSeek-V2-Lite", 0.5, 0.6, 0.6}, Case{"DeepSeek-V2-Lite", 0.9, 0.4, 0.8},
                       Case{"Qwen3-235B-A22B", 0.7, 0.5, 0.68}, Case{"Llama-4-Maverick-17B-128E", 0.6, 0.5, 0.82},
                       Case{"DeepSeek-V3", 0.5, 0.6, 0.55}}) {
    INFO(c.model << " skew " << c.skew << " overlap " << c.overlap << " correlation " << c.correlation);
    const ModelSpec m = bundled(c.model);
    SynthSpec spec = small_spec("generic", 160);
    spec.skew = c.skew;
    spec.overlap = c.overlap;
    spec.correlation = c.correlation;
    // Six MoE layers keep the test fast: layers are statistically alike.
    ModelSpec few = m;
    few.moe_layers.resize(6);
    few.num_layers = few.moe_layers.back() + 1;
    const TraceStats s = compute_trace_stats(synthesize_trace(few, spec), {});
    CHECK(std::abs(s.zipf - c.skew) <= 0.05);
    CHECK(std::abs(s.overlap - c.overlap) <= 0.05);
    CHECK(std::abs(s.pd_correlation - c.correlation) <= 0.05);
  }
}

TEST_CASE("Synthetic DeepSeek-V3 routing respects group-limited routing and picks distinct experts")
{
  ModelSpec m = bundled("DeepSeek-V3");
  REQUIRE(m.n_group == 8);
  REQUIRE(m.topk_group == 4);
  m.moe_layers.resize(4);
  m.num_layers = m.moe_layers.back() + 1;
  const Trace t = synthesize_trace(m, small_spec("deepseek-v3", 40));
  const int per_group = m.num_routed_experts / m.n_group;
  int64_t bad_groups = 0, duplicates = 0, max_groups = 0;
  for (int64_t tok = 0; tok < t.num_tokens(); ++tok)
    for (int l = 0; l < t.num_layers(); ++l) {
      const ExpertIds ex = t.experts_of(tok, l);
      const auto ids = ex.first(t.top_k);
      std::set<int> experts(ids.begin(), ids.end()), groups;
      for (int j = 0; j < t.top_k; ++j)
        groups.insert(ex[j] / per_group);
      duplicates += static_cast<int64_t>(t.top_k - experts.size());
      bad_groups += static_cast<int>(groups.size()) > m.topk_group;
      max_groups = std::max<int64_t>(max_groups, static_cast<int64_t>(groups.size()));
    }
  CHECK(duplicates == 0);
  CHECK(bad_groups == 0);
  CHECK(max_groups == 4); // the limit binds: tokens do spread over four groups
}

TEST_CASE("Synthetic traces are deterministic per seed and valid and exact in size")
{
  ModelSpec m = bundled("Qwen3-235B-A22B");
  m.moe_layers.resize(3);
  m.num_layers = m.moe_layers.back() + 1;
  SynthSpec spec = small_spec("qwen3", 20);
  spec.drift = 0.3;
  spec.drift_window = 8;
  const Trace a = synthesize_trace(m, spec), b = synthesize_trace(m, spec);
  CHECK(a.experts == b.experts);
  CHECK(a.token_phase == b.token_phase);
  CHECK_NOTHROW(a.validate("synth"));
  spec.seed = 2;
  CHECK(synthesize_trace(m, spec).experts != a.experts);
  spec.tokens = 5000;
  const Trace c = synthesize_trace(m, spec);
  CHECK(c.num_tokens() == 5000);
  CHECK(c.count_phase(Phase::Decode) > 0);
  test::TempDir dir;
  write_trace(c, dir.file("c.h5"));
  const Trace back = read_trace(dir.file("c.h5"));
  CHECK(back.expert_ids() == c.experts); // one-byte ids on disk and in memory
  CHECK(back.experts.empty());
}

TEST_CASE("Synthetic trace options are validated")
{
  const ModelSpec m = test::tiny_model(2, 8, 2);
  SynthSpec s;
  s.label_mix = {1, 2};
  CHECK_THROWS_WITH(synthesize_trace(m, s), Catch::Contains("--mix needs one weight per label (4), got 2"));
  s = SynthSpec{};
  s.skew = 7;
  CHECK_THROWS_WITH(synthesize_trace(m, s), Catch::Contains("--skew must be in [0, 4]"));
  s = SynthSpec{};
  s.prompt_min = 10;
  s.prompt_max = 5;
  CHECK_THROWS_WITH(synthesize_trace(m, s), Catch::Contains("prompt lengths need 0 <= min <= max"));
  CHECK_THROWS_WITH(synth_preset("gpt5"), Catch::Contains("unknown synth preset 'gpt5'"));
}
