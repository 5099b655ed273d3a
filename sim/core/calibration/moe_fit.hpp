#pragma once
// DeepEP kernels and MoE layers measured as single operations (docs/calibration.md): each measurement becomes an
// operation of `moesim op` (comm/, op/), simulated through the fast model's phase code, and the parameters of the
// kernel models and of the grouped-GEMM compute model are fitted to them. Plain C++: the phase simulation over a
// platform's routes is passed in (sim/simgrid provides it; unit tests pass an analytic one).
#include "core/calibration/calib_input.hpp"
#include "core/cluster/cluster.hpp"
#include "core/comm/a2a_kernel.hpp"
#include "core/compute/compute_model.hpp"
#include "core/op/op.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace moesim {

/// The link values a measurement ran on (its GPU's node); 0 = the platform's own.
struct LinkValues {
  double nvlink_Bps = 0;
  double nic_Bps = 0;
};

/// Every GPU's end time of one phase of `comm` on its first GPUs, all starting at 0, with the platform's links set
/// to `links` (sim/simgrid: Simulation::phase_time_s).
using PhaseSimulator = std::function<void(const LayerComm& comm, bool dispatch, double unit_bytes, const PhaseCost& cost,
                                          const LinkValues& links, std::vector<double>& end_s)>;

/// The fitted values: each kernel's parameters and the compute model's.
struct MoeParams {
  std::map<std::string, KernelParams> kernels; ///< kernel name -> parameters (complete)
  ComputeParams compute;
};

/// A measurement prepared for simulation: its operation, model shape, GPU and cached routings.
class MoeCase {
public:
  /// `gpu`/`links`: what the measurement ran on (fit: its GPU's preset; validation: the platform's GPU, links 0).
  MoeCase(const Measurement& m, const GpuInfo& gpu, const LinkValues& links, const Cluster& cluster);
  const Measurement& measurement() const { return m_; }
  /// The kernel whose parameters this case depends on ("" for compute cases: moe_experts, gemm).
  const std::string& kernel() const { return kernel_; }
  /// A kernel case spanning nodes (compute cases never are: the network plays no part there).
  bool multi_node() const { return !kernel_.empty() && m_.nodes > 1; }
  /// Simulated value in the measurement's metric (seconds, or bytes per second for bandwidth metrics).
  double simulate(const MoeParams& p, const PhaseSimulator& sim);
  /// The measured value in the same metric.
  double measured() const;

  /// The routed samples of one operation, shared by the measurements that differ only in what the fit varies
  /// (an SM budget, a phase): units per pair, node-level copies, tokens per local expert.
  struct Sample {
    LayerComm comm;
    std::vector<int64_t> node_copies;        ///< [gpu] sum over its tokens of their destination nodes (own included)
    std::vector<std::vector<int32_t>> local; ///< [gpu][local expert] tokens
  };
  using Samples = std::vector<Sample>;

private:
  Measurement m_;
  GpuInfo gpu_;
  LinkValues links_;
  std::string kernel_;
  std::shared_ptr<const A2aKernel> kernel_model_;
  ModelSpec model_;
  std::shared_ptr<const Samples> samples_;
};

/// Which GPU preset a measurement's GPU name denotes ("NVIDIA H200" -> h200, "H800" -> h800, ...); "" if none.
std::string preset_of_gpu_name(const std::string& gpu_name);

/// Robust least squares on log(simulated / measured) (soft-L1, each (source, op) series weighted equally), in log
/// parameter space inside each parameter's range, by Levenberg-Marquardt with numeric derivatives; single-node
/// cases first, then the multi-node-only parameters (names containing "inter") on all cases. Cases marked in
/// `held_out` are not fitted. Parameters no fitted case depends on keep their values. A fitted case far from its
/// neighbouring sizes after the first fit (a Hampel filter on the log errors of its series) is rejected, marked in
/// `outlier` (resized to the cases), and its group refitted once. Notes say what was fitted and rejected.
void fit_moe_params(std::vector<MoeCase>& cases, const std::vector<bool>& held_out, MoeParams& params,
                    const PhaseSimulator& sim, std::vector<std::string>& notes, std::vector<bool>* outlier = nullptr);

/// The compute model's calibratable parameters, as kernel parameters are described.
std::vector<KernelParamSpec> compute_param_specs();
KernelParams compute_params_of(const ComputeParams& c);
void set_compute_params(ComputeParams& c, const KernelParams& p);

} // namespace moesim
