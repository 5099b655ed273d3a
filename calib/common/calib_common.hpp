#pragma once
// The parts of the calib/ benchmarks that do not need a GPU (and are unit-tested on the CPU): message sizes,
// statistics, the launcher's rank layout, the NCCL id rendezvous through a shared directory, and the JSON report
// (schema moesim-calib/1, calib/README.md).
#include <nlohmann/json.hpp>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace moesim::calib {

/// Bad options or environment: main() prints it and exits 2.
class CalibError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// "8", "64K", "1M", "1G" (powers of 1024) -> bytes; CalibError on anything else.
double parse_size(const std::string& text);
/// min, min*factor, ... up to max (inclusive); CalibError unless 0 < min <= max and factor > 1.
std::vector<double> size_range(double min_bytes, double max_bytes, double factor);

struct Stats {
  double min = 0, median = 0, max = 0;
};
/// CalibError on an empty sample.
Stats stats_of(std::vector<double> samples);

/// This process's place in the job, from the launcher's environment: Open MPI (OMPI_COMM_WORLD_*), Slurm
/// (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID), MPICH/PMI (PMI_RANK, PMI_SIZE, MPI_LOCALRANKID); a single process
/// otherwise. CalibError when the values are inconsistent.
struct LaunchInfo {
  int rank = 0;
  int world = 1;
  int local_rank = 0;
  std::string launcher = "none";
};
LaunchInfo launch_info(const std::map<std::string, std::string>& env);
std::map<std::string, std::string> process_environment();

/// Rank 0 writes `bytes` to DIR/name atomically; the others wait for it (polling, up to timeout_s) and read it.
/// This is how the ranks share the NCCL unique id without MPI: DIR must be visible to every node.
std::string rendezvous(const std::string& dir, const std::string& name, int rank, const std::string& bytes,
                       double timeout_s);

/// The JSON every benchmark writes.
class Report {
public:
  explicit Report(const std::string& benchmark);
  void set_host(const std::string& hostname);
  void add_gpu(const std::string& name, int index, const std::string& pci_bus);
  void set_versions(const std::map<std::string, std::string>& versions);
  void set_topology(const std::string& text);
  /// hosts: one host name per rank; nodes = distinct hosts, gpus_per_node = world / nodes (CalibError if uneven).
  void set_ranks(const std::vector<std::string>& hosts);
  void set_settings(int warmup, int iters);
  /// A measurement: "op" and the fields of its kind (bytes, src/dst, m/n/k/groups/dtype, ...) plus reps and
  /// time_s {min, median, max}.
  void add(nlohmann::json fields, const Stats& time_s, int reps);
  const nlohmann::json& json() const { return j_; }
  /// Writes to a temporary file beside `path` and renames it into place.
  void write(const std::string& path) const;

private:
  nlohmann::json j_;
};

/// The output of a shell command ("" when it cannot run), for `nvidia-smi topo -m`.
std::string command_output(const std::string& command);

} // namespace moesim::calib
