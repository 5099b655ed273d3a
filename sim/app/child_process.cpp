#include "child_process.hpp"

#include "commands.hpp"
#include "core/io/errors.hpp"
#include "core/io/sha256.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

namespace moesim::cli {

std::string self_exe() { return "/proc/self/exe"; }

std::string self_exe_path() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

namespace {

/// Forks; the child sends stdout to /dev/null and stderr to `log`, then runs `child` with argv built from `args`
/// (never returns).
template <typename Child> pid_t fork_with_log(std::vector<std::string> args, const std::string& log, Child child)
{
  std::fflush(nullptr); // nothing buffered in the parent may be written twice
  const pid_t pid = ::fork();
  if (pid < 0)
    throw InternalError("fork failed");
  if (pid == 0) {
    std::FILE* f = std::freopen(log.c_str(), "w", stderr);
    (void)f;
    if (!std::freopen("/dev/null", "w", stdout))
      _exit(127);
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    child(static_cast<int>(args.size()), argv.data());
    _exit(127);
  }
  return pid;
}

} // namespace

pid_t spawn(const std::vector<std::string>& args, const std::string& log)
{
  return fork_with_log(args, log, [](int, char** argv) { ::execv(argv[0], argv); });
}

pid_t spawn_self(const std::vector<std::string>& args, const std::string& log)
{
  std::vector<std::string> full{"moesim"};
  full.insert(full.end(), args.begin(), args.end());
  return fork_with_log(full, log, [](int argc, char** argv) {
    const int rc = run_cli(argc, argv);
    std::fflush(nullptr);
    _exit(rc);
  });
}

void share_input_digests(const std::set<std::string>& files)
{
  const std::string digests = digests_for_children(std::vector<std::string>(files.begin(), files.end()));
  ::setenv(kDigestsEnv, digests.c_str(), 1);
}

std::string child_error(const std::string& log, int status)
{
  std::ifstream in(log);
  std::string line, last;
  while (std::getline(in, line))
    if (line.rfind("moesim: ", 0) == 0)
      last = line;
  if (!last.empty())
    return last;
  if (WIFSIGNALED(status))
    return "killed by signal " + std::to_string(WTERMSIG(status));
  return "failed (exit status " + std::to_string(WEXITSTATUS(status)) + ")";
}

} // namespace moesim::cli
