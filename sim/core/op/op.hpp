#pragma once
// One MoE operation in isolation (`moesim op`, and `moesim calibrate` for every DeepEP / MoE-layer measurement):
// a dispatch, a combine, the routed experts of one layer, or the whole layer (dispatch + experts + combine), on the
// first GPUs of a platform, with the routing the benchmark used. Planned by the same code as `moesim run`
// (comm/traffic, the kernel's costs, the compute model) and simulated by the same engine.
#include "core/compute/compute_model.hpp"
#include "core/comm/a2a_kernel.hpp"
#include "core/decode/decode_plan.hpp"
#include "core/model/model_spec.hpp"
#include "core/trace/trace.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace moesim {

enum class OpKind { Dispatch, Combine, Experts, MoeLayer };
OpKind parse_op_kind(const std::string& name); ///< dispatch, combine, experts, moe-layer; UsageError otherwise
std::string op_kind_name(OpKind k);

/// Which experts the op's tokens select.
struct OpRouting {
  enum class Kind {
    Uniform,    ///< top-k of uniform random scores (distinct experts)
    DeepEpTest, ///< the same, then 10 random (token, slot) selections per GPU masked (DeepEP's tests/test_low_latency.py)
    NodeLimited, ///< top-k of uniform scores among the experts of min(nodes, 4) random nodes (DeepEP's test_internode.py)
    Balanced,   ///< every GPU's selections spread evenly over the GPUs and their experts (aiconfigurator's "uniform")
    PowerLaw,   ///< aiconfigurator's power-law expert loads (collector helper.py), most loaded GPU first
    Trace,      ///< the tokens of a routing trace at one MoE layer
  };
  Kind kind = Kind::Uniform;
  double alpha = 1.0;     ///< PowerLaw exponent
  std::string trace_file; ///< Trace
  int trace_layer = 0;    ///< Trace: MoE layer index
  /// "uniform", "deepep-test", "deepep-internode", "balanced", "power_law:ALPHA", or a trace file
  /// ("FILE[:MOE_LAYER]"); UsageError otherwise.
  static OpRouting parse(const std::string& text);
  std::string name() const;
};

struct OpSpec {
  OpKind kind = OpKind::Dispatch;
  int gpus = 8;              ///< the first GPUs of the platform (whole nodes unless the platform has one node)
  int tokens_per_gpu = 128;
  OpRouting routing;
  int samples = 1;           ///< routings drawn and averaged (aiconfigurator's power-law cases average 5)
  uint64_t seed = 1;
  int gpus_per_node = 8;     ///< node size the routing sees (NodeLimited)
};

/// The routed tokens of one sample: for each GPU its tokens' selected experts (k per token, -1 = masked).
struct OpTokens {
  int k = 0;
  std::vector<std::vector<int32_t>> experts; ///< [gpu][token * k + slot]
};
/// Draws the tokens of sample `sample` (seeded by spec.seed and the sample). `trace` is needed for Kind::Trace.
OpTokens make_op_tokens(const OpSpec& spec, const ModelSpec& model, int sample, const Trace* trace = nullptr);

/// Expert e on GPU e / (experts / gpus) (DeepEP's and SGLang's layout); UsageError when they do not divide.
std::vector<std::vector<int>> linear_expert_gpus(int num_experts, int gpus);

/// The op's layer planned on the first `gpus` GPUs: the kernel's units and costs, each GPU's expert time on
/// `gpu_info` (the cluster's own GPUs when null).
LayerTraffic plan_op_layer(const OpTokens& tokens, const ModelSpec& model, const Cluster& cluster,
                           const KernelSetup& kernel, const ComputeModel& compute, const GpuInfo* gpu_info = nullptr);

/// A model shape for measurements that give only sizes: `layers` MoE layers of `experts` routed experts, top-k,
/// hidden and expert FFN sizes, expert weights in `expert_dtype` ("fp8", "bf16").
ModelSpec op_model(int hidden, int expert_ffn, int top_k, int experts, const std::string& expert_dtype = "fp8");

/// The plan `moesim op` hands the engine: one step of one MoE layer without attention (a StepSource). Phases the
/// operation does not include are idle (flags only) and expert compute is zero unless the op computes experts.
class OpPlanner final : public StepSource {
public:
  OpPlanner(LayerTraffic layer, OpKind kind);
  StepPlan begin_step() override;
  LayerTraffic plan_layer(const StepPlan&, int, int) override { return layer_; }
  int micro_batches() const override { return 1; }
  int moe_layers() const override { return 1; }

private:
  LayerTraffic layer_;
};

} // namespace moesim
