#pragma once
// Writing a result under a temporary name in the same directory and renaming it into place, so a reader never
// sees a half-written file under the final name (rename(2) is atomic within a file system).
#include <string>

namespace moesim {

/// InputError naming `path` when it cannot be written: it is an input of this process, or its directory is missing
/// or not writable. AtomicFile checks it; the CLI checks every output option before any work.
void check_output_path(const std::string& path);

class AtomicFile {
public:
  explicit AtomicFile(std::string final_path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  /// Removes the temporary file if commit() was not reached.
  ~AtomicFile();
  const std::string& temp_path() const { return temp_path_; }
  /// fsyncs the temporary file and renames it to the final name.
  void commit();

private:
  std::string final_path_;
  std::string temp_path_;
  bool committed_ = false;
};

/// Writes `text` to `path` through an AtomicFile; InputError naming the file when it cannot.
void write_file_atomically(const std::string& path, const std::string& text);

} // namespace moesim
