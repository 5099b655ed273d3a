#include "child_process.hpp"

#include "core/errors.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

namespace moesim::cli {

std::string self_exe() { return "/proc/self/exe"; }

std::string self_exe_path() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

pid_t spawn(const std::vector<std::string>& args, const std::string& log)
{
  const pid_t pid = ::fork();
  if (pid < 0)
    throw InternalError("fork failed");
  if (pid == 0) {
    std::FILE* f = std::freopen(log.c_str(), "w", stderr);
    (void)f;
    if (!std::freopen("/dev/null", "w", stdout))
      _exit(127);
    std::vector<char*> argv;
    for (const auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
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
