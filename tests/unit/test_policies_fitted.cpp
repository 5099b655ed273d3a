#include "algorithms/gpu_packing.hpp"
#include "algorithms/joint_fit.hpp"
#include "algorithms/signature.hpp"
#include "core/decode/decode_plan.hpp"
#include "core/io/errors.hpp"
#include "core/policy/policy.hpp"
#include "core/trace/split.hpp"
#include "test_helpers.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>
#include <tuple>

using namespace moesim;

namespace {

// Two families of requests: family 0 routes only to experts 0..E/2-1, family 1 only to E/2..E-1.
Trace two_families(const ModelSpec& m, int requests_per_family, int tokens)
{
  std::vector<int> lens, labels;
  for (int r = 0; r < 2 * requests_per_family; ++r) {
    lens.push_back(tokens + (r * 7) % 5);
    labels.push_back(r % 2);
  }
  const int half = m.num_routed_experts / 2;
  return test::make_trace(
      m, lens,
      [half](int r, int i, int l, int j) { return (r % 2) * half + (r * 3 + i * 5 + l * 7 + j * (half / 2 + 1)) % half; },
      labels);
}

Placement place(const std::string& name, const ModelSpec& m, const Cluster& c, const Trace& t,
                const std::vector<int32_t>& fit, int redundant_per_gpu = 0, uint64_t seed = 1)
{
  PlacementContext ctx{m, c, t, fit, redundant_per_gpu * c.num_gpus(), seed, 0, 8};
  Placement p = PlacementRegistry::instance().get(name, "placement").fn(ctx);
  p.validate(m.num_moe_layers(), m.num_routed_experts, c.num_gpus(), name);
  return p;
}

std::vector<int32_t> all(const Trace& t)
{
  std::vector<int32_t> v(t.requests.size());
  std::iota(v.begin(), v.end(), 0);
  return v;
}

} // namespace

TEST_CASE("Two request families on disjoint experts end fully node-local with activation + signature")
{
  ModelSpec m = test::tiny_model(2, 16, 2);
  const Trace t = two_families(m, 12, 40);
  Cluster c = Cluster::uniform(2, 2, h100_sxm());
  const auto fit = all(t);
  Placement p = place("activation", m, c, t, fit);
  GroupingContext gctx{c, t, fit, 4, 1, &m, &fit, 8, 0};
  Grouping g = GroupingRegistry::instance().get("signature", "grouping").fn(gctx);
  // Each family on one node.
  std::set<int> node_of_family[2];
  for (size_t r = 0; r < t.requests.size(); ++r)
    node_of_family[t.requests[r].label].insert(c.node_of(g.gpu_of_request[r]));
  CHECK(node_of_family[0].size() == 1);
  CHECK(node_of_family[1].size() == 1);
  CHECK(*node_of_family[0].begin() != *node_of_family[1].begin());
  ComputeModel cm(m, ComputeParams{});
  BatchScheduler s(t, g, 4, 4, ReplayPhase::All, 1);
  DecodePlanner planner(t, m, c, p, cm, s, 1, KernelSetup::make("nccl", {}, "fp8", 24, "test"));
  for (int step = 0; step < 5; ++step) {
    const StepPlan plan = planner.next_step(); // kept alive: a range-for over a temporary's member dangles
    for (const auto& lt : plan.micro[0].layers) {
      CHECK(lt.pairs_local_node == lt.pairs_total);
      CHECK(lt.comm.units_inter_node == 0);
    }
  }
}

TEST_CASE("The domain oracle puts each label on its own node when the work allows")
{
  ModelSpec m = test::tiny_model(1, 8, 2);
  const Trace t = two_families(m, 6, 20);
  Cluster c = Cluster::uniform(2, 4, h100_sxm());
  const auto reqs = all(t);
  GroupingContext gctx{c, t, reqs, 4, 1, &m, &reqs, 8, 0};
  Grouping g = GroupingRegistry::instance().get("domain", "grouping").fn(gctx);
  for (size_t r = 0; r < t.requests.size(); ++r)
    CHECK(c.node_of(g.gpu_of_request[r]) == t.requests[r].label);
}

TEST_CASE("Placement invariants: every expert placed, equal primaries per GPU, slots respected, deterministic")
{
  ModelSpec m = test::tiny_model(3, 32, 4);
  m.n_group = 4;
  const Trace t = two_families(m, 10, 30);
  Cluster c = Cluster::uniform(2, 4, h100_sxm());
  const auto fit = all(t);
  for (const std::string name : {"linear", "round_robin", "eplb", "activation", "coactivation"})
    for (int redundant : {0, 1, 2}) {
      if ((name == "linear" || name == "round_robin") && redundant > 0)
        continue;
      INFO(name << " redundant " << redundant);
      Placement p = place(name, m, c, t, fit, redundant);
      for (const auto& layer : p.replicas) {
        std::vector<int> copies(c.num_gpus(), 0);
        int total = 0;
        for (const auto& reps : layer) {
          std::set<int> distinct(reps.begin(), reps.end());
          CHECK(distinct.size() == reps.size()); // never two copies on one GPU
          for (int g : reps)
            ++copies[g];
          total += static_cast<int>(reps.size());
        }
        for (int n : copies)
          CHECK(n <= 32 / 8 + redundant);
        CHECK(total <= 32 + redundant * 8);
        if (name == "eplb")
          CHECK(total == 32 + redundant * 8);
      }
      CHECK(place(name, m, c, t, fit, redundant).replicas == p.replicas);
    }
}

TEST_CASE("Every placement on cluster shapes whose GPUs do not divide the experts, and with fewer experts than GPUs")
{
  ModelSpec m = test::tiny_model(2, 32, 4);
  m.n_group = 4;
  const Trace t = two_families(m, 10, 30);
  const auto fit = all(t);
  // (nodes, GPUs per node, redundant experts in all): 32 on 6 and 7 GPUs, 32 + 4 on 6, 32 on 64 GPUs.
  for (auto [nodes, gpn, redundant] : std::vector<std::tuple<int, int, int>>{{3, 2, 0}, {1, 7, 0}, {3, 2, 4}, {8, 8, 0}})
    for (const std::string name : {"linear", "round_robin", "eplb", "activation", "coactivation"}) {
      INFO(name << " on " << nodes << " x " << gpn << ", " << redundant << " redundant");
      Cluster c = Cluster::uniform(nodes, gpn, h100_sxm());
      const int G = c.num_gpus();
      PlacementContext ctx{m, c, t, fit, redundant, 1, 0, 8};
      Placement p = PlacementRegistry::instance().get(name, "placement").fn(ctx);
      p.validate(m.num_moe_layers(), 32, G, name);
      const auto layout = policy::slot_layout(32, nodes, gpn, redundant);
      for (const auto& layer : p.replicas) {
        std::vector<int> copies(G, 0);
        int total = 0;
        for (const auto& reps : layer) {
          for (int g : reps)
            ++copies[g];
          total += static_cast<int>(reps.size());
        }
        // linear and round_robin deal single-level over the GPUs (vLLM's expert map), the others by the layout.
        const bool single = name == "linear" || name == "round_robin";
        for (int g = 0; g < G; ++g) {
          CHECK(copies[g] <= (single ? (32 + G - 1) / G : layout.slots[g]));
          CHECK(copies[g] >= 1); // no GPU left without experts
        }
        if (name == "eplb")
          CHECK(total == layout.total);
      }
    }
}

TEST_CASE("Top-1 routing (no co-activation at all): activation and coactivation still balance the GPUs")
{
  // Llama 4 routes each token to one expert: the co-activation graph has no edge, which once left every expert of a
  // node on its first GPU.
  ModelSpec m = test::tiny_model(2, 32, 1);
  const Trace t = two_families(m, 10, 30);
  Cluster c = Cluster::uniform(2, 4, h100_sxm());
  for (const std::string name : {"activation", "coactivation"}) {
    INFO(name);
    const Placement p = place(name, m, c, t, all(t));
    for (const auto& layer : p.replicas) {
      std::vector<int> per_gpu(c.num_gpus(), 0);
      for (const auto& reps : layer)
        for (int g : reps)
          ++per_gpu[g];
      for (int n : per_gpu)
        CHECK(n == 32 / 8);
    }
  }
}

TEST_CASE("Impossible placement requests are clear errors")
{
  ModelSpec m8 = test::tiny_model(1, 8, 2);
  const Trace t8 = two_families(m8, 1, 10);
  const auto fit8 = all(t8);
  Cluster c2 = Cluster::uniform(2, 2, h100_sxm());
  PlacementContext ctx{m8, c2, t8, fit8, 0, 1, 5, 8};
  CHECK_THROWS_WITH(PlacementRegistry::instance().get("activation", "placement").fn(ctx),
                    "activation clustering: 2 fitting requests for k = 5 clusters (lower --clusters or use a larger "
                    "trace)");
}

TEST_CASE("Train/test split is stratified by label, seeded and disjoint")
{
  ModelSpec m = test::tiny_model(1, 8, 2);
  const Trace t = two_families(m, 10, 5);
  RequestSplit a = split_requests(t, 0.5, 3), b = split_requests(t, 0.5, 3), c = split_requests(t, 0.5, 4);
  CHECK(a.fit == b.fit);
  CHECK(a.fit != c.fit);
  CHECK(a.fit.size() == 10);
  CHECK(a.serve.size() == 10);
  std::map<int, int> fit_per_label;
  for (int32_t r : a.fit)
    ++fit_per_label[t.requests[r].label];
  CHECK(fit_per_label[0] == 5);
  CHECK(fit_per_label[1] == 5);
  std::vector<int32_t> both;
  std::set_intersection(a.fit.begin(), a.fit.end(), a.serve.begin(), a.serve.end(), std::back_inserter(both));
  CHECK(both.empty());
  RequestSplit none = split_requests(t, 0, 1);
  CHECK(none.fit.size() == 20);
  CHECK(none.serve == none.fit);
  CHECK_THROWS_WITH(split_requests(t, 1.0, 1), "--train-fraction must be in [0, 1)");
}

TEST_CASE("joint + locality: two families end fully node-local; the signature tokens are not replayed")
{
  ModelSpec m = test::tiny_model(2, 16, 2);
  const Trace t = two_families(m, 12, 40); // teacher-forced (no decode phase): signatures read replayed tokens
  Cluster c = Cluster::uniform(2, 2, h100_sxm());
  const auto fit = all(t);
  Placement p = place("joint", m, c, t, fit);
  GroupingContext gctx{c, t, fit, 4, 1, &m, &fit, 8, 0, &p};
  Grouping g = GroupingRegistry::instance().get("locality", "grouping").fn(gctx);
  std::set<int> node_of_family[2];
  for (size_t r = 0; r < t.requests.size(); ++r) {
    node_of_family[t.requests[r].label].insert(c.node_of(g.gpu_of_request[r]));
    CHECK(g.read_tokens[r] == 8); // --signature-tokens 8, all but the last token at most
  }
  CHECK(node_of_family[0].size() == 1);
  CHECK(node_of_family[1].size() == 1);
  CHECK(*node_of_family[0].begin() != *node_of_family[1].begin());
  ComputeModel cm(m, ComputeParams{});
  BatchScheduler s(t, g, 4, 4, ReplayPhase::All, 1);
  DecodePlanner planner(t, m, c, p, cm, s, 1, KernelSetup::make("nccl", {}, "fp8", 24, "test"));
  for (int step = 0; step < 40; ++step) {
    const StepPlan plan = planner.next_step();
    for (int gpu = 0; gpu < 4; ++gpu)
      for (int64_t tok : plan.micro[0].gpu_tokens[gpu]) // never one of the 8 tokens the grouping read
        CHECK(tok - t.requests[t.token_request[tok]].token_offset >= 8);
    for (const auto& lt : plan.micro[0].layers)
      CHECK(lt.pairs_local_node == lt.pairs_total);
  }
}

TEST_CASE("locality: learns from the fitting split where a request is best served, classifies new ones by signature")
{
  ModelSpec m = test::tiny_model(2, 16, 2);
  const Trace t = two_families(m, 12, 40); // family r % 2 uses experts [8 (r % 2), 8 (r % 2) + 8)
  Cluster c = Cluster::uniform(2, 2, h100_sxm());
  // Family 0's experts on node 1, family 1's on node 0: no rule that ignores the placement gets this by chance.
  Placement p;
  p.replicas.assign(m.num_moe_layers(), std::vector<std::vector<int>>(m.num_routed_experts));
  for (auto& layer : p.replicas)
    for (int e = 0; e < m.num_routed_experts; ++e)
      layer[e] = {e < 8 ? 2 + e % 2 : e % 2};
  std::vector<int32_t> fit, serve;
  for (int32_t r = 0; r < static_cast<int32_t>(t.requests.size()); ++r)
    (r < 12 ? fit : serve).push_back(r);
  const auto centroids = policy::node_centroids(t, fit, p, 2, 2, 1);
  for (size_t i = 0; i < fit.size(); ++i) // placed knowing their tokens: each family on its experts' node
    CHECK(centroids.cluster_of_sample[i] == (t.requests[fit[i]].label == 0 ? 1 : 0));
  GroupingContext gctx{c, t, serve, 4, 1, &m, &fit, 8, 0, &p};
  const auto& locality = GroupingRegistry::instance().get("locality", "grouping");
  const Grouping g = locality.fn(gctx);
  for (int32_t r : serve) {
    CHECK(c.node_of(g.gpu_of_request[r]) == (t.requests[r].label == 0 ? 1 : 0));
    CHECK(g.read_tokens[r] == 8);
  }
  for (int32_t r : fit)
    CHECK(g.gpu_of_request[r] == -1);
  // Capacity: served requests of family 0 alone fill node 1 to an equal share of their tokens, then the next nearest.
  std::vector<int32_t> zeros;
  for (int32_t r : serve)
    if (t.requests[r].label == 0)
      zeros.push_back(r);
  GroupingContext zctx{c, t, zeros, 4, 1, &m, &fit, 8, 0, &p};
  const Grouping z = locality.fn(zctx);
  CHECK(c.node_of(z.gpu_of_request[zeros.front()]) == 1);
  std::set<int> used;
  for (int32_t r : zeros)
    used.insert(c.node_of(z.gpu_of_request[r]));
  CHECK(used.size() == 2);
  const std::vector<int32_t> none;
  GroupingContext empty{c, t, serve, 4, 1, &m, &none, 8, 0, &p};
  CHECK_THROWS_AS(locality.fn(empty), UsageError);
}

TEST_CASE("oracle: fitted on the served split, refused without one; its grouping knows every token and replays the honest groupings' tokens")
{
  ModelSpec m = test::tiny_model(2, 16, 2);
  const Trace t = two_families(m, 12, 40);
  Cluster c = Cluster::uniform(2, 2, h100_sxm());
  const auto served = all(t);
  const std::vector<int32_t> none;
  PlacementContext bad{m, c, t, none, 0, 1, 0, 8};
  CHECK_THROWS_AS(PlacementRegistry::instance().get("oracle", "placement").fn(bad), UsageError);
  PlacementContext ctx{m, c, t, none, 0, 1, 0, 8, 1.5, &served};
  const Placement p = PlacementRegistry::instance().get("oracle", "placement").fn(ctx);
  p.validate(m.num_moe_layers(), m.num_routed_experts, c.num_gpus(), "oracle");
  GroupingContext gctx{c, t, served, 4, 1, &m, &none, 8, 0, &p};
  const Grouping g = GroupingRegistry::instance().get("oracle", "grouping").fn(gctx);
  // Without prefill it replays what the signature groupings replay: not the leading tokens their signatures read.
  REQUIRE(g.read_tokens.size() == t.requests.size());
  for (int32_t r : served)
    CHECK(g.read_tokens[r] == policy::signature_length(t, r, 8));
  for (size_t r = 0; r < t.requests.size(); ++r)
    CHECK(c.node_of(g.gpu_of_request[r]) == c.node_of(g.gpu_of_request[r % 2]));
  CHECK(c.node_of(g.gpu_of_request[0]) != c.node_of(g.gpu_of_request[1]));
}

TEST_CASE("Judged on the same tokens: any grouping skips the leading tokens a signature reads, prefill signatures none")
{
  ModelSpec m = test::tiny_model(2, 16, 2);
  const Trace t = two_families(m, 12, 40); // no prefill: signatures come from the first tokens
  Cluster c = Cluster::uniform(2, 2, h100_sxm());
  const auto served = all(t);
  const std::vector<int32_t> none;
  GroupingContext gctx{c, t, served, 4, 1, &m, &none, 8};
  Grouping g = GroupingRegistry::instance().get("round_robin", "grouping").fn(gctx);
  CHECK(g.read_tokens.empty());
  policy::skip_signature_tokens(t, served, 8, g);
  REQUIRE(g.read_tokens.size() == t.requests.size());
  for (int32_t r : served)
    CHECK(g.read_tokens[r] == policy::signature_length(t, r, 8));
  // A grouping that read more keeps its own count; only the requests given are touched.
  g.read_tokens.assign(t.requests.size(), 0);
  g.read_tokens[0] = 20;
  policy::skip_signature_tokens(t, {0, 1}, 8, g);
  CHECK(g.read_tokens[0] == 20);
  CHECK(g.read_tokens[1] == 8);
  CHECK(g.read_tokens[2] == 0);
  // With decode tokens, a request with prefill is classified from its prefill: nothing to skip.
  Trace d = t;
  for (const auto& q : d.requests)
    for (int64_t k = q.token_offset; k < q.token_offset + q.token_count; ++k)
      d.token_phase[k] = static_cast<uint8_t>(k < q.token_offset + q.token_count / 2 ? Phase::Prefill : Phase::Decode);
  Grouping h;
  policy::skip_signature_tokens(d, served, 8, h);
  for (int32_t r : served)
    CHECK(h.read_tokens[r] == 0);
}

TEST_CASE("One message per (token, expert): experts the same tokens choose are spread over a node's GPUs")
{
  // Every token of a family picks a pair of experts that always go together: (0, 1), (2, 3), ... inside the family's
  // half. Per-GPU copy rules put a pair on one GPU (one copy saved); per-expert messages save nothing there, and the
  // pair on one GPU would take both of every such token's messages.
  ModelSpec m = test::tiny_model(1, 16, 2);
  std::vector<int> lens(24, 30), labels;
  for (int r = 0; r < 24; ++r)
    labels.push_back(r % 2);
  const Trace t = test::make_trace(
      m, lens, [](int r, int i, int, int j) { return (r % 2) * 8 + 2 * ((r + i) % 4) + j; }, labels);
  Cluster c = Cluster::uniform(2, 4, h100_sxm());
  const auto fit = all(t);
  for (const char* name : {"activation", "joint"}) {
    PlacementContext ctx{m, c, t, fit, 0, 1, 0, 8};
    ctx.messages_per_expert = true;
    const Placement spread = PlacementRegistry::instance().get(name, "placement").fn(ctx);
    spread.validate(1, 16, 8, name);
    const Placement paired = place(name, m, c, t, fit);
    int split_pairs = 0, split_before = 0;
    for (int e = 0; e < 16; e += 2) {
      split_pairs += spread.replicas[0][e][0] != spread.replicas[0][e + 1][0];
      split_before += paired.replicas[0][e][0] != paired.replicas[0][e + 1][0];
      // The pair stays on one node either way (node-level locality is the same).
      CHECK(c.node_of(spread.replicas[0][e][0]) == c.node_of(spread.replicas[0][e + 1][0]));
    }
    INFO(name);
    CHECK(split_pairs == 8);
    CHECK(split_before < 8);
  }
}
