// moesim-calib-nccl: NCCL collectives on 1..N nodes, one process per GPU, launched by mpirun or srun (ranks from
// the launcher's environment; the NCCL id shared through --rendezvous, a directory every node sees; no MPI
// library needed). Operations: alltoall (grouped ncclSend/ncclRecv), alltoallv with skewed sizes, sendrecv (ring),
// p2p (rank 0 to rank 1, and to the first GPU of the next node), all_reduce; sizes in the nccl-tests convention
// (bytes per rank). Per iteration the slowest rank's time counts. Rank 0 writes the JSON (calib/README.md).
#include "calib_common.hpp"
#include "cuda_util.cuh"

#include <CLI/CLI.hpp>
#include <nccl.h>

#include <cmath>
#include <cstring>
#include <iostream>
#include <sstream>

using namespace moesim::calib;

#define CALIB_NCCL(call)                                                                                          \
  do {                                                                                                           \
    ncclResult_t r_ = (call);                                                                                    \
    if (r_ != ncclSuccess)                                                                                       \
      throw CalibError(std::string(#call) + ": " + ncclGetErrorString(r_));                                    \
  } while (0)

namespace {

/// Bytes rank `src` sends to `dst` in the skewed alltoallv: weight (1 + distance)^-skew over the ring distance,
/// normalised so every rank sends (n-1)/n of `bytes` in total (as in alltoall) — the pattern moesim calibrate
/// simulates for op "alltoallv" (core/calibration/calibration.cpp).
size_t skewed_bytes(int src, int dst, int n, double bytes, double skew)
{
  double total = 0;
  for (int d = 1; d < n; ++d)
    total += std::pow(1.0 + (d - 1), -skew);
  const int dist = ((dst - src) % n + n) % n;
  const double w = std::pow(1.0 + (dist - 1), -skew) / total;
  return static_cast<size_t>(std::floor(bytes * (n - 1) / n * w / 4)) * 4; // whole floats
}

} // namespace

int main(int argc, char** argv)
{
  CLI::App app{"NCCL collectives between GPUs of one or more nodes"};
  std::string min_size = "8", max_size = "1G", out = "nccl.json", rendezvous_dir, ops_text = "alltoall,alltoallv,sendrecv,p2p,all_reduce";
  double factor = 2, skew = 1.0, timeout_s = 300;
  int warmup = 5, iters = 20;
  app.add_option("--ops", ops_text, "comma-separated: alltoall, alltoallv, sendrecv, p2p, all_reduce")->capture_default_str();
  app.add_option("--min", min_size, "smallest size per rank (8, 64K, 1M, 1G)")->capture_default_str();
  app.add_option("--max", max_size, "largest size per rank")->capture_default_str();
  app.add_option("--factor", factor, "size step factor")->capture_default_str();
  app.add_option("--skew", skew, "alltoallv: weight (1 + ring distance)^-skew")->capture_default_str();
  app.add_option("--warmup", warmup, "untimed runs per size")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--iters", iters, "timed runs per size")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--rendezvous", rendezvous_dir, "directory on a shared file system for the NCCL id (multi-process runs)");
  app.add_option("--timeout", timeout_s, "seconds to wait for rank 0's NCCL id")->capture_default_str();
  app.add_option("-o,--out", out, "JSON file rank 0 writes")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    const auto sizes = size_range(parse_size(min_size), parse_size(max_size), factor);
    std::vector<std::string> ops;
    for (std::stringstream ss(ops_text); ss.good();) {
      std::string op;
      std::getline(ss, op, ',');
      if (op != "alltoall" && op != "alltoallv" && op != "sendrecv" && op != "p2p" && op != "all_reduce")
        throw CalibError("--ops: unknown operation '" + op + "'");
      ops.push_back(op);
    }
    const LaunchInfo li = launch_info(process_environment());
    int devices = 0;
    CALIB_CUDA(cudaGetDeviceCount(&devices));
    if (devices == 0)
      throw CalibError("no GPU");
    CALIB_CUDA(cudaSetDevice(li.local_rank % devices));
    ncclUniqueId id;
    if (li.rank == 0)
      CALIB_NCCL(ncclGetUniqueId(&id));
    if (li.world > 1) {
      if (rendezvous_dir.empty())
        throw CalibError("a run with " + std::to_string(li.world) + " ranks needs --rendezvous DIR (shared by all nodes)");
      const std::string job = process_environment().count("SLURM_JOB_ID") ? process_environment()["SLURM_JOB_ID"] : "job";
      const std::string got = rendezvous(rendezvous_dir, "nccl-id-" + job, li.rank,
                                         std::string(reinterpret_cast<const char*>(&id), sizeof id), timeout_s);
      std::memcpy(&id, got.data(), sizeof id);
    }
    ncclComm_t comm;
    CALIB_NCCL(ncclCommInitRank(&comm, li.world, id, li.rank));
    cudaStream_t s;
    CALIB_CUDA(cudaStreamCreate(&s));
    const int n = li.world;
    // Every rank's host name, gathered with NCCL itself.
    constexpr int kName = 64;
    char* names_d = nullptr;
    CALIB_CUDA(cudaMalloc(&names_d, static_cast<size_t>(kName) * n));
    {
      char mine[kName] = {0};
      std::strncpy(mine, hostname().c_str(), kName - 1);
      CALIB_CUDA(cudaMemcpy(names_d + static_cast<size_t>(kName) * li.rank, mine, kName, cudaMemcpyHostToDevice));
      CALIB_NCCL(ncclAllGather(names_d + static_cast<size_t>(kName) * li.rank, names_d, kName, ncclChar, comm, s));
      CALIB_CUDA(cudaStreamSynchronize(s));
    }
    std::vector<char> names_h(static_cast<size_t>(kName) * n);
    CALIB_CUDA(cudaMemcpy(names_h.data(), names_d, names_h.size(), cudaMemcpyDeviceToHost));
    std::vector<std::string> hosts;
    for (int r = 0; r < n; ++r)
      hosts.emplace_back(names_h.data() + static_cast<size_t>(kName) * r);
    Report report("nccl");
    describe_gpus(report);
    report.set_ranks(hosts);
    report.set_settings(warmup, iters);
    int nccl_version = 0;
    ncclGetVersion(&nccl_version);
    auto versions = report.json().value("versions", nlohmann::json::object()).get<std::map<std::string, std::string>>();
    versions["nccl"] = std::to_string(nccl_version);
    versions["launcher"] = li.launcher;
    report.set_versions(versions);
    const int gpn = report.json()["ranks"]["gpus_per_node"].get<int>();

    const size_t max_bytes = static_cast<size_t>(sizes.back());
    float *send = nullptr, *recv = nullptr, *times_d = nullptr;
    CALIB_CUDA(cudaMalloc(&send, max_bytes + 64));
    CALIB_CUDA(cudaMalloc(&recv, max_bytes + 64));
    CALIB_CUDA(cudaMalloc(&times_d, sizeof(float) * iters));
    CALIB_CUDA(cudaMemset(send, 0, max_bytes));
    auto record = [&](nlohmann::json fields, std::vector<double> samples) {
      // The slowest rank decides each iteration.
      std::vector<float> t(samples.begin(), samples.end());
      CALIB_CUDA(cudaMemcpy(times_d, t.data(), sizeof(float) * t.size(), cudaMemcpyHostToDevice));
      CALIB_NCCL(ncclAllReduce(times_d, times_d, t.size(), ncclFloat, ncclMax, comm, s));
      CALIB_CUDA(cudaStreamSynchronize(s));
      CALIB_CUDA(cudaMemcpy(t.data(), times_d, sizeof(float) * t.size(), cudaMemcpyDeviceToHost));
      if (li.rank == 0)
        report.add(std::move(fields), stats_of(std::vector<double>(t.begin(), t.end())), iters);
    };
    for (const auto& op : ops) {
      for (double bytes : sizes) {
        const size_t count = static_cast<size_t>(bytes) / sizeof(float);
        if (op == "alltoall" || op == "alltoallv") {
          if (count < static_cast<size_t>(n))
            continue; // less than one float per peer
          std::vector<size_t> out_b(n), in_b(n), out_off(n), in_off(n);
          for (int p = 0; p < n; ++p) {
            out_b[p] = op == "alltoall" ? count / n * sizeof(float) : skewed_bytes(li.rank, p, n, bytes, skew);
            in_b[p] = op == "alltoall" ? count / n * sizeof(float) : skewed_bytes(p, li.rank, n, bytes, skew);
            out_off[p] = p ? out_off[p - 1] + out_b[p - 1] : 0;
            in_off[p] = p ? in_off[p - 1] + in_b[p - 1] : 0;
          }
          auto samples = time_runs(s, warmup, iters, [&] {
            CALIB_NCCL(ncclGroupStart());
            for (int p = 0; p < n; ++p) {
              if (p == li.rank)
                continue;
              CALIB_NCCL(ncclSend(reinterpret_cast<char*>(send) + out_off[p], out_b[p], ncclChar, p, comm, s));
              CALIB_NCCL(ncclRecv(reinterpret_cast<char*>(recv) + in_off[p], in_b[p], ncclChar, p, comm, s));
            }
            CALIB_NCCL(ncclGroupEnd());
          });
          nlohmann::json f = {{"op", op}, {"bytes", bytes}, {"dtype", "float"}};
          if (op == "alltoallv")
            f["skew"] = skew;
          record(f, samples);
        } else if (op == "sendrecv") {
          if (n < 2)
            continue;
          auto samples = time_runs(s, warmup, iters, [&] {
            CALIB_NCCL(ncclGroupStart());
            CALIB_NCCL(ncclSend(send, count, ncclFloat, (li.rank + 1) % n, comm, s));
            CALIB_NCCL(ncclRecv(recv, count, ncclFloat, (li.rank + n - 1) % n, comm, s));
            CALIB_NCCL(ncclGroupEnd());
          });
          record({{"op", "sendrecv"}, {"bytes", bytes}, {"dtype", "float"}}, samples);
        } else if (op == "p2p") {
          // Inside a node (rank 0 -> 1) and, on several nodes, to the first GPU of the next node.
          std::vector<int> peers;
          if (gpn > 1)
            peers.push_back(1);
          if (n > gpn)
            peers.push_back(gpn);
          for (int peer : peers) {
            auto samples = time_runs(s, warmup, iters, [&] {
              if (li.rank == 0)
                CALIB_NCCL(ncclSend(send, count, ncclFloat, peer, comm, s));
              else if (li.rank == peer)
                CALIB_NCCL(ncclRecv(recv, count, ncclFloat, 0, comm, s));
            });
            record({{"op", "p2p"}, {"bytes", bytes}, {"src", 0}, {"dst", peer}, {"dtype", "float"}}, samples);
          }
        } else { // all_reduce
          if (count == 0)
            continue;
          auto samples = time_runs(s, warmup, iters, [&] {
            CALIB_NCCL(ncclAllReduce(send, recv, count, ncclFloat, ncclSum, comm, s));
          });
          record({{"op", "all_reduce"}, {"bytes", bytes}, {"dtype", "float"}}, samples);
        }
      }
      if (li.rank == 0)
        std::fprintf(stderr, "%s done\n", op.c_str());
    }
    if (li.rank == 0) {
      report.write(out);
      std::cout << out << "\n";
    }
    ncclCommDestroy(comm);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moesim-calib-nccl: error: %s\n", e.what());
    return 1;
  }
}
