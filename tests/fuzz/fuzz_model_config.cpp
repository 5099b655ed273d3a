// Fuzz target: the Hugging Face config.json reader (moesim model, every --model).
#include "core/model/model_spec.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
  return moesim::fuzz::guarded([&] {
    moesim::parse_model_spec(std::string(reinterpret_cast<const char*>(data), size), "fuzz/config.json");
  });
}
