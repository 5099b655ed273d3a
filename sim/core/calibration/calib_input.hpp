#pragma once
// Calibration inputs (docs/calibration.md): measurements read from standard nccl-tests logs, from moesim's calib/
// suite (JSON, schema in calib/README.md) and from two CSV layouts (aiconfigurator's NCCL table, DeepGEMM's
// README tables). Plain C++; every reader throws InputError naming the file, the line and what was expected.
#include <string>
#include <vector>

namespace moesim {

/// One measured operation. Collective sizes follow nccl-tests: `bytes` is the size column (per rank: the send
/// buffer of alltoall/sendrecv/all_reduce, the output buffer of all_gather, the input of reduce_scatter).
struct Measurement {
  std::string source; ///< file it came from
  int line = 0;       ///< line (logs, CSV) or 1-based record index (JSON) in the source
  std::string op;     ///< one of measurement_ops()
  int nodes = 1;
  int gpus_per_node = 1;
  double bytes = 0;  ///< collectives, p2p, hbm: bytes (see above); gemm: 0
  double time_s = 0; ///< measured time of one operation (median where the source has repetitions)
  int src = 0, dst = 1; ///< p2p: the two ranks
  double skew = 0;      ///< alltoallv: per-peer weight (1 + ring distance)^-skew
  // GEMM only: `groups` experts of m tokens each, [m x k] x [k x n], FLOPs = 2 m n k groups.
  std::string dtype; ///< element type of the source ("half", "fp8", "bf16", ...)
  std::string layout;
  double m = 0, n = 0, k = 0;
  int groups = 1;
  std::string gpu_name; ///< GPU model where the source names it
  // DeepEP kernels and MoE layers (ops ll_dispatch, ll_combine, normal_dispatch, normal_combine, moe_experts): one
  // operation on nodes x gpus_per_node GPUs (expert parallelism over all of them).
  int tokens = 0;       ///< tokens per GPU
  int hidden = 0, top_k = 0, experts = 0;
  int inter = 0;        ///< moe_experts: expert intermediate size
  int kernel_sms = 0;   ///< normal kernels: SMs given to the kernel
  std::string routing;  ///< the benchmark's routing (OpRouting names: deepep-test, balanced, power_law:1.01, ...)
  /// "time" (time_s), or a bandwidth the source gives instead of a time: "rdma_bandwidth" / "nvl_bandwidth"
  /// (bandwidth_Bps: bytes per GPU over RDMA / NVLink divided by the time, as DeepEP's tests count them).
  std::string metric = "time";
  double bandwidth_Bps = 0;
};

/// True for the DeepEP and MoE-layer operations (simulated as single operations, fitted by parameters).
bool is_moe_op(const std::string& op);

/// Operation names moesim understands: alltoall, alltoallv (skewed per-peer sizes), sendrecv, all_reduce,
/// all_gather, reduce_scatter, p2p (one transfer between two ranks), gemm, hbm (device memory copy; bytes = bytes
/// read + written).
const std::vector<std::string>& measurement_ops();

/// One file's measurements plus what identifies its provenance.
struct CalibInput {
  std::string path;
  std::string format; ///< "nccl-tests", "calib-json", "nccl-perf-csv", "deepgemm-csv"
  std::string sha256;
  std::vector<std::string> notes; ///< versions, hosts, GPU names found in the file
  std::vector<Measurement> measurements;
};

/// Reads one input, telling the format from its content. InputError for unknown formats, truncated or garbled
/// files and files without measurements.
CalibInput read_calib_input(const std::string& path);

/// Parsers by format (text already read; `path` names it in errors). moe_input.cpp: aiconfigurator's DeepEP
/// (low-latency, normal) and MoE-layer tables, DeepEP's README tables (as transcribed CSV), DeepEP's test output.
CalibInput parse_nccl_tests_log(const std::string& text, const std::string& path);
CalibInput parse_calib_json(const std::string& text, const std::string& path);
CalibInput parse_nccl_perf_csv(const std::string& text, const std::string& path);
CalibInput parse_deepgemm_csv(const std::string& text, const std::string& path);
CalibInput parse_aiconfigurator_deepep_csv(const std::string& text, const std::string& path);
CalibInput parse_aiconfigurator_moe_csv(const std::string& text, const std::string& path);
CalibInput parse_deepep_readme_csv(const std::string& text, const std::string& path);
CalibInput parse_deepep_test_log(const std::string& text, const std::string& path);
/// The format of an aiconfigurator CSV from its header ("nccl-perf-csv", "aiconfigurator-deepep-csv",
/// "aiconfigurator-moe-csv"), "" when the header is none of them.
std::string aiconfigurator_csv_kind(const std::string& header_line);

/// Bytes of one element of a NCCL / nccl-tests data type name ("half", "float", "int8", "bfloat16", "double",
/// ...); 0 for unknown names.
double dtype_bytes(const std::string& dtype);

} // namespace moesim
