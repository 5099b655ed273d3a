#pragma once
// All-to-all kernel models: how a communication library moves one MoE layer's dispatch and combine (which copies a
// token makes and through which GPUs) and what the kernel costs beyond the bytes on the links (a fixed time, the
// goodput its messages reach per link class, the SM time to issue or reduce them). One file per kernel
// (deepep_ll.cpp, deepep_normal.cpp, nccl.cpp), each registering itself by name: `moesim list`, `--a2a-kernel`.
// Plain C++: both communication models of sim/simgrid apply a kernel's PhaseCost the same way (comm/phase.hpp).
#include "core/io/registry.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace moesim {

/// How a kernel turns a token's selected experts into messages (comm/traffic.hpp builds the pairs).
enum class CopyRule {
  /// One message per (token, selected expert) to the expert's GPU; combine returns one weighted copy per expert,
  /// reduced at the token's GPU (DeepEP low-latency kernels).
  PerExpert,
  /// One copy per destination GPU, however many of the token's experts are there; combine returns one copy per GPU
  /// (an NCCL all-to-all(v) of deduplicated tokens).
  PerGpu,
  /// Stage 1: once per destination node over the NIC to the GPU of the same rail there, and directly over NVLink
  /// inside the own node; stage 2: the rail GPU forwards over NVLink once per destination GPU. Combine runs both
  /// stages backwards, reduced at the forwarder (DeepEP normal kernels).
  PerNodeForward,
};

/// A parameter of a kernel model: calibrated (`moesim calibrate`) or set per platform (zone property
/// `moesim_kernel_<kernel>_<name>`, kernel name with '_' for '-').
struct KernelParamSpec {
  std::string name;
  double default_value = 0;
  double lo = 0, hi = 0; ///< accepted range (the fit stays inside it)
  std::string unit;      ///< "s", "s/B", "fraction", "B/s", ...
  std::string description;
};
using KernelParams = std::map<std::string, double>;

/// What one all-to-all phase's cost depends on. Vectors are per GPU rank and owned by the caller.
struct PhaseShape {
  bool dispatch = true;    ///< dispatch (true) or combine
  bool multi_node = false; ///< the GPUs of the operation span more than one node
  int num_gpus = 0;
  int num_experts = 0;     ///< routed experts of the model (all GPUs)
  int top_k = 0;
  int hidden = 0;
  int sm_count = 132;      ///< SMs of each GPU
  int kernel_sms = 24;     ///< SMs given to kernels that take a budget (DeepEP normal)
  double unit_bytes = 0;   ///< bytes of one unit (message) of this phase
  const std::vector<int64_t>* tokens = nullptr;    ///< [gpu] tokens dispatched from (combined back to) the GPU
  const std::vector<int64_t>* units_held = nullptr; ///< [gpu] units the GPU received in dispatch (self copies included)
  const std::vector<int64_t>* units_own = nullptr;  ///< [gpu] units the GPU's tokens make (self copies included)
};

/// What a kernel adds to the flows of one phase (comm/phase.hpp applies it).
struct PhaseCost {
  double fixed_s = 0;          ///< added to every GPU's end: launch, count/flag exchange, receive bookkeeping
  double goodput_intra = 1;    ///< flows inside a node are sent as bytes / goodput (fraction of link bandwidth)
  double goodput_inter = 1;    ///< ... between nodes
  bool nccl_factors = false;   ///< instead, the platform's size-keyed NCCL factors and message overheads
  std::vector<double> send_s;  ///< [gpu] SM time to issue the GPU's sends: its data arrives no earlier (empty: 0)
  std::vector<double> post_s;  ///< [gpu] SM time after the GPU's last arrival, e.g. combine's reduction (empty: 0)
};

class A2aKernel {
public:
  virtual ~A2aKernel() = default;
  virtual CopyRule copy_rule() const = 0;
  virtual std::vector<KernelParamSpec> params() const = 0;
  /// Bytes of one unit: a dispatch message (dtype "fp8" or "bf16") or a combine message, for `hidden` values.
  virtual double unit_bytes(bool dispatch, int hidden, const std::string& dispatch_dtype) const = 0;
  /// The phase's cost; `p` holds every parameter of params() (resolve_kernel_params).
  virtual PhaseCost cost(const PhaseShape& shape, const KernelParams& p) const = 0;
};

using KernelFactory = std::function<std::shared_ptr<const A2aKernel>()>;
using A2aKernelRegistry = Registry<KernelFactory>;

/// A kernel chosen for a run: the model, its resolved parameters and the run's settings its costs depend on.
struct KernelSetup {
  std::string name;
  std::shared_ptr<const A2aKernel> kernel;
  KernelParams params;                ///< every parameter of kernel->params()
  std::string dispatch_dtype = "fp8"; ///< "fp8" or "bf16"
  int kernel_sms = 24;                ///< SMs given to kernels that take a budget
  /// The registered kernel `name` with `given` parameters over its defaults (UsageError naming `where`).
  static KernelSetup make(const std::string& name, const KernelParams& given, const std::string& dispatch_dtype,
                          int kernel_sms, const std::string& where);
  double unit_bytes(bool dispatch, int hidden) const { return kernel->unit_bytes(dispatch, hidden, dispatch_dtype); }
};

/// The registered kernel of that name (UsageError listing the known ones).
std::shared_ptr<const A2aKernel> make_a2a_kernel(const std::string& name);
/// `given` completed with the kernel's defaults; UsageError naming `where` for unknown names or values outside a
/// parameter's range.
KernelParams resolve_kernel_params(const A2aKernel& kernel, const KernelParams& given, const std::string& where);
/// Zone-property name of a kernel parameter: moesim_kernel_<kernel with '_' for '-'>_<param>.
std::string kernel_param_property(const std::string& kernel, const std::string& param);

/// DeepEP's launch geometry (csrc/kernels/legacy/internode_ll.cu): experts per SM ("warp groups") and the SMs the
/// low-latency kernels use on a GPU of `sm_count` SMs.
int deepep_ll_warp_groups(int num_experts, int sm_count);
int deepep_ll_dispatch_sms(int num_experts, int sm_count);
int deepep_ll_combine_sms(int num_experts, int64_t tokens, int sm_count);

/// FP8 dispatch message of the DeepEP kernels: 16 B header + hidden FP8 values + one FP32 scale per 128 values;
/// BF16: 16 B header + 2 B per value.
double deepep_dispatch_message_bytes(int hidden, const std::string& dtype);

} // namespace moesim
