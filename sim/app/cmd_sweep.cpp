// `moesim sweep SPEC.toml`: every point of a sweep spec as a child `moesim run` (SimGrid allows one engine per
// process), in parallel, resumable and crash-safe, gathered into one HDF5 file (docs/sweeps.md).
#include "child_process.hpp"
#include "commands.hpp"
#include "core/atomic_file.hpp"
#include "core/errors.hpp"
#include "core/h5.hpp"
#include "core/policy.hpp"
#include "core/sha256.hpp"
#include "core/sweep_spec.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
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
};

/// A point's result name: a hash of its canonical key and the step count, so that a re-run finds it whatever the
/// order of the spec's axes.
std::string point_id(const SweepPoint& p, int steps)
{
  uint64_t h = 1469598103934665603ULL; // FNV-1a
  for (unsigned char c : p.key() + "steps=" + std::to_string(steps)) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "point-%016llx", static_cast<unsigned long long>(h));
  return buf;
}

const char* const kMetrics[] = {"tpot_mean_s", "tpot_p99_s", "tokens_per_s", "dispatch_inter_bytes_per_step",
                                "dispatch_intra_bytes_per_step", "locality_node", "locality_gpu",
                                "expert_load_max_over_mean", "max_message_bytes"};

void write_text(const std::string& path, const std::string& text)
{
  AtomicFile out(path);
  std::ofstream(out.temp_path()) << text;
  out.commit();
}

std::string read_text(const std::string& path)
{
  std::ifstream in(path);
  std::string s, line;
  while (std::getline(in, line))
    s += line;
  return s;
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
  if (o.dry_run) {
    std::printf("%zu points (%d steps each), results: %s\n", N, spec.steps, spec.out.c_str());
    for (size_t i = 0; i < N; ++i)
      std::printf("%5zu  %s\n", i, spec.points[i].key().c_str());
    return 0;
  }
  const int jobs = o.jobs > 0 ? o.jobs : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const std::filesystem::path dir = spec.out + ".points";
  std::filesystem::create_directories(dir);
  std::vector<std::string> ids(N), result(N), log(N), err(N), wall(N);
  std::vector<size_t> todo;
  for (size_t i = 0; i < N; ++i) {
    ids[i] = point_id(spec.points[i], spec.steps);
    result[i] = (dir / (ids[i] + ".h5")).string();
    log[i] = (dir / (ids[i] + ".log")).string();
    err[i] = (dir / (ids[i] + ".err")).string();
    wall[i] = (dir / (ids[i] + ".wall")).string();
    if (!std::filesystem::exists(result[i]))
      todo.push_back(i);
  }
  spdlog::info("sweep {}: {} points, {} already done, {} to run with {} jobs (point results in {})", o.spec_file, N,
               N - todo.size(), todo.size(), jobs, dir.string());
  const auto t0 = std::chrono::steady_clock::now();
  std::map<pid_t, std::pair<size_t, std::chrono::steady_clock::time_point>> running;
  size_t next = 0, done = 0, failed = 0;
  while (done < todo.size()) {
    while (running.size() < static_cast<size_t>(jobs) && next < todo.size()) {
      const size_t i = todo[next++];
      std::filesystem::remove(err[i]);
      std::vector<std::string> args{self_exe()};
      for (auto& a : spec.points[i].run_args(spec.steps))
        args.push_back(a);
      args.push_back("--out");
      args.push_back(result[i]);
      running[spawn(args, log[i])] = {i, std::chrono::steady_clock::now()};
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
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && std::filesystem::exists(result[i])) {
      write_text(wall[i], std::to_string(secs));
    } else {
      ++failed;
      write_text(err[i], child_error(log[i], status));
    }
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double eta = el / static_cast<double>(done) * static_cast<double>(todo.size() - done);
    std::fprintf(stderr, "sweep: %zu/%zu done, %zu failed, %.0f s elapsed, ETA %.0f s  (%s)\n", done, todo.size(),
                 failed, el, eta, std::filesystem::exists(err[i]) ? read_text(err[i]).c_str() : "ok");
  }

  // Gather every point (fresh or from an earlier run) into one file, written under a temporary name.
  AtomicFile out(spec.out);
  size_t ok = 0;
  {
    h5::File f = h5::File::create(out.temp_path());
    auto root = h5::root(f);
    h5::write_attr(root, "schema", std::string("moesim-sweep"));
    h5::write_attr(root, "schema_version", int64_t{1});
    h5::write_attr(root, "spec_file", o.spec_file);
    h5::write_attr(root, "sha256_spec", sha256_file(o.spec_file));
    h5::write_attr(root, "steps", int64_t{spec.steps});
    auto pts = h5::create_group(root, "points");
    for (const auto& axis : sweep_axis_names()) {
      if (sweep_axis_is_string(axis)) {
        std::vector<std::string> v;
        for (const auto& p : spec.points)
          v.push_back(p.values.at(axis).text);
        h5::write_strings(pts, axis, v);
      } else {
        std::vector<double> v;
        for (const auto& p : spec.points)
          v.push_back(p.values.at(axis).number);
        h5::write_vector(pts, axis, v);
      }
    }
    std::vector<int64_t> status(N, 0);
    std::vector<std::string> error(N), point_file(N);
    std::vector<std::vector<double>> metrics(std::size(kMetrics), std::vector<double>(N, std::nan("")));
    std::vector<double> wall_s(N, std::nan(""));
    for (size_t i = 0; i < N; ++i) {
      point_file[i] = ids[i];
      if (!std::filesystem::exists(result[i])) {
        error[i] = std::filesystem::exists(err[i]) ? read_text(err[i]) : "not run";
        continue;
      }
      status[i] = 1;
      ++ok;
      h5::File pf = h5::File::open_read(result[i]);
      auto proot = h5::root(pf);
      auto summary = h5::open_group(proot, "summary");
      for (size_t m = 0; m < std::size(kMetrics); ++m)
        metrics[m][i] = h5::read_attr_double(summary, kMetrics[m]);
      if (std::filesystem::exists(wall[i]))
        wall_s[i] = std::stod(read_text(wall[i]));
      // The point's details: its summary and per-layer table, copied as they are.
      auto grp = h5::create_group(root, "point_" + std::to_string(i));
      for (const char* obj : {"summary", "layers", "moe_layer_traffic"})
        if (h5::exists(proot, obj) && H5Ocopy(proot.id, obj, grp.id, obj, H5P_DEFAULT, H5P_DEFAULT) < 0)
          throw InputError(result[i], obj, "cannot copy into " + spec.out);
    }
    h5::write_vector(pts, "status", status);
    h5::write_strings(pts, "error", error);
    h5::write_strings(pts, "point_id", point_file);
    for (size_t m = 0; m < std::size(kMetrics); ++m)
      h5::write_vector(pts, kMetrics[m], metrics[m]);
    h5::write_vector(pts, "wall_s", wall_s);
  }
  out.commit();
  std::printf("sweep: %zu of %zu points succeeded -> %s\n", ok, N, spec.out.c_str());
  for (size_t i = 0; i < N; ++i)
    if (!std::filesystem::exists(result[i]))
      std::printf("  failed point %zu (%s): %s\n", i, spec.points[i].key().c_str(),
                  std::filesystem::exists(err[i]) ? read_text(err[i]).c_str() : "not run");
  return ok == N ? 0 : 3;
}

} // namespace

void add_sweep(CLI::App& app, Action& action)
{
  auto o = std::make_shared<SweepOpts>();
  auto* cmd = app.add_subcommand("sweep", "Run every point of a TOML sweep spec (axes x zip groups - exclusions) "
                                          "in parallel into one HDF5 file; re-running resumes (docs/sweeps.md)");
  cmd->add_option("spec", o->spec_file, "sweep spec (TOML)")->required();
  cmd->add_option("-j,--jobs", o->jobs, "points in parallel (default: all cores)")->check(CLI::Range(0, 4096));
  cmd->add_flag("--dry-run", o->dry_run, "list the points and exit");
  cmd->callback([&action, o] { action = [o] { return sweep(*o); }; });
}

} // namespace moesim::cli
