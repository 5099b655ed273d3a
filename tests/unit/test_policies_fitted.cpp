#include "core/decode_plan.hpp"
#include "core/errors.hpp"
#include "core/policy.hpp"
#include "core/split.hpp"
#include "policy_util.hpp"
#include "test_helpers.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

using namespace moesim;

namespace {

std::multiset<int> gpu_experts(const std::vector<std::vector<int>>& replicas, int gpu)
{
  std::multiset<int> s;
  for (size_t e = 0; e < replicas.size(); ++e)
    for (int g : replicas[e])
      if (g == gpu)
        s.insert(static_cast<int>(e));
  return s;
}

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
                const std::vector<int32_t>& fit, int redundant = 0, uint64_t seed = 1)
{
  PlacementContext ctx{m, c, t, fit, redundant, seed, 0, 8};
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

TEST_CASE("EPLB reproduces the worked example of deepseek-ai/EPLB's README")
{
  // weight, 16 physical experts, 4 groups, 2 nodes, 8 GPUs (hierarchical).
  const std::vector<std::vector<double>> w{{90, 132, 40, 61, 104, 165, 39, 4, 73, 56, 183, 86},
                                           {20, 107, 104, 64, 19, 197, 187, 157, 172, 86, 16, 27}};
  // The README's phy2log, two physical experts per GPU in GPU order.
  const std::vector<std::vector<int>> phy2log{{5, 6, 5, 7, 8, 4, 3, 4, 10, 9, 10, 2, 0, 1, 11, 1},
                                              {7, 10, 6, 8, 6, 11, 8, 9, 2, 4, 5, 1, 5, 0, 3, 1}};
  for (int l = 0; l < 2; ++l) {
    const auto reps = policy::eplb_layer(w[l], 16, 4, 2, 8);
    for (int g = 0; g < 8; ++g) {
      const std::multiset<int> want{phy2log[l][2 * g], phy2log[l][2 * g + 1]};
      CHECK(gpu_experts(reps, g) == want);
    }
  }
}

TEST_CASE("EPLB primitives: balanced packing and replication")
{
  // Sorted descending 9, 7, 5, 3 into 2 packs of 2: 9 -> A, 7 -> B, 5 -> B (lighter), 3 -> A.
  CHECK(policy::balanced_packing({5, 9, 3, 7}, 2) == std::vector<int>{1, 0, 0, 1});
  // Extra slots copy the expert with the largest load per copy: 10 -> 10/2=5 vs 6 -> copy 6 next.
  CHECK(policy::replicate_experts({10, 6, 1}, 5) == std::vector<int>{0, 1, 2, 0, 1});
}

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
  DecodePlanner planner(t, m, c, p, cm, s, 1);
  for (int step = 0; step < 5; ++step) {
    const StepPlan plan = planner.next_step(); // kept alive: a range-for over a temporary's member dangles
    for (const auto& lt : plan.micro[0].layers) {
      CHECK(lt.pairs_local_node == lt.pairs_total);
      CHECK(lt.tokens_inter_node == 0);
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

TEST_CASE("Copy refinement: experts chosen together by remote tokens end on one GPU, within the load limit")
{
  // Four experts on two GPUs: remote tokens choose {0, 1} (10 tokens) and {2, 3} (10 tokens), and the start splits
  // both sets (40 copies); after one swap each set is on one GPU (20 copies).
  policy::CopySets sets{{0b0011, 10.0}, {0b1100, 10.0}};
  std::vector<int> part{0, 1, 0, 1};
  policy::refine_copies(sets, {1, 1, 1, 1}, 2, 2.0, part);
  CHECK(part[0] == part[1]);
  CHECK(part[2] == part[3]);
  CHECK(part[0] != part[2]);
  // Loads 3, 3, 1, 1: pairing {0, 1} would put 6 on one GPU: refused with a limit of 5, taken with 6.
  part = {0, 1, 0, 1};
  policy::refine_copies(sets, {3, 3, 1, 1}, 2, 5.0, part);
  CHECK(part == std::vector<int>{0, 1, 0, 1});
  policy::refine_copies(sets, {3, 3, 1, 1}, 2, 6.0, part);
  CHECK(part[0] == part[1]);
}

TEST_CASE("Remote copy sets count tokens from other nodes by the set of a node's experts they choose")
{
  // 4 experts, top-2, two nodes: experts 0, 1 on node 0 and 2, 3 on node 1.
  ModelSpec m = test::tiny_model(1, 4, 2);
  const Trace t = test::make_trace(m, {3, 2}, [](int r, int i, int, int j) {
    if (r == 0) // request 0 (node 0): token 0 -> {2, 3} (one set of two on node 1), tokens 1, 2 -> {0, 2}
      return i == 0 ? 2 + j : 2 * j;
    return j; // request 1 (node 1): both tokens -> {0, 1}
  });
  const auto sets = policy::remote_copy_sets(t, {{0}, {1}}, {0, 0, 1, 1}, 0, 1);
  REQUIRE(sets.size() == 2);
  CHECK(sets[0] == policy::CopySets{{0b11, 2.0}}); // request 1's two tokens; single experts are left out
  CHECK(sets[1] == policy::CopySets{{0b11, 1.0}}); // request 0's first token
  // Every second token only (the sample the placement takes on large traces).
  CHECK(policy::remote_copy_sets(t, {{0}, {1}}, {0, 0, 1, 1}, 0, 2)[1] == policy::CopySets{{0b11, 1.0}});
}

TEST_CASE("Exchanges between nodes fix an expert stranded by the greedy pass")
{
  // demand[node][layer][expert]: node 0 wants expert 0, node 1 wants expert 1, but they start the other way round.
  const std::vector<std::vector<std::vector<double>>> demand{{{5, 1, 0, 0}}, {{0, 4, 0, 0}}};
  std::vector<int> node_of{1, 0, 0, 1};
  policy::exchange_between_nodes(demand, 0, node_of);
  CHECK(node_of[0] == 0);
  CHECK(node_of[1] == 1);
  CHECK(std::count(node_of.begin(), node_of.end(), 0) == 2);
}

TEST_CASE("Impossible placement requests are clear errors")
{
  ModelSpec m = test::tiny_model(1, 6, 2);
  const Trace t = two_families(m, 4, 10);
  const auto fit = all(t);
  Cluster c = Cluster::uniform(4, 1, h100_sxm());
  CHECK_THROWS_WITH(place("activation", m, c, t, fit), "placement activation: 6 experts do not divide evenly over 4 GPUs");
  CHECK_THROWS_WITH(place("coactivation", m, c, t, fit),
                    "placement coactivation: 6 experts do not divide evenly over 4 GPUs");
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
