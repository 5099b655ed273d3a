#pragma once
// Shared by the libFuzzer targets: an input either parses or is refused with moesim's typed input errors; any
// other exception, crash, leak or undefined behaviour (ASan/UBSan) is a bug the fuzzer reports.
#include "core/io/errors.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>

namespace moesim::fuzz {

template <typename Fn> int guarded(Fn fn)
{
  try {
    fn();
  } catch (const InputError&) {
  } catch (const UsageError&) {
  }
  return 0;
}

/// A per-process scratch file holding the input (for readers that take paths).
inline std::string scratch_file(const uint8_t* data, size_t size, const std::string& suffix)
{
  static const std::string path = "/tmp/moesim-fuzz-" + std::to_string(::getpid()) + suffix;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                 static_cast<std::streamsize>(size));
  return path;
}

} // namespace moesim::fuzz
