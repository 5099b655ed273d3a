#pragma once
// No output may replace an input: every file moesim reads is noted here, and every result it writes
// (AtomicFile) is refused when it is the same file (same device and inode) as one of them, however the two paths
// are spelled (relative, absolute, through links).
#include <string>

namespace moesim {

/// Notes that this process reads `path` (files that do not exist are ignored).
void note_input_file(const std::string& path);
/// InputError naming `output` and the input when `output` is a file noted by note_input_file.
void refuse_input_overwrite(const std::string& output);

} // namespace moesim
