#include "core/decode/refit.hpp"
#include "core/io/errors.hpp"
#include "test_helpers.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <random>

using namespace moesim;

namespace {

Placement one_layer(std::vector<std::vector<int>> replicas)
{
  Placement p;
  p.replicas = {std::move(replicas)};
  return p;
}

KernelSetup nccl_kernel() { return KernelSetup::make("nccl", {}, "fp8", 24, "test"); }

} // namespace

TEST_CASE("Weight moves: new copies come from a holder on the receiver's node, else the least-given holder")
{
  const Cluster c = Cluster::uniform(2, 2, h100_sxm()); // GPUs 0,1 on node 0; 2,3 on node 1
  const double B = 44e6;
  // Expert 0 gains a copy on GPU 3 (from 0, across nodes); expert 1 moves 1 -> 2 (across); expert 2 gains one on
  // GPU 3 from GPU 2 (same node); expert 3 is unchanged; expert 4 drops a copy (free).
  const Placement from = one_layer({{0}, {1}, {2}, {3}, {0, 3}});
  const Placement to = one_layer({{0, 3}, {2}, {2, 3}, {3}, {0}});
  const WeightMoves m = plan_weight_moves(from, to, c, B);
  CHECK(m.copies == 3);
  CHECK(m.copies_inter_node == 2);
  const auto& st = m.traffic.comm.stages.at(0);
  CHECK(st.out[0] == std::vector<std::pair<int, int32_t>>{{3, 1}});
  CHECK(st.out[1] == std::vector<std::pair<int, int32_t>>{{2, 1}});
  CHECK(st.out[2] == std::vector<std::pair<int, int32_t>>{{3, 1}});
  CHECK(st.out[3].empty());
  CHECK(st.in[3] == std::vector<std::pair<int, int32_t>>{{0, 1}, {2, 1}});
  CHECK(m.traffic.comm.units_intra_node == 1);
  CHECK(m.traffic.comm.units_inter_node == 2);
  CHECK(m.traffic.comm.units_own == std::vector<int64_t>{1, 1, 1, 0});
  CHECK(m.traffic.dispatch_unit_bytes == B);
  CHECK(m.traffic.combine_idle);

  // Two holders on node 0, two new copies on node 1: each holder sends one.
  const WeightMoves spread = plan_weight_moves(one_layer({{0, 1}}), one_layer({{2, 3}}), c, B);
  CHECK(spread.traffic.comm.stages[0].out[0] == std::vector<std::pair<int, int32_t>>{{2, 1}});
  CHECK(spread.traffic.comm.stages[0].out[1] == std::vector<std::pair<int, int32_t>>{{3, 1}});
  // A holder on the receiver's node is preferred even when another holder has sent less.
  const WeightMoves near = plan_weight_moves(one_layer({{0, 2}, {2}}), one_layer({{3}, {2, 3}}), c, B);
  CHECK(near.copies_inter_node == 0);
  CHECK(near.traffic.comm.stages[0].out[2] == std::vector<std::pair<int, int32_t>>{{3, 2}});
  // The same placement moves nothing.
  const WeightMoves none = plan_weight_moves(from, from, c, B);
  CHECK(none.copies == 0);
  CHECK(none.traffic.comm.units_inter_node + none.traffic.comm.units_intra_node == 0);
}

TEST_CASE("Served tokens: the distinct tokens of the kept steps, as a trace grouped by request")
{
  const ModelSpec m = test::tiny_model(2, 8, 2);
  const Trace t = test::make_trace(m, {3, 2, 4}, [](int r, int i, int l, int j) { return (r + i + l + 3 * j) % 8; },
                                   {0, 1, 0});
  ServedTokens served;
  served.add_step({{0, 5}, {3}});     // request 0 token 0, request 2 token 0 (index 5), request 1 token 0
  served.add_step({{1, 6}, {3, 4}});  // token 3 again
  const Trace all = served.trace(t);
  REQUIRE(all.requests.size() == 3);
  CHECK(all.num_tokens() == 6); // 0, 1, 3, 4, 5, 6
  CHECK(all.requests[0].id == 0);
  CHECK(all.requests[0].token_count == 2);
  CHECK(all.requests[1].token_count == 2);
  CHECK(all.requests[2].token_count == 2);
  CHECK(all.requests[2].label == 0);
  CHECK(all.requests[1].label == 1);
  CHECK(all.requests[2].token_offset == 4);
  CHECK(all.token_position == std::vector<int32_t>{0, 1, 0, 1, 0, 1});
  for (int64_t i = 0; i < all.num_tokens(); ++i)
    CHECK(all.token_request[i] == (i < 2 ? 0 : i < 4 ? 1 : 2));
  // Routing copied: trace token 6 (request 2, position 1) is the new trace's last token.
  for (int l = 0; l < 2; ++l)
    CHECK(all.experts_of(5, l).first(2) == t.experts_of(6, l).first(2));
  CHECK(all.labels == t.labels);
  served.keep_last(1);
  const Trace last = served.trace(t);
  CHECK(last.num_tokens() == 4); // 1, 3, 4, 6
  CHECK(last.requests.size() == 3);
}

TEST_CASE("Re-fit: the planner fits on the served tokens every N steps; earlier steps keep the old placement")
{
  const int G = 4, E = 8, k = 2, L = 2;
  const ModelSpec m = test::tiny_model(L, E, k);
  Trace t = test::make_trace(m, std::vector<int>(8, 30), [](int r, int i, int l, int j) { return (r * 3 + i + l + 4 * j) % 8; });
  Cluster c = Cluster::uniform(2, 2, h100_sxm());
  Placement linear;
  linear.replicas.assign(L, std::vector<std::vector<int>>(E));
  for (auto& layer : linear.replicas)
    for (int e = 0; e < E; ++e)
      layer[e] = {e / 2};
  Placement swapped = linear; // every expert on the GPU of the other node
  for (auto& layer : swapped.replicas)
    for (auto& reps : layer)
      reps = {(reps[0] + 2) % 4};
  Grouping g;
  for (int r = 0; r < 8; ++r)
    g.gpu_of_request.push_back(r % G);
  ComputeModel cm(m, ComputeParams{});
  BatchScheduler s(t, g, G, 3, ReplayPhase::All, 2);
  DecodePlanner p(t, m, c, linear, cm, s, 1, nccl_kernel());
  std::vector<int64_t> fitted_tokens;
  RefitSettings rs;
  rs.every_steps = 2;
  rs.expert_bytes = 1e6;
  rs.fit = [&](const Trace& served) {
    fitted_tokens.push_back(served.num_tokens());
    return swapped;
  };
  p.enable_refit(rs, 5); // re-fits before steps 2 and 4, fitted now on a copy of the scheduler
  CHECK(p.may_refit());
  REQUIRE(fitted_tokens.size() == 2);
  const StepPlan s0 = p.next_step();
  CHECK_FALSE(s0.weight_moves);
  const StepPlan s1 = p.begin_step();
  const StepPlan s2 = p.begin_step(); // re-fits before step 2 on steps 0 and 1
  REQUIRE(s2.weight_moves);
  CHECK(s2.refit);
  CHECK_FALSE(s1.refit);
  // The first re-fit saw exactly the distinct tokens steps 0 and 1 serve.
  std::vector<int64_t> seen;
  for (const StepPlan* plan : {&s0, &s1})
    for (const auto& gpu : plan->micro[0].gpu_tokens)
      seen.insert(seen.end(), gpu.begin(), gpu.end());
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  CHECK(fitted_tokens[0] == static_cast<int64_t>(seen.size()));
  CHECK(s2.weight_copies == L * E);
  CHECK(s2.weight_copies_inter_node == L * E);
  // Step 1's layers, planned after the re-fit's begin_step, still see the old placement: all pairs on GPU e / 2.
  const LayerTraffic l1 = p.plan_layer(s1, 0, 0);
  const LayerTraffic l2 = p.plan_layer(s2, 0, 0);
  const auto pairs_per_gpu = [&](const StepPlan& plan, const Placement& pl) {
    std::vector<int64_t> n(G, 0);
    for (const auto& tokens : plan.micro[0].gpu_tokens)
      for (int64_t tok : tokens)
        for (int i = 0; i < k; ++i)
          ++n[pl.replicas[0][t.experts_of(tok, 0)[i]][0]];
    return n;
  };
  CHECK(l1.expert_tokens == pairs_per_gpu(s1, linear));
  CHECK(l2.expert_tokens == pairs_per_gpu(s2, swapped));
  CHECK(p.placement().replicas == swapped.replicas);
  (void)p.begin_step();
  const StepPlan s4 = p.begin_step();
  CHECK(s4.refit);
  CHECK_FALSE(s4.weight_moves); // the fit returned the placement in place: nothing to copy
  CHECK(s4.weight_copies == 0);
  // A refusal names the re-fit before any step runs.
  BatchScheduler s_bad(t, g, G, 3, ReplayPhase::All, 2);
  DecodePlanner bad(t, m, c, linear, cm, s_bad, 1, nccl_kernel());
  rs.fit = [](const Trace&) -> Placement { throw UsageError("too few requests"); };
  CHECK_THROWS_WITH(bad.enable_refit(rs, 3), Catch::Contains("re-fit before step 2 on the") &&
                                                 Catch::Contains("too few requests"));
}

TEST_CASE("Keep in place: a re-fit's GPU layouts are matched to the node's GPUs that hold most of them")
{
  const Cluster c = Cluster::uniform(2, 2, h100_sxm());
  const Placement from = one_layer({{0}, {1}, {2}, {3}});
  // GPUs swapped inside node 0: nothing needs to move.
  const Placement swapped = keep_in_place(from, one_layer({{1}, {0}, {2}, {3}}), c);
  CHECK(swapped.replicas == from.replicas);
  CHECK(plan_weight_moves(from, swapped, c, 1.0).copies == 0);
  // Experts that change node still move; node membership is never changed.
  const Placement across = keep_in_place(from, one_layer({{2}, {1}, {0}, {3}}), c);
  CHECK(plan_weight_moves(from, across, c, 1.0).copies == 2);
  // Random layouts: never more copies than the re-fit as given, and every expert keeps its nodes.
  std::mt19937 rng(3);
  const Cluster big = Cluster::uniform(3, 4, h100_sxm());
  for (int trial = 0; trial < 50; ++trial) {
    Placement a, b;
    for (Placement* p : {&a, &b}) {
      p->replicas.assign(2, std::vector<std::vector<int>>(24));
      for (auto& layer : p->replicas) {
        std::vector<int> slots(24);
        std::iota(slots.begin(), slots.end(), 0);
        std::shuffle(slots.begin(), slots.end(), rng);
        for (int e = 0; e < 24; ++e)
          layer[e] = {slots[e] % 12};
        layer[trial % 24].push_back((trial * 5) % 12); // a replica
      }
    }
    const Placement kept = keep_in_place(a, b, big);
    CHECK(plan_weight_moves(a, kept, big, 1.0).copies <= plan_weight_moves(a, b, big, 1.0).copies);
    for (size_t l = 0; l < b.replicas.size(); ++l)
      for (size_t e = 0; e < b.replicas[l].size(); ++e) {
        REQUIRE(kept.replicas[l][e].size() == b.replicas[l][e].size());
        for (size_t i = 0; i < b.replicas[l][e].size(); ++i)
          CHECK(big.node_of(kept.replicas[l][e][i]) == big.node_of(b.replicas[l][e][i]));
      }
  }
}

TEST_CASE("Keep layers that balance: a re-fitted layer is taken only when it lowers the largest GPU load enough")
{
  const ModelSpec m = test::tiny_model(2, 4, 1);
  // Loads per expert in both layers: 2, 2, 1, 1.
  const Trace served = test::make_trace(m, {6}, [](int, int i, int, int) { return std::vector<int>{0, 0, 1, 1, 2, 3}[i]; });
  Placement from, to;
  from.replicas.assign(2, {{0}, {0}, {1}, {1}}); // GPU loads 4 | 2
  to.replicas.assign(2, {{0}, {1}, {0}, {1}});   // 3 | 3: the largest load drops by 25%
  Placement take = to;
  CHECK(keep_layers_that_balance(from, take, served, 0.2) == 2);
  CHECK(take.replicas == to.replicas);
  Placement keep = to;
  CHECK(keep_layers_that_balance(from, keep, served, 0.3) == 0);
  CHECK(keep.replicas == from.replicas);
  // A replica halves its expert's load on each copy: 2 copies of expert 0 over both GPUs -> 3 | 3 as well.
  Placement rep = from;
  rep.replicas[1] = {{0, 1}, {0}, {1}, {1}};
  CHECK(keep_layers_that_balance(from, rep, served, 0.2) == 1);
  CHECK(rep.replicas[0] == from.replicas[0]);
}
