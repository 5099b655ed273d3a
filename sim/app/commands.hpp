#pragma once
// Subcommands of the moesim CLI: each registers its options on the app and returns the action to run.
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <utility>
#include <vector>

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

/// Appends " {a, b, c}" (the choices) to the descriptions of the named options of `cmd`, for --help.
void add_choices(CLI::App& cmd, const std::vector<std::pair<const char*, std::string>>& choices);
/// The names a registry holds, comma separated.
template <class Registry> std::string registry_names(const Registry& registry)
{
  std::string list;
  for (const auto& [name, entry] : registry.entries())
    list += (list.empty() ? "" : ", ") + name;
  return list;
}

} // namespace moesim::cli
