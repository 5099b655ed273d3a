#include "core/io/input_guard.hpp"

#include "core/io/errors.hpp"

#include <map>
#include <mutex>
#include <sys/stat.h>
#include <utility>

namespace moesim {

namespace {

struct Inputs {
  std::mutex lock;
  std::map<std::pair<dev_t, ino_t>, std::string> files; ///< (device, inode) -> the path it was read by
};

Inputs& inputs()
{
  static Inputs i;
  return i;
}

} // namespace

void note_input_file(const std::string& path)
{
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return;
  auto& i = inputs();
  std::lock_guard<std::mutex> guard(i.lock);
  i.files.try_emplace({st.st_dev, st.st_ino}, path);
}

void refuse_input_overwrite(const std::string& output)
{
  struct stat st {};
  if (::stat(output.c_str(), &st) != 0)
    return;
  auto& i = inputs();
  std::lock_guard<std::mutex> guard(i.lock);
  if (auto it = i.files.find({st.st_dev, st.st_ino}); it != i.files.end())
    throw InputError(output, "",
                     "is an input of this command (read as '" + it->second +
                         "'): refusing to overwrite it; write the output to another file");
}

} // namespace moesim
