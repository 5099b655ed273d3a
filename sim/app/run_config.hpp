#pragma once
// `moesim run --config FILE.toml` and `moesim run --from RESULT.h5`: run options from a file, the command line
// overriding them. Expanded into command-line options before parsing, so a file and the command line mean the
// same thing and CLI11 checks both the same way.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace moesim::cli {

/// `args` (without the program name) with every `--config FILE` / `--from FILE` of the run subcommand replaced by
/// the options FILE holds, placed before the run's own options; an option also given on the command line is taken
/// from the command line. Keys are run option names with '_' or '-' (batch_per_gpu = 64); a result file gives the
/// configuration it recorded (@config). InputError naming the file and key for unknown keys or bad values.
std::vector<std::string> expand_run_config(const std::vector<std::string>& args, const CLI::App& run);

} // namespace moesim::cli
