// `moesim compare`: every requested placement x grouping (x redundant experts), fitted on a training split and
// simulated on the held-out split, one child `moesim run` process per row (SimGrid allows one engine per process),
// printed as one table against the linear + round_robin baseline and written to HDF5.
#include "child_process.hpp"
#include "commands.hpp"
#include "core/trace/split.hpp"
#include "revision.hpp"
#include "core/comm/a2a_kernel.hpp"
#include "core/decode/run_spec.hpp"
#include "core/io/atomic_file.hpp"
#include "core/io/errors.hpp"
#include "core/io/h5.hpp"
#include "core/io/sha256.hpp"
#include "core/policy/policy.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace moesim::cli {

namespace {

struct CompareOpts {
  std::string platform, model, trace, out;
  std::vector<std::string> placements{"linear", "eplb", "activation", "coactivation"};
  std::vector<std::string> groupings{"round_robin", "signature"};
  std::vector<int> redundant{0};
  std::vector<std::string> rows; ///< explicit placement:grouping:redundant rows (replace the product)
  double train_fraction = 0.5;
  std::string fit_labels; ///< "" = split by train_fraction
  int steps = 32, batch = 32, clusters = 0, signature_tokens = 32, jobs = 1;
  double gpu_balance = 1.5;
  uint64_t seed = 1;
  std::string dispatch_dtype = "fp8";
  std::string a2a_kernel = "deepep-ll";
  std::string comm = "fast";
  bool oracle = false; ///< add the oracle:oracle bound at every redundancy and report each row's share of its gain
};

struct Row {
  Row(std::string p, std::string g, int r) : placement(std::move(p)), grouping(std::move(g)), redundant(r) {}
  std::string placement, grouping;
  int redundant = 0;
  bool ok = false;
  std::string error;
  double tpot = 0, tpot_p99 = 0, inter = 0, intra = 0, load = 0, loc_node = 0, loc_gpu = 0, max_msg = 0;
  std::vector<double> layer_inter;
  std::string config; ///< the row's run configuration as its result recorded it (JSON; run --from re-runs it)
  std::string result_file, log_file;
  pid_t pid = -1;
};

void read_row(Row& r)
{
  h5::File f = h5::File::open_read(r.result_file);
  auto root = h5::root(f);
  auto s = h5::open_group(root, "summary");
  r.config = h5::read_attr_string(root, "config");
  r.tpot = h5::read_attr_double(s, "tpot_mean_s");
  r.tpot_p99 = h5::read_attr_double(s, "tpot_p99_s");
  r.inter = h5::read_attr_double(s, "dispatch_inter_bytes_per_step");
  r.intra = h5::read_attr_double(s, "dispatch_intra_bytes_per_step");
  r.load = h5::read_attr_double(s, "expert_load_max_over_mean");
  r.loc_node = h5::read_attr_double(s, "locality_node");
  r.loc_gpu = h5::read_attr_double(s, "locality_gpu");
  r.max_msg = h5::read_attr_double(s, "max_message_bytes");
  // Per-layer inter-node dispatch bytes from the compound table.
  hid_t ds = H5Dopen2(root.id, "moe_layer_traffic", H5P_DEFAULT);
  if (ds >= 0) {
    h5::Handle dh(ds);
    h5::Handle mt(H5Tcreate(H5T_COMPOUND, sizeof(double)));
    H5Tinsert(mt.id(), "dispatch_inter_bytes", 0, H5T_NATIVE_DOUBLE);
    h5::Handle space(H5Dget_space(ds));
    hsize_t n = 0;
    H5Sget_simple_extent_dims(space.id(), &n, nullptr);
    r.layer_inter.assign(n, 0.0);
    H5Dread(ds, mt.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, r.layer_inter.data());
  }
}

std::vector<std::string> split_list_by(const std::string& s, char sep)
{
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    out.push_back(item);
  return out;
}

bool parse_int(const std::string& s, int& v)
{
  try {
    size_t pos = 0;
    v = std::stoi(s, &pos);
    return pos == s.size();
  } catch (const std::exception&) {
    return false;
  }
}

std::string pct(double v, double base)
{
  if (base == 0)
    return "   n/a";
  char b[32];
  std::snprintf(b, sizeof b, "%+6.1f%%", 100.0 * (v / base - 1));
  return b;
}

int compare(CompareOpts& o)
{
  if (o.platform.empty())
    o.platform = bundled_data_dir() + "/platforms/h100-calibrated-4n.xml";
  if (o.model.empty())
    o.model = default_model_file();
  if (o.trace.empty())
    o.trace = default_trace_file();
  if (o.jobs < 1)
    throw UsageError("-j must be >= 1");
  if (!(o.train_fraction > 0 && o.train_fraction < 1))
    throw UsageError("--train-fraction must be in (0, 1) for compare");
  if (!o.fit_labels.empty())
    parse_label_list(o.fit_labels); // UsageError on a malformed list; the rows check the names against the trace
  {
    // The rows' own runs would refuse these; refuse them once, before any row starts.
    RunSpec probe;
    probe.batch_per_gpu = o.batch;
    probe.steps = o.steps;
    probe.clusters = o.clusters;
    probe.signature_tokens = o.signature_tokens;
    probe.gpu_balance = o.gpu_balance;
    probe.dispatch_dtype = o.dispatch_dtype;
    probe.a2a_kernel = o.a2a_kernel;
    probe.validate();
  }
  std::vector<Row> rows;
  rows.emplace_back("linear", "round_robin", 0);
  auto is_baseline = [](const std::string& p, const std::string& g, int r) {
    return p == "linear" && g == "round_robin" && r == 0;
  };
  if (!o.rows.empty()) {
    for (const auto& spec : o.rows) {
      const auto parts = split_list_by(spec, ':');
      int r = 0;
      if (parts.size() != 3 || !parse_int(parts[2], r) || r < 0)
        throw UsageError("--rows: '" + spec + "' is not placement:grouping:redundant_experts");
      if (!is_baseline(parts[0], parts[1], r))
        rows.emplace_back(parts[0], parts[1], r);
    }
  } else {
    for (int r : o.redundant)
      for (const auto& p : o.placements)
        for (const auto& g : o.groupings)
          // Placements without replicas (linear, round_robin) are the same at every redundancy: listed once.
          if (!is_baseline(p, g, r) && !(r > 0 && (p == "linear" || p == "round_robin")))
            rows.emplace_back(p, g, r);
  }
  if (o.oracle) {
    std::vector<int> reds;
    for (const auto& r : rows)
      if (std::find(reds.begin(), reds.end(), r.redundant) == reds.end())
        reds.push_back(r.redundant);
    for (int red : reds)
      if (std::none_of(rows.begin(), rows.end(), [&](const Row& r) {
            return r.placement == "oracle" && r.grouping == "oracle" && r.redundant == red;
          }))
        rows.emplace_back("oracle", "oracle", red);
  }
  const auto tmp = std::filesystem::temp_directory_path() / ("moesim-compare-" + std::to_string(::getpid()));
  std::filesystem::create_directories(tmp);
  // Every row runs on the same platform, model and trace: hash them once for all.
  share_input_digests({o.platform, o.model, o.trace});
  if (o.fit_labels.empty())
    spdlog::info("comparing {} configurations on {} ({} steps each, fitted on {:.0f}% of the requests)", rows.size(),
                 o.trace, o.steps, 100 * o.train_fraction);
  else
    spdlog::info("comparing {} configurations on {} ({} steps each, fitted on labels {}, judged on the others)",
                 rows.size(), o.trace, o.steps, o.fit_labels);
  // The signature groupings do not replay the tokens they read; every row skips them too, so that the rows' bytes
  // and TPOT are of the same tokens (the same positions, hence the same KV lengths).
  spdlog::info("every row is judged on the same tokens: a request without prefill is replayed from after its first "
               "{} tokens, which the signature groupings read (--signature-tokens)",
               o.signature_tokens);
  size_t next = 0, done = 0, running = 0;
  auto launch = [&](Row& r, size_t i) {
    r.result_file = (tmp / ("row" + std::to_string(i) + ".h5")).string();
    r.log_file = (tmp / ("row" + std::to_string(i) + ".log")).string();
    std::vector<std::string> args{"run", "--platform", o.platform, "--model", o.model, "--trace", o.trace,
                                  "--placement", r.placement, "--grouping", r.grouping,
                                  "--redundant-experts", std::to_string(r.redundant),
                                  o.fit_labels.empty() ? "--train-fraction" : "--fit-labels",
                                  o.fit_labels.empty() ? std::to_string(o.train_fraction) : o.fit_labels,
                                  "--steps", std::to_string(o.steps), "--batch-per-gpu", std::to_string(o.batch),
                                  "--seed", std::to_string(o.seed), "--clusters", std::to_string(o.clusters),
                                  "--signature-tokens", std::to_string(o.signature_tokens),
                                  "--skip-signature-tokens", std::to_string(o.signature_tokens),
                                  "--gpu-balance", std::to_string(o.gpu_balance),
                                  "--dispatch-dtype", o.dispatch_dtype, "--comm", o.comm, "--a2a-kernel", o.a2a_kernel,
                                  "--matrix-steps", "0", "--out", r.result_file};
    r.pid = spawn_self(args, r.log_file);
  };
  while (done < rows.size()) {
    while (running < static_cast<size_t>(o.jobs) && next < rows.size()) {
      launch(rows[next], next);
      ++next;
      ++running;
    }
    int status = 0;
    const pid_t pid = ::wait(&status);
    if (pid < 0)
      throw InternalError("wait failed");
    for (auto& r : rows)
      if (r.pid == pid) {
        r.pid = -1;
        --running;
        ++done;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
          read_row(r);
          r.ok = true;
        } else {
          r.error = child_error(r.log_file, status);
        }
        std::fprintf(stderr, "[%zu/%zu] %s + %s (redundant %d): %s\n", done, rows.size(), r.placement.c_str(),
                     r.grouping.c_str(), r.redundant, r.ok ? "done" : r.error.c_str());
      }
  }
  std::filesystem::remove_all(tmp);

  const Row& base = rows[0];
  if (!base.ok)
    throw InputError(o.trace, "", "the baseline run failed: " + base.error);
  // Share of the oracle's inter-node reduction (same redundancy), NaN without an oracle row or gain.
  std::vector<double> share(rows.size(), std::nan(""));
  if (o.oracle)
    for (size_t i = 0; i < rows.size(); ++i)
      for (const auto& q : rows)
        if (rows[i].ok && q.ok && q.placement == "oracle" && q.grouping == "oracle" && q.redundant == rows[i].redundant &&
            base.inter - q.inter > 0)
          share[i] = (base.inter - rows[i].inter) / (base.inter - q.inter);
  std::printf("%-13s %-12s %3s  %14s %8s  %9s %8s  %10s %8s  %7s%s\n", "placement", "grouping", "red", "inter-node/step",
              "change", "load max/mean", "change", "TPOT", "change", "node-loc", o.oracle ? "  of oracle" : "");
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    if (!r.ok) {
      std::printf("%-13s %-12s %3d  failed: %s\n", r.placement.c_str(), r.grouping.c_str(), r.redundant, r.error.c_str());
      continue;
    }
    char of_oracle[32] = "";
    if (o.oracle && std::isnan(share[i]))
      std::snprintf(of_oracle, sizeof of_oracle, "  %9s", "n/a");
    else if (o.oracle)
      std::snprintf(of_oracle, sizeof of_oracle, "  %8.0f%%", 100 * share[i]);
    std::printf("%-13s %-12s %3d  %11.2f MB %8s  %13.3f %8s  %7.3f ms %8s  %6.1f%%%s\n", r.placement.c_str(),
                r.grouping.c_str(), r.redundant, r.inter / 1e6, pct(r.inter, base.inter).c_str(), r.load,
                pct(r.load, base.load).c_str(), r.tpot * 1e3, pct(r.tpot, base.tpot).c_str(), 100 * r.loc_node,
                of_oracle);
  }
  if (o.oracle)
    std::printf("of oracle: the row's inter-node reduction as a share of the oracle's at the same redundancy (the "
                "joint fit on the served split itself, in-sample: a bound found by the same method, not a proof)\n");
  if (!o.out.empty()) {
    AtomicFile out(o.out);
    {
      h5::File f = h5::File::create(out.temp_path());
      auto root = h5::root(f);
      h5::write_attr(root, "moesim_version", std::string(MOESIM_VERSION));
      h5::write_attr(root, "moesim_revision", std::string(source_revision()));
      h5::write_attr(root, "working_directory", std::filesystem::current_path().string());
      h5::write_attr(root, "platform", o.platform);
      h5::write_attr(root, "model", o.model);
      h5::write_attr(root, "trace", o.trace);
      h5::write_attr(root, "train_fraction", o.fit_labels.empty() ? o.train_fraction : 0.0);
      h5::write_attr(root, "fit_labels", o.fit_labels);
      h5::write_attr(root, "gpu_balance", o.gpu_balance);
      h5::write_attr(root, "steps", int64_t{o.steps});
      h5::write_attr(root, "seed", static_cast<int64_t>(o.seed));
      // The inputs' digests, as every run file records them (the rows share them).
      for (const auto& [key, file] : std::vector<std::pair<const char*, std::string>>{
               {"sha256_platform", o.platform}, {"sha256_model", o.model}, {"sha256_trace", o.trace}})
        if (!file.empty() && std::filesystem::is_regular_file(file))
          h5::write_attr(root, key, sha256_file(file));
      std::vector<std::string> pl, gr, err, cfg;
      std::vector<int64_t> red, ok;
      std::vector<double> tp, tp99, inter, intra, load, ln, lg, mm, dinter, dload, dtpot;
      std::vector<double> per_layer;
      size_t L = base.layer_inter.size();
      for (const auto& r : rows) {
        pl.push_back(r.placement);
        gr.push_back(r.grouping);
        err.push_back(r.error);
        cfg.push_back(r.config);
        red.push_back(r.redundant);
        ok.push_back(r.ok);
        tp.push_back(r.tpot);
        tp99.push_back(r.tpot_p99);
        inter.push_back(r.inter);
        intra.push_back(r.intra);
        load.push_back(r.load);
        ln.push_back(r.loc_node);
        lg.push_back(r.loc_gpu);
        mm.push_back(r.max_msg);
        dinter.push_back(r.ok ? r.inter / base.inter - 1 : 0);
        dload.push_back(r.ok ? r.load / base.load - 1 : 0);
        dtpot.push_back(r.ok ? r.tpot / base.tpot - 1 : 0);
        for (size_t l = 0; l < L; ++l)
          per_layer.push_back(r.ok && l < r.layer_inter.size() ? r.layer_inter[l] : 0.0);
      }
      h5::write_strings(root, "placement", pl);
      h5::write_strings(root, "grouping", gr);
      h5::write_strings(root, "error", err);
      h5::write_strings(root, "config", cfg); // [row] the run's full configuration (JSON), "" for failed rows
      h5::CompoundWriter t;
      t.add_int("redundant_experts", &red);
      t.add_int("ok", &ok);
      t.add_double("tpot_mean_s", &tp);
      t.add_double("tpot_p99_s", &tp99);
      t.add_double("dispatch_inter_bytes_per_step", &inter);
      t.add_double("dispatch_intra_bytes_per_step", &intra);
      t.add_double("expert_load_max_over_mean", &load);
      t.add_double("locality_node", &ln);
      t.add_double("locality_gpu", &lg);
      t.add_double("max_message_bytes", &mm);
      t.add_double("inter_change_vs_baseline", &dinter);
      t.add_double("load_change_vs_baseline", &dload);
      t.add_double("tpot_change_vs_baseline", &dtpot);
      t.add_double("share_of_oracle_gain", &share); // NaN without --oracle
      t.write(root, "rows");
      h5::write_dataset(root, "layer_dispatch_inter_bytes", per_layer, {rows.size(), L});
    }
    out.commit();
    std::printf("results: %s\n", o.out.c_str());
  }
  return 0;
}

} // namespace

void add_compare(CLI::App& app, Action& action)
{
  auto o = std::make_shared<CompareOpts>();
  auto* cmd = app.add_subcommand("compare", "Fit placements x groupings on a training split, simulate each on the "
                                            "held-out split, print one table against linear + round_robin");
  cmd->add_option("--platform", o->platform, "platform XML (default: platforms/h100-calibrated-4n.xml)");
  cmd->add_option("--model", o->model, "config.json (default: DeepSeek-V2-Lite)");
  cmd->add_option("--trace", o->trace, "HDF5 trace (default: the bundled ESFT traces)");
  cmd->add_option("--placements", o->placements, "placement policies")->delimiter(',')->capture_default_str();
  cmd->add_option("--groupings", o->groupings, "grouping policies")->delimiter(',')->capture_default_str();
  cmd->add_option("--redundant-experts", o->redundant, "redundant experts per GPU (a list runs each)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--rows", o->rows, "explicit rows placement:grouping:redundant (comma separated) instead of the "
                                     "product of --placements, --groupings and --redundant-experts")
      ->delimiter(',');
  auto* tf = cmd->add_option("--train-fraction", o->train_fraction, "share of requests to fit on")->capture_default_str();
  cmd->add_option("--fit-labels", o->fit_labels,
                  "fit on the requests of these labels (comma-separated) and judge on the other labels' requests, "
                  "instead of --train-fraction: a fit carried over to another task family")
      ->excludes(tf);
  cmd->add_option("--steps", o->steps, "decode steps per configuration")->capture_default_str();
  cmd->add_option("--batch-per-gpu", o->batch, "decode requests per GPU")->capture_default_str();
  cmd->add_option("--seed", o->seed, "seed (split, clustering, admission)")->capture_default_str();
  cmd->add_option("--clusters", o->clusters, "k of the activation clustering (0 = nodes)")->capture_default_str();
  cmd->add_option("--signature-tokens", o->signature_tokens, "signature length without prefill")->capture_default_str();
  cmd->add_option("--gpu-balance", o->gpu_balance,
                  "activation placement: largest GPU expert load accepted to save token copies, x the mean")
      ->capture_default_str();
  cmd->add_option("--dispatch-dtype", o->dispatch_dtype, "fp8 or bf16")->capture_default_str();
  cmd->add_option("--a2a-kernel", o->a2a_kernel, "all-to-all kernel model (moesim list)")->capture_default_str();
  cmd->add_option("--comm", o->comm, "all-to-all model: fast or exact")->capture_default_str()
      ->check(CLI::IsMember({"fast", "exact"}));
  cmd->add_option("-j,--jobs", o->jobs, "simulations in parallel")->capture_default_str();
  cmd->add_flag("--oracle", o->oracle,
                "add the oracle bound (placement and grouping oracle: the joint fit on the served split itself) at "
                "every redundancy and print each row's share of its inter-node reduction");
  cmd->add_option("-o,--out", o->out, "HDF5 file for the table");
  add_choices(*cmd, {{"--placements", registry_names(PlacementRegistry::instance())},
                     {"--groupings", registry_names(GroupingRegistry::instance())},
                     {"--a2a-kernel", registry_names(A2aKernelRegistry::instance())},
                     {"--dispatch-dtype", "fp8, bf16"}});
  cmd->callback([&action, o] { action = [o] { return compare(*o); }; });
}

} // namespace moesim::cli
