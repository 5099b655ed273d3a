// moesim-calib-p2p: copy bandwidth and latency between the GPUs of one node (every ordered pair, or the first
// --pairs of them), cudaMemcpyPeerAsync from 8 B to 1 GiB. Writes one JSON file (calib/README.md).
#include "calib_common.hpp"
#include "cuda_util.cuh"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <unistd.h>

using namespace moesim::calib;

int main(int argc, char** argv)
{
  CLI::App app{"GPU-to-GPU copy bandwidth and latency inside a node"};
  std::string min_size = "8", max_size = "1G", out = "p2p.json";
  double factor = 2;
  int warmup = 5, iters = 20, pairs = 0;
  app.add_option("--min", min_size, "smallest message (8, 64K, 1M, 1G)")->capture_default_str();
  app.add_option("--max", max_size, "largest message")->capture_default_str();
  app.add_option("--factor", factor, "size step factor")->capture_default_str();
  app.add_option("--warmup", warmup, "untimed runs per size")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--iters", iters, "timed runs per size")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--pairs", pairs, "measure only the first N ordered pairs (0: all)")->capture_default_str();
  app.add_option("-o,--out", out, "JSON file to write")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    const auto sizes = size_range(parse_size(min_size), parse_size(max_size), factor);
    int count = 0;
    CALIB_CUDA(cudaGetDeviceCount(&count));
    if (count < 2)
      throw CalibError("moesim-calib-p2p needs at least two GPUs (found " + std::to_string(count) + ")");
    Report report("p2p");
    describe_gpus(report);
    report.set_ranks(std::vector<std::string>(count, hostname()));
    report.set_settings(warmup, iters);
    const size_t max_bytes = static_cast<size_t>(sizes.back());
    std::vector<void*> buf(count, nullptr);
    for (int d = 0; d < count; ++d) {
      CALIB_CUDA(cudaSetDevice(d));
      CALIB_CUDA(cudaMalloc(&buf[d], max_bytes));
      for (int p = 0; p < count; ++p) {
        int can = 0;
        cudaDeviceCanAccessPeer(&can, d, p);
        if (p != d && can)
          cudaDeviceEnablePeerAccess(p, 0); // already enabled is fine
      }
      cudaGetLastError();
    }
    int done = 0;
    for (int src = 0; src < count; ++src)
      for (int dst = 0; dst < count; ++dst) {
        if (src == dst || (pairs > 0 && done >= pairs))
          continue;
        ++done;
        CALIB_CUDA(cudaSetDevice(src));
        cudaStream_t s;
        CALIB_CUDA(cudaStreamCreate(&s));
        for (double bytes : sizes) {
          const auto samples = time_runs(s, warmup, iters, [&] {
            CALIB_CUDA(cudaMemcpyPeerAsync(buf[dst], dst, buf[src], src, static_cast<size_t>(bytes), s));
          });
          report.add({{"op", "p2p"}, {"bytes", bytes}, {"src", src}, {"dst", dst}}, stats_of(samples), iters);
        }
        cudaStreamDestroy(s);
        std::fprintf(stderr, "p2p %d -> %d done\n", src, dst);
      }
    report.write(out);
    std::cout << out << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moesim-calib-p2p: error: %s\n", e.what());
    return 1;
  }
}
