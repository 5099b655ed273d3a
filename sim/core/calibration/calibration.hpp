#pragma once
// Fitting a platform to measurements (`moesim calibrate`, docs/calibration.md). Plain C++: the simulator that
// the fit runs against is passed in as a function (sim/simgrid provides it from a loaded platform; unit tests pass
// an analytic one), so the fitted factors reproduce the measurements through the same code moesim run uses.
#include "core/calibration/calib_input.hpp"
#include "core/cluster/factor_table.hpp"
#include "core/cluster/platform_gen.hpp"
#include "core/comm/a2a_kernel.hpp"
#include "core/compute/compute_model.hpp"

#include <nlohmann/json_fwd.hpp>

#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace moesim {

/// What a calibrated platform adds to its links and GPUs, stored as properties of its root zone. NCCL: applied to
/// every message of NCCL-like kernels (the `nccl` all-to-all kernel and `calibrate validate`'s collectives) by both
/// communication models: the message's bytes are divided by the bandwidth factor of its size (goodput below link
/// rate: protocol, chunking, synchronisation), and the overhead is added to its route latency (kernel launch and
/// the handshake of NCCL-like transports). All-to-all kernels: the parameters of each kernel model
/// (`moesim_kernel_<kernel>_<param>`). Compute: HBM efficiency and the grouped-GEMM model's parameters.
struct PlatformCalibration {
  FactorTable bandwidth_intra; ///< by message bytes, messages between GPUs of one node
  FactorTable bandwidth_inter; ///< messages between nodes
  double overhead_intra_s = 0;
  double overhead_inter_s = 0;
  /// Per-collective corrections on top of the network factors, keyed "<op>/<nodes>x<gpus_per_node>", by the
  /// operation's size (nccl-tests convention): collectives moesim run does not perform (all_reduce, ...) and
  /// all-to-alls on partial nodes. Used to predict those operations (`calibrate validate`).
  std::map<std::string, FactorTable> op_factor;
  /// Message overhead of those operations (same keys), where their small sizes were measured; seconds.
  std::map<std::string, double> op_overhead_s;
  /// Kernel name -> its calibrated parameters (a subset of the kernel's: the others keep their defaults).
  std::map<std::string, KernelParams> kernel_params;
  /// Compute calibration (compute_param_specs names: hbm_efficiency, expert_fixed_s, ...); empty = datasheet roofline.
  KernelParams compute;

  bool empty() const;
  /// The compute model's parameters under this calibration (the defaults where it has none).
  void apply_compute(ComputeParams& c) const;
  /// A kernel set up with this calibration's parameters for it (`where` names the platform in errors).
  KernelSetup kernel(const std::string& name, const std::string& dispatch_dtype, int kernel_sms,
                     const std::string& where) const;
  double bandwidth_factor(bool inter_node, double bytes) const
  {
    return inter_node ? bandwidth_inter.eval(bytes) : bandwidth_intra.eval(bytes);
  }
  double overhead_s(bool inter_node) const { return inter_node ? overhead_inter_s : overhead_intra_s; }
  /// Zone properties (names start with "moesim_"), and back; InputError naming the file on bad values or unknown
  /// moesim_ properties.
  std::map<std::string, std::string> to_props() const;
  static PlatformCalibration from_props(const std::map<std::string, std::string>& props, const std::string& file);
};

/// The point-to-point transfers (GPU ranks of a platform with `platform_gpus_per_node` GPUs per node) that model
/// one collective on `nodes` x `gpus_per_node` GPUs (ranks placed on the first GPUs of the first nodes), and how
/// many sequential route latencies it pays (the message overhead is paid once). alltoall: every pair, bytes/n;
/// alltoallv: every pair, (n-1)/n of bytes per rank split by weight (1 + ring distance)^-skew (calib/src/nccl.cu
/// sends the same); sendrecv: rank r to r+1, bytes; p2p: rank 0 to rank 1 (measurement_pattern: its src and
/// dst); all_reduce / all_gather / reduce_scatter: one ring per GPU of a node (NCCL's channels: each ring leaves
/// a node through a different GPU's NIC), carrying 2(n-1)/n resp. (n-1)/n of bytes, with 2(n-1) resp. n-1 steps.
struct CollectivePattern {
  std::vector<std::tuple<int, int, double>> transfers;
  double latency_steps = 1;
  double overhead_s = -1; ///< the operation's own message overhead; < 0: the network's
};
CollectivePattern collective_pattern(const std::string& op, int nodes, int gpus_per_node, int platform_gpus_per_node,
                                     double bytes);
/// The pattern of a measurement (its op, shape, size, and p2p ranks or alltoallv skew).
CollectivePattern measurement_pattern(const Measurement& m, int platform_gpus_per_node);

/// The simulated time of a pattern under a network calibration, with an extra bandwidth factor for the operation.
using CollectiveSimulator =
    std::function<double(const CollectivePattern&, const PlatformCalibration&, double op_factor)>;

/// One measurement as the fit used it.
struct FitPoint {
  Measurement m;
  bool held_out = false; ///< left out of the fit (generalisation check)
  bool outlier = false;  ///< its factor was rejected as an outlier (Hampel filter over neighbouring sizes)
  std::string table;     ///< which factor it determined ("network/intra", "all_reduce/10x8", "gemm/fp8", ...)
  double key = 0;        ///< the size the factor is tabulated by
  double factor = 0;     ///< solved factor
  double weight = 1;     ///< share of the measured time the factor acts on (bandwidth part); 1e-3 below 10%
};

struct CalibrationResult {
  PlatformParams platform; ///< link values; nodes/gpus_per_node = the largest shape measured
  PlatformCalibration network; ///< network factors and GEMM efficiency
  std::vector<FitPoint> points;
  std::vector<std::string> notes; ///< assumptions and gaps (what was not measured)
};

/// Marks every other size of each series (same source, op, shape, dtype) as held out.
std::vector<bool> every_other_holdout(const std::vector<Measurement>& ms);
/// Marks every other shape of the DeepEP and MoE-layer operations as held out: of each source and op, the series
/// (hidden, top-k, experts, nodes, ...; every routing of a shape together) in their order, every size of the
/// series. Generalisation to shapes the fit
/// has not seen (other expert counts, hidden sizes, node counts). Other measurements are not held out.
std::vector<bool> every_other_shape_holdout(const std::vector<Measurement>& ms);

/// Stage 1: link values and overheads read directly from the measurements (large-message goodput, small-message
/// floor). `base` gives the values nothing measured (PCIe, spine, GPU peaks).
CalibrationResult fit_link_values(const std::vector<Measurement>& ms, const std::vector<bool>& held_out,
                                  const PlatformParams& base);
/// Stage 2: factor tables, each measurement solved through `simulate` on the stage-1 platform (bisection on its
/// factor), medians over repeats, outliers rejected. DeepEP, MoE-layer and GEMM measurements are fitted apart
/// (moe_fit.hpp).
void fit_factors(CalibrationResult& r, const CollectiveSimulator& simulate);

/// The factor table a measurement determines ("" for none): "network/intra" and "network/inter" for all-to-alls
/// on whole nodes of the platform, "<op>/<nodes>x<gpus>" for other collectives, "gemm/<dtype>".
std::string factor_table_name(const Measurement& m, int platform_gpus_per_node);
/// Simulated time of a collective or hbm measurement under a calibration (collectives through `simulate`, hbm from
/// the platform's GPU values and HBM efficiency). DeepEP, MoE-layer and GEMM measurements: MoeCase.
double simulate_measurement(const Measurement& m, const CalibrationResult& r, int platform_gpus_per_node,
                            const CollectiveSimulator& simulate);

/// The calibration record (schema moesim-calibration/1, written by `moesim calibrate --record`): its "schema",
/// "platform" (link and GPU values) and "zone_properties" (the network calibration) members. The reader is the
/// writer's inverse: the platform the record describes, its factors validated; InputError naming the file and the
/// key otherwise.
void write_record_platform(const PlatformParams& platform, const PlatformCalibration& network, nlohmann::json& record);
PlatformParams read_record_platform(const std::string& file);

/// Peak FLOP/s a GEMM of this dtype runs at on `gpu` (fp8 -> FP8 peak when present, else BF16 peak).
double gemm_peak_flops(const GpuInfo& gpu, const std::string& dtype);

} // namespace moesim
