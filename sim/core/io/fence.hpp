#pragma once
// Running code that may crash or hang inside a third-party library (SimGrid's parser, libhdf5's string reader) in
// a forked child, so that the process survives and can report what happened.
#include <functional>
#include <string>

namespace moesim {

struct FenceResult {
  bool started = false;   ///< false: fork failed, nothing ran
  bool timed_out = false; ///< killed after the time limit
  int signal = 0;         ///< the signal that ended the child (0: it exited)
  int exit_code = 0;      ///< its exit status when it exited
  std::string output;     ///< what it wrote to stderr (the last 512 KiB at most)
};

/// Forks; the child runs `body` with stdout sent to /dev/null and stderr captured, then _exits with body's value
/// (body must not throw). The parent keeps the clock: after `timeout_s` the child is killed. Only from a process
/// without other threads.
FenceResult run_fenced(const std::function<int()>& body, int timeout_s);

} // namespace moesim
