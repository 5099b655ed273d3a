// Writes a synthetic trace with uniformly random routing (k distinct experts per token and layer) for a model:
// the "synthetic uniform routing" of the decode benchmark.
//   moesim_uniform_trace CONFIG.json OUT.h5 REQUESTS TOKENS_PER_REQUEST SEED
#include "core/io/errors.hpp"
#include "core/model/model_spec.hpp"
#include "core/trace/trace.hpp"

#include <cstdio>
#include <random>
#include <string>

int main(int argc, char** argv)
{
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s CONFIG.json OUT.h5 REQUESTS TOKENS_PER_REQUEST SEED\n", argv[0]);
    return 2;
  }
  try {
    const moesim::ModelSpec m = moesim::load_model_spec(argv[1]);
    const int requests = std::stoi(argv[3]), tokens = std::stoi(argv[4]);
    std::mt19937_64 rng(std::stoull(argv[5]));
    moesim::Trace t;
    t.model_name = m.name;
    t.source = "uniform random routing (bench/make_uniform_trace)";
    t.num_experts = m.num_routed_experts;
    t.top_k = m.top_k;
    t.moe_layers = m.moe_layers;
    t.labels = {"uniform"};
    t.datasets = {"synthetic"};
    std::uniform_int_distribution<int> pick(0, m.num_routed_experts - 1);
    std::vector<char> used(m.num_routed_experts, 0);
    for (int r = 0; r < requests; ++r) {
      t.requests.push_back(moesim::TraceRequest{r, 0, 0, 512, t.num_tokens(), tokens});
      for (int i = 0; i < tokens; ++i) {
        t.token_request.push_back(r);
        t.token_position.push_back(i);
        t.token_phase.push_back(static_cast<uint8_t>(moesim::Phase::Decode));
        for (int l = 0; l < m.num_moe_layers(); ++l) {
          std::vector<int> chosen;
          while (static_cast<int>(chosen.size()) < m.top_k) {
            const int e = pick(rng);
            if (!used[e]) {
              used[e] = 1;
              chosen.push_back(e);
            }
          }
          for (int e : chosen) {
            used[e] = 0;
            t.experts.push_back(static_cast<uint16_t>(e));
          }
        }
      }
    }
    moesim::write_trace(t, argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  return 0;
}
