#pragma once
#include <string>
#include <vector>

namespace moesim {
/// Hex SHA-256 of a file's bytes (OpenSSL); InputError if it cannot be read. A directory hashes the sorted list
/// of its regular files' relative names and hashes.
std::string sha256_file(const std::string& path);

/// Environment variable through which a parent passes digests it computed to its children (digests_for_children).
inline constexpr const char* kDigestsEnv = "MOESIM_INPUT_DIGESTS";
/// "absolute-path|size:mtime|sha256" lines for the given files: children reuse a digest only while the file keeps
/// that size and modification time.
std::string digests_for_children(const std::vector<std::string>& paths);
} // namespace moesim
