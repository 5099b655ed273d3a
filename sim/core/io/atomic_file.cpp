#include "core/io/atomic_file.hpp"

#include "core/io/errors.hpp"
#include "core/io/input_guard.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace moesim {

void check_output_path(const std::string& path)
{
  refuse_input_overwrite(path);
  const std::filesystem::path p(path);
  const std::filesystem::path dir = p.parent_path().empty() ? std::filesystem::path(".") : p.parent_path();
  if (!std::filesystem::is_directory(dir))
    throw InputError(path, "", "cannot write: directory '" + dir.string() + "' does not exist");
  if (::access(dir.c_str(), W_OK) != 0)
    throw InputError(path, "", "cannot write: directory '" + dir.string() + "' is not writable");
}

AtomicFile::AtomicFile(std::string final_path) : final_path_(std::move(final_path))
{
  check_output_path(final_path_);
  const std::filesystem::path p(final_path_);
  temp_path_ = (p.parent_path() / ("." + p.filename().string() + ".tmp." + std::to_string(::getpid()))).string();
}

AtomicFile::~AtomicFile()
{
  if (!committed_)
    std::remove(temp_path_.c_str());
}

void AtomicFile::commit()
{
  int fd = ::open(temp_path_.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  if (std::rename(temp_path_.c_str(), final_path_.c_str()) != 0)
    throw InputError(final_path_, "", std::string("cannot rename result into place: ") + std::strerror(errno));
  committed_ = true;
}

void write_file_atomically(const std::string& path, const std::string& text)
{
  AtomicFile f(path);
  {
    std::ofstream os(f.temp_path());
    os << text;
    if (!os)
      throw InputError(path, "", "cannot write file");
  }
  f.commit();
}

} // namespace moesim
