#pragma once
// CUDA/NCCL/cuBLAS error checks that throw CalibError (main prints and exits 1), and the facts every report
// records about the GPUs and the software.
#include "calib_common.hpp"

#include <cuda_runtime.h>
#include <unistd.h>

#include <cstdio>

#include <string>

#define CALIB_CUDA(call)                                                                                          \
  do {                                                                                                           \
    cudaError_t e_ = (call);                                                                                     \
    if (e_ != cudaSuccess)                                                                                       \
      throw moesim::calib::CalibError(std::string(#call) + ": " + cudaGetErrorString(e_));                     \
  } while (0)

namespace moesim::calib {

inline std::string hostname()
{
  char buf[256] = {0};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

/// Driver and runtime versions, GPU names and `nvidia-smi topo -m` into the report.
inline void describe_gpus(Report& r)
{
  int driver = 0, runtime = 0, count = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  CALIB_CUDA(cudaGetDeviceCount(&count));
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp p{};
    CALIB_CUDA(cudaGetDeviceProperties(&p, d));
    char bus[32];
    std::snprintf(bus, sizeof bus, "%04x:%02x:%02x", p.pciDomainID, p.pciBusID, p.pciDeviceID);
    r.add_gpu(p.name, d, bus);
  }
  r.set_host(hostname());
  r.set_versions({{"cuda_driver", std::to_string(driver)}, {"cuda_runtime", std::to_string(runtime)},
                  {"nvidia_smi", command_output("nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1")}});
  r.set_topology(command_output("nvidia-smi topo -m"));
}

/// Times `iters` runs of `fn` on `stream` after `warmup` untimed ones; seconds per run.
template <typename Fn> std::vector<double> time_runs(cudaStream_t stream, int warmup, int iters, Fn fn)
{
  cudaEvent_t a, b;
  CALIB_CUDA(cudaEventCreate(&a));
  CALIB_CUDA(cudaEventCreate(&b));
  for (int i = 0; i < warmup; ++i)
    fn();
  CALIB_CUDA(cudaStreamSynchronize(stream));
  std::vector<double> out;
  for (int i = 0; i < iters; ++i) {
    CALIB_CUDA(cudaEventRecord(a, stream));
    fn();
    CALIB_CUDA(cudaEventRecord(b, stream));
    CALIB_CUDA(cudaEventSynchronize(b));
    float ms = 0;
    CALIB_CUDA(cudaEventElapsedTime(&ms, a, b));
    out.push_back(ms * 1e-3);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return out;
}

} // namespace moesim::calib
