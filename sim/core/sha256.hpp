#pragma once
#include <string>

namespace moesim {
/// Hex SHA-256 of a file's bytes (OpenSSL); InputError if it cannot be read. A directory hashes the sorted list
/// of its regular files' relative names and hashes.
std::string sha256_file(const std::string& path);
} // namespace moesim
