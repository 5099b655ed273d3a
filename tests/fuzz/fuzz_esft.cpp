// Fuzz target: the ESFT text importer (moesim trace import --format esft), one domain with the fuzzed text as
// every layer's gzip file.
#include "core/model/model_spec.hpp"
#include "core/trace/trace_import.hpp"
#include "fuzz_common.hpp"

#include <filesystem>
#include <zlib.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
  static moesim::ModelSpec model = [] {
    auto m = moesim::load_model_spec(MOESIM_SOURCE_DIR "/data/models/DeepSeek-V2-Lite/config.json");
    return m;
  }();
  static const std::string dir = "/tmp/moesim-fuzz-esft-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir + "/d");
  for (int layer : model.moe_layers) {
    const std::string f = dir + "/d/expert_weights_" + std::to_string(layer) + ".txt.gz";
    gzFile gz = gzopen(f.c_str(), "wb1");
    if (size)
      gzwrite(gz, data, static_cast<unsigned>(size));
    gzclose(gz);
  }
  return moesim::fuzz::guarded([&] { moesim::import_esft(dir, model); });
}
