// Fuzz target: the gpt-oss expert-fingerprinting JSON importer (moesim trace import --format gptoss-json).
#include "core/model/model_spec.hpp"
#include "core/trace/trace_import.hpp"
#include "fuzz_common.hpp"

#include <fstream>
#include <sstream>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
  static const moesim::ModelSpec model = moesim::load_model_spec(MOESIM_SOURCE_DIR "/data/models/gpt-oss-20b/config.json");
  const std::string file = moesim::fuzz::scratch_file(data, size, ".json");
  return moesim::fuzz::guarded([&] { moesim::import_gptoss_json({file}, model); });
}
