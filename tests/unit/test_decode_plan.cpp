#include "core/decode/decode_plan.hpp"
#include "core/io/errors.hpp"
#include "test_helpers.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <random>

using namespace moesim;

namespace {

Placement linear_placement(int layers, int experts, int gpus)
{
  Placement p;
  p.replicas.assign(layers, std::vector<std::vector<int>>(experts));
  for (auto& l : p.replicas)
    for (int e = 0; e < experts; ++e)
      l[e] = {e / (experts / gpus)};
  return p;
}

Grouping round_robin(size_t requests, int gpus)
{
  Grouping g;
  for (size_t r = 0; r < requests; ++r)
    g.gpu_of_request.push_back(static_cast<int>(r % gpus));
  return g;
}

} // namespace

TEST_CASE("Admission: slots fill from the GPU's queue, exhausted requests are replaced by the next one")
{
  const ModelSpec m = test::tiny_model(1, 4, 1);
  // Requests 0 and 2 go to GPU 0, 1 and 3 to GPU 1.
  Trace t = test::make_trace(m, {2, 3, 1, 4}, [](int, int, int, int) { return 0; });
  BatchScheduler s(t, round_robin(4, 2), 2, 1, ReplayPhase::All, 7);
  std::vector<std::vector<int64_t>> tok, kv;
  s.next_step(tok, kv);
  REQUIRE(tok[0].size() == 1);
  // Step 0 starts request 0 at a seeded offset; from then on tokens advance one per step.
  const int64_t first = tok[0][0];
  CHECK(t.token_request[first] == 0);
  CHECK(kv[0][0] == 10 + t.token_position[first] + 1); // prompt 10 + position + 1
  std::vector<int> seen_requests;
  for (int step = 0; step < 6; ++step) {
    s.next_step(tok, kv);
    seen_requests.push_back(t.token_request[tok[0][0]]);
  }
  // GPU 0 cycles through its queue {0, 2}: after request 0 ends, request 2 (1 token), then 0 again from token 0.
  CHECK(std::find(seen_requests.begin(), seen_requests.end(), 2) != seen_requests.end());
  CHECK_FALSE(s.replays_decode_only()); // ReplayPhase::All
}

TEST_CASE("Replay phase: auto replays decode tokens when present, all tokens otherwise")
{
  const ModelSpec m = test::tiny_model(1, 4, 1);
  Trace t = test::make_trace(m, {4}, [](int, int, int, int) { return 0; });
  t.token_phase = {0, 0, 1, 1};
  BatchScheduler decode(t, round_robin(1, 1), 1, 1, ReplayPhase::Auto, 1);
  std::vector<std::vector<int64_t>> tok, kv;
  for (int i = 0; i < 5; ++i) {
    decode.next_step(tok, kv);
    CHECK(tok[0][0] >= 2);
  }
  t.token_phase = {0, 0, 0, 0};
  BatchScheduler all(t, round_robin(1, 1), 1, 1, ReplayPhase::Auto, 1);
  CHECK_FALSE(all.replays_decode_only());
  CHECK_THROWS_WITH(BatchScheduler(t, round_robin(1, 1), 1, 1, ReplayPhase::Decode, 1),
                    "--replay decode: the trace has no decode-phase tokens (use --replay all)");
}

namespace {
KernelSetup nccl_kernel() { return KernelSetup::make("nccl", {}, "fp8", 24, "test"); }
} // namespace

TEST_CASE("Conservation: every token-expert pair is computed once; dispatch out = in")
{
  const int G = 4, E = 16, k = 4, L = 3;
  const ModelSpec m = test::tiny_model(L, E, k);
  Trace t = test::make_trace(m, std::vector<int>(12, 20),
                             [](int r, int i, int l, int j) { return (r * 7 + i * 3 + l * 5 + j * 4) % 16; });
  Cluster c = Cluster::uniform(2, 2, h100_sxm());
  Placement p = linear_placement(L, E, G);
  ComputeModel cm(m, ComputeParams{});
  BatchScheduler s(t, round_robin(12, G), G, 6, ReplayPhase::All, 3);
  DecodePlanner planner(t, m, c, p, cm, s, 2, nccl_kernel());
  for (int step = 0; step < 3; ++step) {
    StepPlan plan = planner.next_step();
    REQUIRE(plan.micro.size() == 2);
    for (const auto& mb : plan.micro) {
      const int64_t tokens = std::accumulate(mb.tokens.begin(), mb.tokens.end(), int64_t{0});
      CHECK(tokens == G * 3);
      for (const auto& lt : mb.layers) {
        CHECK(lt.pairs_total == tokens * k);
        CHECK(std::accumulate(lt.expert_tokens.begin(), lt.expert_tokens.end(), int64_t{0}) == tokens * k);
        int64_t out = 0, in = 0;
        for (int g = 0; g < G; ++g) {
          for (auto [d, n] : lt.comm.stages[0].out[g]) {
            CHECK(d != g);
            out += n;
          }
          for (auto [src, n] : lt.comm.stages[0].in[g])
            in += n;
        }
        CHECK(out == in);
        CHECK(out == lt.comm.units_intra_node + lt.comm.units_inter_node);
        CHECK(lt.pairs_local_gpu <= lt.pairs_local_node);
      }
    }
  }
}

TEST_CASE("nccl: a token goes once to each destination GPU even when several of its experts live there")
{
  const ModelSpec m = test::tiny_model(1, 8, 2);
  // Every token picks experts 4 and 5, both on GPU 1 under linear placement of 8 experts on 2 GPUs.
  Trace t = test::make_trace(m, {5}, [](int, int, int, int j) { return 4 + j; });
  Cluster c = Cluster::uniform(1, 2, h100_sxm());
  Placement p = linear_placement(1, 8, 2);
  ComputeModel cm(m, ComputeParams{});
  Grouping g;
  g.gpu_of_request = {0};
  BatchScheduler s(t, g, 2, 3, ReplayPhase::All, 1);
  DecodePlanner planner(t, m, c, p, cm, s, 1, nccl_kernel());
  StepPlan plan = planner.next_step();
  const LayerTraffic& lt = plan.micro[0].layers[0];
  REQUIRE(lt.comm.stages[0].out[0].size() == 1);
  CHECK(lt.comm.stages[0].out[0][0] == std::make_pair(1, 3)); // 3 tokens, not 6
  CHECK(lt.expert_tokens[1] == 6);
  CHECK(lt.pairs_local_gpu == 0);
  CHECK(lt.pairs_local_node == 6);
  CHECK(lt.comm.units_intra_node == 3);
  CHECK(lt.comm.max_message_units == 3);
  // deepep-ll sends one message per (token, expert): 6 to GPU 1.
  BatchScheduler s2(t, g, 2, 3, ReplayPhase::All, 1);
  DecodePlanner ll(t, m, c, p, cm, s2, 1, KernelSetup::make("deepep-ll", {}, "fp8", 24, "test"));
  const LayerTraffic lt2 = ll.next_step().micro[0].layers[0];
  CHECK(lt2.comm.stages[0].out[0][0] == std::make_pair(1, 6));
  CHECK(lt2.comm.units_own[0] == 6);
  CHECK(lt2.comm.units_held[1] == 6);
  CHECK(lt2.dispatch_unit_bytes == Approx(16 + 256 + 4 * 2)); // header + FP8 hidden + scales
  CHECK(lt2.combine_unit_bytes == Approx(2 * 256));
}

TEST_CASE("Replica choice: own GPU, else own node, else least-loaded copy")
{
  Cluster c = Cluster::uniform(2, 2, h100_sxm()); // GPUs 0,1 on node 0; 2,3 on node 1
  std::vector<std::vector<int>> reps{{0, 3}, {1, 2}, {2, 3}};
  std::vector<int64_t> load{0, 0, 5, 1};
  std::vector<int> dest;
  const uint16_t ex[3] = {0, 1, 2};
  DecodePlanner::choose_replicas(reps, ex, 3, 0, c, load, dest);
  CHECK(dest == std::vector<int>{0, 1, 3}); // own GPU; same node; least loaded (3 has load 1 < 5)
  DecodePlanner::choose_replicas(reps, ex, 3, 2, c, load, dest);
  CHECK(dest == std::vector<int>{3, 2, 2});
}

TEST_CASE("Two request families on disjoint experts, grouped by family and placed by family, stay local")
{
  const ModelSpec m = test::tiny_model(2, 8, 2);
  // Family 0 uses experts 0-3, family 1 uses 4-7; family f requests join GPU f.
  Trace t = test::make_trace(m, {6, 6, 6, 6}, [](int r, int i, int l, int j) { return (r % 2) * 4 + (i + l + 2 * j) % 4; });
  Cluster c = Cluster::uniform(2, 1, h100_sxm());
  Placement p = linear_placement(2, 8, 2);
  ComputeModel cm(m, ComputeParams{});
  BatchScheduler s(t, round_robin(4, 2), 2, 2, ReplayPhase::All, 1);
  DecodePlanner planner(t, m, c, p, cm, s, 1, nccl_kernel());
  for (int step = 0; step < 4; ++step) {
    StepPlan plan = planner.next_step();
    for (const auto& lt : plan.micro[0].layers) {
      CHECK(lt.pairs_local_gpu == lt.pairs_total);
      CHECK(lt.comm.units_inter_node == 0);
    }
  }
}

TEST_CASE("Weights must fit in HBM: replicas beyond capacity are refused with the numbers")
{
  ModelSpec m = test::tiny_model(2, 8, 2);
  Cluster c = Cluster::uniform(1, 2, h100_sxm());
  Placement p = linear_placement(2, 8, 2);
  const double one_gpu = weight_bytes_on_gpu(m, p, 0);
  // 4 experts x 2 layers x 3 x 256 x 512 params x 2 bytes on GPU 0, plus replicated parts.
  CHECK(one_gpu > 8 * 3.0 * 256 * 512 * 2);
  const std::vector<double> every = weight_bytes_per_gpu(m, p, 2);
  REQUIRE(every.size() == 2);
  CHECK(every[0] == one_gpu);
  CHECK(every[1] == weight_bytes_on_gpu(m, p, 1));
  CHECK_NOTHROW(check_weights_fit(m, c, p, "linear", 0));
  GpuInfo tiny = h100_sxm();
  tiny.hbm_capacity_bytes = 1e6;
  Cluster small = Cluster::uniform(1, 2, tiny);
  CHECK_THROWS_WITH(check_weights_fit(m, small, p, "eplb", 3),
                    Catch::Matchers::StartsWith("placement eplb with 3 redundant experts in all puts ") &&
                        Catch::Matchers::Contains("GB of weights on GPU 0 (gpu-0-0), more than its HBM capacity of "
                                                  "0.0 GB: lower --redundant-experts(-total) or use more GPUs"));
}

TEST_CASE("deepep-normal: a token crosses to each other node once, then the same-rail peer forwards")
{
  const ModelSpec m = test::tiny_model(1, 8, 3);
  // Experts 2, 4, 6 live on GPUs 1, 2, 3 (linear, 2 experts per GPU); GPUs 0-1 on node 0, 2-3 on node 1.
  Trace t = test::make_trace(m, {2}, [](int, int, int, int j) { return 2 + 2 * j; });
  Cluster c = Cluster::uniform(2, 2, h100_sxm());
  Placement p = linear_placement(1, 8, 4);
  ComputeModel cm(m, ComputeParams{});
  Grouping g;
  g.gpu_of_request = {0}; // the request runs on GPU 0 (node 0, rail 0)
  BatchScheduler s(t, g, 4, 1, ReplayPhase::All, 1);
  DecodePlanner direct_planner(t, m, c, p, cm, s, 1, nccl_kernel());
  const LayerTraffic direct = direct_planner.next_step().micro[0].layers[0];
  CHECK(direct.comm.stages.size() == 1);
  CHECK(direct.comm.units_inter_node == 2); // one copy to GPU 2 and one to GPU 3
  BatchScheduler s2(t, g, 4, 1, ReplayPhase::All, 1);
  DecodePlanner planner(t, m, c, p, cm, s2, 1, KernelSetup::make("deepep-normal", {}, "fp8", 24, "test"));
  const LayerTraffic lt = planner.next_step().micro[0].layers[0];
  using Row = std::vector<std::pair<int, int32_t>>;
  REQUIRE(lt.comm.stages.size() == 2);
  const auto& st1 = lt.comm.stages[0];
  const auto& st2 = lt.comm.stages[1];
  CHECK(st1.out[0] == Row{{1, 1}, {2, 1}}); // NVLink to GPU 1, NIC once to GPU 2 (rail 0 of node 1)
  CHECK(st2.out[2] == Row{{3, 1}});         // GPU 2 forwards to GPU 3 over NVLink
  CHECK(st2.out[0].empty());
  // The transposes the exact model receives by: [dst] -> (src, tokens).
  CHECK(st1.in[1] == Row{{0, 1}});
  CHECK(st1.in[2] == Row{{0, 1}});
  CHECK(st2.in[3] == Row{{2, 1}});
  CHECK(st2.in[0].empty());
  CHECK(lt.comm.units_inter_node == 1);
  CHECK(lt.comm.units_intra_node == 2);
  CHECK(lt.comm.units_held == std::vector<int64_t>{0, 1, 1, 1}); // the logical destinations are the same
  CHECK(lt.comm.units_own[0] == 2);
}

TEST_CASE("Planner: its replica choice is choose_replicas' rule, and layers planned lazily in any order equal the "
          "eager plan")
{
  const ModelSpec m = test::tiny_model(2, 8, 3);
  std::mt19937 rng(11);
  Trace t = test::make_trace(m, {5, 7, 3, 6, 4, 5, 6, 2}, [&](int, int, int, int) { return static_cast<int>(rng() % 8); });
  Cluster c = Cluster::uniform(4, 2, h100_sxm());
  Placement p;
  p.replicas.assign(2, std::vector<std::vector<int>>(8));
  for (auto& layer : p.replicas)
    for (auto& reps : layer) {
      const int copies = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < copies; ++i)
        reps.push_back(static_cast<int>(rng() % 8));
      std::sort(reps.begin(), reps.end());
      reps.erase(std::unique(reps.begin(), reps.end()), reps.end());
    }
  ComputeModel cm(m, ComputeParams{});
  BatchScheduler s(t, round_robin(8, 8), 8, 2, ReplayPhase::All, 3);
  DecodePlanner planner(t, m, c, p, cm, s, 1, nccl_kernel());
  const StepPlan plan = planner.next_step();
  BatchScheduler s2(t, round_robin(8, 8), 8, 2, ReplayPhase::All, 3);
  DecodePlanner lazy(t, m, c, p, cm, s2, 1, nccl_kernel());
  const StepPlan head = lazy.begin_step();
  CHECK(head.micro[0].layers.empty());
  for (int l = 1; l >= 0; --l) {
    const LayerTraffic& lt = plan.micro[0].layers[l];
    // The rule applied token by token, GPU by GPU, with the loads it accumulates.
    std::vector<int64_t> load(8, 0);
    std::vector<int> dest;
    int64_t local_node = 0;
    for (int g = 0; g < 8; ++g)
      for (int64_t tok : plan.micro[0].gpu_tokens[g]) {
        DecodePlanner::choose_replicas(p.replicas[l], t.experts_of(tok, l), 3, g, c, load, dest);
        for (int d : dest) {
          ++load[d];
          local_node += c.node_of(d) == c.node_of(g);
        }
      }
    CHECK(lt.expert_tokens == load);
    CHECK(lt.pairs_local_node == local_node);
    const LayerTraffic again = lazy.plan_layer(head, 0, l);
    CHECK(again.expert_tokens == lt.expert_tokens);
    CHECK(again.expert_time_s == lt.expert_time_s);
    CHECK(again.comm.stages[0].out == lt.comm.stages[0].out);
    CHECK(again.comm.stages[0].in == lt.comm.stages[0].in);
  }
}
