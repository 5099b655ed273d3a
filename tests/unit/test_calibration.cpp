// Calibration inputs (real and broken files), factor tables, collective patterns, and the fit recovering known
// parameters from synthetic measurements.
#include "core/calibration/calib_input.hpp"
#include "core/calibration/calibration.hpp"
#include "core/cluster/factor_table.hpp"
#include "core/io/errors.hpp"
#include "core/io/sha256.hpp"

#include "test_helpers.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include <fstream>
#include <set>
#include <sstream>

using namespace moesim;

namespace {

const std::string kLogs = std::string(MOESIM_SOURCE_DIR) + "/data/calib/nccl-tests-h100/";
const std::string kG8 = kLogs + "single-node/runs/20260128-145017/without-debug/logs/nccl_N1_G8_cnode3-002.log";
const std::string kN10 = kLogs + "multi-node/runs/20260129-180219/without-debug/logs/nccl_N10_G8.log";

} // namespace

TEST_CASE("Real nccl-tests logs: every test, shape and out-of-place time")
{
  const CalibInput in = read_calib_input(kG8);
  CHECK(in.format == "nccl-tests");
  CHECK(in.sha256.size() == 64);
  REQUIRE(in.measurements.size() == 50); // 5 tests x 10 sizes
  const Measurement& first = in.measurements.front();
  CHECK(first.op == "all_reduce");
  CHECK(first.nodes == 1);
  CHECK(first.gpus_per_node == 8);
  CHECK(first.bytes == 33554432);
  CHECK(first.time_s == Approx(182.87e-6));
  CHECK(first.dtype == "double");
  CHECK(first.gpu_name == "NVIDIA H100 80GB HBM3");
  int alltoall = 0;
  for (const auto& m : in.measurements)
    alltoall += m.op == "alltoall";
  CHECK(alltoall == 10);
  const CalibInput multi = read_calib_input(kN10);
  CHECK(multi.measurements.front().nodes == 10);
  CHECK(multi.measurements.front().gpus_per_node == 8);
  CHECK(multi.measurements.back().op == "sendrecv");
}

TEST_CASE("Truncated and garbled nccl-tests logs are clear errors")
{
  const std::string text = test::read_file(kG8);
  // Cut in the middle of the first table: rows but no closing line.
  const size_t cut = text.find("   268435456");
  REQUIRE(cut != std::string::npos);
  const std::string truncated = text.substr(0, cut);
  const std::string msg = test::input_error_of([&] { parse_nccl_tests_log(truncated, "cut.log"); });
  CHECK_THAT(msg, Catch::Contains("cut.log"));
  CHECK_THAT(msg, Catch::Contains("truncated"));
  // A row cut short.
  std::string short_row = text;
  short_row.replace(cut, short_row.find('\n', cut) - cut, "   268435456      33554432    double");
  CHECK_THAT(test::input_error_of([&] { parse_nccl_tests_log(short_row, "short.log"); }), Catch::Contains("line 23"));
  // A garbled number.
  std::string garbled = text;
  garbled.replace(garbled.find("182.87"), 6, "18x.87");
  const std::string g = test::input_error_of([&] { parse_nccl_tests_log(garbled, "garbled.log"); });
  CHECK_THAT(g, Catch::Contains("garbled.log"));
  CHECK_THAT(g, Catch::Contains("time (us)"));
  CHECK_THAT(g, Catch::Contains("18x.87"));
  // No test at all.
  CHECK_THAT(test::input_error_of([] { parse_nccl_tests_log("# nccl-tests version 2.17.8\n", "empty.log"); }),
             Catch::Contains("no nccl-tests measurements"));
}

TEST_CASE("nccl-tests logs as clusters have them: launcher prefixes, no test names, noise between rows")
{
  const std::string text = test::read_file(kG8);
  // Open MPI --tag-output, SkyPilot's and srun --label's prefixes on every line; NCCL INFO lines whose host name
  // starts with a digit.
  std::string tagged, sky, srun;
  std::istringstream lines(text);
  for (std::string l; std::getline(lines, l);) {
    tagged += "[1,0]<stdout>:" + l + "\n";
    sky += "(head, rank=0, pid=3808) [1,0]<stdout>:" + l + "\n";
    srun += "0: " + l + "\n";
    if (l.rfind("    33554432", 0) == 0)
      tagged += "[1,0]<stdout>:10-0-1-5:21:21 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/CUMEM\n";
  }
  const auto plain = parse_nccl_tests_log(text, "g8.log").measurements;
  for (const std::string* t : {&tagged, &sky, &srun}) {
    const auto got = parse_nccl_tests_log(*t, "g8.log").measurements;
    REQUIRE(got.size() == plain.size());
    CHECK(got.front().op == "all_reduce");
    CHECK(got.back().time_s == plain.back().time_s);
  }
  // Older nccl-tests: no version and no "Collective test starting" line; the file names the test.
  std::string old;
  std::istringstream again(text);
  int tests = 0;
  for (std::string l; std::getline(again, l);) {
    if (l.find("Collective test starting") != std::string::npos && ++tests == 2)
      break; // the first test only
    if (l.find("nccl-tests version") == std::string::npos && l.find("Collective test starting") == std::string::npos)
      old += l + "\n";
  }
  const auto by_name = parse_nccl_tests_log(old, "logs/allreduce_8gpu.txt");
  REQUIRE(by_name.measurements.size() == 10);
  CHECK(by_name.measurements.front().op == "all_reduce");
  // Without a helpful file name an all_reduce is told by its busbw / algbw = 2 (n - 1) / n and its sum.
  const auto by_table = parse_nccl_tests_log(old, "run.log");
  CHECK(by_table.measurements.front().op == "all_reduce");
  std::string gather = old; // the same table with its reduction dropped: all_gather or alltoall, it cannot say
  for (size_t at = gather.find("     sum "); at != std::string::npos; at = gather.find("     sum ", at))
    gather.replace(at, 9, "    none ");
  CHECK_THAT(test::input_error_of([&] { parse_nccl_tests_log(gather, "run.log"); }),
             Catch::Contains("run.log: line") && Catch::Contains("cannot tell which collective"));
}

TEST_CASE("Ring collectives alone set the links from their bus bandwidth")
{
  std::vector<Measurement> ms;
  for (double bytes : {1e8, 1e9, 4e9}) {
    Measurement m;
    m.source = "ag.log";
    m.op = "all_gather";
    m.nodes = 2;
    m.gpus_per_node = 8;
    m.bytes = bytes;
    m.time_s = bytes * 15.0 / 16.0 / 320e9; // busbw 320 GB/s over a node's 8 NICs
    ms.push_back(m);
    m.op = "all_reduce";
    m.nodes = 1;
    m.time_s = bytes * 2 * 7.0 / 8.0 / 360e9; // single-node busbw 360 GB/s
    ms.push_back(m);
  }
  PlatformParams base;
  const CalibrationResult r = fit_link_values(ms, std::vector<bool>(ms.size(), false), base);
  CHECK(r.platform.nic_Bps == Approx(40e9));
  CHECK(r.platform.nvlink_Bps == Approx(360e9));
  CHECK(r.platform.pcie_Bps >= r.platform.nic_Bps);
}

TEST_CASE("Calibration CSVs: elements and milliseconds, DeepGEMM TFLOP/s")
{
  const CalibInput nccl = read_calib_input(std::string(MOESIM_SOURCE_DIR) + "/data/calib/nccl-perf-h100-1node/nccl_perf.csv");
  CHECK(nccl.format == "nccl-perf-csv");
  REQUIRE(!nccl.measurements.empty());
  // First row: all_gather, half, 2 GPUs, 256 elements, 0.00531 ms.
  CHECK(nccl.measurements[0].op == "all_gather");
  CHECK(nccl.measurements[0].bytes == 512);
  CHECK(nccl.measurements[0].time_s == Approx(5.31e-6));
  const CalibInput gemm = read_calib_input(std::string(MOESIM_SOURCE_DIR) + "/data/calib/deepgemm-h800/deepgemm_h800.csv");
  REQUIRE(gemm.measurements.size() == 28);
  const Measurement& m = gemm.measurements[0]; // dense,1,64,2112,7168,206 TFLOP/s
  CHECK(m.time_s == Approx(2.0 * 64 * 2112 * 7168 / 206e12));
  CHECK_THAT(test::input_error_of([] { parse_nccl_perf_csv("framework,version\n", "x.csv"); }), Catch::Contains("header"));
  CHECK_THAT(test::input_error_of([] {
               parse_nccl_perf_csv("framework,version,device,op_name,kernel_source,nccl_dtype,num_gpus,message_size,"
                                   "latency\nT,1,H100,alltoall,NCCL,half,8,-4,0.1\n",
                                   "neg.csv");
             }),
             Catch::Contains("line 2"));
}

TEST_CASE("calib/ JSON: schema, strict keys, time statistics")
{
  const std::string ok = R"({"schema": "moesim-calib/1", "benchmark": "p2p",
    "ranks": {"world": 2, "nodes": 1, "gpus_per_node": 2},
    "measurements": [{"op": "p2p", "bytes": 1048576, "reps": 20, "src": 0, "dst": 1,
                      "time_s": {"min": 4e-6, "median": 5e-6, "max": 9e-6}}]})";
  const CalibInput in = parse_calib_json(ok, "p2p.json");
  REQUIRE(in.measurements.size() == 1);
  CHECK(in.measurements[0].time_s == 5e-6);
  CHECK(in.measurements[0].gpus_per_node == 2);
  std::string unknown = ok;
  unknown.replace(unknown.find("\"reps\""), 6, "\"repz\"");
  CHECK_THAT(test::input_error_of([&] { parse_calib_json(unknown, "u.json"); }), Catch::Contains("repz"));
  std::string order = ok;
  order.replace(order.find("\"min\": 4e-6"), 11, "\"min\": 6e-6");
  CHECK_THAT(test::input_error_of([&] { parse_calib_json(order, "o.json"); }), Catch::Contains("min <= median <= max"));
}

TEST_CASE("Factor tables interpolate in log size and parse strictly")
{
  FactorTable t = FactorTable::parse("1024:0.5;4096:1", "p.xml", "prop");
  CHECK(t.eval(100) == 0.5);
  CHECK(t.eval(1024) == 0.5);
  CHECK(t.eval(2048) == Approx(0.75));
  CHECK(t.eval(1e9) == 1.0);
  CHECK(t.covers(2048));
  CHECK_FALSE(t.covers(100));
  CHECK(FactorTable::parse(t.to_string(), "p.xml", "prop").factor == t.factor);
  CHECK_THAT(test::input_error_of([] { FactorTable::parse("4096:1;1024:0.5", "p.xml", "prop"); }), Catch::Contains("ascending"));
  CHECK_THAT(test::input_error_of([] { FactorTable::parse("4096:0", "p.xml", "prop"); }), Catch::Contains("positive"));
  CHECK_THAT(test::input_error_of([] { FactorTable::parse("4096", "p.xml", "prop"); }), Catch::Contains("size:factor"));
  std::map<std::string, std::string> bad = {{"moesim_bandwidth_factor_sideways", "1:1"}};
  CHECK_THAT(test::input_error_of([&] { PlatformCalibration::from_props(bad, "p.xml"); }), Catch::Contains("unknown moesim"));
  PlatformCalibration c;
  c.bandwidth_intra = t;
  c.overhead_intra_s = 5e-6;
  c.op_factor["all_reduce/1x8/half"] = t;
  c.op_overhead_s["alltoall/10x1"] = 3e-6;
  const PlatformCalibration back = PlatformCalibration::from_props(c.to_props(), "p.xml");
  CHECK(back.overhead_intra_s == 5e-6);
  CHECK(back.op_factor.count("all_reduce/1x8/half") == 1);
  CHECK(back.op_overhead_s.at("alltoall/10x1") == 3e-6);
}

TEST_CASE("A calibration record's platform reads back as written; bad records name the file and key")
{
  PlatformParams p;
  p.topology = Topology::FatTree;
  p.nodes = 3;
  p.nvlink_Bps = 355.9e9;
  p.nic_Bps = 45.9e9;
  p.gpu.hbm_capacity_bytes = 80e9;
  PlatformCalibration c;
  c.bandwidth_inter = FactorTable::parse("4096:0.5;1048576:0.9", "t", "t");
  c.overhead_inter_s = 6.4e-6;
  nlohmann::json record;
  write_record_platform(p, c, record);
  char dir[] = "/tmp/moesim-record-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string file = std::string(dir) + "/r.json";
  std::ofstream(file) << record.dump(2);
  const PlatformParams back = read_record_platform(file);
  CHECK(back.topology == Topology::FatTree);
  CHECK(back.nodes == 3);
  CHECK(back.nvlink_Bps == 355.9e9);
  CHECK(back.nic_Bps == 45.9e9);
  CHECK(back.gpu.hbm_capacity_bytes == 80e9);
  CHECK(back.zone_properties == c.to_props());
  record["platform"]["topology"] = "torus";
  std::ofstream(file) << record.dump(2);
  CHECK_THAT(test::input_error_of([&] { read_record_platform(file); }), Catch::Contains(file) && Catch::Contains("topology"));
  record["platform"]["topology"] = "rail";
  record.erase("zone_properties");
  std::ofstream(file) << record.dump(2);
  CHECK_THAT(test::input_error_of([&] { read_record_platform(file); }), Catch::Contains("zone_properties"));
  std::remove(file.c_str());
  rmdir(dir);
}

TEST_CASE("Collective patterns carry the nccl-tests volumes")
{
  const auto a2a = collective_pattern("alltoall", 2, 4, 8, 8000);
  CHECK(a2a.transfers.size() == 8 * 7);
  CHECK(std::get<2>(a2a.transfers[0]) == 1000);
  CHECK(std::get<1>(a2a.transfers[3]) == 8); // rank 4 sits on node 1, GPU 0 of an 8-GPU platform node
  const auto ar = collective_pattern("all_reduce", 2, 4, 4, 8000);
  double out_of_rank0 = 0;
  for (auto [s, d, b] : ar.transfers)
    if (s == 0)
      out_of_rank0 += b;
  CHECK(out_of_rank0 == Approx(2.0 * 7 / 8 * 8000)); // 2(n-1)/n of the size leaves every rank
  CHECK(ar.latency_steps == 14);
  // One ring per GPU of a node, each leaving the node through a different GPU.
  std::set<int> exits;
  for (auto [s, d, b] : ar.transfers)
    if (s / 4 != d / 4 && s / 4 == 0)
      exits.insert(s);
  CHECK(exits.size() == 4);
  CHECK_THROWS_AS(collective_pattern("alltoall", 1, 16, 8, 1), UsageError);
}

namespace {

/// Synthetic "cluster": one node of 8 GPUs, alltoall time = overhead + route + the busiest GPU's bytes at
/// bandwidth x factor(message size) — what the fast model computes for a uniform all-to-all.
struct Truth {
  double bandwidth_Bps = 400e9;
  double overhead_s = 5e-6;
  double route_s = 1e-6;
  FactorTable factor = FactorTable::parse("8192:1;65536:0.3;1048576:0.6;16777216:0.95;268435456:1", "truth", "");
};

double analytic(const CollectivePattern& pat, double bandwidth_Bps, double route_s, const PlatformCalibration& c,
                double op_factor)
{
  std::map<int, double> out_bytes;
  for (auto [s, d, b] : pat.transfers)
    out_bytes[s] += b / (c.bandwidth_factor(false, b) * op_factor);
  double busiest = 0;
  for (auto& [s, b] : out_bytes)
    busiest = std::max(busiest, b);
  const double overhead = pat.overhead_s >= 0 ? pat.overhead_s : c.overhead_intra_s;
  return overhead + pat.latency_steps * route_s + busiest / bandwidth_Bps;
}

} // namespace

TEST_CASE("The fit recovers known link bandwidth, overhead and factors from synthetic measurements")
{
  Truth truth;
  PlatformCalibration true_calib;
  true_calib.bandwidth_intra = truth.factor;
  true_calib.overhead_intra_s = truth.overhead_s;
  std::vector<Measurement> ms;
  for (double bytes = 512; bytes <= 8.0 * (1 << 30); bytes *= 2) {
    Measurement m;
    m.source = "synthetic";
    m.line = static_cast<int>(ms.size()) + 1;
    m.op = "alltoall";
    m.nodes = 1;
    m.gpus_per_node = 8;
    m.bytes = bytes;
    m.time_s = analytic(collective_pattern("alltoall", 1, 8, 8, bytes), truth.bandwidth_Bps, truth.route_s,
                        true_calib, 1.0);
    ms.push_back(m);
  }
  // One slow repetition (twice the time) must be rejected, not fitted.
  ms[12].time_s *= 2;
  PlatformParams base;
  base.nvlink_latency_s = truth.route_s / 2;
  CalibrationResult r = fit_link_values(ms, std::vector<bool>(ms.size(), false), base);
  fit_factors(r, [&](const CollectivePattern& pat, const PlatformCalibration& c, double f) {
    return analytic(pat, r.platform.nvlink_Bps, truth.route_s, c, f);
  });
  CHECK(r.platform.nvlink_Bps == base.nvlink_Bps); // links keep the datasheet value, the factors carry NCCL's goodput
  CHECK(r.network.overhead_intra_s == Approx(truth.overhead_s).epsilon(0.01));
  CHECK(r.points[12].outlier);
  int checked = 0;
  for (const auto& p : r.points) {
    if (p.outlier || p.weight < 0.1)
      continue;
    // The fitted bandwidth (link x factor) at each informative size matches the truth within 1%.
    const double fitted = r.platform.nvlink_Bps * r.network.bandwidth_intra.eval(p.key);
    const double expected = truth.bandwidth_Bps * truth.factor.eval(p.key);
    CHECK(fitted == Approx(expected).epsilon(0.01));
    ++checked;
  }
  CHECK(checked >= 12);
  // Held-out sizes in between are predicted from the others.
  const auto held = every_other_holdout(ms);
  CHECK(held[1]);
  CHECK_FALSE(held[0]);
}

TEST_CASE("Input digests passed down by a parent are used only while the file is unchanged")
{
  const std::string path = "/tmp/moesim-digest-" + std::to_string(::getpid()) + ".txt";
  std::ofstream(path) << "hello\n";
  const std::string real = sha256_file(path);
  std::string fake = moesim::digests_for_children({path});
  REQUIRE(fake.find(real) != std::string::npos);
  fake.replace(fake.find(real), 64, std::string(64, 'f'));
  ::setenv(kDigestsEnv, fake.c_str(), 1);
  CHECK(sha256_file(path) == std::string(64, 'f')); // the parent's digest is taken as is
  std::ofstream(path, std::ios::app) << "changed\n"; // new size (and mtime): recomputed
  CHECK(sha256_file(path) != std::string(64, 'f'));
  CHECK(sha256_file(path) != real);
  ::unsetenv(kDigestsEnv);
  std::remove(path.c_str());
}
