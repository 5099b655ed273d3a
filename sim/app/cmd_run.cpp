#include "commands.hpp"
#include "algorithms/signature.hpp"
#include "revision.hpp"
#include "core/comm/a2a_kernel.hpp"
#include "core/compute/compute_model.hpp"
#include "core/decode/decode_plan.hpp"
#include "core/decode/recorder.hpp"
#include "core/decode/refit.hpp"
#include "core/decode/run_spec.hpp"
#include "core/io/errors.hpp"
#include "core/io/sha256.hpp"
#include "core/model/model_spec.hpp"
#include "core/policy/policy.hpp"
#include "core/trace/split.hpp"
#include "core/sweep/sweep_spec.hpp"
#include "core/trace/trace.hpp"
#include "core/trace/trace_synth.hpp"
#include "simgrid/platform_loader.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <unistd.h>

namespace moesim::cli {

namespace {

struct RunOpts {
  RunSpec spec;
  std::string replay = "auto";
  std::string comm = "fast";
  std::string dispatch_path; ///< replaced by --a2a-kernel: refused with a hint
  std::string timeline_steps, timeline_gpus; ///< FIRST:LAST filters of the timeline
  std::string config_file, from_file;        ///< expanded into options before parsing (run_config.hpp)
};

/// "FIRST:LAST" or "FIRST:" (to the end) into [first, last] (last -1 = to the end).
void parse_index_range(const std::string& text, const char* option, int& first, int& last)
{
  if (text.empty())
    return;
  const auto colon = text.find(':');
  const auto whole = [&](const std::string& v, int& out) {
    if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos)
      throw UsageError(std::string(option) + ": expected FIRST:LAST or FIRST: (non-negative integers), got '" + text + "'");
    out = std::stoi(v);
  };
  if (colon == std::string::npos) {
    whole(text, first);
    last = first;
    return;
  }
  whole(text.substr(0, colon), first);
  if (colon + 1 == text.size())
    last = -1;
  else
    whole(text.substr(colon + 1), last);
}

int run(RunOpts& o)
{
  RunSpec& spec = o.spec;
  if (spec.platform_file.empty())
    spec.platform_file = default_platform_file();
  if (spec.model_file.empty())
    spec.model_file = default_model_file();
  if (spec.trace_file.empty())
    spec.trace_file = default_trace_file();
  spec.replay = parse_replay_phase(o.replay);
  parse_index_range(o.timeline_steps, "--timeline-steps", spec.timeline_first_step, spec.timeline_last_step);
  parse_index_range(o.timeline_gpus, "--timeline-gpus", spec.timeline_first_gpu, spec.timeline_last_gpu);
  spec.comm = parse_comm_model(o.comm);
  if (!o.dispatch_path.empty())
    throw UsageError("--dispatch-path is replaced by --a2a-kernel: deepep-ll (DeepEP low-latency, one message per "
                     "token and expert), deepep-normal (the former hierarchical path) or nccl (the former direct "
                     "path: one copy per destination GPU)");
  spec.validate();
  const auto wall0 = std::chrono::steady_clock::now();

  const ModelSpec model = load_model_spec(spec.model_file);
  // "synth:PRESET[:REQUESTS]": a synthetic trace of the model, generated here with the run's seed (as sweeps do).
  const bool synthetic = spec.trace_file.rfind("synth:", 0) == 0;
  const Trace trace = [&] {
    if (!synthetic)
      return read_trace(spec.trace_file, /*with_weights=*/false);
    const SynthTraceRequest req = parse_synth_trace(spec.trace_file);
    SynthSpec s = synth_preset(req.preset);
    s.requests = req.requests;
    s.seed = spec.seed;
    spdlog::info("trace {}: synthesizing {} requests of {} (preset {}, seed {})", spec.trace_file, s.requests,
                 model.name, req.preset, s.seed);
    Trace t = synthesize_trace(model, s);
    t.compact();
    return t;
  }();
  check_trace_matches_model(trace, spec.trace_file, model);
  require_tokens(trace, spec.trace_file);
  const auto& placement_entry = PlacementRegistry::instance().get(spec.placement, "placement");
  const auto& grouping_entry = GroupingRegistry::instance().get(spec.grouping, "grouping");

  Simulation sim(spec.platform_file);
  const Cluster& cluster = sim.cluster();

  const bool messages_per_expert = make_a2a_kernel(spec.a2a_kernel)->copy_rule() == CopyRule::PerExpert;
  const RequestSplit split = spec.fit_labels.empty()
                                 ? split_requests(trace, spec.train_fraction, spec.seed)
                                 : split_by_labels(trace, parse_label_list(spec.fit_labels), spec.trace_file);
  const Placement placement = placement_entry.fn(PlacementContext{
      model, cluster, trace, split.fit, spec.redundant_experts(cluster.num_gpus()), spec.seed, spec.clusters, spec.signature_tokens,
      spec.gpu_balance, &split.serve, messages_per_expert});
  placement.validate(model.num_moe_layers(), model.num_routed_experts, cluster.num_gpus(), spec.placement);
  check_weights_fit(model, cluster, placement, spec.placement, spec.redundant_experts(cluster.num_gpus()));
  Grouping grouping = grouping_entry.fn(GroupingContext{cluster, trace, split.serve, spec.batch_per_gpu, spec.seed,
                                                        &model, &split.fit, spec.signature_tokens, spec.clusters,
                                                        &placement});
  if (spec.skip_signature_tokens > 0)
    policy::skip_signature_tokens(trace, split.serve, spec.skip_signature_tokens, grouping);
  if (!spec.fit_labels.empty())
    spdlog::info("split: policies fitted on the {} requests of labels {}, the {} requests of the other labels served",
                 split.fit.size(), spec.fit_labels, split.serve.size());
  else if (spec.train_fraction > 0)
    spdlog::info("split: policies fitted on {} requests, {} held-out requests served", split.fit.size(),
                 split.serve.size());
  if (!grouping.note.empty())
    spdlog::info("grouping {}: {}", spec.grouping, grouping.note);

  ComputeParams compute_params{spec.kernel_overhead_s};
  sim.calibration().apply_compute(compute_params);
  ComputeModel compute(model, compute_params);
  const KernelSetup kernel = sim.calibration().kernel(spec.a2a_kernel, spec.dispatch_dtype, spec.a2a_sms, spec.platform_file);
  BatchScheduler scheduler(trace, grouping, cluster.num_gpus(), spec.batch_per_gpu, spec.replay, spec.seed);
  if (scheduler.reuse_factor() > 1.0)
    spdlog::warn("{} batch slots but only {} distinct requests to fill them: requests are served {:.2f} times at "
                 "once on average (their copies route to the same experts); use a larger trace, more requests "
                 "(trace synth --requests) or a smaller --batch",
                 static_cast<int64_t>(std::llround(scheduler.reuse_factor() * scheduler.distinct_requests())),
                 scheduler.distinct_requests(), scheduler.reuse_factor());
  DecodePlanner planner(trace, model, cluster, placement, compute, scheduler, spec.micro_batches, kernel);
  const double expert_bytes = static_cast<double>(model.expert_params()) * model.expert_param_bytes;
  if (spec.refit_every > 0) {
    RefitSettings refit;
    refit.every_steps = spec.refit_every;
    refit.window_steps = spec.refit_window;
    refit.min_load_gain = spec.refit_min_load_gain;
    refit.expert_bytes = expert_bytes;
    // The run's policy and settings on the served tokens; every served request is both fitted and judged on.
    refit.fit = [&, fn = placement_entry.fn](const Trace& served) {
      std::vector<int32_t> all(served.requests.size());
      std::iota(all.begin(), all.end(), 0);
      return fn(PlacementContext{model, cluster, served, all, spec.redundant_experts(cluster.num_gpus()), spec.seed,
                                 spec.clusters, spec.signature_tokens, spec.gpu_balance, &all, messages_per_expert});
    };
    planner.enable_refit(refit, spec.steps);
    spdlog::info("placement {} is re-fitted before every {}th step on the tokens served {} (fitted now); the "
                 "expert copies ({:.1f} MB each) are simulated before the step",
                 spec.placement, spec.refit_every,
                 spec.refit_window > 0 ? "in the last " + std::to_string(spec.refit_window) + " steps" : "so far",
                 expert_bytes / 1e6);
  }

  const double dbpt = kernel.unit_bytes(true, static_cast<int>(model.hidden_size));
  const double cbpt = kernel.unit_bytes(false, static_cast<int>(model.hidden_size));
  RecorderShape shape;
  shape.steps = spec.steps;
  shape.gpus = cluster.num_gpus();
  shape.gpus_per_node = cluster.gpus_per_node();
  shape.layers = model.num_layers;
  shape.micro_batches = spec.micro_batches;
  shape.moe_layers = model.moe_layers;
  shape.dispatch_unit_bytes = dbpt;
  shape.combine_unit_bytes = cbpt;
  shape.timeline = !spec.timeline_file.empty();
  shape.timeline_first_step = spec.timeline_first_step;
  shape.timeline_last_step = spec.timeline_last_step;
  shape.timeline_first_gpu = spec.timeline_first_gpu;
  shape.timeline_last_gpu = spec.timeline_last_gpu;
  for (int s = 0; s < std::min(spec.matrix_steps, spec.steps); ++s)
    shape.matrix_steps.push_back(s);
  const int L = model.num_moe_layers();
  const int nl = std::min(spec.matrix_layers, L);
  for (int i = 0; i < nl; ++i)
    shape.matrix_moe_layers.push_back(nl == 1 ? 0 : i * (L - 1) / (nl - 1));
  const double record_bytes = estimate_recording_bytes(shape);
  if (record_bytes > spec.max_record_bytes) {
    char buf[400];
    std::snprintf(buf, sizeof buf,
                  "recording this run would need about %.2f GB (limit %.2f GB, --max-record-bytes): record fewer "
                  "steps or layers (--matrix-steps, --matrix-layers), drop --timeline, or simulate fewer --steps",
                  record_bytes / 1e9, spec.max_record_bytes / 1e9);
    throw UsageError(buf);
  }
  Recorder recorder(shape);
  if (spec.refit_every > 0)
    recorder.set_expert_bytes(expert_bytes);

  spdlog::info("simulating {} decode steps of {} on {} ({} nodes x {} GPUs), batch {} per GPU, placement {}, "
               "grouping {}, replaying {}",
               spec.steps, model.name, spec.platform_file, cluster.num_nodes(), cluster.gpus_per_node(),
               spec.batch_per_gpu, spec.placement, spec.grouping,
               scheduler.replays_decode_only() ? "decode-phase tokens" : "all tokens (the trace has no decode phase)");
  const bool tty = ::isatty(STDERR_FILENO);
  auto last = std::chrono::steady_clock::now();
  sim.run(planner, model, spec.steps, recorder, [&](int done, double sim_s) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last < std::chrono::seconds(2) && done != spec.steps)
      return;
    last = now;
    const double el = std::chrono::duration<double>(now - wall0).count();
    if (el < 2)
      return;
    std::fprintf(stderr, "%sstep %d/%d  simulated %.3f ms  wall %.1f s%s", tty ? "\r" : "", done, spec.steps,
                 sim_s * 1e3, el, tty ? "   " : "\n");
    if (tty && done == spec.steps)
      std::fprintf(stderr, "\n");
  }, spec.comm);
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  if (const auto [below, above] = sim.messages_outside_calibration(); below + above > 0)
    spdlog::warn("{} messages were smaller and {} larger than the sizes {} was calibrated on: their bandwidth "
                 "factor is the one of the nearest measured size (not extrapolated)",
                 below, above, spec.platform_file);

  const auto summary = recorder.summary();
  std::cout << model.name << " on " << cluster.num_nodes() << " x " << cluster.gpus_per_node() << " GPUs, "
            << spec.placement << " placement, " << spec.grouping << " grouping, batch " << spec.batch_per_gpu
            << "/GPU, " << spec.a2a_kernel << " all-to-all (dispatch " << spec.dispatch_dtype << ")"
            << (spec.micro_batches > 1 ? ", two-micro-batch overlap" : "")
            << "\n";
  std::cout << recorder.format_summary(summary);
  std::printf("wall time     %.2f s (%.1f ms per simulated step, %s all-to-all model)\n", wall_s,
              1e3 * wall_s / spec.steps, comm_model_name(spec.comm).c_str());

  if (!spec.out_file.empty()) {
    std::map<std::string, std::string> attrs{
        {"sha256_platform", sha256_file(spec.platform_file)},
        {"sha256_model", sha256_file(spec.model_file)},
        {"sha256_trace", synthetic ? std::string("synthetic (") + spec.trace_file + ")" : sha256_file(spec.trace_file)},
        {"replayed_tokens", scheduler.replays_decode_only() ? "decode" : "all"},
        {"moesim_revision", source_revision()},
        {"working_directory", std::filesystem::current_path().string()},
    };
    recorder.write_hdf5(spec.out_file, spec.to_json(), attrs,
                        {{"distinct_requests", static_cast<double>(scheduler.distinct_requests())},
                         {"request_reuse_factor", scheduler.reuse_factor()},
                         {"trace_requests", static_cast<double>(trace.requests.size())},
                         {"gpus", static_cast<double>(cluster.num_gpus())},
                         {"nodes", static_cast<double>(cluster.num_nodes())},
                         {"gpus_per_node", static_cast<double>(cluster.gpus_per_node())}});
    std::cout << "results       " << spec.out_file << "\n";
  }
  if (!spec.timeline_file.empty()) {
    recorder.write_timeline(spec.timeline_file);
    std::cout << "timeline      " << spec.timeline_file << " (open in https://ui.perfetto.dev)\n";
  }
  return 0;
}

} // namespace

void add_run(CLI::App& app, Action& action)
{
  auto o = std::make_shared<RunOpts>();
  RunSpec& s = o->spec;
  auto* cmd = app.add_subcommand("run", "Simulate MoE decode steps on a platform and report TPOT with a per-layer "
                                        "breakdown (no arguments: the bundled 2 x 8 H100 + DeepSeek-V2-Lite + ESFT default)");
  cmd->add_option("--platform", s.platform_file, "SimGrid platform XML (default: platforms/h100-calibrated-2n.xml)");
  cmd->add_option("--model", s.model_file, "Hugging Face config.json (default: DeepSeek-V2-Lite)");
  cmd->add_option("--trace", s.trace_file,
                  "HDF5 routing trace (default: the bundled ESFT traces), or synth:PRESET[:REQUESTS] for a synthetic "
                  "trace of the model generated with --seed (presets: moesim trace synth --help)");
  cmd->add_option("--placement", s.placement, "expert placement policy (moesim list)")->capture_default_str();
  cmd->add_option("--grouping", s.grouping, "micro-batch grouping policy (moesim list)")->capture_default_str();
  cmd->add_option("--redundant-experts", s.redundant_experts_per_gpu, "redundant expert replicas per GPU")
      ->capture_default_str();
  cmd->add_option("--redundant-experts-total", s.redundant_experts_total,
                  "redundant experts in all, as EPLB and SGLang count them (--ep-num-redundant-experts; e.g. 32: "
                  "256 + 32 = 288 slots, 4 per GPU on 72 GPUs), spread over the GPUs as evenly as it goes");
  cmd->add_option("--train-fraction", s.train_fraction,
                  "fit policies on this share of the requests (stratified by label, seeded) and serve the rest; "
                  "0 = fit and serve all")
      ->capture_default_str();
  cmd->add_option("--fit-labels", s.fit_labels,
                  "fit policies on the requests of these labels (comma-separated names, moesim trace info lists "
                  "them) and serve the other labels' requests: does a fit carry over to another task family?");
  cmd->add_option("--clusters", s.clusters, "k of the activation clustering (0 = number of nodes)")->capture_default_str();
  cmd->add_option("--gpu-balance", s.gpu_balance,
                  "activation placement: the largest routed-expert load of a GPU, x the mean over all GPUs, accepted to "
                  "put experts that tokens choose together on one GPU (fewer token copies)")
      ->capture_default_str();
  cmd->add_option("--signature-tokens", s.signature_tokens,
                  "tokens a request is classified from by the signature grouping when it has no prefill")
      ->capture_default_str();
  cmd->add_option("--skip-signature-tokens", s.skip_signature_tokens,
                  "replay every served request without prefill from after its first N tokens, whatever the grouping "
                  "(what the signature groupings skip), so that runs compared are judged on the same tokens; moesim "
                  "compare sets it to --signature-tokens; 0 = only groupings that read tokens skip them")
      ->capture_default_str();
  cmd->add_option("--refit-every", s.refit_every,
                  "re-fit the placement before every N-th step on the tokens served so far, and simulate copying "
                  "the expert weights that moved (bytes over the platform's links, decode paused until the last "
                  "arrives); 0 = never")
      ->capture_default_str();
  cmd->add_option("--refit-window", s.refit_window,
                  "re-fit on the tokens of the last N steps served (0 = every step so far); needs --refit-every")
      ->capture_default_str();
  cmd->add_option("--refit-min-load-gain", s.refit_min_load_gain,
                  "with --refit-every: keep a layer's layout unless the re-fit lowers its largest GPU load (estimated "
                  "on the tokens fitted on) by more than this share, e.g. 0.05; 0 = take every re-fitted layer "
                  "(load-balancing placements: eplb)")
      ->capture_default_str();
  cmd->add_option("--batch-per-gpu", s.batch_per_gpu, "decode requests per GPU")->capture_default_str();
  cmd->add_option("--steps", s.steps, "decode steps to simulate")->capture_default_str();
  cmd->add_option("--seed", s.seed, "seed (admission offsets, random policies)")->capture_default_str();
  cmd->add_option("--dispatch-dtype", s.dispatch_dtype, "fp8 or bf16")->capture_default_str();
  cmd->add_option("--micro-batches", s.micro_batches, "1, or 2 for two-micro-batch overlap")->capture_default_str();
  cmd->add_option("--comm", o->comm, "all-to-all model: fast (direct computation over the platform's routes) or "
                                     "exact (one SimGrid message per GPU pair, the reference; slow at scale)")
      ->capture_default_str();
  cmd->add_option("--a2a-kernel", s.a2a_kernel,
                  "all-to-all kernel model (moesim list): deepep-ll (DeepEP low-latency, decode), deepep-normal "
                  "(node-deduplicated RDMA + NVLink forwarding), nccl (one copy per destination GPU)")
      ->capture_default_str();
  cmd->add_option("--a2a-sms", s.a2a_sms, "SMs given to kernels that take a budget (deepep-normal)")
      ->capture_default_str();
  cmd->add_option("--dispatch-path", o->dispatch_path, "replaced by --a2a-kernel");
  cmd->add_option("--replay", o->replay, "trace tokens to replay: auto (decode if present, else all), decode, all")
      ->capture_default_str();
  cmd->add_option("--kernel-overhead-s", s.kernel_overhead_s, "launch overhead per kernel, seconds")->capture_default_str();
  cmd->add_option("-o,--out", s.out_file, "HDF5 result file");
  // Expanded before parsing (run_config.cpp); declared here for --help.
  cmd->add_option("--config", o->config_file,
                  "TOML file of run options (keys: option names, batch_per_gpu = 64); the command line overrides it");
  cmd->add_option("--from", o->from_file,
                  "re-run what a result file (run --out) recorded; options given as well override it");
  cmd->add_option("--timeline", s.timeline_file,
                  "Chrome trace event JSON of the simulated schedule for ui.perfetto.dev (FILE.json.gz: compressed)");
  cmd->add_option("--timeline-steps", o->timeline_steps, "timeline: only steps FIRST:LAST (FIRST: = to the end)");
  cmd->add_option("--timeline-gpus", o->timeline_gpus, "timeline: only GPUs FIRST:LAST (FIRST: = to the end)");
  cmd->add_option("--matrix-steps", s.matrix_steps, "record GPU x GPU dispatch matrices for the first N steps")
      ->capture_default_str();
  cmd->add_option("--max-record-bytes", s.max_record_bytes, "refuse runs whose recording needs more memory (bytes)")
      ->capture_default_str();
  cmd->add_option("--matrix-layers", s.matrix_layers, "... for N MoE layers spread over the model")->capture_default_str();
  // --help groups the options; enumerated ones list their choices (the registries are filled before main).
  const std::vector<std::pair<const char*, std::vector<const char*>>> groups{
      {"Inputs", {"--platform", "--model", "--trace", "--config", "--from"}},
      {"Policies", {"--placement", "--grouping", "--redundant-experts", "--redundant-experts-total", "--train-fraction", "--fit-labels", "--clusters", "--gpu-balance", "--signature-tokens", "--skip-signature-tokens", "--refit-every", "--refit-window", "--refit-min-load-gain"}},
      {"Workload", {"--batch-per-gpu", "--steps", "--seed", "--replay"}},
      {"Communication and compute", {"--dispatch-dtype", "--micro-batches", "--comm", "--a2a-kernel", "--a2a-sms", "--kernel-overhead-s"}},
      {"Outputs", {"--out", "--timeline", "--timeline-steps", "--timeline-gpus", "--matrix-steps", "--max-record-bytes", "--matrix-layers"}},
  };
  for (const auto& [group, names] : groups)
    for (const char* name : names)
      cmd->get_option(name)->group(group);
  cmd->get_option("--dispatch-path")->group(""); // refused with a hint; not shown
  add_choices(*cmd, {{"--placement", registry_names(PlacementRegistry::instance())},
                     {"--grouping", registry_names(GroupingRegistry::instance())},
                     {"--a2a-kernel", registry_names(A2aKernelRegistry::instance())},
                     {"--dispatch-dtype", "fp8, bf16"},
                     {"--comm", "fast, exact"},
                     {"--replay", "auto, decode, all"},
                     {"--micro-batches", "1, 2"}});
  cmd->callback([&action, o] { action = [o] { return run(*o); }; });
}

} // namespace moesim::cli
