#pragma once
// The only part of moesim that talks to SimGrid: loading platforms and running the decode actors.
#include "core/calibration/calibration.hpp"
#include "core/cluster/cluster.hpp"
#include "core/comm/flow_model.hpp"
#include "core/comm/phase.hpp"

#include <functional>
#include <memory>
#include <tuple>
#include <string>
#include <vector>

namespace moesim {

class StepSource;
struct ModelSpec;
class Recorder;

/// Link values of another GPU's node, for measurements taken there (calibration fits): 0 = the platform's own.
struct LinkOverride {
  double nvlink_Bps = 0;
  double nic_Bps = 0;
};

/// Network model settings applied to every simulation (docs/model.md explains each choice).
struct NetworkSettings {
  double precision_s = 1e-9; ///< maxmin/surf precision
};

/// SimGrid's own options from the command line (`--cfg=key:value`, `--log=...`), applied after moesim's
/// configuration by every engine this process starts (the platform check's included).
struct SimgridOptions {
  std::vector<std::string> cfg; ///< "key:value", as SimGrid's --cfg takes them
  std::vector<std::string> log; ///< xbt log control strings, as SimGrid's --log takes them
};
void set_simgrid_options(const SimgridOptions& options);
const SimgridOptions& simgrid_options();
/// Prints SimGrid's configuration keys, their values and help (SimGrid's --help-cfg) to standard output.
void print_simgrid_config_help();

/// One SimGrid engine with a loaded platform (one per process: SimGrid allows a single engine).
class Simulation {
public:
  /// Loads and seals the platform; InputError naming the file when SimGrid cannot load it or a host lacks a
  /// property moesim needs.
  Simulation(const std::string& platform_file, const NetworkSettings& settings = {});
  ~Simulation();
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  const Cluster& cluster() const;
  /// Sum of the link latencies on the route src -> dst (GPU ranks), seconds, as declared in the platform.
  double route_latency_s(int src, int dst) const;
  /// The platform's network calibration (its root zone's moesim_ properties; empty when uncalibrated).
  const PlatformCalibration& calibration() const;
  /// Replaces it (the fitter tries factors on one loaded platform).
  void set_calibration(const PlatformCalibration& c);
  /// Messages simulated so far whose size lies below / above the calibrated range (their factor is the nearest
  /// measured one).
  std::pair<uint64_t, uint64_t> messages_outside_calibration() const;
  /// Time of one collective (all transfers start at 0) with the fast model and the calibration, the extra
  /// bandwidth factor `op_factor` applied to every transfer: the code path of moesim run's all-to-alls.
  double collective_time_s(const CollectivePattern& pattern, double op_factor = 1.0);

  /// Names of the links on the route src -> dst.
  std::vector<std::string> route_links(int src, int dst) const;
  /// The same from the route table the fast model reads (taken from the platform check, or asked of SimGrid).
  std::vector<std::string> table_route_links(int src, int dst);
  /// Whether the route table came from the platform check (every pair routed there: up to 1,024 GPUs).
  bool routes_from_check() const;
  /// Whether route() found routes with moesim's copy of SimGrid's Dijkstra search (zone_routes.hpp), one search
  /// per source GPU, instead of asking SimGrid per pair.
  bool routes_from_zone_search() const;
  /// Empties the route table (tests, benchmarks): the next look-ups find the routes again, by the zone search
  /// where it applies, else by asking SimGrid.
  void forget_route_table();

  /// Runs `steps` decode steps planned by `planner` with actors on the first `gpus` GPUs (0: all); progress is
  /// called with (steps done, simulated seconds).
  void run(StepSource& planner, const ModelSpec& model, int steps, Recorder& recorder,
           const std::function<void(int, double)>& progress, CommModel comm = CommModel::Fast, int gpus = 0);
  /// Sets the fast model's NVLink and NIC links (by their generated names) to other values, or back (0, 0).
  void set_link_override(const LinkOverride& links);
  /// One all-to-all phase on the first start_s.size() GPUs with the fast model, no actors (calibration fits; the
  /// code the fast model's actors run): end_s per GPU; returns the bytes on links.
  double phase_time_s(const LayerComm& comm, bool dispatch, double unit_bytes, const PhaseCost& cost,
                      const std::vector<double>& start_s, std::vector<double>& end_s);

  /// A single transfer of `bytes` from GPU src to dst, or a set of concurrent ones (engine tests): returns each
  /// transfer's completion time.
  std::vector<double> run_transfers(const std::vector<std::tuple<int, int, double>>& transfers);
  /// The fast model's answer for the same transfers, all starting at time 0 (no engine run; tests compare it
  /// with run_transfers).
  std::vector<double> fast_transfers(const std::vector<std::tuple<int, int, double>>& transfers);

  /// Wall-clock seconds spent inside the SimGrid engine in the last run.
  double engine_wall_s() const;
  /// Bytes the actors put on the network and bytes they expected to receive in the last run (conservation check).
  std::pair<double, double> last_run_bytes() const;

  struct Impl; ///< SimGrid state, defined in simulation_impl.hpp (visible to sim/simgrid/ only)

private:
  std::unique_ptr<Impl> impl_;
  FlowSolver solver_;
  FastPhaseSolver fast_phase_;
};

} // namespace moesim
