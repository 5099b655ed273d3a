#pragma once
// Child `moesim run` processes for compare and sweep (SimGrid allows one engine per process).
#include <set>
#include <string>
#include <sys/types.h>
#include <vector>

namespace moesim::cli {

/// The running binary: exec'ing /proc/self/exe keeps working even if the file is replaced during the run.
std::string self_exe();
/// The running binary's real path (for scripts that start it later, e.g. sbatch).
std::string self_exe_path();
/// Starts args[0] with args, stdout to /dev/null and stderr to `log`; returns the pid.
pid_t spawn(const std::vector<std::string>& args, const std::string& log);
/// Forks a child that runs the moesim command line `args` (without the program name) in the already loaded binary
/// (no exec: saves loading the libraries again, ~60 ms), stdout to /dev/null and stderr to `log`; returns the pid.
/// Only from a single-threaded parent that has not started a SimGrid engine.
pid_t spawn_self(const std::vector<std::string>& args, const std::string& log);
/// Hashes each input file once and hands the digests to the children started from now on (every `moesim run`
/// records the SHA-256 of its platform, model and trace; MOESIM_INPUT_DIGESTS, core/io/sha256.hpp).
void share_input_digests(const std::set<std::string>& files);
/// The last "moesim: ..." line of a child's log (its error message), or a generic text with the exit status.
std::string child_error(const std::string& log, int wait_status);

} // namespace moesim::cli
