// `moesim op dispatch|combine|experts|moe-layer`: one MoE operation in isolation, as the DeepEP and DeepEP-MoE
// benchmarks measure it, planned and simulated by the same code as `moesim run` (core/op, the engine's actors).
#include "commands.hpp"
#include "core/compute/compute_model.hpp"
#include "core/decode/recorder.hpp"
#include "core/io/errors.hpp"
#include "core/model/model_spec.hpp"
#include "core/op/op.hpp"
#include "core/trace/trace.hpp"
#include "simgrid/platform_loader.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <numeric>

namespace moesim::cli {

namespace {

struct OpOpts {
  std::string kind;
  std::string platform;
  std::string model;
  int hidden = 0, experts = 0, top_k = 0, inter = 0;
  std::string expert_dtype = "fp8";
  int tokens = 128;
  int nodes = 0; ///< 0: every node of the platform
  std::string routing = "uniform";
  std::string kernel = "deepep-ll";
  int sms = 24;
  std::string dispatch_dtype = "fp8";
  std::string comm = "fast";
  int samples = 1;
  uint64_t seed = 1;
};

struct PhaseStats {
  double mean = 0, max = 0;
};

PhaseStats stats_of(const Recorder& rec, SpanKind kind, int gpus)
{
  std::vector<double> per_gpu(gpus, 0.0);
  for (const auto& s : rec.spans())
    if (s.kind == kind && s.gpu < gpus)
      per_gpu[s.gpu] += s.t1 - s.t0;
  PhaseStats st;
  st.mean = std::accumulate(per_gpu.begin(), per_gpu.end(), 0.0) / gpus;
  st.max = *std::max_element(per_gpu.begin(), per_gpu.end());
  return st;
}

int run_op(const OpOpts& o)
{
  OpSpec spec;
  spec.kind = parse_op_kind(o.kind);
  spec.tokens_per_gpu = o.tokens;
  spec.routing = OpRouting::parse(o.routing);
  spec.samples = o.samples;
  spec.seed = o.seed;
  if (o.tokens < 0 || o.tokens > (1 << 22))
    throw UsageError("--tokens-per-gpu must be between 0 and 4194304");
  if (o.samples < 1 || o.samples > 1000)
    throw UsageError("--samples must be between 1 and 1000");
  const bool shape_given = o.hidden || o.experts || o.top_k || o.inter;
  if (!o.model.empty() && shape_given)
    throw UsageError("give either --model or the shape (--hidden, --experts, --topk, --inter), not both");
  if (o.model.empty() && !(o.hidden > 0 && o.experts > 0 && o.top_k > 0))
    throw UsageError("give --model CONFIG.json, or --hidden, --experts and --topk (and --inter for experts)");
  if (o.expert_dtype != "fp8" && o.expert_dtype != "bf16")
    throw UsageError("--expert-dtype must be fp8 or bf16");
  if (o.dispatch_dtype != "fp8" && o.dispatch_dtype != "bf16")
    throw UsageError("--dispatch-dtype must be fp8 or bf16");
  const CommModel comm = parse_comm_model(o.comm);
  ModelSpec model;
  if (!o.model.empty()) {
    const ModelSpec full = load_model_spec(o.model);
    model = op_model(static_cast<int>(full.hidden_size), static_cast<int>(full.expert_ffn_size), full.top_k,
                     full.num_routed_experts, full.expert_param_dtype == "fp8" ? "fp8" : "bf16");
    model.name = full.name;
    model.expert_param_bytes = full.expert_param_bytes;
  } else {
    model = op_model(o.hidden, o.inter > 0 ? o.inter : 2048, o.top_k, o.experts, o.expert_dtype);
  }
  Trace trace;
  if (spec.routing.kind == OpRouting::Kind::Trace)
    trace = read_trace(spec.routing.trace_file, /*with_weights=*/false);

  Simulation sim(o.platform);
  const Cluster& cluster = sim.cluster();
  const int nodes = o.nodes > 0 ? o.nodes : cluster.num_nodes();
  if (nodes > cluster.num_nodes())
    throw UsageError("--nodes " + std::to_string(nodes) + ": " + o.platform + " has " +
                     std::to_string(cluster.num_nodes()) + " nodes");
  spec.gpus = nodes * cluster.gpus_per_node();
  spec.gpus_per_node = cluster.gpus_per_node();
  const KernelSetup kernel = sim.calibration().kernel(o.kernel, o.dispatch_dtype, o.sms, o.platform);
  ComputeParams cp;
  sim.calibration().apply_compute(cp);
  const ComputeModel compute(model, cp);

  PhaseStats d{}, e{}, c{};
  double total_mean = 0, total_max = 0, units = 0, bytes_inter = 0, bytes_intra = 0, dispatch_bytes = 0;
  for (int s = 0; s < spec.samples; ++s) {
    const OpTokens tokens = make_op_tokens(spec, model, s, spec.routing.kind == OpRouting::Kind::Trace ? &trace : nullptr);
    LayerTraffic layer = plan_op_layer(tokens, model, cluster, kernel, compute);
    units += static_cast<double>(std::accumulate(layer.comm.units_own.begin(), layer.comm.units_own.end(), int64_t{0}));
    bytes_intra += static_cast<double>(layer.comm.units_intra_node) * layer.dispatch_unit_bytes;
    bytes_inter += static_cast<double>(layer.comm.units_inter_node) * layer.dispatch_unit_bytes;
    dispatch_bytes += static_cast<double>(std::accumulate(layer.comm.units_own.begin(), layer.comm.units_own.end(),
                                                          int64_t{0})) *
                      layer.dispatch_unit_bytes;
    OpPlanner planner(std::move(layer), spec.kind);
    RecorderShape shape;
    shape.steps = 1;
    shape.gpus = spec.gpus;
    shape.gpus_per_node = cluster.gpus_per_node();
    shape.layers = 1;
    shape.moe_layers = {0};
    shape.timeline = true;
    Recorder rec(shape);
    sim.run(planner, model, 1, rec, nullptr, comm, spec.gpus);
    auto add = [](PhaseStats& a, const PhaseStats& b) {
      a.mean += b.mean;
      a.max += b.max;
    };
    add(d, stats_of(rec, SpanKind::Dispatch, spec.gpus));
    add(e, stats_of(rec, SpanKind::Expert, spec.gpus));
    add(c, stats_of(rec, SpanKind::Combine, spec.gpus));
    double t0 = 1e300, t1 = 0;
    std::vector<double> start(spec.gpus, 1e300), end(spec.gpus, 0.0);
    for (const auto& sp : rec.spans()) {
      start[sp.gpu] = std::min(start[sp.gpu], sp.t0);
      end[sp.gpu] = std::max(end[sp.gpu], sp.t1);
      t0 = std::min(t0, sp.t0);
      t1 = std::max(t1, sp.t1);
    }
    double mean = 0;
    for (int g = 0; g < spec.gpus; ++g)
      mean += end[g] - start[g];
    total_mean += mean / spec.gpus;
    total_max += t1 - t0;
  }
  const double S = spec.samples;
  auto us = [](double s) { return s * 1e6; };
  std::printf("%s on %d x %d GPUs (%s, %s), %s kernel, %d tokens per GPU, routing %s, %s model%s\n",
              op_kind_name(spec.kind).c_str(), nodes, cluster.gpus_per_node(), o.platform.c_str(),
              cluster.gpu(0).model.empty() ? "GPU" : cluster.gpu(0).model.c_str(), o.kernel.c_str(), o.tokens,
              spec.routing.name().c_str(), comm_model_name(comm).c_str(),
              spec.samples > 1 ? (", mean of " + std::to_string(spec.samples) + " routings").c_str() : "");
  std::printf("model shape   hidden %ld, %d experts, top-%d, expert FFN %ld (%s)\n",
              static_cast<long>(model.hidden_size), model.num_routed_experts, model.top_k,
              static_cast<long>(model.expert_ffn_size), model.expert_param_dtype.c_str());
  const bool show_d = spec.kind == OpKind::Dispatch || spec.kind == OpKind::MoeLayer;
  const bool show_e = spec.kind == OpKind::Experts || spec.kind == OpKind::MoeLayer;
  const bool show_c = spec.kind == OpKind::Combine || spec.kind == OpKind::MoeLayer;
  if (show_d)
    std::printf("dispatch      %.2f us mean over GPUs, %.2f us slowest GPU\n", us(d.mean / S), us(d.max / S));
  if (show_e)
    std::printf("experts       %.2f us mean over GPUs, %.2f us most loaded GPU\n", us(e.mean / S), us(e.max / S));
  if (show_c)
    std::printf("combine       %.2f us mean over GPUs, %.2f us slowest GPU\n", us(c.mean / S), us(c.max / S));
  if (spec.kind == OpKind::MoeLayer)
    std::printf("layer         %.2f us mean over GPUs, %.2f us until the last GPU\n", us(total_mean / S),
                us(total_max / S));
  std::printf("traffic       %.0f dispatch units, %.3f MB across nodes, %.3f MB inside nodes (dispatch)\n", units / S,
              bytes_inter / S / 1e6, bytes_intra / S / 1e6);
  if (show_d && d.mean > 0)
    std::printf("bandwidth     %.2f GB/s dispatch per GPU as DeepEP counts it (all messages / time)\n",
                dispatch_bytes / S / spec.gpus / (d.mean / S) / 1e9);
  // The one number a benchmark reports: a typical rank's kernel time (DeepEP), the most loaded rank's experts.
  const double time = spec.kind == OpKind::Dispatch  ? d.mean
                      : spec.kind == OpKind::Combine ? c.mean
                      : spec.kind == OpKind::Experts ? e.max
                                                     : total_max;
  std::printf("time          %.2f us\n", us(time / S));
  return 0;
}

} // namespace

void add_op(CLI::App& app, Action& action)
{
  auto o = std::make_shared<OpOpts>();
  auto* cmd = app.add_subcommand(
      "op", "Simulate one MoE operation in isolation (what DeepEP's and DeepEP-MoE's benchmarks measure): dispatch, "
            "combine, experts (the routed experts' grouped GEMMs) or moe-layer (all three)");
  cmd->add_option("kind", o->kind, "dispatch, combine, experts or moe-layer")
      ->required()
      ->check(CLI::IsMember({"dispatch", "combine", "experts", "moe-layer"}));
  cmd->add_option("--platform", o->platform, "platform XML")->required()->check(CLI::ExistingFile);
  auto* shape = cmd->add_option_group("shape", "the model: a config.json, or its sizes");
  shape->add_option("--model", o->model, "Hugging Face config.json")->check(CLI::ExistingFile);
  shape->add_option("--hidden", o->hidden, "hidden size");
  shape->add_option("--experts", o->experts, "routed experts");
  shape->add_option("--topk", o->top_k, "experts per token");
  shape->add_option("--inter", o->inter, "expert intermediate size (experts, moe-layer; default 2048)");
  shape->add_option("--expert-dtype", o->expert_dtype, "fp8 or bf16 expert weights")->capture_default_str();
  cmd->add_option("--tokens-per-gpu", o->tokens, "tokens on each GPU")->capture_default_str();
  cmd->add_option("--nodes", o->nodes, "use the first N nodes of the platform (default: all)");
  cmd->add_option("--routing", o->routing,
                  "uniform (random top-k), deepep-test (DeepEP's test: uniform, 10 selections masked per GPU), "
                  "deepep-internode (top-k within min(nodes, 4) random nodes), balanced (equal load per expert), "
                  "power_law:ALPHA (aiconfigurator's), or TRACE.h5[:MOE_LAYER]")
      ->capture_default_str();
  cmd->add_option("--a2a-kernel", o->kernel, "all-to-all kernel model (moesim list)")->capture_default_str();
  cmd->add_option("--a2a-sms", o->sms, "SMs given to kernels that take a budget (deepep-normal)")->capture_default_str();
  cmd->add_option("--dispatch-dtype", o->dispatch_dtype, "fp8 or bf16")->capture_default_str();
  cmd->add_option("--comm", o->comm, "fast or exact (SimGrid per-message reference)")
      ->check(CLI::IsMember({"fast", "exact"}))
      ->capture_default_str();
  cmd->add_option("--samples", o->samples, "routings drawn and averaged")->capture_default_str();
  cmd->add_option("--seed", o->seed, "seed of the routing")->capture_default_str();
  cmd->callback([&action, o] { action = [o] { return run_op(*o); }; });
}

} // namespace moesim::cli
