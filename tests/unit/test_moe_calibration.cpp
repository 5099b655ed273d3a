// MoE-kernel measurements: the readers on the real bundled files and on truncated / garbled ones, DeepEP's test
// output in its variants, and the fit recovering known kernel and compute parameters from synthetic measurements.
#include "core/calibration/calib_input.hpp"
#include "core/calibration/calibration.hpp"
#include "core/calibration/moe_fit.hpp"
#include "core/io/errors.hpp"
#include "test_a2a_net.hpp"

#include "test_helpers.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>

using namespace moesim;

namespace {

const std::string kData = std::string(MOESIM_SOURCE_DIR) + "/data/calib/";

} // namespace

TEST_CASE("aiconfigurator's DeepEP and MoE tables: every row, microseconds and milliseconds")
{
  const auto ll = read_calib_input(kData + "aiconfigurator-h200/deepep_ll_1node.csv");
  CHECK(ll.format == "aiconfigurator-deepep-csv");
  REQUIRE(ll.measurements.size() == 2 * 176);
  const Measurement& d = ll.measurements[0];
  CHECK(d.op == "ll_dispatch");
  CHECK(d.time_s == Approx(8.83e-6));
  CHECK(d.hidden == 2048);
  CHECK(d.tokens == 1);
  CHECK(d.top_k == 8);
  CHECK(d.experts == 128);
  CHECK(d.nodes == 1);
  CHECK(d.gpus_per_node == 8);
  CHECK(d.routing == "deepep-test");
  CHECK(d.gpu_name == "NVIDIA H200");
  CHECK(ll.measurements[1].op == "ll_combine");
  CHECK(ll.measurements[1].time_s == Approx(10.459e-6));
  const auto normal = read_calib_input(kData + "aiconfigurator-h200/deepep_normal_1node.csv");
  CHECK(normal.measurements.front().op == "normal_dispatch");
  CHECK(normal.measurements.front().kernel_sms == 4);
  CHECK(normal.measurements.front().time_s == Approx(27.35020410345526e-6));
  const auto moe = read_calib_input(kData + "aiconfigurator-h200/moe_generation.csv");
  CHECK(moe.format == "aiconfigurator-moe-csv");
  REQUIRE(moe.measurements.size() == 336);
  const Measurement& m = moe.measurements.front();
  CHECK(m.op == "moe_experts");
  CHECK(m.time_s == Approx(0.15493119955062867e-3));
  CHECK(m.tokens == 1); // 4 global tokens over EP4
  CHECK(m.nodes * m.gpus_per_node == 4);
  CHECK(m.inter == 2048);
  CHECK(m.routing == "balanced");
  bool power_law = false;
  for (const auto& x : moe.measurements)
    power_law |= x.routing == "power_law:1.01";
  CHECK(power_law);
  // Prefill rows are read and skipped with a note: the decode model does not cover them.
  CHECK_THROWS_WITH(read_calib_input(kData + "aiconfigurator-h200/moe_context.csv"),
                    Catch::Contains("no moe_generation rows"));
}

TEST_CASE("DeepEP's README tables: latencies, bottleneck bandwidths, and the v2 table refused")
{
  const auto ll = read_calib_input(kData + "deepep-readme/deepep_v1_h800_low_latency.csv");
  REQUIRE(ll.measurements.size() == 12);
  CHECK(ll.measurements[2].nodes == 2);
  CHECK(ll.measurements[2].tokens == 128);
  CHECK(ll.measurements[2].time_s == Approx(118e-6));
  CHECK(ll.measurements[2].gpu_name == "H800");
  const auto normal = read_calib_input(kData + "deepep-readme/deepep_v1_h800_normal.csv");
  CHECK(normal.measurements[2].metric == "rdma_bandwidth");
  CHECK(normal.measurements[2].bandwidth_Bps == Approx(43e9));
  CHECK(normal.measurements[0].metric == "nvl_bandwidth");
  CHECK(normal.measurements[0].tokens == 4096);
  CHECK_THROWS_WITH(read_calib_input(kData + "deepep-readme/deepep_v2_readme.csv"),
                    Catch::Contains("DeepEP v2 (NCCL Gin backend) tables are not modelled"));
}

TEST_CASE("Truncated and garbled DeepEP and MoE tables name the file, the line and the column")
{
  const std::string ll = test::read_file(kData + "aiconfigurator-h200/deepep_ll_1node.csv");
  const std::string cut = ll.substr(0, ll.find('\n', 300) - 20); // the last row loses fields
  CHECK_THAT(test::input_error_of([&] { parse_aiconfigurator_deepep_csv(cut, "ll.csv"); }),
             Catch::StartsWith("ll.csv: line") && Catch::Contains("comma-separated fields"));
  std::string garbled = ll;
  garbled.replace(garbled.find("8.83"), 4, "8.x3");
  CHECK_THAT(test::input_error_of([&] { parse_aiconfigurator_deepep_csv(garbled, "ll.csv"); }),
             Catch::Contains("ll.csv: line 2: column dispatch_avg_t_us: expected a positive number, found '8.x3'"));
  std::string badshape = ll;
  badshape.replace(badshape.find(",2048,1,8,128,"), 14, ",2048,1,8,100,");
  CHECK_THAT(test::input_error_of([&] { parse_aiconfigurator_deepep_csv(badshape, "ll.csv"); }),
             Catch::Contains("100 experts do not divide over the 8 GPUs"));
  const std::string moe = test::read_file(kData + "aiconfigurator-h200/moe_generation.csv");
  std::string dist = moe;
  dist.replace(dist.find(",uniform,"), 9, ",zipfian,");
  CHECK_THAT(test::input_error_of([&] { parse_aiconfigurator_moe_csv(dist, "moe.csv"); }),
             Catch::Contains("moe.csv: line 2: distribution must be uniform or power_law_ALPHA"));
  CHECK_THAT(test::input_error_of([&] { parse_aiconfigurator_moe_csv("framework,device\n", "m.csv"); }),
             Catch::Contains("the header lacks the column 'op_name'"));
}

TEST_CASE("DeepEP test output: aiconfigurator's inline shapes, DeepEP's own lines with a header, tuning lines")
{
  const std::string inline_ll =
      "Allocating buffer size: 2116.3 MB ...\n"
      "[rank 0] num_tokens=128, hidden=7168, num_experts=256, num_topk=8, return_recv_hook=False Dispatch "
      "bandwidth: 216.00 GB/s, avg_t=35.12 us | Combine bandwidth: 216.70 GB/s, avg_t=67.74 us\n";
  const auto a = parse_deepep_test_log(inline_ll, "a.log");
  REQUIRE(a.measurements.size() == 2);
  CHECK(a.measurements[0].op == "ll_dispatch");
  CHECK(a.measurements[0].time_s == Approx(35.12e-6));
  CHECK(a.measurements[1].time_s == Approx(67.74e-6));
  CHECK(a.measurements[0].tokens == 128);
  // DeepEP's own test prints every rank without the shape: the header gives it, the ranks are averaged.
  const std::string own =
      "# moesim-deepep: test=low_latency num_tokens=64 hidden=4096 num_topk=8 num_experts=256 nodes=2 "
      "gpus_per_node=8 gpu=H100\n"
      "[rank 0] Dispatch bandwidth: 40.00 GB/s, avg_t=100.00 us | Combine bandwidth: 40.00 GB/s, avg_t=200.00 us\n"
      "[rank 1] Dispatch bandwidth: 40.00 GB/s, avg_t=110.00 us | Combine bandwidth: 40.00 GB/s, avg_t=190.00 us\n";
  const auto b = parse_deepep_test_log(own, "b.log");
  REQUIRE(b.measurements.size() == 2);
  CHECK(b.measurements[0].time_s == Approx(105e-6));
  CHECK(b.measurements[1].time_s == Approx(195e-6));
  CHECK(b.measurements[0].nodes == 2);
  CHECK(b.measurements[0].gpu_name == "H100");
  CHECK_THAT(test::input_error_of([&] { parse_deepep_test_log(own.substr(own.find('\n') + 1), "c.log"); }),
             Catch::Contains("c.log: line 1: the run's num_tokens is not known") &&
                 Catch::Contains("# moesim-deepep:"));
  const std::string normal =
      "# moesim-deepep: test=internode num_experts=256 nodes=2 gpus_per_node=8\n"
      "[config] num_tokens=4096, hidden=7168, num_topk_groups=2, num_topk=8\n"
      "[tuning] Best dispatch (FP8): SMs 24, NVL chunk 8, RDMA chunk 16: 30 + 700 us, 43.21 GB/s (RDMA), 140.5 GB/s "
      "(NVL)\n"
      "[tuning] Best combine: SMs 24, NVL chunk 1, RDMA chunk 16, 30.00 + 720.00 us, 42.00 GB/s (RDMA), 137.0 GB/s "
      "(NVL)\n"
      "[tuning] Best dispatch (FP8): SMs 24, NVL chunk 8, RDMA chunk 16: 43.21 GB/s (RDMA), 140.52 GB/s (NVL)\n";
  const auto n = parse_deepep_test_log(normal, "n.log");
  REQUIRE(n.measurements.size() == 3);
  CHECK(n.measurements[0].op == "normal_dispatch");
  CHECK(n.measurements[0].time_s == Approx(730e-6));
  CHECK(n.measurements[1].op == "normal_combine");
  CHECK(n.measurements[1].time_s == Approx(750e-6));
  CHECK(n.measurements[2].metric == "rdma_bandwidth"); // the older bandwidth-only line
  CHECK(n.measurements[2].bandwidth_Bps == Approx(43.21e9));
  CHECK_THAT(test::input_error_of([&] { parse_deepep_test_log("# moesim-deepep: speed=3\n", "h.log"); }),
             Catch::Contains("h.log: line 1: unknown key 'speed'"));
}

namespace {

/// The measurements as fit cases on the cluster's own GPU and links.
std::vector<MoeCase> cases_of(const std::vector<Measurement>& ms, const Cluster& cluster)
{
  std::vector<MoeCase> cases;
  cases.reserve(ms.size());
  for (const auto& m : ms)
    cases.emplace_back(m, cluster.gpu(0), LinkValues{}, cluster);
  return cases;
}

/// For compute cases, which never ask the network.
PhaseSimulator no_network()
{
  return [](const LayerComm&, bool, double, const PhaseCost&, const LinkValues&, std::vector<double>&) {};
}

/// Synthetic DeepEP low-latency measurements on one 8-GPU node over a grid of shapes, simulated with `truth`.
std::vector<Measurement> synthetic_ll(const MoeParams& truth, const Cluster& cluster, const PhaseSimulator& sim)
{
  std::vector<Measurement> ms;
  int line = 0;
  for (int hidden : {2048, 7168})
    for (auto [k, e] : {std::pair{8, 256}, std::pair{2, 8}, std::pair{1, 16}, std::pair{8, 512}})
      for (int t : {1, 4, 16, 64, 256, 1024})
        for (const char* op : {"ll_dispatch", "ll_combine"}) {
          Measurement m;
          m.source = "synthetic";
          m.line = ++line;
          m.op = op;
          m.gpus_per_node = 8;
          m.hidden = hidden;
          m.top_k = k;
          m.experts = e;
          m.tokens = t;
          m.dtype = "fp8";
          m.routing = "deepep-test";
          m.time_s = 1.0; // a placeholder: the case reads it only as the measured value
          m.time_s = MoeCase(m, cluster.gpu(0), LinkValues{}, cluster).simulate(truth, sim);
          ms.push_back(m);
        }
  return ms;
}

} // namespace

TEST_CASE("The kernel fit recovers known deepep-ll parameters from synthetic measurements within 1%")
{
  const Cluster cluster = Cluster::uniform(1, 8, h100_sxm());
  test::StarNetwork net(8, 8, 450e9, 50e9, 1e-6);
  FastPhaseSolver solver;
  const PhaseSimulator sim = [&](const LayerComm& comm, bool dispatch, double unit, const PhaseCost& cost,
                                 const LinkValues&, std::vector<double>& end) {
    solver.solve(net, comm, dispatch, unit, cost, std::vector<double>(comm.tokens.size(), 0.0), end);
  };
  MoeParams truth;
  KernelParams tp = resolve_kernel_params(*make_a2a_kernel("deepep-ll"), {}, "test");
  tp["dispatch_fixed_s"] = 7e-6;
  tp["dispatch_group_s"] = 1.2e-6;
  tp["dispatch_goodput_intra"] = 0.62;
  tp["dispatch_token_s"] = 1.5e-6;
  tp["dispatch_byte_s"] = 1.4e-10;
  tp["combine_fixed_s"] = 6e-6;
  tp["combine_goodput_intra"] = 0.48;
  tp["combine_token_s"] = 1.1e-6;
  tp["combine_byte_s"] = 3.5e-11;
  truth.kernels["deepep-ll"] = tp;
  const auto ms = synthetic_ll(truth, cluster, sim);
  std::vector<MoeCase> cases = cases_of(ms, cluster);
  MoeParams fitted; // from the defaults
  fitted.kernels["deepep-ll"] = resolve_kernel_params(*make_a2a_kernel("deepep-ll"), {}, "test");
  std::vector<std::string> notes;
  fit_moe_params(cases, std::vector<bool>(cases.size(), false), fitted, sim, notes);
  REQUIRE_FALSE(notes.empty());
  // Every parameter that sets more than 1% of some measurement's time is recovered within 1%, and every simulated
  // time within 0.1%.
  for (const char* name : {"dispatch_fixed_s", "dispatch_group_s", "dispatch_goodput_intra", "dispatch_token_s",
                           "dispatch_byte_s", "combine_fixed_s", "combine_goodput_intra", "combine_token_s"}) {
    INFO(name);
    CHECK(fitted.kernels["deepep-ll"].at(name) == Approx(tp.at(name)).epsilon(0.01));
  }
  for (auto& c : cases)
    CHECK(c.simulate(fitted, sim) == Approx(c.measured()).epsilon(0.001));
}

namespace {

MoeParams compute_truth()
{
  MoeParams truth;
  truth.compute.hbm_efficiency = 0.83;
  truth.compute.gemm_fixed_s = 4e-6;
  truth.compute.expert_fixed_s = 11e-6;
  truth.compute.expert_group_s = 0.8e-6;
  truth.compute.expert_flop_efficiency = 0.58;
  return truth;
}

/// MoE-layer expert times simulated with `truth`: EP4-256, 1-512 tokens per GPU, balanced routing.
std::vector<Measurement> synthetic_moe(const MoeParams& truth, const Cluster& cluster, const PhaseSimulator& none)
{
  std::vector<Measurement> ms;
  int line = 0;
  for (int ep : {4, 8, 16, 64, 256})
    for (int t : {1, 2, 8, 32, 128, 512}) {
      Measurement m;
      m.source = "synthetic";
      m.line = ++line;
      m.op = "moe_experts";
      m.gpus_per_node = std::min(ep, 8);
      m.nodes = ep / m.gpus_per_node;
      m.hidden = 7168;
      m.inter = 2048;
      m.top_k = 8;
      m.experts = 256;
      m.tokens = t;
      m.dtype = "fp8";
      m.routing = "balanced";
      m.time_s = 1.0;
      m.time_s = MoeCase(m, cluster.gpu(0), LinkValues{}, cluster).simulate(truth, none);
      ms.push_back(m);
    }
  return ms;
}

} // namespace

TEST_CASE("The compute fit recovers known grouped-GEMM parameters from synthetic MoE-layer measurements")
{
  const Cluster cluster = Cluster::uniform(1, 8, h100_sxm());
  const PhaseSimulator none = no_network();
  const MoeParams truth = compute_truth();
  const std::vector<Measurement> ms = synthetic_moe(truth, cluster, none);
  std::vector<MoeCase> cases = cases_of(ms, cluster);
  MoeParams fitted;
  std::vector<std::string> notes;
  fit_moe_params(cases, std::vector<bool>(cases.size(), false), fitted, none, notes);
  CHECK(fitted.compute.hbm_efficiency == Approx(0.83).epsilon(0.01));
  CHECK(fitted.compute.expert_flop_efficiency == Approx(0.58).epsilon(0.01));
  CHECK(fitted.compute.expert_group_s == Approx(0.8e-6).epsilon(0.01));
  // The two fixed times add up in every measurement; their sum is what the data determines.
  CHECK(2 * fitted.compute.gemm_fixed() + fitted.compute.expert_fixed() == Approx(19e-6).epsilon(0.01));
  for (auto& c : cases)
    CHECK(c.simulate(fitted, none) == Approx(c.measured()).epsilon(0.001));
}

TEST_CASE("A noisy repetition among the MoE measurements is rejected as an outlier and the fit recovers the rest")
{
  const Cluster cluster = Cluster::uniform(1, 8, h100_sxm());
  const PhaseSimulator none = no_network();
  std::vector<Measurement> ms = synthetic_moe(compute_truth(), cluster, none);
  // EP16 at 8 tokens per GPU: a slow repetition, 1.6x its time, in the middle of its series.
  auto bad = std::find_if(ms.begin(), ms.end(), [](const Measurement& m) { return m.nodes == 2 && m.tokens == 8; });
  REQUIRE(bad != ms.end());
  bad->time_s *= 1.6;
  std::vector<MoeCase> cases = cases_of(ms, cluster);
  MoeParams fitted;
  std::vector<std::string> notes;
  std::vector<bool> outlier;
  fit_moe_params(cases, std::vector<bool>(cases.size(), false), fitted, none, notes, &outlier);
  REQUIRE(outlier.size() == cases.size());
  CHECK(std::count(outlier.begin(), outlier.end(), true) == 1);
  CHECK(outlier[static_cast<size_t>(bad - ms.begin())]);
  CHECK(std::any_of(notes.begin(), notes.end(), [&](const std::string& n) {
    return n.find("outlier rejected: synthetic line " + std::to_string(bad->line)) != std::string::npos;
  }));
  CHECK(fitted.compute.hbm_efficiency == Approx(0.83).epsilon(0.01));
  CHECK(fitted.compute.expert_flop_efficiency == Approx(0.58).epsilon(0.01));
}
