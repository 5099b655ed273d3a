// The moesim command line: parses, runs the chosen subcommand and maps errors to exit codes: 0 success, 2 bad input
// or usage, 1 internal error. main() calls it; so do sweep's forked children (cmd_sweep.cpp).
#include "commands.hpp"
#include "revision.hpp"
#include "run_config.hpp"
#include "simgrid/platform_loader.hpp"
#include "core/io/atomic_file.hpp"
#include "core/io/errors.hpp"
#include "core/io/input_guard.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <iostream>

namespace moesim::cli {

namespace {

/// Options that name files a subcommand writes (the rest that name existing files are its inputs). --report is a
/// prefix of several files.
bool is_output_option(const std::string& command, const std::string& name)
{
  if (name == "--out" || name == "--timeline" || name == "--report")
    return true;
  return name == "--record" && command == "calibrate";
}

/// Refuses, before any work, an output that is the same file as an input of the command line (same inode, however
/// spelled); the writers refuse it again (AtomicFile) for inputs named inside other files.
void guard_outputs(const CLI::App* cmd)
{
  std::vector<std::string> outputs;
  for (const auto* sub = cmd; sub != nullptr;) {
    for (const auto* opt : sub->get_options()) {
      if (opt->count() == 0 || opt->get_name().empty())
        continue;
      const bool output = is_output_option(sub->get_name(), opt->get_name());
      for (const auto& v : opt->results()) {
        if (output) {
          outputs.push_back(v);
          if (opt->get_name() == "--report")
            for (const char* ext : {".md", ".csv", ".h5"})
              outputs.push_back(v + ext);
        } else {
          note_input_file(v);
        }
      }
    }
    const auto subs = sub->get_subcommands();
    sub = subs.empty() ? nullptr : subs.front();
  }
  for (const auto& o : outputs)
    check_output_path(o); // before any work: a missing directory found after an hour's run loses it
}

} // namespace

void add_choices(CLI::App& cmd, const std::vector<std::pair<const char*, std::string>>& choices)
{
  for (const auto& [name, list] : choices) {
    CLI::Option* opt = cmd.get_option(name);
    opt->description(opt->get_description() + " {" + list + "}");
  }
}

int run_cli(int argc, char** argv)
{
  CLI::App app{"moesim: simulate multi-node Mixture-of-Experts decode (SimGrid) under expert placement and "
               "micro-batch grouping policies"};
  app.set_version_flag("--version", std::string("moesim ") + MOESIM_VERSION + " (" + source_revision() + ")");
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  // SimGrid's own options, as SimGrid programs take them (docs/model.md): forwarded to every engine.
  SimgridOptions simgrid;
  app.add_option("--cfg", simgrid.cfg, "SimGrid configuration, key:value (repeatable; moesim --help-cfg lists them)")
      ->type_name("KEY:VALUE")
      ->allow_extra_args(false);
  app.add_option("--log", simgrid.log, "SimGrid log control, e.g. root.thresh:info (repeatable)")
      ->allow_extra_args(false);
  bool help_cfg = false; // handled before parsing (a subcommand is required otherwise)
  app.add_flag("--help-cfg", help_cfg, "print SimGrid's configuration keys and exit");
  app.fallthrough(); // --log-level, --cfg and --log also after the subcommand
  app.require_subcommand(1);
  moesim::cli::Action action;
  moesim::cli::add_run(app, action);
  moesim::cli::add_compare(app, action);
  moesim::cli::add_sweep(app, action);
  moesim::cli::add_platform(app, action);
  moesim::cli::add_calibrate(app, action);
  moesim::cli::add_op(app, action);
  moesim::cli::add_model(app, action);
  moesim::cli::add_trace(app, action);
  moesim::cli::add_list(app, action);
  // Errors of the library mapped to exit codes: 2 bad input or usage, 1 internal.
  const auto guarded = [](const std::function<int()>& body) {
    try {
      return body();
    } catch (const moesim::InputError& e) {
      std::cerr << "moesim: error: " << e.what() << "\n";
      return 2;
    } catch (const moesim::UsageError& e) {
      std::cerr << "moesim: error: " << e.what() << "\n";
      return 2;
    } catch (const std::bad_alloc&) {
      std::cerr << "moesim: error: out of memory (reduce the problem size, e.g. --steps or recorded matrices)\n";
      return 1;
    } catch (const std::exception& e) {
      std::cerr << "moesim: internal error: " << e.what() << "\n";
      return 1;
    }
  };
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--help-cfg")
      return guarded([] {
        print_simgrid_config_help();
        return 0;
      });
  // run --config FILE / --from RESULT.h5 become the options they hold (run_config.hpp).
  std::vector<std::string> args; // reversed, as CLI11 parses a vector
  if (const int rc = guarded([&] {
        std::vector<std::string> forward(argv + std::min(argc, 1), argv + argc);
        forward = expand_run_config(forward, *app.get_subcommand("run"));
        args.assign(forward.rbegin(), forward.rend());
        return 0;
      });
      rc != 0)
    return rc;
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  // Logs go to stderr; stdout carries results (tables, summaries) only.
  spdlog::drop("moesim"); // a forked child re-creates the logger of its parent
  spdlog::set_default_logger(spdlog::stderr_color_mt("moesim"));
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("[%l] %v");
  // Forked children (compare, sweep) inherit their parent's SimGrid options unless they are given their own.
  if (!simgrid.cfg.empty() || !simgrid.log.empty())
    set_simgrid_options(simgrid);
  return guarded([&] {
    if (const auto subs = app.get_subcommands(); !subs.empty())
      guard_outputs(subs.front());
    return action ? action() : 0;
  });
}

} // namespace moesim::cli
