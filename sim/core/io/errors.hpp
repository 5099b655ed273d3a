#pragma once
// Typed errors of moesim. Library code throws; only main() turns them into exit codes
// (InputError -> 2, anything else -> 1).
#include <stdexcept>
#include <string>

namespace moesim {

/// Bad user input: names the file, the place inside it (line, record, key path) and what was expected.
class InputError : public std::runtime_error {
public:
  InputError(std::string file, std::string place, const std::string& message);
  const std::string& file() const { return file_; }
  const std::string& place() const { return place_; }

private:
  std::string file_;
  std::string place_;
};

/// A request that cannot be satisfied by valid inputs (e.g. more nodes than experts); also exit code 2.
class UsageError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A broken invariant inside moesim (a bug): exit code 1.
class InternalError : public std::logic_error {
public:
  using std::logic_error::logic_error;
};

/// Formats "file: place: message" (parts that are empty are left out).
std::string format_location(const std::string& file, const std::string& place, const std::string& message);

} // namespace moesim
