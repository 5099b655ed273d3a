// Fuzz target: the TOML sweep spec parser and expander (moesim sweep).
#include "core/sweep/sweep_spec.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
  return moesim::fuzz::guarded([&] {
    moesim::parse_sweep_spec(std::string(reinterpret_cast<const char*>(data), size), "fuzz/sweep.toml");
  });
}
