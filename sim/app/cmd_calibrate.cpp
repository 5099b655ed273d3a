// `moesim calibrate`: fit a platform to measurements; `moesim calibrate validate`: simulate every measurement on a
// platform and report the errors (docs/calibration.md).
#include "child_process.hpp"
#include "commands.hpp"
#include "core/calibration/calibration.hpp"
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
#include <sys/wait.h>

namespace moesim::cli {

namespace {

struct CalibrateOpts {
  std::vector<std::string> inputs;
  std::string out;
  std::string record;
  std::string report;
  std::string holdout = "none";
  std::string topology = "rail";
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
  return std::vector<bool>(ms.size(), false);
}

std::string fmt(const char* f, double v)
{
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

/// The group a validation row is summarised in: "alltoall/intra", "all_reduce/inter", "gemm/fp8", ...
std::string group_of(const Measurement& m)
{
  if (m.op == "gemm")
    return "gemm/" + m.dtype;
  if (m.op == "hbm")
    return "hbm";
  return m.op + (m.nodes > 1 ? "/inter" : "/intra");
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
  std::set<std::pair<std::string, int>> outliers;
  if (!o.record.empty()) {
    const JsonDocument doc = JsonDocument::parse(read_text_file(o.record), o.record);
    if (!doc.root().has("points") || !doc.root().node()["points"].is_array())
      doc.root().fail("points", "expected the array of a calibration record");
    const auto& pts = doc.root().node()["points"];
    for (const auto& p : pts)
      if (p.is_object() && p.contains("outlier") && p["outlier"].is_boolean() && p["outlier"].get<bool>() &&
          p.contains("source") && p["source"].is_string() && p.contains("line") && p["line"].is_number_integer())
        outliers.insert({p["source"].get<std::string>(), p["line"].get<int>()});
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
  for (size_t i = 0; i < ms.size(); ++i) {
    const auto& m = ms[i];
    if (m.op != "gemm" && m.op != "hbm" &&
        (m.nodes > cluster.num_nodes() || m.gpus_per_node > cluster.gpus_per_node()))
      throw UsageError(m.source + " line " + std::to_string(m.line) + ": a measurement on " +
                       std::to_string(m.nodes) + " x " + std::to_string(m.gpus_per_node) +
                       " GPUs does not fit the platform " + o.platform + " (" + std::to_string(cluster.num_nodes()) +
                       " x " + std::to_string(cluster.gpus_per_node()) + ")");
    const double t = simulate_measurement(m, r, cluster.gpus_per_node(), simulate);
    measured.push_back(m.time_s);
    simulated.push_back(t);
    error.push_back(t / m.time_s - 1.0);
    key.push_back(m.op == "gemm" ? m.m : m.bytes);
    nodes.push_back(m.nodes);
    gpus.push_back(m.gpus_per_node);
    is_held.push_back(held[i] ? 1 : 0);
    is_outlier.push_back(outliers.count({m.source, m.line}) ? 1 : 0);
    line.push_back(m.line);
    source.push_back(m.source);
    op.push_back(m.op);
    group.push_back(group_of(m));
    dtype.push_back(m.dtype);
  }
  const auto [below, above] = sim.messages_outside_calibration();
  // Summary per group: fitted points and held-out points separately.
  struct Stat {
    std::vector<double> fit, held, rejected;
  };
  std::map<std::string, Stat> stats;
  for (size_t i = 0; i < ms.size(); ++i) {
    auto& s = stats[group[i]];
    (is_outlier[i] ? s.rejected : is_held[i] ? s.held : s.fit).push_back(std::abs(error[i]));
  }
  std::string md = "# Calibration validation\n\nPlatform: `" + o.platform + "` (sha256 " +
                   sha256_file(o.platform).substr(0, 16) + "...)\n\nInputs:\n";
  for (const auto& in : inputs)
    md += "- `" + in.path + "` (" + in.format + ", " + std::to_string(in.measurements.size()) + " measurements, sha256 " +
          in.sha256.substr(0, 16) + "...)\n";
  md += "\nError = simulated / measured - 1. Fitted: points the calibration was fitted on";
  md += o.holdout == "every-other" ? "; held out: every other size of each series, left out of the fit.\n\n"
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
  std::cout << md;
  if (below + above > 0)
    std::cout << "\n" << below << " simulated messages were smaller and " << above
              << " larger than the calibrated sizes (their factor is the nearest measured one)\n";
  if (!o.report.empty()) {
    md += "\n## Every measurement\n\n| source | line | operation | nodes x GPUs | size | measured (us) | simulated (us) "
          "| error | held out / outlier |\n|---|---|---|---|---|---|---|---|---|\n";
    std::string csv =
        "source,line,op,group,dtype,nodes,gpus_per_node,size,measured_s,simulated_s,error,held_out,outlier\n";
    for (size_t i = 0; i < ms.size(); ++i) {
      const std::string base = std::filesystem::path(source[i]).filename().string();
      md += "| " + base + " | " + std::to_string(line[i]) + " | " + op[i] + " | " + std::to_string(nodes[i]) + " x " +
            std::to_string(gpus[i]) + " | " + fmt("%.6g", key[i]) + " | " + fmt("%.4g", measured[i] * 1e6) + " | " +
            fmt("%.4g", simulated[i] * 1e6) + " | " + fmt("%+.1f%%", 100 * error[i]) + " | " +
            (is_held[i] ? "held out" : is_outlier[i] ? "outlier" : "") + " |\n";
      csv += source[i] + "," + std::to_string(line[i]) + "," + op[i] + "," + group[i] + "," + dtype[i] + "," +
             std::to_string(nodes[i]) + "," + std::to_string(gpus[i]) + "," + fmt("%.10g", key[i]) + "," +
             fmt("%.10g", measured[i]) + "," + fmt("%.10g", simulated[i]) + "," + fmt("%.6g", error[i]) + "," +
             std::to_string(is_held[i]) + "," + std::to_string(is_outlier[i]) + "\n";
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
      h5::write_vector(g, "measured_s", measured);
      h5::write_vector(g, "simulated_s", simulated);
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
  j["moesim_version"] = MOESIM_VERSION;
  j["holdout"] = o.holdout;
  for (const auto& in : inputs)
    j["inputs"].push_back({{"path", in.path},
                           {"format", in.format},
                           {"sha256", in.sha256},
                           {"measurements", in.measurements.size()},
                           {"notes", in.notes}});
  write_record_platform(r.platform, r.network, j);
  j["notes"] = r.notes;
  for (const auto& pt : r.points)
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
  return j;
}

int run_calibrate(const CalibrateOpts& o)
{
  std::vector<Measurement> ms;
  const auto inputs = read_inputs(o.inputs, ms);
  const auto held = holdout_marks(o.holdout, ms);
  PlatformParams base;
  base.topology = parse_topology(o.topology);
  CalibrationResult r = fit_link_values(ms, held, base);
  spdlog::info("calibrate: {} measurements from {} files, fitting on a {} x {} GPU platform", ms.size(),
               inputs.size(), r.platform.nodes, r.platform.gpus_per_node);
  {
    // Stage 2 runs on the stage-1 platform loaded in SimGrid: the factors are solved through moesim's own
    // communication code. The platform is a scratch file beside the output.
    const std::string scratch = o.out + ".fit-scratch.xml";
    write_file_atomically(scratch, generate_platform_xml(r.platform));
    struct Remove {
      std::string path;
      ~Remove() { std::filesystem::remove(path); }
    } remove{scratch};
    Simulation sim(scratch);
    fit_factors(r, [&](const CollectivePattern& pat, const PlatformCalibration& c, double f) {
      sim.set_calibration(c);
      return sim.collective_time_s(pat, f);
    });
  }
  PlatformParams out = r.platform;
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
  cmd->add_option("--holdout", o->holdout, "none, or every-other: leave every other size out of the fit")
      ->check(CLI::IsMember({"none", "every-other"}))
      ->capture_default_str();
  cmd->add_option("--topology", o->topology, "rail, fat-tree or single-switch")
      ->check(CLI::IsMember({"rail", "fat-tree", "single-switch"}))
      ->capture_default_str();
  auto* val = cmd->add_subcommand("validate", "Simulate every measurement on a platform and report the errors");
  val->add_option("platform", v->platform, "platform XML")->required()->check(CLI::ExistingFile);
  val->add_option("inputs", v->inputs, "measurement files")->required()->check(CLI::ExistingFile);
  val->add_option("--report", v->report, "write REPORT.md, REPORT.csv and REPORT.h5");
  val->add_option("--record", v->record, "calibration record: label the points its fit rejected as outliers")
      ->check(CLI::ExistingFile);
  val->add_option("--holdout", v->holdout, "label held-out points as calibrate --holdout did")
      ->check(CLI::IsMember({"none", "every-other"}))
      ->capture_default_str();
  val->callback([&action, v] { action = [v] { return run_validate(*v); }; });
  cmd->callback([&action, o, val] {
    if (val->parsed())
      return;
    if (o->inputs.empty())
      throw CLI::ValidationError("calibrate", "at least one measurement file is needed");
    if (o->out.empty())
      throw CLI::ValidationError("calibrate", "-o/--out is required");
    action = [o] { return run_calibrate(*o); };
  });
}

} // namespace moesim::cli
