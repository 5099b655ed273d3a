// `moesim calibrate`: fit a platform to measurements; `moesim calibrate validate`: simulate every measurement on a
// platform and report the errors (docs/calibration.md).
#include "child_process.hpp"
#include "commands.hpp"
#include "core/calibration/calibration.hpp"
#include "core/calibration/moe_fit.hpp"
#include "core/cluster/platform_gen.hpp"
#include "core/io/atomic_file.hpp"
#include "core/io/errors.hpp"
#include "core/io/h5.hpp"
#include "core/io/json_util.hpp"
#include "core/io/sha256.hpp"
#include "simgrid/platform_loader.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <tuple>
#include <sys/wait.h>

namespace moesim::cli {

namespace {

struct CalibrateOpts {
  int nodes = 0; ///< nodes of the written platform (0: the largest measured shape)
  std::vector<std::string> inputs;
  std::string out;
  std::string record;
  std::string report;
  std::string holdout; ///< "" = every-other with a report (it shows generalisation), none without
  std::string topology = "rail";
  std::string gpu; ///< preset of the calibrated cluster's GPUs ("" = from the NCCL inputs' GPU names, else h100)
};

struct ValidateOpts {
  std::string platform;
  std::string record;
  std::vector<std::string> inputs;
  std::string report;
  std::string holdout = "none";
};

std::vector<CalibInput> read_inputs(const std::vector<std::string>& paths, std::vector<Measurement>& all)
{
  std::vector<CalibInput> ins;
  for (const auto& p : paths) {
    ins.push_back(read_calib_input(p));
    for (const auto& m : ins.back().measurements)
      all.push_back(m);
  }
  return ins;
}

std::vector<bool> holdout_marks(const std::string& mode, const std::vector<Measurement>& ms)
{
  if (mode == "every-other")
    return every_other_holdout(ms);
  if (mode == "every-other-shape")
    return every_other_shape_holdout(ms);
  return std::vector<bool>(ms.size(), false);
}

std::string fmt(const char* f, double v)
{
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

/// The group a validation row is summarised in: "alltoall/intra", "all_reduce/inter", "gemm/fp8", "ll_dispatch/inter",
/// "moe_experts", ...
std::string group_of(const Measurement& m)
{
  if (m.op == "gemm")
    return "gemm/" + m.dtype;
  if (m.op == "hbm" || m.op == "moe_experts")
    return m.op;
  return m.op + (m.nodes > 1 ? "/inter" : "/intra");
}

/// The size column of a validation row: m (GEMM), tokens per GPU (DeepEP and MoE operations), bytes otherwise.
double size_of(const Measurement& m)
{
  return m.op == "gemm" ? m.m : is_moe_op(m.op) ? static_cast<double>(m.tokens) : m.bytes;
}

/// What a measurement ran on: the platform's GPU when its name says nothing else, or the GPU preset it names
/// (`other` is set then) with that node's links.
std::pair<GpuInfo, LinkValues> gpu_of(const Measurement& m, const GpuInfo& platform_gpu, bool* other = nullptr)
{
  const std::string preset = preset_of_gpu_name(m.gpu_name);
  if (other)
    *other = false;
  if (preset.empty() || preset == preset_of_gpu_name(platform_gpu.model))
    return {platform_gpu, LinkValues{}};
  if (other)
    *other = true;
  const GpuPreset& p = gpu_preset(preset);
  return {p.gpu, LinkValues{p.nvlink_Bps, p.nic_Bps}};
}

/// The fast model's phase code on a loaded platform, its links set to the measurement's node.
PhaseSimulator phase_simulator(Simulation& sim)
{
  return [&sim](const LayerComm& comm, bool dispatch, double unit_bytes, const PhaseCost& cost,
                const LinkValues& links, std::vector<double>& end_s) {
    sim.set_link_override(LinkOverride{links.nvlink_Bps, links.nic_Bps});
    const std::vector<double> start(comm.tokens.size(), 0.0);
    sim.phase_time_s(comm, dispatch, unit_bytes, cost, start, end_s);
  };
}

/// The parameters a platform's calibration gives its kernels and compute model (defaults where it has none).
MoeParams platform_moe_params(const PlatformCalibration& cal, const std::string& where)
{
  MoeParams p;
  for (const auto& [name, entry] : A2aKernelRegistry::instance().entries())
    p.kernels[name] = cal.kernel(name, "fp8", 24, where).params;
  cal.apply_compute(p.compute);
  return p;
}

double median(std::vector<double> v)
{
  if (v.empty())
    return std::nan("");
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int run_validate(const ValidateOpts& o)
{
  std::vector<Measurement> ms;
  const auto inputs = read_inputs(o.inputs, ms);
  const auto held = holdout_marks(o.holdout, ms);
  // Points the fit rejected as outliers (from its record): reported, not counted among the fitted points.
  std::set<std::tuple<std::string, int, std::string>> outliers; // (source, line, op): a line may hold two phases
  if (!o.record.empty()) {
    const JsonDocument doc = JsonDocument::parse(read_text_file(o.record), o.record);
    if (!doc.root().has("points") || !doc.root().node()["points"].is_array())
      doc.root().fail("points", "expected the array of a calibration record");
    const auto& pts = doc.root().node()["points"];
    for (const auto& p : pts)
      if (p.is_object() && p.contains("outlier") && p["outlier"].is_boolean() && p["outlier"].get<bool>() &&
          p.contains("source") && p["source"].is_string() && p.contains("line") && p["line"].is_number_integer() &&
          p.contains("op") && p["op"].is_string())
        outliers.insert({p["source"].get<std::string>(), p["line"].get<int>(), p["op"].get<std::string>()});
  }
  Simulation sim(o.platform);
  const Cluster& cluster = sim.cluster();
  CalibrationResult r;
  r.platform.gpu = cluster.gpu(0);
  r.network = sim.calibration();
  CollectiveSimulator simulate = [&](const CollectivePattern& pat, const PlatformCalibration& c, double f) {
    sim.set_calibration(c);
    return sim.collective_time_s(pat, f);
  };
  std::vector<double> measured, simulated, error, key;
  std::vector<int64_t> nodes, gpus, is_held, is_outlier, line;
  std::vector<std::string> source, op, group, dtype;
  const MoeParams moe_params = platform_moe_params(r.network, o.platform);
  const PhaseSimulator phase = phase_simulator(sim);
  std::vector<std::string> skipped;
  std::set<std::string> other_gpus;
  std::vector<Measurement> kept;
  std::vector<bool> kept_held;
  for (size_t i = 0; i < ms.size(); ++i) {
    const auto& m = ms[i];
    const bool op_case = m.op == "gemm" || m.op == "hbm" || is_moe_op(m.op);
    const bool kernel_case = is_moe_op(m.op) && m.op != "moe_experts";
    if ((!op_case || kernel_case) && (m.nodes * m.gpus_per_node > cluster.num_gpus() ||
                                      (!op_case && m.gpus_per_node > cluster.gpus_per_node()))) {
      skipped.push_back(m.source + " line " + std::to_string(m.line) + " (" + m.op + " on " +
                        std::to_string(m.nodes) + " x " + std::to_string(m.gpus_per_node) + " GPUs)");
      continue;
    }
    double t = 0;
    double meas = m.metric == "time" ? m.time_s : m.bandwidth_Bps;
    if (op_case) {
      // On the GPU the measurement names (its preset's GPU and links, as the fit used them), else the platform's.
      bool other = false;
      const auto [gpu, links] = gpu_of(m, cluster.gpu(0), &other);
      if (other)
        other_gpus.insert(m.gpu_name);
      MoeCase c(m, gpu, links, cluster);
      t = c.simulate(moe_params, phase);
    } else {
      t = simulate_measurement(m, r, cluster.gpus_per_node(), simulate);
    }
    kept.push_back(m);
    kept_held.push_back(held[i]);
    measured.push_back(meas);
    simulated.push_back(t);
    // Bandwidth measurements are compared as the time they stand for: error = measured / simulated bandwidth - 1.
    error.push_back(m.metric == "time" ? t / meas - 1.0 : meas / t - 1.0);
    key.push_back(size_of(m));
    nodes.push_back(m.nodes);
    gpus.push_back(m.gpus_per_node);
    is_held.push_back(held[i] ? 1 : 0);
    is_outlier.push_back(outliers.count({m.source, m.line, m.op}) ? 1 : 0);
    line.push_back(m.line);
    source.push_back(m.source);
    op.push_back(m.op);
    group.push_back(group_of(m));
    dtype.push_back(m.dtype);
  }
  sim.set_link_override(LinkOverride{});
  if (kept.empty())
    throw UsageError("none of the measurements fits the platform " + o.platform + " (" +
                     std::to_string(cluster.num_nodes()) + " x " + std::to_string(cluster.gpus_per_node()) +
                     " GPUs): give a platform with as many nodes as the measurements (moesim platform --calibration "
                     "RECORD --nodes N)");
  const auto [below, above] = sim.messages_outside_calibration();
  // Summary per group: fitted points and held-out points separately.
  struct Stat {
    std::vector<double> fit, held, rejected;
  };
  std::map<std::string, Stat> stats;
  for (size_t i = 0; i < kept.size(); ++i) {
    auto& s = stats[group[i]];
    (is_outlier[i] ? s.rejected : is_held[i] ? s.held : s.fit).push_back(std::abs(error[i]));
  }
  std::string md = "# Calibration validation\n\nPlatform: `" + o.platform + "` (sha256 " +
                   sha256_file(o.platform).substr(0, 16) + "...)\n\nInputs:\n";
  for (const auto& in : inputs)
    md += "- `" + in.path + "` (" + in.format + ", " + std::to_string(in.measurements.size()) + " measurements, sha256 " +
          in.sha256.substr(0, 16) + "...)\n";
  md += "\nError = simulated / measured - 1. Fitted: points the calibration was fitted on";
  md += o.holdout == "every-other"         ? "; held out: every other size of each series, left out of the fit.\n\n"
        : o.holdout == "every-other-shape" ? "; held out: every other shape (expert count, hidden size, top-k, node "
                                             "count) of each DeepEP and MoE-layer table, all its sizes.\n\n"
                                           : ".\n\n";
  md += "| operation | fitted points | median abs error | max abs error | held-out points | median abs error | max "
        "abs error | rejected outliers |\n|---|---|---|---|---|---|---|---|\n";
  auto pct = [](double v) { return std::isnan(v) ? std::string("-") : fmt("%.1f%%", 100 * v); };
  for (const auto& [g, s] : stats) {
    const double fmax = s.fit.empty() ? std::nan("") : *std::max_element(s.fit.begin(), s.fit.end());
    const double hmax = s.held.empty() ? std::nan("") : *std::max_element(s.held.begin(), s.held.end());
    md += "| " + g + " | " + std::to_string(s.fit.size()) + " | " + pct(median(s.fit)) + " | " + pct(fmax) + " | " +
          std::to_string(s.held.size()) + " | " + pct(median(s.held)) + " | " + pct(hmax) + " | " +
          std::to_string(s.rejected.size()) + " |\n";
  }
  if (!other_gpus.empty()) {
    std::string names;
    for (const auto& g : other_gpus)
      names += (names.empty() ? "" : ", ") + g;
    md += "\nNote: measurements taken on " + names + " were simulated on that GPU's preset (its GPU values and "
          "NVLink/NIC bandwidths, moesim platform --gpu) with this platform's topology and calibration, not on " +
          (cluster.gpu(0).model.empty() ? std::string("this platform's GPU") : cluster.gpu(0).model) + ".\n";
  }
  if (!skipped.empty()) {
    md += "\n" + std::to_string(skipped.size()) + " measurements need more GPUs than the platform has and were not "
          "simulated (give a platform with enough nodes):";
    for (size_t i = 0; i < skipped.size() && i < 8; ++i)
      md += (i ? "; " : " ") + skipped[i];
    md += skipped.size() > 8 ? "; ...\n" : "\n";
  }
  std::cout << md;
  if (below + above > 0)
    std::cout << "\n" << below << " simulated messages were smaller and " << above
              << " larger than the calibrated sizes (their factor is the nearest measured one)\n";
  if (!o.report.empty()) {
    md += "\n## Every measurement\n\nSizes: bytes (collectives), m (GEMMs), tokens per GPU (DeepEP and MoE "
          "operations); values in us, or GB/s for bandwidth measurements.\n\n| source | line | operation | nodes x "
          "GPUs | size | measured | simulated | error | held out / outlier |\n|---|---|---|---|---|---|---|---|---|\n";
    std::string csv = "source,line,op,group,dtype,nodes,gpus_per_node,size,metric,measured,simulated,error,held_out,"
                      "outlier,routing\n";
    for (size_t i = 0; i < kept.size(); ++i) {
      const bool bw = kept[i].metric != "time";
      const double scale = bw ? 1e-9 : 1e6;
      const std::string base = std::filesystem::path(source[i]).filename().string();
      md += "| " + base + " | " + std::to_string(line[i]) + " | " + op[i] + " | " + std::to_string(nodes[i]) + " x " +
            std::to_string(gpus[i]) + " | " + fmt("%.6g", key[i]) + " | " + fmt("%.4g", measured[i] * scale) +
            (bw ? " GB/s" : "") + " | " + fmt("%.4g", simulated[i] * scale) + (bw ? " GB/s" : "") + " | " +
            fmt("%+.1f%%", 100 * error[i]) + " | " +
            (is_held[i] ? "held out" : is_outlier[i] ? "outlier" : "") + " |\n";
      csv += source[i] + "," + std::to_string(line[i]) + "," + op[i] + "," + group[i] + "," + dtype[i] + "," +
             std::to_string(nodes[i]) + "," + std::to_string(gpus[i]) + "," + fmt("%.10g", key[i]) + "," +
             (bw ? kept[i].metric + "_Bps" : std::string("time_s")) + "," + fmt("%.10g", measured[i]) + "," +
             fmt("%.10g", simulated[i]) + "," + fmt("%.6g", error[i]) + "," +
             std::to_string(is_held[i]) + "," + std::to_string(is_outlier[i]) + "," + kept[i].routing + "\n";
    }
    write_file_atomically(o.report + ".md", md);
    write_file_atomically(o.report + ".csv", csv);
    AtomicFile hf(o.report + ".h5");
    {
      h5::silence_hdf5_errors();
      h5::File f = h5::File::create(hf.temp_path());
      const auto root = h5::root(f);
      const auto g = h5::create_group(root, "validation");
      h5::write_strings(g, "source", source);
      h5::write_strings(g, "op", op);
      h5::write_strings(g, "group", group);
      h5::write_strings(g, "dtype", dtype);
      h5::write_vector(g, "line", line);
      h5::write_vector(g, "nodes", nodes);
      h5::write_vector(g, "gpus_per_node", gpus);
      h5::write_vector(g, "size", key);
      std::vector<std::string> metric;
      for (const auto& m : kept)
        metric.push_back(m.metric == "time" ? "time_s" : m.metric + "_Bps");
      h5::write_strings(g, "metric", metric);
      h5::write_vector(g, "measured", measured);
      h5::write_vector(g, "simulated", simulated);
      h5::write_vector(g, "error", error);
      h5::write_vector(g, "held_out", is_held);
      h5::write_vector(g, "outlier", is_outlier);
      h5::write_attr(root, "platform", o.platform);
      h5::write_attr(root, "platform_sha256", sha256_file(o.platform));
      h5::write_attr(root, "holdout", o.holdout);
      for (size_t i = 0; i < inputs.size(); ++i)
        h5::write_attr(g, "input_" + std::to_string(i), inputs[i].path + " sha256 " + inputs[i].sha256);
      const auto props = r.network.to_props();
      for (const auto& [k, v] : props)
        h5::write_attr(root, k, v);
    }
    hf.commit();
  }
  return 0;
}

nlohmann::json record_json(const CalibrationResult& r, const std::vector<CalibInput>& inputs, const CalibrateOpts& o)
{
  nlohmann::json j;
  j["moesim_version"] = MOESIM_VERSION; // no revision: the bundled records are checked byte for byte
  j["holdout"] = o.holdout;
  for (const auto& in : inputs)
    j["inputs"].push_back({{"path", in.path},
                           {"format", in.format},
                           {"sha256", in.sha256},
                           {"measurements", in.measurements.size()},
                           {"notes", in.notes}});
  write_record_platform(r.platform, r.network, j);
  j["notes"] = r.notes;
  j["points"] = nlohmann::json::array();
  // The factor-table points and the operations' rejected ones (what `calibrate validate --record` labels outliers
  // by); the other operation points are in the validation report (REPORT.csv), their fitted parameters in
  // zone_properties.
  for (const auto& pt : r.points) {
    if ((pt.m.op == "gemm" || pt.m.op == "hbm" || is_moe_op(pt.m.op)) && !pt.outlier)
      continue;
    j["points"].push_back({{"source", pt.m.source},
                           {"line", pt.m.line},
                           {"op", pt.m.op},
                           {"nodes", pt.m.nodes},
                           {"gpus_per_node", pt.m.gpus_per_node},
                           {"bytes", pt.m.bytes},
                           {"m", pt.m.m},
                           {"time_s", pt.m.time_s},
                           {"held_out", pt.held_out},
                           {"outlier", pt.outlier},
                           {"table", pt.table},
                           {"key", pt.key},
                           {"factor", pt.factor}});
  }
  return j;
}

/// The GPU preset of the calibrated cluster: --gpu, else the one the collective measurements name, else h100.
std::string cluster_preset(const CalibrateOpts& o, const std::vector<Measurement>& ms)
{
  std::map<std::string, int> named;
  std::set<std::string> unknown;
  for (const auto& m : ms)
    if (m.op != "gemm" && m.op != "hbm" && !is_moe_op(m.op)) {
      const std::string p = preset_of_gpu_name(m.gpu_name);
      if (!p.empty())
        ++named[p];
      else if (!m.gpu_name.empty())
        unknown.insert(m.gpu_name);
    }
  for (const auto& g : unknown)
    spdlog::warn("the measurements name the GPU '{}', which no GPU preset matches (moesim list): the calibrated "
                 "platform takes the {} preset's GPU values and datasheet links; its fitted links and factors are "
                 "the measured ones",
                 g, o.gpu.empty() ? (named.empty() ? std::string("h100") : named.begin()->first) : o.gpu);
  if (!o.gpu.empty()) {
    for (const auto& [p, count] : named)
      if (p != o.gpu)
        spdlog::warn("--gpu {}: {} collective measurements were taken on {} GPUs; the calibrated platform has {} "
                     "values", o.gpu, count, p, o.gpu);
    return o.gpu;
  }
  if (named.empty())
    return "h100";
  return std::max_element(named.begin(), named.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
}

/// DeepEP, MoE-layer, GEMM and HBM measurements: the kernel and compute parameters, fitted through the fast model's
/// phase code on the loaded scratch platform, each measurement on its own GPU's node (its preset's links).
void fit_operations(CalibrationResult& r, const std::vector<Measurement>& ms, const std::vector<bool>& held,
                    Simulation& sim)
{
  std::vector<size_t> idx;
  for (size_t i = 0; i < ms.size(); ++i)
    if (ms[i].op == "gemm" || ms[i].op == "hbm" || is_moe_op(ms[i].op))
      idx.push_back(i);
  if (idx.empty())
    return;
  std::vector<MoeCase> cases;
  std::vector<bool> case_held;
  cases.reserve(idx.size());
  std::set<std::string> others;
  for (size_t i : idx) {
    bool other = false;
    const auto [gpu, links] = gpu_of(ms[i], r.platform.gpu, &other);
    if (other)
      others.insert(ms[i].gpu_name);
    cases.emplace_back(ms[i], gpu, links, sim.cluster());
    case_held.push_back(held[i]);
  }
  for (const auto& g : others)
    r.notes.push_back("measurements on " + g + " are fitted on that GPU's preset (moesim platform --gpu): the kernel "
                      "and compute parameters are fractions and times that carry over to the calibrated cluster");
  MoeParams p = platform_moe_params(r.network, "calibration");
  const PhaseSimulator phase = phase_simulator(sim);
  std::vector<bool> outlier;
  fit_moe_params(cases, case_held, p, phase, r.notes, &outlier);
  std::set<std::string> kernels;
  bool compute = false;
  for (size_t j = 0; j < cases.size(); ++j) {
    if (!case_held[j]) {
      if (cases[j].kernel().empty())
        compute = true;
      else
        kernels.insert(cases[j].kernel());
    }
    FitPoint& pt = r.points[idx[j]];
    pt.table = cases[j].kernel().empty() ? "compute" : "kernel/" + cases[j].kernel();
    pt.key = size_of(ms[idx[j]]);
    pt.factor = cases[j].simulate(p, phase) / cases[j].measured(); // simulated / measured after the fit
    pt.weight = 1;
    pt.outlier = outlier[j];
  }
  sim.set_link_override(LinkOverride{});
  for (const auto& k : kernels)
    r.network.kernel_params[k] = p.kernels.at(k);
  if (compute)
    r.network.compute = compute_params_of(p.compute);
}

int run_calibrate(const CalibrateOpts& o)
{
  std::vector<Measurement> ms;
  const auto inputs = read_inputs(o.inputs, ms);
  const auto held = holdout_marks(o.holdout, ms);
  PlatformParams base;
  base.topology = parse_topology(o.topology);
  const GpuPreset& preset = gpu_preset(cluster_preset(o, ms));
  base.gpu = preset.gpu;
  base.nvlink_Bps = preset.nvlink_Bps;
  base.nic_Bps = preset.nic_Bps;
  CalibrationResult r = fit_link_values(ms, held, base);
  spdlog::info("calibrate: {} measurements from {} files, fitting on a {} x {} {} platform", ms.size(), inputs.size(),
               r.platform.nodes, r.platform.gpus_per_node, preset.name);
  {
    // Stage 2 runs on the stage-1 platform loaded in SimGrid: the factors and parameters are solved through
    // moesim's own communication code. The platform is a scratch file beside the output, with as many nodes as the
    // largest measured operation needs.
    PlatformParams scratch_params = r.platform;
    for (const auto& m : ms)
      if (is_moe_op(m.op) && m.op != "moe_experts")
        scratch_params.nodes = std::max(scratch_params.nodes, m.nodes * m.gpus_per_node / scratch_params.gpus_per_node);
    const std::string scratch = o.out + ".fit-scratch.xml";
    write_file_atomically(scratch, generate_platform_xml(scratch_params));
    struct Remove {
      std::string path;
      ~Remove() { std::filesystem::remove(path); }
    } remove{scratch};
    Simulation sim(scratch);
    fit_factors(r, [&](const CollectivePattern& pat, const PlatformCalibration& c, double f) {
      sim.set_calibration(c);
      return sim.collective_time_s(pat, f);
    });
    sim.set_calibration(r.network);
    fit_operations(r, ms, held, sim);
  }
  PlatformParams out = r.platform;
  for (const auto& m : ms) // the written platform holds every measured operation
    if (is_moe_op(m.op) && m.op != "moe_experts")
      out.nodes = std::max(out.nodes, m.nodes * m.gpus_per_node / out.gpus_per_node);
  if (o.nodes > 0)
    out.nodes = o.nodes;
  r.platform.nodes = out.nodes;
  out.zone_properties = r.network.to_props();
  out.comment_lines.push_back("Calibrated by moesim calibrate (docs/calibration.md) from:");
  for (const auto& in : inputs)
    out.comment_lines.push_back("  " + in.path + " (" + in.format + ", sha256 " + in.sha256.substr(0, 16) + ")");
  write_file_atomically(o.out, generate_platform_xml(out));
  const std::string record = o.record.empty() ? o.out + ".calibration.json" : o.record;
  write_file_atomically(record, record_json(r, inputs, o).dump(2) + "\n");
  for (const auto& n : r.notes)
    std::cout << "  " << n << "\n";
  std::cout << "calibrated platform: " << o.out << "\ncalibration record: " << record << "\n";
  if (o.report.empty())
    return 0;
  // Validation on the written platform, in its own process (one SimGrid engine per process): what a user's
  // `moesim run` on this file would simulate.
  std::vector<std::string> args = {self_exe(), "calibrate", "validate", o.out, "--report", o.report,
                                   "--holdout", o.holdout, "--record", record};
  for (const auto& p : o.inputs)
    args.push_back(p);
  std::cout.flush();
  const std::string log = o.report + ".validate.log";
  const pid_t pid = spawn(args, log);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw UsageError("validation of " + o.out + " failed: " + child_error(log, status));
  std::filesystem::remove(log);
  std::ifstream md(o.report + ".md");
  std::string line;
  while (std::getline(md, line) && line != "## Every measurement")
    std::cout << line << "\n";
  return 0;
}

} // namespace

void add_calibrate(CLI::App& app, Action& action)
{
  auto o = std::make_shared<CalibrateOpts>();
  auto v = std::make_shared<ValidateOpts>();
  auto* cmd = app.add_subcommand(
      "calibrate", "Fit a calibrated platform to measurements (nccl-tests logs, calib/ JSON, NCCL and GEMM CSVs)");
  cmd->add_option("inputs", o->inputs, "measurement files")->check(CLI::ExistingFile);
  cmd->add_option("-o,--out", o->out, "calibrated platform XML to write");
  cmd->add_option("--record", o->record, "calibration record JSON (default: OUT.calibration.json)");
  cmd->add_option("--report", o->report,
                  "validate the written platform and write REPORT.md, REPORT.csv and REPORT.h5");
  cmd->add_option("--holdout", o->holdout,
                  "none; every-other: leave every other size of each series out of the fit; every-other-shape: leave "
                  "every other shape of each DeepEP / MoE-layer table out (default: every-other with --report, so "
                  "that it judges points the fit did not see; none without)")
      ->check(CLI::IsMember({"none", "every-other", "every-other-shape"}));
  cmd->add_option("--topology", o->topology, "rail, fat-tree or single-switch")
      ->check(CLI::IsMember({"rail", "fat-tree", "single-switch"}))
      ->capture_default_str();
  cmd->add_option("--nodes", o->nodes, "nodes of the written platform (default: the largest measured shape)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--gpu", o->gpu, "GPU preset of the calibrated cluster (default: the GPU its NCCL logs name, else h100)")
      ->check(CLI::IsMember({"h100", "h200", "h800", "a100"}));
  auto* val = cmd->add_subcommand("validate", "Simulate every measurement on a platform and report the errors");
  val->add_option("platform", v->platform, "platform XML")->required()->check(CLI::ExistingFile);
  val->add_option("inputs", v->inputs, "measurement files")->required()->check(CLI::ExistingFile);
  val->add_option("--report", v->report, "write REPORT.md, REPORT.csv and REPORT.h5");
  val->add_option("--record", v->record, "calibration record: label the points its fit rejected as outliers")
      ->check(CLI::ExistingFile);
  val->add_option("--holdout", v->holdout, "label held-out points as calibrate --holdout did")
      ->check(CLI::IsMember({"none", "every-other", "every-other-shape"}))
      ->capture_default_str();
  val->callback([&action, v] { action = [v] { return run_validate(*v); }; });
  cmd->callback([&action, o, val] {
    if (val->parsed())
      return;
    if (o->inputs.empty())
      throw CLI::ValidationError("calibrate", "at least one measurement file is needed");
    if (o->out.empty())
      throw CLI::ValidationError("calibrate", "-o/--out is required");
    if (o->holdout.empty()) {
      o->holdout = o->report.empty() ? "none" : "every-other";
      if (!o->report.empty())
        spdlog::info("--report: every other size of each series is held out of the fit and judged (the default "
                     "with a report); --holdout none fits every point");
    }
    action = [o] { return run_calibrate(*o); };
  });
}

} // namespace moesim::cli
