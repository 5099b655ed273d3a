// The moesim command line: parses, runs the chosen subcommand and maps errors to exit codes: 0 success, 2 bad input
// or usage, 1 internal error. main() calls it; so do sweep's forked children (cmd_sweep.cpp).
#include "commands.hpp"
#include "core/io/errors.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>

namespace moesim::cli {

int run_cli(int argc, char** argv)
{
  CLI::App app{"moesim: simulate multi-node Mixture-of-Experts decode (SimGrid) under expert placement and "
               "micro-batch grouping policies"};
  app.set_version_flag("--version", std::string("moesim ") + MOESIM_VERSION);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  // Logs go to stderr; stdout carries results (tables, summaries) only.
  spdlog::drop("moesim"); // a forked child re-creates the logger of its parent
  spdlog::set_default_logger(spdlog::stderr_color_mt("moesim"));
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("[%l] %v");
  try {
    return action ? action() : 0;
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
}

} // namespace moesim::cli
