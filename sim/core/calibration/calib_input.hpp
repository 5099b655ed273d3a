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
};

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

/// Parsers by format (text already read; `path` names it in errors).
CalibInput parse_nccl_tests_log(const std::string& text, const std::string& path);
CalibInput parse_calib_json(const std::string& text, const std::string& path);
CalibInput parse_nccl_perf_csv(const std::string& text, const std::string& path);
CalibInput parse_deepgemm_csv(const std::string& text, const std::string& path);

/// Bytes of one element of a NCCL / nccl-tests data type name ("half", "float", "int8", "bfloat16", "double",
/// ...); 0 for unknown names.
double dtype_bytes(const std::string& dtype);

} // namespace moesim
