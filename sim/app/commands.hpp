#pragma once
// Subcommands of the moesim CLI: each registers its options on the app and returns the action to run.
#include <CLI/CLI.hpp>

#include <functional>

namespace moesim::cli {

using Action = std::function<int()>;
/// The whole command line: parse argv, run the subcommand, map errors to exit codes (0, 2 bad input, 1 internal).
int run_cli(int argc, char** argv);
/// Each add_* adds a subcommand and stores its action in `action` when the subcommand is selected.
void add_platform(CLI::App& app, Action& action);
void add_model(CLI::App& app, Action& action);
void add_trace(CLI::App& app, Action& action);
void add_run(CLI::App& app, Action& action);
void add_list(CLI::App& app, Action& action);
void add_compare(CLI::App& app, Action& action);
void add_sweep(CLI::App& app, Action& action);
void add_calibrate(CLI::App& app, Action& action);
void add_op(CLI::App& app, Action& action);

} // namespace moesim::cli
