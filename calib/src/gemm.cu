// moesim-calib-gemm: the expert FFN of a MoE model as grouped GEMMs (every expert of a GPU gets m tokens:
// gate/up projection [m x hidden] x [hidden x 2 ffn] and down projection [m x ffn] x [ffn x hidden]) for
// m = 1 .. 4096 tokens per expert, in BF16 (cuBLAS strided-batched) and FP8 E4M3 with BF16 output (cuBLASLt,
// compute capability 8.9+); the same BF16 shapes as one grouped GEMM over per-expert pointers
// (cublasGemmGroupedBatchedEx: each expert its own weights and token buffer, the way a decode MoE layer's masked
// grouped GEMM visits every local expert); and HBM bandwidth with a copy kernel. Writes one JSON file
// (calib/README.md).
#include "calib_common.hpp"
#include "cuda_util.cuh"

#include <CLI/CLI.hpp>
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <iostream>
#include <sstream>

using namespace moesim::calib;

#define CALIB_CUBLAS(call)                                                                                        \
  do {                                                                                                           \
    cublasStatus_t st_ = (call);                                                                                 \
    if (st_ != CUBLAS_STATUS_SUCCESS)                                                                            \
      throw CalibError(std::string(#call) + ": cuBLAS status " + std::to_string(static_cast<int>(st_)));        \
  } while (0)

namespace {

__global__ void copy_kernel(const float4* __restrict__ in, float4* __restrict__ out, size_t n)
{
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    out[i] = in[i];
}

/// C[g] (n x m, column-major) = W[g] (n x k) x A[g] (k x m): m tokens through an n x k projection, per expert.
void bf16_grouped(cublasHandle_t h, int m, int n, int k, int groups, const void* w, const void* a, void* c)
{
  const float one = 1.0f, zero = 0.0f;
  CALIB_CUBLAS(cublasGemmStridedBatchedEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &one, w, CUDA_R_16BF, n,
                                          static_cast<long long>(n) * k, a, CUDA_R_16BF, k,
                                          static_cast<long long>(k) * m, &zero, c, CUDA_R_16BF, n,
                                          static_cast<long long>(n) * m, groups, CUBLAS_COMPUTE_32F,
                                          CUBLAS_GEMM_DEFAULT));
}

/// The same as one grouped GEMM over per-expert pointer arrays (device arrays w_ptrs/a_ptrs/c_ptrs, `groups` each).
void bf16_pointer_grouped(cublasHandle_t h, int m, int n, int k, int groups, const void* const* w_ptrs,
                          const void* const* a_ptrs, void* const* c_ptrs)
{
  const cublasOperation_t op = CUBLAS_OP_N;
  const float one = 1.0f, zero = 0.0f;
  CALIB_CUBLAS(cublasGemmGroupedBatchedEx(h, &op, &op, &n, &m, &k, &one, w_ptrs, CUDA_R_16BF, &n, a_ptrs,
                                          CUDA_R_16BF, &k, &zero, c_ptrs, CUDA_R_16BF, &n, 1, &groups,
                                          CUBLAS_COMPUTE_32F));
}

/// The same with FP8 E4M3 inputs and BF16 output through cuBLASLt (FP8 needs the "TN" layout: W stored k x n).
struct Fp8Gemm {
  cublasLtHandle_t lt;
  void* workspace = nullptr;
  size_t workspace_bytes = 64u << 20;
  explicit Fp8Gemm(cublasLtHandle_t h) : lt(h) { CALIB_CUDA(cudaMalloc(&workspace, workspace_bytes)); }
  ~Fp8Gemm() { cudaFree(workspace); }
  void run(int m, int n, int k, int groups, const void* w, const void* a, void* c, cudaStream_t s)
  {
    cublasLtMatmulDesc_t op;
    CALIB_CUBLAS(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t t = CUBLAS_OP_T, nn = CUBLAS_OP_N;
    CALIB_CUBLAS(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof t));
    CALIB_CUBLAS(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &nn, sizeof nn));
    cublasLtMatrixLayout_t la, lb, lc;
    CALIB_CUBLAS(cublasLtMatrixLayoutCreate(&la, CUDA_R_8F_E4M3, k, n, k));
    CALIB_CUBLAS(cublasLtMatrixLayoutCreate(&lb, CUDA_R_8F_E4M3, k, m, k));
    CALIB_CUBLAS(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, n, m, n));
    const int32_t batch = groups;
    const int64_t sa = static_cast<int64_t>(k) * n, sb = static_cast<int64_t>(k) * m, sc = static_cast<int64_t>(n) * m;
    for (auto [l, stride] : {std::pair{la, sa}, std::pair{lb, sb}, std::pair{lc, sc}}) {
      CALIB_CUBLAS(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch));
      CALIB_CUBLAS(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                                    sizeof stride));
    }
    cublasLtMatmulPreference_t pref;
    CALIB_CUBLAS(cublasLtMatmulPreferenceCreate(&pref));
    CALIB_CUBLAS(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                      &workspace_bytes, sizeof workspace_bytes));
    cublasLtMatmulHeuristicResult_t heur{};
    int found = 0;
    CALIB_CUBLAS(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 1, &heur, &found));
    if (found == 0)
      throw CalibError("cuBLASLt has no FP8 algorithm for m=" + std::to_string(m) + " n=" + std::to_string(n) +
                       " k=" + std::to_string(k));
    const float one = 1.0f, zero = 0.0f;
    CALIB_CUBLAS(cublasLtMatmul(lt, op, &one, w, la, a, lb, &zero, c, lc, c, lc, &heur.algo, workspace,
                                workspace_bytes, s));
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(op);
  }
};

} // namespace

int main(int argc, char** argv)
{
  CLI::App app{"Expert FFN grouped GEMMs (BF16, FP8) and HBM bandwidth on one GPU"};
  int hidden = 7168, ffn = 2048, groups = 8, warmup = 5, iters = 20, device = 0;
  std::string tokens_text = "1,2,4,8,16,32,64,128,256,512,1024,2048,4096", dtypes_text = "bf16,fp8", out = "gemm.json";
  std::string layouts_text = "strided,grouped";
  std::string hbm_min = "64M", hbm_max = "4G";
  app.add_option("--hidden", hidden, "model hidden size (k of gate/up, n of down)")->capture_default_str();
  app.add_option("--ffn", ffn, "expert intermediate size (moe_intermediate_size)")->capture_default_str();
  app.add_option("--experts", groups, "experts per GPU (GEMM groups)")->capture_default_str();
  app.add_option("--tokens", tokens_text, "tokens per expert, comma-separated")->capture_default_str();
  app.add_option("--dtypes", dtypes_text, "bf16 and/or fp8")->capture_default_str();
  app.add_option("--layouts", layouts_text,
                 "strided (one strided-batched GEMM) and/or grouped (per-expert pointers; BF16 only)")
      ->capture_default_str();
  app.add_option("--hbm-min", hbm_min, "smallest HBM copy")->capture_default_str();
  app.add_option("--hbm-max", hbm_max, "largest HBM copy")->capture_default_str();
  app.add_option("--warmup", warmup, "untimed runs")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--iters", iters, "timed runs")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--device", device, "GPU index")->capture_default_str();
  app.add_option("-o,--out", out, "JSON file to write")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    std::vector<int> tokens;
    for (std::stringstream ss(tokens_text); ss.good();) {
      std::string t;
      std::getline(ss, t, ',');
      const double v = parse_size(t);
      if (v != static_cast<int>(v) || v > 1 << 20)
        throw CalibError("--tokens: '" + t + "' is not a token count");
      tokens.push_back(static_cast<int>(v));
    }
    std::vector<std::string> dtypes;
    for (std::stringstream ss(dtypes_text); ss.good();) {
      std::string d;
      std::getline(ss, d, ',');
      if (d != "bf16" && d != "fp8")
        throw CalibError("--dtypes: '" + d + "' (expected bf16 or fp8)");
      dtypes.push_back(d);
    }
    std::vector<std::string> layouts;
    for (std::stringstream ss(layouts_text); ss.good();) {
      std::string l;
      std::getline(ss, l, ',');
      if (l != "strided" && l != "grouped")
        throw CalibError("--layouts: '" + l + "' (expected strided or grouped)");
      layouts.push_back(l);
    }
    if (hidden <= 0 || ffn <= 0 || groups <= 0)
      throw CalibError("--hidden, --ffn and --experts must be positive");
    // Every option is checked before the first CUDA call.
    const auto hbm_sizes = size_range(parse_size(hbm_min), parse_size(hbm_max), 2);
    CALIB_CUDA(cudaSetDevice(device));
    cudaDeviceProp prop{};
    CALIB_CUDA(cudaGetDeviceProperties(&prop, device));
    Report report("gemm");
    describe_gpus(report);
    report.set_ranks({hostname()});
    report.set_settings(warmup, iters);
    cudaStream_t s;
    CALIB_CUDA(cudaStreamCreate(&s));

    // HBM: copy kernel; bytes = read + written.
    {
      const auto& sizes = hbm_sizes;
      void *in = nullptr, *outb = nullptr;
      CALIB_CUDA(cudaMalloc(&in, static_cast<size_t>(sizes.back())));
      CALIB_CUDA(cudaMalloc(&outb, static_cast<size_t>(sizes.back())));
      for (double bytes : sizes) {
        const size_t n4 = static_cast<size_t>(bytes) / sizeof(float4);
        const int blocks = prop.multiProcessorCount * 8;
        auto samples = time_runs(s, warmup, iters, [&] {
          copy_kernel<<<blocks, 512, 0, s>>>(static_cast<const float4*>(in), static_cast<float4*>(outb), n4);
          CALIB_CUDA(cudaGetLastError());
        });
        report.add({{"op", "hbm"}, {"bytes", 2.0 * n4 * sizeof(float4)}}, stats_of(samples), iters);
      }
      cudaFree(in);
      cudaFree(outb);
    }

    cublasHandle_t h;
    CALIB_CUBLAS(cublasCreate(&h));
    CALIB_CUBLAS(cublasSetStream(h, s));
    cublasLtHandle_t lt;
    CALIB_CUBLAS(cublasLtCreate(&lt));
    Fp8Gemm fp8(lt);
    const int max_m = *std::max_element(tokens.begin(), tokens.end());
    const size_t max_w = static_cast<size_t>(groups) * 2 * ffn * hidden;
    const size_t max_a = static_cast<size_t>(groups) * max_m * std::max(hidden, ffn);
    const size_t max_c = static_cast<size_t>(groups) * max_m * std::max(2 * ffn, hidden);
    void *w = nullptr, *a = nullptr, *c = nullptr;
    CALIB_CUDA(cudaMalloc(&w, max_w * 2));
    CALIB_CUDA(cudaMalloc(&a, max_a * 2));
    CALIB_CUDA(cudaMalloc(&c, max_c * 2));
    CALIB_CUDA(cudaMemset(w, 0, max_w * 2));
    CALIB_CUDA(cudaMemset(a, 0, max_a * 2));
    // Per-expert pointers into the same buffers, at the strided layout's offsets (expert g: weights g*n*k,
    // tokens g*k*m, output g*n*m elements), so both layouts touch the same bytes.
    std::vector<const void*> w_host(groups), a_host(groups);
    std::vector<void*> c_host(groups);
    const void** w_ptrs = nullptr;
    const void** a_ptrs = nullptr;
    void** c_ptrs = nullptr;
    CALIB_CUDA(cudaMalloc(&w_ptrs, groups * sizeof(void*)));
    CALIB_CUDA(cudaMalloc(&a_ptrs, groups * sizeof(void*)));
    CALIB_CUDA(cudaMalloc(&c_ptrs, groups * sizeof(void*)));
    auto set_pointers = [&](size_t m, size_t n, size_t k) {
      for (int g = 0; g < groups; ++g) {
        w_host[g] = static_cast<const char*>(w) + 2 * g * n * k;
        a_host[g] = static_cast<const char*>(a) + 2 * g * k * m;
        c_host[g] = static_cast<char*>(c) + 2 * g * n * m;
      }
      CALIB_CUDA(cudaMemcpy(w_ptrs, w_host.data(), groups * sizeof(void*), cudaMemcpyHostToDevice));
      CALIB_CUDA(cudaMemcpy(a_ptrs, a_host.data(), groups * sizeof(void*), cudaMemcpyHostToDevice));
      CALIB_CUDA(cudaMemcpy(c_ptrs, c_host.data(), groups * sizeof(void*), cudaMemcpyHostToDevice));
    };
    const bool has_fp8 = prop.major * 10 + prop.minor >= 89;
    for (const auto& layout : layouts)
      for (const auto& dt : dtypes) {
        if (dt == "fp8" && !has_fp8) {
          std::fprintf(stderr, "fp8 skipped: %s (compute capability %d.%d) has no FP8 tensor cores\n", prop.name,
                       prop.major, prop.minor);
          continue;
        }
        if (dt == "fp8" && layout == "grouped") {
          std::fprintf(stderr, "fp8 grouped skipped: cublasGemmGroupedBatchedEx has no FP8 inputs\n");
          continue;
        }
        for (int m : tokens)
          for (const auto& shape : {std::tuple{2 * ffn, hidden, "gate_up"}, std::tuple{hidden, ffn, "down"}}) {
            const int n = std::get<0>(shape), k = std::get<1>(shape);
            const char* layer = std::get<2>(shape);
            if (layout == "grouped")
              set_pointers(m, n, k);
            auto samples = time_runs(s, warmup, iters, [&] {
              if (layout == "grouped")
                bf16_pointer_grouped(h, m, n, k, groups, w_ptrs, a_ptrs, c_ptrs);
              else if (dt == "bf16")
                bf16_grouped(h, m, n, k, groups, w, a, c);
              else
                fp8.run(m, n, k, groups, w, a, c, s);
            });
            const std::string name = layout == "grouped" ? "grouped_pointers_" : "grouped_uniform_";
            report.add({{"op", "gemm"}, {"m", m}, {"n", n}, {"k", k}, {"groups", groups}, {"dtype", dt},
                        {"layout", name + layer}},
                       stats_of(samples), iters);
          }
      }
    cudaFree(w_ptrs);
    cudaFree(a_ptrs);
    cudaFree(c_ptrs);
    report.write(out);
    std::cout << out << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "moesim-calib-gemm: error: %s\n", e.what());
    return 1;
  }
}
