#include "calib_common.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace moesim::calib {

double parse_size(const std::string& text)
{
  if (text.empty())
    throw CalibError("empty size");
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    throw CalibError("bad size '" + text + "': expected a number with an optional K, M or G suffix");
  }
  const std::string suffix = text.substr(used);
  double mult = 1;
  if (suffix == "K" || suffix == "k")
    mult = 1024.0;
  else if (suffix == "M" || suffix == "m")
    mult = 1024.0 * 1024;
  else if (suffix == "G" || suffix == "g")
    mult = 1024.0 * 1024 * 1024;
  else if (!suffix.empty())
    throw CalibError("bad size '" + text + "': expected a number with an optional K, M or G suffix");
  if (!(v > 0) || !std::isfinite(v))
    throw CalibError("bad size '" + text + "': must be positive");
  return v * mult;
}

std::vector<double> size_range(double min_bytes, double max_bytes, double factor)
{
  if (!(min_bytes > 0) || !(max_bytes >= min_bytes) || !(factor > 1))
    throw CalibError("sizes: expected 0 < min <= max and a step factor > 1");
  std::vector<double> out;
  for (double s = min_bytes; s <= max_bytes * (1 + 1e-9); s *= factor)
    out.push_back(std::round(s));
  return out;
}

Stats stats_of(std::vector<double> samples)
{
  if (samples.empty())
    throw CalibError("no samples");
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  Stats s;
  s.min = samples.front();
  s.max = samples.back();
  s.median = n % 2 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
  return s;
}

namespace {

int env_int(const std::map<std::string, std::string>& env, const std::string& key, int fallback)
{
  auto it = env.find(key);
  if (it == env.end())
    return fallback;
  char* end = nullptr;
  const long v = std::strtol(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || v < 0 || v > 1000000)
    throw CalibError("environment variable " + key + "='" + it->second + "' is not a non-negative integer");
  return static_cast<int>(v);
}

} // namespace

LaunchInfo launch_info(const std::map<std::string, std::string>& env)
{
  LaunchInfo li;
  struct Scheme {
    const char *name, *rank, *size, *local;
  };
  const std::array<Scheme, 3> schemes = {{{"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                                           "OMPI_COMM_WORLD_LOCAL_RANK"},
                                          {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
                                          {"pmi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"}}};
  for (const auto& s : schemes) {
    if (!env.count(s.rank) || !env.count(s.size))
      continue;
    li.rank = env_int(env, s.rank, 0);
    li.world = env_int(env, s.size, 1);
    li.local_rank = env_int(env, s.local, li.rank);
    li.launcher = s.name;
    if (li.world < 1 || li.rank >= li.world)
      throw CalibError(std::string(s.rank) + "=" + std::to_string(li.rank) + " is not below " + s.size + "=" +
                       std::to_string(li.world));
    return li;
  }
  return li;
}

std::map<std::string, std::string> process_environment()
{
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    const std::string kv = *e;
    const size_t eq = kv.find('=');
    if (eq != std::string::npos)
      env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

std::string rendezvous(const std::string& dir, const std::string& name, int rank, const std::string& bytes,
                       double timeout_s)
{
  namespace fs = std::filesystem;
  const fs::path path = fs::path(dir) / name;
  if (rank == 0) {
    fs::create_directories(dir);
    const fs::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      if (!out)
        throw CalibError("cannot write " + tmp.string());
    }
    fs::rename(tmp, path);
    return bytes;
  }
  const auto t0 = std::chrono::steady_clock::now();
  while (true) {
    std::error_code ec;
    if (fs::exists(path, ec) && fs::file_size(path, ec) == bytes.size()) {
      std::ifstream in(path, std::ios::binary);
      std::string got(bytes.size(), '\0');
      in.read(got.data(), static_cast<std::streamsize>(got.size()));
      if (in)
        return got;
    }
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > timeout_s)
      throw CalibError("rank " + std::to_string(rank) + ": no " + path.string() + " from rank 0 after " +
                       std::to_string(static_cast<int>(timeout_s)) + " s (is --rendezvous on a shared file system?)");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Report::Report(const std::string& benchmark)
{
  j_["schema"] = "moesim-calib/1";
  j_["benchmark"] = benchmark;
  j_["measurements"] = nlohmann::json::array();
  j_["ranks"] = {{"world", 1}, {"nodes", 1}, {"gpus_per_node", 1}, {"hosts", nlohmann::json::array()}};
}

void Report::set_host(const std::string& hostname) { j_["host"] = {{"name", hostname}}; }

void Report::add_gpu(const std::string& name, int index, const std::string& pci_bus)
{
  j_["gpus"].push_back({{"name", name}, {"index", index}, {"pci_bus", pci_bus}});
}

void Report::set_versions(const std::map<std::string, std::string>& versions) { j_["versions"] = versions; }

void Report::set_topology(const std::string& text) { j_["topology"] = text; }

void Report::set_ranks(const std::vector<std::string>& hosts)
{
  if (hosts.empty())
    throw CalibError("no ranks");
  const std::set<std::string> distinct(hosts.begin(), hosts.end());
  const int world = static_cast<int>(hosts.size()), nodes = static_cast<int>(distinct.size());
  if (world % nodes != 0)
    throw CalibError(std::to_string(world) + " ranks on " + std::to_string(nodes) +
                     " hosts: every node needs the same number of GPUs");
  j_["ranks"] = {{"world", world}, {"nodes", nodes}, {"gpus_per_node", world / nodes}, {"hosts", hosts}};
}

void Report::set_settings(int warmup, int iters) { j_["settings"] = {{"warmup", warmup}, {"iters", iters}}; }

void Report::add(nlohmann::json fields, const Stats& time_s, int reps)
{
  fields["reps"] = reps;
  fields["time_s"] = {{"min", time_s.min}, {"median", time_s.median}, {"max", time_s.max}};
  j_["measurements"].push_back(std::move(fields));
}

void Report::write(const std::string& path) const
{
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j_.dump(1) << "\n";
    if (!out)
      throw CalibError("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

std::string command_output(const std::string& command)
{
  std::string out;
  FILE* p = ::popen((command + " 2>/dev/null").c_str(), "r");
  if (!p)
    return out;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    out.append(buf, n);
  ::pclose(p);
  return out;
}

} // namespace moesim::calib
