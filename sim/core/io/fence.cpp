#include "core/io/fence.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace moesim {

FenceResult run_fenced(const std::function<int()>& body, int timeout_s)
{
  FenceResult r;
  int fds[2];
  if (::pipe(fds) != 0)
    return r;
  std::fflush(nullptr); // nothing buffered in the parent may be written twice
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return r;
  }
  if (pid == 0) {
    ::close(fds[0]);
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[1]);
    if (std::FILE* out = std::freopen("/dev/null", "w", stdout); out == nullptr)
      _exit(127);
    const int rc = body();
    std::fflush(stderr);
    _exit(rc);
  }
  r.started = true;
  ::close(fds[1]);
  // Read its stderr until it closes (the child ended) or the time is up.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  for (;;) {
    const auto left_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left_ms <= 0) {
      r.timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left_ms, 1000)));
    if (ready <= 0)
      continue; // timeout of this wait, or EINTR
    char buf[4096];
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    r.output.append(buf, static_cast<size_t>(n));
    if (r.output.size() > (1u << 20))
      r.output.erase(0, r.output.size() - (1u << 19)); // a library's last words are at the end
  }
  ::close(fds[0]);
  if (r.timed_out)
    ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status))
    r.signal = WTERMSIG(status);
  else if (WIFEXITED(status))
    r.exit_code = WEXITSTATUS(status);
  return r;
}

} // namespace moesim
