// `moesim sweep SPEC.toml`: every point of a sweep spec as a child `moesim run` (SimGrid allows one engine per
// process), in parallel, resumable and crash-safe, gathered into one HDF5 file (docs/sweeps.md).
#include "child_process.hpp"
#include "commands.hpp"
#include "revision.hpp"
#include "core/decode/run_spec.hpp"
#include "core/io/atomic_file.hpp"
#include "core/io/errors.hpp"
#include "core/io/h5.hpp"
#include "core/io/sha256.hpp"
#include "core/policy/policy.hpp"
#include "core/sweep/sweep_spec.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <tuple>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace moesim::cli {

namespace {

struct SweepOpts {
  std::string spec_file;
  int jobs = 0;
  bool dry_run = false;
  std::string shard;       ///< "I/N": run and gather only points i with i % N == I
  std::string emit_slurm;  ///< write an sbatch array script here instead of running
  int slurm_shards = 0;    ///< array tasks (default: one per point, at most 1000)
  std::string slurm_partition, slurm_time = "01:00:00", slurm_account, slurm_mem;
  int slurm_cpus = 2;
};

struct MergeOpts {
  std::string spec_file;
  std::vector<std::string> shard_files;
};

/// "I/N" with 0 <= I < N.
std::pair<int, int> parse_shard(const std::string& text)
{
  const size_t slash = text.find('/');
  try {
    if (slash != std::string::npos) {
      size_t a = 0, b = 0;
      const int i = std::stoi(text.substr(0, slash), &a), n = std::stoi(text.substr(slash + 1), &b);
      if (a == slash && b == text.size() - slash - 1 && n >= 1 && i >= 0 && i < n)
        return {i, n};
    }
  } catch (const std::exception&) {
  }
  throw UsageError("--shard: expected I/N with 0 <= I < N (e.g. 3/8), got '" + text + "'");
}

std::string shard_file(const std::string& out, int i, int n)
{
  return out + ".shard-" + std::to_string(i) + "-of-" + std::to_string(n) + ".h5";
}

/// prefix + 16 hex digits of the FNV-1a hash of key: stable file names for points and generated traces.
std::string hashed_name(const std::string& prefix, const std::string& key)
{
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return prefix + buf;
}

/// A point's result name: the hash of its canonical key and the step count, so that a re-run finds it whatever the
/// order of the spec's axes.
std::string point_id(const SweepPoint& p, int steps)
{
  return hashed_name("point-", p.key() + "steps=" + std::to_string(steps));
}

const char* const kMetrics[] = {"tpot_mean_s", "tpot_p99_s", "tokens_per_s", "dispatch_inter_bytes_per_step",
                                "dispatch_intra_bytes_per_step", "locality_node", "locality_gpu",
                                "expert_load_max_over_mean", "max_message_bytes"};


/// Points columns from each point's summary: the cluster and trace it ran on (plots need no platform file).
const std::pair<const char*, const char*> kShape[] = {{"gpus", "gpus"},
                                                      {"nodes", "nodes"},
                                                      {"gpus_per_node", "gpus_per_node"},
                                                      {"requests", "trace_requests"},
                                                      {"distinct_requests", "distinct_requests"}};
/// Points columns (and point_<i> attributes) from each point's root: its full configuration and inputs' digests.
const char* const kProvenance[] = {"config", "sha256_platform", "sha256_model", "sha256_trace", "working_directory"};

std::string read_text(const std::string& path)
{
  std::ifstream in(path);
  std::string s, line;
  while (std::getline(in, line))
    s += line;
  return s;
}

/// One row of a sweep result file and where its details are.
struct PointData {
  bool present = false; ///< part of this file (a shard holds every N-th point)
  int64_t status = 0;
  std::string error, id;
  double wall_s = std::nan("");
  std::string source_file, source_group; ///< HDF5 file and group holding summary, layers, moe_layer_traffic
};

/// Writes a sweep result file (docs/sweeps.md) with the rows of the present points in spec order; returns how many
/// succeeded. Metrics are read from each point's summary, details copied as they are.
size_t write_sweep_file(const std::string& path, const std::string& spec_file, const SweepSpec& spec,
                        const std::vector<PointData>& data, const std::string& shard)
{
  std::vector<size_t> rows;
  for (size_t i = 0; i < data.size(); ++i)
    if (data[i].present)
      rows.push_back(i);
  AtomicFile out(path);
  size_t ok = 0;
  {
    h5::File f = h5::File::create(out.temp_path());
    auto root = h5::root(f);
    h5::write_attr(root, "schema", std::string("moesim-sweep"));
    h5::write_attr(root, "schema_version", int64_t{1});
    h5::write_attr(root, "spec_file", spec_file);
    h5::write_attr(root, "sha256_spec", sha256_file(spec_file));
    h5::write_attr(root, "steps", int64_t{spec.steps});
    h5::write_attr(root, "points_in_spec", static_cast<int64_t>(spec.points.size()));
    h5::write_attr(root, "moesim_revision", source_revision());
    h5::write_attr(root, "working_directory", std::filesystem::current_path().string());
    if (!shard.empty())
      h5::write_attr(root, "shard", shard);
    auto pts = h5::create_group(root, "points");
    std::string axis_list; // which columns are the spec's axes (the others are results), for readers such as plot.py
    for (const auto& axis : sweep_axis_names())
      axis_list += (axis_list.empty() ? "" : ",") + axis;
    h5::write_attr(pts, "axes", axis_list);
    const auto is_shape_column = [](const std::string& axis) {
      for (const auto& [column, attr] : kShape)
        if (axis == column)
          return true;
      return false;
    };
    for (const auto& axis : sweep_axis_names()) {
      if (is_shape_column(axis))
        continue; // the generator's nodes and gpus_per_node: written below with what each point ran on
      if (sweep_axis_is_string(axis)) {
        std::vector<std::string> v;
        for (size_t i : rows)
          v.push_back(spec.points[i].values.at(axis).text);
        h5::write_strings(pts, axis, v);
      } else {
        std::vector<double> v;
        for (size_t i : rows)
          v.push_back(spec.points[i].values.at(axis).number);
        h5::write_vector(pts, axis, v);
      }
    }
    std::vector<int64_t> status, index;
    std::vector<std::string> error, point_file;
    std::vector<std::vector<double>> metrics(std::size(kMetrics)), shape(std::size(kShape));
    std::vector<std::vector<std::string>> provenance(std::size(kProvenance));
    std::vector<double> wall_s;
    for (size_t i : rows) {
      const PointData& d = data[i];
      index.push_back(static_cast<int64_t>(i));
      status.push_back(d.status);
      error.push_back(d.error);
      point_file.push_back(d.id);
      wall_s.push_back(d.wall_s);
      for (auto* cols : {&metrics, &shape})
        for (auto& m : *cols)
          m.push_back(std::nan(""));
      for (auto& c : provenance)
        c.emplace_back();
      if (!d.status)
        continue;
      ++ok;
      h5::File pf = h5::File::open_read(d.source_file);
      auto src = d.source_group == "/" ? h5::root(pf) : h5::open_group(h5::root(pf), d.source_group);
      auto summary = h5::open_group(src, "summary");
      for (size_t m = 0; m < std::size(kMetrics); ++m)
        metrics[m].back() = h5::read_attr_double(summary, kMetrics[m]);
      for (size_t m = 0; m < std::size(kShape); ++m)
        if (h5::has_attr(summary, kShape[m].second))
          shape[m].back() = h5::read_attr_double(summary, kShape[m].second);
      for (size_t m = 0; m < std::size(kProvenance); ++m)
        if (h5::has_attr(src, kProvenance[m]))
          provenance[m].back() = h5::read_attr_string(src, kProvenance[m]);
      auto grp = h5::create_group(root, "point_" + std::to_string(i));
      for (const char* obj : {"summary", "layers", "moe_layer_traffic", "gpu_load"})
        if (h5::exists(src, obj) && H5Ocopy(src.id, obj, grp.id, obj, H5P_DEFAULT, H5P_DEFAULT) < 0)
          throw InputError(d.source_file, obj, "cannot copy into " + path);
      // A point's own record, as moesim run wrote it (run --from re-runs it).
      for (const char* attr : kProvenance)
        if (h5::has_attr(src, attr))
          h5::write_attr(grp, attr, h5::read_attr_string(src, attr));
    }
    h5::write_vector(pts, "point_index", index);
    h5::write_vector(pts, "status", status);
    h5::write_strings(pts, "error", error);
    h5::write_strings(pts, "point_id", point_file);
    for (size_t m = 0; m < std::size(kMetrics); ++m)
      h5::write_vector(pts, kMetrics[m], metrics[m]);
    for (size_t m = 0; m < std::size(kShape); ++m) {
      // A point that did not run keeps the value its axis asked for (0: not set).
      if (const auto& names = sweep_axis_names();
          std::find(names.begin(), names.end(), kShape[m].first) != names.end())
        for (size_t r = 0; r < rows.size(); ++r)
          if (std::isnan(shape[m][r]))
            shape[m][r] = spec.points[rows[r]].values.at(kShape[m].first).number;
      h5::write_vector(pts, kShape[m].first, shape[m]);
    }
    for (size_t m = 0; m < std::size(kProvenance); ++m)
      h5::write_strings(pts, kProvenance[m], provenance[m]);
    h5::write_vector(pts, "wall_s", wall_s);
  }
  out.commit();
  return ok;
}

/// `--emit-slurm FILE`: an sbatch array script, one task per shard, each running `moesim sweep SPEC --shard I/N`.
int emit_slurm(const SweepOpts& o, const SweepSpec& spec)
{
  namespace fs = std::filesystem;
  const int n = o.slurm_shards > 0 ? o.slurm_shards : static_cast<int>(std::min<size_t>(spec.points.size(), 1000));
  if (n < 1 || static_cast<size_t>(n) > spec.points.size())
    throw UsageError("--shards must be between 1 and the number of points (" + std::to_string(spec.points.size()) +
                     ")");
  auto quote = [](const std::string& v) {
    std::string q = "'";
    for (char c : v)
      q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
  };
  for (const auto& [name, v] : {std::pair{"--partition", o.slurm_partition}, {"--time", o.slurm_time},
                                {"--account", o.slurm_account}, {"--mem", o.slurm_mem}})
    if (v.find_first_of(" \t\n'\"\\$`") != std::string::npos)
      throw UsageError(std::string(name) + ": '" + v + "' contains a space or shell character");
  const std::string cwd = fs::current_path().string();
  const std::string logs = fs::absolute(spec.out + ".slurm").string();
  std::string sh = "#!/bin/bash\n"
                   "# Generated by moesim sweep --emit-slurm (docs/sweeps.md): " + std::to_string(spec.points.size()) +
                   " points of " + o.spec_file + " in " + std::to_string(n) + " array tasks.\n"
                   "# Submit: sbatch " + o.emit_slurm + "   then, when every task is done: moesim sweep merge " +
                   o.spec_file + "\n";
  sh += "#SBATCH --job-name=moesim-sweep\n";
  sh += "#SBATCH --array=0-" + std::to_string(n - 1) + "\n";
  sh += "#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=" + std::to_string(o.slurm_cpus) + "\n";
  sh += "#SBATCH --time=" + o.slurm_time + "\n";
  if (!o.slurm_partition.empty())
    sh += "#SBATCH --partition=" + o.slurm_partition + "\n";
  if (!o.slurm_account.empty())
    sh += "#SBATCH --account=" + o.slurm_account + "\n";
  if (!o.slurm_mem.empty())
    sh += "#SBATCH --mem=" + o.slurm_mem + "\n";
  sh += "#SBATCH --output=" + logs + "/task-%a.log\n";
  sh += "set -euo pipefail\ncd " + quote(cwd) + "\n";
  sh += "exec " + quote(self_exe_path()) + " sweep " + quote(o.spec_file) + " --shard \"${SLURM_ARRAY_TASK_ID}/" +
        std::to_string(n) + "\" -j \"${SLURM_CPUS_PER_TASK:-1}\"\n";
  fs::create_directories(logs);
  write_file_atomically(o.emit_slurm, sh);
  fs::permissions(o.emit_slurm, fs::perms::owner_exec | fs::perms::group_exec, fs::perm_options::add);
  std::printf("%s: %d array tasks for %zu points (logs in %s)\nsubmit: sbatch %s\nthen:   moesim sweep merge %s\n",
              o.emit_slurm.c_str(), n, spec.points.size(), logs.c_str(), o.emit_slurm.c_str(),
              o.spec_file.c_str());
  return 0;
}

/// `moesim sweep merge SPEC [SHARDS...]`: joins shard files into the spec's result file, checking that they
/// belong to this spec and that every point is present exactly once.
int merge(const MergeOpts& o)
{
  namespace fs = std::filesystem;
  const SweepSpec spec = load_sweep_spec(o.spec_file);
  const size_t N = spec.points.size();
  std::vector<std::string> files = o.shard_files;
  if (files.empty()) {
    const fs::path out(spec.out);
    const fs::path dir = out.parent_path().empty() ? fs::path(".") : out.parent_path();
    const std::string prefix = out.filename().string() + ".shard-";
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      if (name.rfind(prefix, 0) == 0 && name.size() > 3 && name.compare(name.size() - 3, 3, ".h5") == 0)
        files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    if (files.empty())
      throw UsageError("no shard files " + spec.out + ".shard-*.h5 (run the shards first, or name the files)");
  }
  const std::string sha = sha256_file(o.spec_file);
  std::vector<PointData> data(N);
  std::vector<std::string> owner(N);
  int shards_expected = 0;
  std::set<std::string> shards_seen;
  for (const auto& file : files) {
    h5::File f = h5::File::open_read(file);
    auto root = h5::root(f);
    if (!h5::has_attr(root, "schema") || h5::read_attr_string(root, "schema") != "moesim-sweep")
      throw InputError(file, "@schema", "not a moesim sweep result");
    if (h5::read_attr_string(root, "sha256_spec") != sha)
      throw InputError(file, "@sha256_spec", "written for another version of " + o.spec_file +
                                                  " (the spec changed since the shards ran)");
    if (h5::read_attr_int(root, "steps") != spec.steps)
      throw InputError(file, "@steps", "does not match the spec's steps " + std::to_string(spec.steps));
    if (!h5::has_attr(root, "shard"))
      throw InputError(file, "@shard", "not a shard file (written by moesim sweep --shard I/N)");
    const std::string shard = h5::read_attr_string(root, "shard");
    const int sn = parse_shard(shard).second;
    if (shards_expected == 0)
      shards_expected = sn;
    if (sn != shards_expected)
      throw InputError(file, "@shard", shard + ": the other shard files are of " + std::to_string(shards_expected));
    if (!shards_seen.insert(shard).second)
      throw InputError(file, "@shard", "shard " + shard + " is given twice");
    auto pts = h5::open_group(root, "points");
    const auto index = h5::read_vector<int64_t>(pts, "point_index");
    const auto status = h5::read_vector<int64_t>(pts, "status");
    const auto error = h5::read_strings(pts, "error");
    const auto ids = h5::read_strings(pts, "point_id");
    const auto wall = h5::read_vector<double>(pts, "wall_s");
    if (status.size() != index.size() || error.size() != index.size() || ids.size() != index.size() ||
        wall.size() != index.size())
      throw InputError(file, "points", "columns of different lengths");
    for (size_t r = 0; r < index.size(); ++r) {
      const int64_t i = index[r];
      if (i < 0 || static_cast<size_t>(i) >= N)
        throw InputError(file, "points/point_index[" + std::to_string(r) + "]",
                         "point " + std::to_string(i) + " is not in the spec (" + std::to_string(N) + " points)");
      if (!owner[i].empty())
        throw InputError(file, "points/point_index[" + std::to_string(r) + "]",
                         "point " + std::to_string(i) + " is also in " + owner[i]);
      if (ids[r] != point_id(spec.points[i], spec.steps))
        throw InputError(file, "points/point_id[" + std::to_string(r) + "]",
                         "point " + std::to_string(i) + " was run with other values than the spec's");
      owner[i] = file;
      PointData& d = data[i];
      d.present = true;
      d.status = status[r];
      d.error = error[r];
      d.id = ids[r];
      d.wall_s = wall[r];
      d.source_file = file;
      d.source_group = "point_" + std::to_string(i);
    }
  }
  std::vector<std::string> missing;
  for (size_t i = 0; i < N; ++i)
    if (owner[i].empty())
      missing.push_back(std::to_string(i));
  if (!missing.empty()) {
    std::string list;
    for (size_t k = 0; k < missing.size() && k < 20; ++k)
      list += (k ? ", " : "") + missing[k];
    throw UsageError(std::to_string(missing.size()) + " of " + std::to_string(N) + " points are in no shard file (" +
                     list + (missing.size() > 20 ? ", ..." : "") + "): run their shards, then merge again");
  }
  const size_t ok = write_sweep_file(spec.out, o.spec_file, spec, data, "");
  std::printf("sweep merge: %zu shard files, %zu of %zu points succeeded -> %s\n", files.size(), ok, N,
              spec.out.c_str());
  return ok == N ? 0 : 3;
}

/// Where each point of this shard keeps its result, log, error and wall time, and which still have to run.
struct PointFiles {
  std::vector<std::string> ids, result, log, err, wall; ///< [point]
  std::vector<size_t> mine;                           ///< the points of this shard
  std::vector<size_t> todo;                           ///< ... without a result yet
};

PointFiles plan_point_files(const SweepSpec& spec, const std::filesystem::path& dir, int shard_i, int shard_n)
{
  const size_t N = spec.points.size();
  PointFiles f;
  for (auto* v : {&f.ids, &f.result, &f.log, &f.err, &f.wall})
    v->resize(N);
  for (size_t i = 0; i < N; ++i) {
    f.ids[i] = point_id(spec.points[i], spec.steps);
    if (static_cast<int>(i % static_cast<size_t>(shard_n)) != shard_i)
      continue;
    f.mine.push_back(i);
    f.result[i] = (dir / (f.ids[i] + ".h5")).string();
    f.log[i] = (dir / (f.ids[i] + ".log")).string();
    f.err[i] = (dir / (f.ids[i] + ".err")).string();
    f.wall[i] = (dir / (f.ids[i] + ".wall")).string();
    if (!std::filesystem::exists(f.result[i]))
      f.todo.push_back(i);
  }
  return f;
}

/// The input files of every point to run (index: point).
struct PointInputs {
  std::vector<std::string> trace, platform;
};

/// Runs `moesim ARGS` once (a generated platform or trace), refusing a failure with the child's last words.
void generate_once(const std::string& file, const std::vector<std::string>& args, const char* what)
{
  spdlog::info("sweep: generating {} {}", what, file);
  const std::string log_file = file + ".log";
  int status = 0;
  ::waitpid(spawn_self(args, log_file), &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !std::filesystem::exists(file))
    throw UsageError(std::string("generating the ") + what + " " + file + " failed: " + child_error(log_file, status));
}

/// The trace and platform file of every point to run: defaults resolved; synthetic traces
/// ("synth:PRESET[:REQUESTS]") generated once per model, preset, size and seed into OUT.traces/, and platforms of
/// the generator's knobs once per knob set into OUT.platforms/, before the points that use them. The digests of all
/// inputs are hashed once for the whole sweep.
PointInputs prepare_inputs(const SweepSpec& spec, const std::vector<size_t>& todo)
{
  auto input_of = [](const SweepPoint& p, const char* axis, std::string (*fallback)()) {
    const std::string& text = p.values.at(axis).text;
    return text.empty() ? fallback() : text;
  };
  PointInputs in;
  std::vector<std::string>& trace_file = in.trace;
  trace_file.resize(spec.points.size());
  in.platform.resize(spec.points.size());
  std::set<std::string> inputs, queued;
  std::vector<std::pair<std::string, std::vector<std::string>>> synth_jobs, platform_jobs;
  for (size_t i : todo) {
    const SweepPoint& p = spec.points[i];
    const std::string model = input_of(p, "model", default_model_file);
    if (p.generates_platform()) {
      std::vector<std::string> args = p.platform_args();
      std::string key;
      for (const auto& a : args)
        key += a + "|";
      const std::filesystem::path pdir = spec.out + ".platforms";
      std::filesystem::create_directories(pdir);
      in.platform[i] = (pdir / (hashed_name("platform-", key) + ".xml")).string();
      if (!std::filesystem::exists(in.platform[i]) && queued.insert(in.platform[i]).second) {
        args.push_back("-o");
        args.push_back(in.platform[i]);
        platform_jobs.push_back({in.platform[i], args});
      }
    } else {
      in.platform[i] = input_of(p, "platform", default_platform_file);
      inputs.insert(in.platform[i]);
    }
    inputs.insert(model);
    const std::string& trace = p.values.at("trace").text;
    if (trace.rfind("synth:", 0) != 0) {
      trace_file[i] = input_of(p, "trace", default_trace_file);
      inputs.insert(trace_file[i]);
      continue;
    }
    const std::string seed = std::to_string(static_cast<int64_t>(p.values.at("seed").number));
    const std::filesystem::path tdir = spec.out + ".traces";
    std::filesystem::create_directories(tdir);
    trace_file[i] = (tdir / (hashed_name("synth-", model + "|" + trace + "|" + seed) + ".h5")).string();
    inputs.insert(trace_file[i]);
    if (std::filesystem::exists(trace_file[i]) || !queued.insert(trace_file[i]).second)
      continue;
    const SynthTraceRequest req = parse_synth_trace(trace);
    synth_jobs.push_back({trace_file[i],
                          {"trace", "synth", "--model", model, "--preset", req.preset, "--requests",
                           std::to_string(req.requests), "--seed", seed, "-o", trace_file[i]}});
  }
  for (const auto& [file, args] : synth_jobs)
    generate_once(file, args, "synthetic trace");
  for (const auto& [file, args] : platform_jobs) {
    generate_once(file, args, "platform");
    inputs.insert(file);
  }
  for (size_t i : todo)
    inputs.insert(in.platform[i]);
  share_input_digests(inputs);
  return in;
}

/// Runs the points still to do in up to `jobs` forked children; each success leaves its result and wall time,
/// each failure its error text. Progress and an ETA go to stderr.
void run_points(const SweepSpec& spec, const PointFiles& f, const PointInputs& inputs, int jobs)
{
  const auto t0 = std::chrono::steady_clock::now();
  std::map<pid_t, std::pair<size_t, std::chrono::steady_clock::time_point>> running;
  size_t next = 0, done = 0, failed = 0;
  const auto& todo = f.todo;
  while (done < todo.size()) {
    while (running.size() < static_cast<size_t>(jobs) && next < todo.size()) {
      const size_t i = todo[next++];
      std::filesystem::remove(f.err[i]);
      // The point's options with its resolved (or generated) trace and platform files.
      const std::vector<std::string> point_args = spec.points[i].run_args(spec.steps);
      std::vector<std::string> args;
      for (size_t a = 0; a < point_args.size(); ++a) {
        if (point_args[a] == "--trace" || point_args[a] == "--platform") {
          ++a;
          continue;
        }
        args.push_back(point_args[a]);
      }
      for (const auto& [opt, file] : {std::pair{"--trace", inputs.trace[i]}, {"--platform", inputs.platform[i]}}) {
        args.push_back(opt);
        args.push_back(file);
      }
      args.push_back("--out");
      args.push_back(f.result[i]);
      running[spawn_self(args, f.log[i])] = {i, std::chrono::steady_clock::now()};
    }
    int status = 0;
    const pid_t pid = ::wait(&status);
    if (pid < 0)
      throw InternalError("wait failed");
    const auto it = running.find(pid);
    if (it == running.end())
      continue;
    const auto [i, started] = it->second;
    running.erase(it);
    ++done;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && std::filesystem::exists(f.result[i])) {
      write_file_atomically(f.wall[i], std::to_string(secs));
    } else {
      ++failed;
      write_file_atomically(f.err[i], child_error(f.log[i], status));
    }
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double eta = el / static_cast<double>(done) * static_cast<double>(todo.size() - done);
    std::fprintf(stderr, "sweep: %zu/%zu done, %zu failed, %.0f s elapsed, ETA %.0f s  (%s)\n", done, todo.size(),
                 failed, el, eta, std::filesystem::exists(f.err[i]) ? read_text(f.err[i]).c_str() : "ok");
  }
}

/// The points of this shard (fresh or from an earlier run) as the sweep file's rows.
std::vector<PointData> gather_points(const SweepSpec& spec, const PointFiles& f)
{
  std::vector<PointData> data(spec.points.size());
  for (size_t i : f.mine) {
    data[i].present = true;
    data[i].id = f.ids[i];
    if (!std::filesystem::exists(f.result[i])) {
      data[i].error = std::filesystem::exists(f.err[i]) ? read_text(f.err[i]) : "not run";
      continue;
    }
    data[i].status = 1;
    data[i].source_file = f.result[i];
    data[i].source_group = "/";
    if (std::filesystem::exists(f.wall[i]))
      data[i].wall_s = std::stod(read_text(f.wall[i]));
  }
  return data;
}

int sweep(const SweepOpts& o)
{
  const SweepSpec spec = load_sweep_spec(o.spec_file);
  const size_t N = spec.points.size();
  // Policy names are checked here (the registries live with the policies, not in the spec parser).
  for (size_t i = 0; i < N; ++i)
    try {
      PlacementRegistry::instance().get(spec.points[i].values.at("placement").text, "placement");
      GroupingRegistry::instance().get(spec.points[i].values.at("grouping").text, "grouping");
    } catch (const UsageError& e) {
      throw InputError(o.spec_file, "point " + std::to_string(i), e.what());
    }
  if (!o.emit_slurm.empty())
    return emit_slurm(o, spec);
  if (o.dry_run) {
    std::printf("%zu points (%d steps each), results: %s\n", N, spec.steps, spec.out.c_str());
    for (size_t i = 0; i < N; ++i)
      std::printf("%5zu  %s\n", i, spec.points[i].key().c_str());
    return 0;
  }
  const int jobs = o.jobs > 0 ? o.jobs : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::filesystem::path dir = spec.out + ".points";
  std::filesystem::create_directories(dir);
  int shard_i = 0, shard_n = 1;
  if (!o.shard.empty())
    std::tie(shard_i, shard_n) = parse_shard(o.shard);
  const PointFiles files = plan_point_files(spec, dir, shard_i, shard_n);
  spdlog::info("sweep {}{}: {} points, {} already done, {} to run with {} jobs (point results in {})", o.spec_file,
               o.shard.empty() ? "" : " shard " + o.shard, files.mine.size(), files.mine.size() - files.todo.size(),
               files.todo.size(), jobs, dir.string());
  run_points(spec, files, prepare_inputs(spec, files.todo), jobs);

  const std::vector<PointData> data = gather_points(spec, files);
  const std::string target = o.shard.empty() ? spec.out : shard_file(spec.out, shard_i, shard_n);
  const size_t ok = write_sweep_file(target, o.spec_file, spec, data, o.shard);
  std::printf("sweep: %zu of %zu points succeeded -> %s\n", ok, files.mine.size(), target.c_str());
  for (size_t i : files.mine)
    if (!data[i].status)
      std::printf("  failed point %zu (%s): %s\n", i, spec.points[i].key().c_str(), data[i].error.c_str());
  if (!o.shard.empty())
    std::printf("when every shard is done: moesim sweep merge %s\n", o.spec_file.c_str());
  return ok == files.mine.size() ? 0 : 3;
}

} // namespace

void add_sweep(CLI::App& app, Action& action)
{
  auto o = std::make_shared<SweepOpts>();
  auto* cmd = app.add_subcommand("sweep", "Run every point of a TOML sweep spec (axes x zip groups - exclusions) "
                                          "in parallel into one HDF5 file; re-running resumes (docs/sweeps.md)");
  cmd->add_option("spec", o->spec_file, "sweep spec (TOML)");
  cmd->add_option("-j,--jobs", o->jobs, "points in parallel (default: all cores)")->check(CLI::Range(0, 4096));
  cmd->add_flag("--dry-run", o->dry_run, "list the points and exit");
  cmd->add_option("--shard", o->shard, "run and gather only shard I of N (points i with i % N == I) into "
                                      "OUT.shard-I-of-N.h5");
  cmd->add_option("--emit-slurm", o->emit_slurm, "write an sbatch array script (one task per shard) and exit");
  cmd->add_option("--shards", o->slurm_shards, "--emit-slurm: array tasks (default: one per point, at most 1000)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--partition", o->slurm_partition, "--emit-slurm: Slurm partition");
  cmd->add_option("--time", o->slurm_time, "--emit-slurm: time limit per task")->capture_default_str();
  cmd->add_option("--cpus-per-task", o->slurm_cpus, "--emit-slurm: CPUs per task (the task's -j)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->add_option("--account", o->slurm_account, "--emit-slurm: Slurm account");
  cmd->add_option("--mem", o->slurm_mem, "--emit-slurm: memory per task (e.g. 8G)");
  auto m = std::make_shared<MergeOpts>();
  auto* mcmd = cmd->add_subcommand("merge", "Join the shard files of a sweep into its result file, checking every "
                                            "point is present exactly once");
  mcmd->add_option("spec_file", m->spec_file, "sweep spec (TOML)")->required();
  mcmd->add_option("shards", m->shard_files, "shard files (default: OUT.shard-*.h5 beside the spec's out)");
  mcmd->callback([&action, m] { action = [m] { return merge(*m); }; });
  cmd->callback([&action, o, mcmd] {
    if (mcmd->parsed())
      return;
    if (o->spec_file.empty())
      throw CLI::ValidationError("sweep", "a spec file is needed");
    action = [o] { return sweep(*o); };
  });
}

} // namespace moesim::cli
