// Fitting time of the placement and grouping policies at scale (docs/policies.md):
//   moesim_fit_speed REQUESTS TOKENS_PER_REQUEST [POLICY...]
// builds an in-memory DeepSeek-V3-shaped trace (58 MoE layers, 256 experts, top-8; 8 task labels, each preferring
// its own 64 experts 70% of the time) and times each policy on 8 nodes x 8 GPUs.
#include "core/cluster/cluster.hpp"
#include "core/model/model_spec.hpp"
#include "core/policy/policy.hpp"
#include "core/trace/trace.hpp"

#include <chrono>
#include <cstdio>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <sys/resource.h>

using namespace moesim;

int main(int argc, char** argv)
{
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s REQUESTS TOKENS_PER_REQUEST [POLICY...]\n", argv[0]);
    return 2;
  }
  const int R = std::stoi(argv[1]), T = std::stoi(argv[2]);
  std::vector<std::string> policies{"eplb", "activation", "coactivation", "signature", "joint", "locality"};
  if (argc > 3)
    policies.assign(argv + 3, argv + argc);
  ModelSpec m = load_model_spec(std::string(MOESIM_DATA_DIR) + "/data/models/DeepSeek-V3/config.json");
  const int L = m.num_moe_layers(), E = m.num_routed_experts, k = m.top_k;
  const auto t0 = std::chrono::steady_clock::now();
  Trace t;
  t.model_name = m.name;
  t.num_experts = E;
  t.top_k = k;
  t.moe_layers = m.moe_layers;
  t.datasets = {"synthetic"};
  for (int l = 0; l < 8; ++l)
    t.labels.push_back("label" + std::to_string(l));
  t.experts.reserve(static_cast<size_t>(R) * T * L * k);
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<int> any(0, E - 1), own(0, 63);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<char> used(E, 0);
  for (int r = 0; r < R; ++r) {
    const int label = r % 8;
    t.requests.push_back(TraceRequest{r, label, 0, 256, t.num_tokens(), T});
    for (int i = 0; i < T; ++i) {
      t.token_request.push_back(r);
      t.token_position.push_back(i);
      t.token_phase.push_back(1);
      for (int l = 0; l < L; ++l) {
        int chosen = 0;
        std::vector<int> pick;
        while (chosen < k) {
          const int e = u(rng) < 0.7 ? (label * 32 + own(rng)) % E : any(rng);
          if (!used[e]) {
            used[e] = 1;
            pick.push_back(e);
            ++chosen;
          }
        }
        for (int e : pick) {
          used[e] = 0;
          t.experts.push_back(static_cast<uint16_t>(e));
        }
      }
    }
  }
  const double build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Cluster c = Cluster::uniform(8, 8, h100_sxm());
  std::vector<int32_t> fit(R);
  std::iota(fit.begin(), fit.end(), 0);
  std::printf("trace: %d requests x %d tokens x %d layers x top-%d built in %.1f s\n", R, T, L, k, build_s);
  Placement last; // the placement fitted last: `locality` scores nodes under it
  for (const auto& name : policies) {
    const auto s0 = std::chrono::steady_clock::now();
    if (name == "signature" || name == "locality") {
      GroupingContext ctx{c, t, fit, 64, 1, &m, &fit, 16, 0, &last};
      if (name == "locality" && last.replicas.empty())
        throw std::runtime_error("locality needs a placement fitted before it in the list");
      GroupingRegistry::instance().get(name, "grouping").fn(ctx);
    } else {
      PlacementContext ctx{m, c, t, fit, 1, 1, 0, 16};
      last = PlacementRegistry::instance().get(name, "placement").fn(ctx);
    }
    std::printf("%-13s fitted in %6.1f s\n", name.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count());
    std::fflush(stdout);
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("peak RSS %.0f MiB\n", ru.ru_maxrss / 1024.0);
  return 0;
}
