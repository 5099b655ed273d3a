// Fuzz target: the HDF5 trace reader (every --trace). Inputs are whole files; the seed is a small valid trace.
#include "core/trace/trace.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
  const std::string file = moesim::fuzz::scratch_file(data, size, ".h5");
  return moesim::fuzz::guarded([&] { moesim::read_trace(file); });
}
