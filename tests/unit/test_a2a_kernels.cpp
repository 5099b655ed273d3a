// All-to-all kernel models on hand-computed cases (bytes, messages, fixed times at one token, bandwidth-bound at
// many), the phase rules of comm/phase.hpp on a small analytic network, and the registry.
#include "core/comm/a2a_kernel.hpp"
#include "core/comm/phase.hpp"
#include "core/comm/traffic.hpp"
#include "core/io/errors.hpp"
#include "test_a2a_net.hpp"

#include <catch2/catch.hpp>

#include <random>

#include <cmath>

using namespace moesim;

TEST_CASE("DeepEP launch geometry: experts per SM and the SMs of dispatch and combine")
{
  // 132 SMs (H100/H200): up to 132 experts one warp group per SM, 256 experts two per SM on 128 SMs.
  CHECK(deepep_ll_warp_groups(8, 132) == 1);
  CHECK(deepep_ll_dispatch_sms(8, 132) == 8);
  CHECK(deepep_ll_warp_groups(256, 132) == 2);
  CHECK(deepep_ll_dispatch_sms(256, 132) == 128);
  CHECK(deepep_ll_warp_groups(512, 132) == 4);
  CHECK(deepep_ll_dispatch_sms(512, 132) == 128);
  CHECK(deepep_ll_dispatch_sms(160, 132) == 80);
  // Combine also spreads its tokens' reduction: 1024 tokens -> 8 per SM -> 128 SMs even with 8 experts.
  CHECK(deepep_ll_combine_sms(8, 1024, 132) == 128);
  CHECK(deepep_ll_combine_sms(8, 1, 132) == 8);
  CHECK(deepep_dispatch_message_bytes(7168, "fp8") == 16 + 7168 + 4 * 56);
  CHECK(deepep_dispatch_message_bytes(7168, "bf16") == 16 + 2 * 7168);
}

TEST_CASE("The kernel registry lists the three models and checks parameters")
{
  for (const char* name : {"deepep-ll", "deepep-normal", "nccl"})
    CHECK_NOTHROW(make_a2a_kernel(name));
  CHECK_THROWS_WITH(make_a2a_kernel("mpi"), Catch::Contains("unknown all-to-all kernel 'mpi'") &&
                                                Catch::Contains("deepep-ll, deepep-normal, nccl"));
  const auto ll = make_a2a_kernel("deepep-ll");
  CHECK(resolve_kernel_params(*ll, {}, "x").at("dispatch_goodput_intra") == Approx(0.55));
  CHECK_THROWS_WITH(resolve_kernel_params(*ll, {{"dispatch_goodput_intra", 2.0}}, "p.xml"),
                    Catch::Contains("p.xml: kernel parameter dispatch_goodput_intra") && Catch::Contains("outside"));
  CHECK_THROWS_WITH(resolve_kernel_params(*ll, {{"speed", 1.0}}, "p.xml"),
                    Catch::Contains("unknown kernel parameter 'speed'"));
  CHECK(kernel_param_property("deepep-ll", "inter_s") == "moesim_kernel_deepep_ll_inter_s");
}

TEST_CASE("deepep-ll costs: fixed time and SM time per token, the reduction after the last arrival")
{
  KernelParams p = resolve_kernel_params(*make_a2a_kernel("deepep-ll"), {}, "test");
  const KernelSetup k = KernelSetup::make("deepep-ll", p, "fp8", 24, "test");
  // One token per GPU of 8 on one node, top-2 of 256 experts (two warp groups on 128 SMs).
  LayerComm comm;
  comm.stages.assign(1, PairUnits{});
  comm.stages[0].out.assign(8, {});
  comm.stages[0].in.assign(8, {});
  comm.tokens.assign(8, 1);
  comm.units_own.assign(8, 2);
  comm.units_held.assign(8, 2);
  const double msg = 16 + 7168 + 224;
  const PhaseCost d = phase_cost(k, comm, true, 256, 2, 7168, 132, false);
  CHECK(d.fixed_s == Approx(p.at("dispatch_fixed_s") + 2 * p.at("dispatch_group_s")));
  CHECK(d.send_s[3] == Approx(p.at("dispatch_token_s") + p.at("dispatch_byte_s") * msg)); // ceil(1 / 128) = 1
  CHECK(d.goodput_intra == p.at("dispatch_goodput_intra"));
  const PhaseCost dm = phase_cost(k, comm, true, 256, 2, 7168, 132, true);
  CHECK(dm.fixed_s == Approx(d.fixed_s + p.at("inter_s"))); // spanning nodes adds the RDMA fixed time
  const PhaseCost c = phase_cost(k, comm, false, 256, 2, 7168, 132, false);
  CHECK(c.send_s[0] == Approx(2 * 2 * 7168 * p.at("combine_send_byte_s") / 128));
  // The reduction of one token's two BF16 copies on one SM.
  CHECK(c.post_s[0] == Approx(p.at("combine_token_s") + p.at("combine_byte_s") * 2 * 2 * 7168));
  // Many tokens: 1024 per GPU over 128 dispatch SMs -> 8 tokens per SM.
  comm.tokens.assign(8, 1024);
  CHECK(phase_cost(k, comm, true, 256, 2, 7168, 132, false).send_s[0] ==
        Approx(8 * (p.at("dispatch_token_s") + p.at("dispatch_byte_s") * msg)));
}

TEST_CASE("deepep-normal costs: notify, channels of two SMs moving the data, a channel time per token")
{
  KernelParams p = resolve_kernel_params(*make_a2a_kernel("deepep-normal"), {}, "test");
  p["dispatch_token_s"] = 1e-6;
  const KernelSetup k = KernelSetup::make("deepep-normal", p, "fp8", 24, "test"); // 24 SMs: 12 channels
  LayerComm comm;
  comm.stages.assign(2, PairUnits{});
  for (auto& st : comm.stages) {
    st.out.assign(16, {});
    st.in.assign(16, {});
  }
  comm.tokens.assign(16, 4096);
  comm.units_own.assign(16, 4096 * 3); // each token to three nodes (its own included)
  comm.units_held.assign(16, 4096 * 2);
  const double msg = 16 + 7168 + 224;
  const PhaseCost d = phase_cost(k, comm, true, 256, 8, 7168, 132, true);
  CHECK(d.fixed_s == Approx(p.at("dispatch_fixed_s") + p.at("inter_s")));
  CHECK(d.send_s[5] == Approx(4096.0 * 3 * msg / (12 * p.at("dispatch_channel_Bps")) + 4096 * 1e-6 / 12));
  CHECK(d.goodput_inter == p.at("dispatch_goodput_inter"));
  // Combine sends back what the GPU holds, in BF16; its per-token time is 0 by default.
  const PhaseCost c = phase_cost(k, comm, false, 256, 8, 7168, 132, false);
  CHECK(c.fixed_s == Approx(p.at("combine_fixed_s")));
  CHECK(c.send_s[0] == Approx(4096.0 * 2 * 2 * 7168 / (12 * p.at("combine_channel_Bps"))));
}

TEST_CASE("Phase rules on a hand-computed network: latency and fixed time at one message, goodput-bound at many")
{
  test::StarNetwork net(2, 2, 100e9, 50e9, 1e-6); // 2 GPUs on one node, 100 GB/s each way, 1 us per route
  LayerComm comm;
  comm.stages.assign(1, PairUnits{});
  comm.stages[0].out = {{{1, 1000}}, {}};
  comm.stages[0].in = {{}, {{0, 1000}}};
  comm.tokens = {1000, 0};
  comm.units_own = {1000, 0};
  comm.units_held = {0, 1000};
  PhaseCost cost;
  cost.fixed_s = 5e-6;
  cost.goodput_intra = 0.5;
  cost.send_s = {1e-6, 0};
  FastPhaseSolver solver;
  std::vector<double> end;
  const double bytes = solver.solve(net, comm, true, 1000.0, cost, {0.0, 0.0}, end);
  CHECK(bytes == Approx(1e6));
  // 1 MB at 0.5 x 100 GB/s = 20 us, + 1 us route latency, + 5 us fixed.
  CHECK(end[1] == Approx(20e-6 + 1e-6 + 5e-6));
  // GPU 0 receives nothing: its flag from GPU 1 (1 us) + fixed.
  CHECK(end[0] == Approx(1e-6 + 5e-6 + 0)); // its own SM time (1 us) ends before
  // SM-bound: issuing takes longer than the link.
  cost.send_s = {50e-6, 0};
  solver.solve(net, comm, true, 1000.0, cost, {0.0, 0.0}, end);
  CHECK(end[1] == Approx(50e-6 + 1e-6 + 5e-6));
  // Combine runs the same pair reversed, with the reduction after the last arrival.
  cost.send_s.clear();
  cost.post_s = {3e-6, 0};
  solver.solve(net, comm, false, 1000.0, cost, {0.0, 0.0}, end);
  CHECK(end[0] == Approx(20e-6 + 1e-6 + 3e-6 + 5e-6));
  // A later start of the sender delays the receiver by as much.
  cost.post_s.clear();
  solver.solve(net, comm, true, 1000.0, cost, {10e-6, 0.0}, end);
  CHECK(end[1] == Approx(10e-6 + 20e-6 + 1e-6 + 5e-6));
}

TEST_CASE("Two-stage phases: forwarding is pipelined but never ends before its forwarder's data arrived")
{
  // 2 nodes x 2 GPUs: GPU 0 sends 1 unit to GPU 2 (node level, over the NIC), GPU 2 forwards it to GPU 3 (NVLink).
  test::StarNetwork net(4, 2, 400e9, 50e9, 1e-6);
  TrafficBuilder tb(CopyRule::PerNodeForward, 4, 2);
  tb.begin();
  const int dest[1] = {3};
  tb.add_token(0, dest, 1);
  for (int g = 0; g < 4; ++g)
    tb.end_gpu(g);
  LayerComm comm;
  tb.finish(comm);
  REQUIRE(comm.stages.size() == 2);
  CHECK(comm.stages[0].out[0] == std::vector<std::pair<int, int32_t>>{{2, 1}});
  CHECK(comm.stages[1].out[2] == std::vector<std::pair<int, int32_t>>{{3, 1}});
  PhaseCost cost;
  FastPhaseSolver solver;
  std::vector<double> end;
  solver.solve(net, comm, true, 1e6, cost, {0, 0, 0, 0}, end);
  // Stage 1: 1 MB over the 50 GB/s NIC = 20 us + 3 us (inter-node route); stage 2 arrives after that + 1 us.
  CHECK(end[2] == Approx(20e-6 + 3e-6));
  CHECK(end[3] == Approx(20e-6 + 3e-6 + 1e-6));
}

TEST_CASE("Flags: a GPU's phase ends no earlier than every peer's start plus the latency (early exit is exact)")
{
  test::StarNetwork net(12, 4, 400e9, 50e9, 1e-6); // 3 nodes x 4 GPUs: 1 us inside a node, more across
  LayerComm comm;
  comm.stages.assign(1, PairUnits{});
  comm.stages[0].out.assign(12, {});
  comm.stages[0].in.assign(12, {});
  PhaseCost cost;
  cost.fixed_s = 2e-6;
  FastPhaseSolver solver;
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<double> start(12), end;
    for (auto& s : start)
      s = 1e-6 * static_cast<double>(rng() % 8); // ties and spreads around the latencies
    solver.solve(net, comm, true, 1000.0, cost, start, end);
    for (int d = 0; d < 12; ++d) {
      double want = start[d];
      for (int s = 0; s < 12; ++s)
        if (s != d)
          want = std::max(want, start[s] + net.route_latency_s(s, d));
      REQUIRE(end[d] == Approx(want + cost.fixed_s).epsilon(1e-12));
    }
  }
}

TEST_CASE("Copy rules: per expert, per GPU, per node then GPU")
{
  // GPU 0 of 4 (2 per node) sends one token to experts on GPUs 1, 1, 2, 3.
  const int dest[4] = {1, 1, 2, 3};
  auto build = [&](CopyRule r) {
    TrafficBuilder tb(r, 4, 2);
    tb.begin();
    tb.add_token(0, dest, 4);
    for (int g = 0; g < 4; ++g)
      tb.end_gpu(g);
    LayerComm c;
    tb.finish(c);
    return c;
  };
  const LayerComm ll = build(CopyRule::PerExpert);
  CHECK(ll.stages[0].out[0] == std::vector<std::pair<int, int32_t>>{{1, 2}, {2, 1}, {3, 1}});
  CHECK(ll.units_intra_node == 2);
  CHECK(ll.units_inter_node == 2);
  const LayerComm nccl = build(CopyRule::PerGpu);
  CHECK(nccl.stages[0].out[0] == std::vector<std::pair<int, int32_t>>{{1, 1}, {2, 1}, {3, 1}});
  const LayerComm normal = build(CopyRule::PerNodeForward);
  CHECK(normal.stages[0].out[0] == std::vector<std::pair<int, int32_t>>{{1, 1}, {2, 1}}); // once to node 1's rail 0
  CHECK(normal.stages[1].out[2] == std::vector<std::pair<int, int32_t>>{{3, 1}});
  CHECK(normal.units_inter_node == 1);
  CHECK(normal.units_intra_node == 2);
}

TEST_CASE("Copy rules: a source's pairs come out ascending by destination, with the copies counted by hand")
{
  // Few destinations per source (sorted) and many (scanned): both give every (destination, units) pair once, in
  // ascending order.
  std::mt19937_64 rng(11);
  for (const int G : {64, 256}) {
    for (const int tokens_per_gpu : {1, 40}) {
      for (const CopyRule r : {CopyRule::PerExpert, CopyRule::PerGpu}) {
        TrafficBuilder tb(r, G, 8);
        tb.begin();
        std::vector<std::vector<int32_t>> want(G, std::vector<int32_t>(G, 0));
        for (int g = 0; g < G; ++g) {
          for (int t = 0; t < tokens_per_gpu; ++t) {
            int dest[6];
            for (int& d : dest)
              d = static_cast<int>(rng() % G);
            tb.add_token(g, dest, 6);
            std::vector<char> seen(G, 0);
            for (const int d : dest)
              if (d != g && (r == CopyRule::PerExpert || !seen[d]++))
                ++want[g][d];
          }
          tb.end_gpu(g);
        }
        LayerComm c;
        tb.finish(c);
        for (int g = 0; g < G; ++g) {
          std::vector<std::pair<int, int32_t>> expect;
          for (int d = 0; d < G; ++d)
            if (want[g][d] > 0)
              expect.emplace_back(d, want[g][d]);
          REQUIRE(c.stages[0].out[g] == expect);
        }
      }
    }
  }
}
