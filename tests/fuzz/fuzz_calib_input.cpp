// Fuzz target: the calibration input readers (moesim calibrate): nccl-tests logs, calib/ JSON, the NCCL and
// DeepGEMM CSVs, aiconfigurator's DeepEP and MoE tables, DeepEP's README tables and test output; then the zone properties of a calibrated
// platform, parsed from the same bytes.
#include "core/calibration/calib_input.hpp"
#include "core/calibration/calibration.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
  const std::string text(reinterpret_cast<const char*>(data), size);
  moesim::fuzz::guarded([&] { moesim::parse_nccl_tests_log(text, "fuzz/nccl.log"); });
  moesim::fuzz::guarded([&] { moesim::parse_calib_json(text, "fuzz/calib.json"); });
  moesim::fuzz::guarded([&] { moesim::parse_nccl_perf_csv(text, "fuzz/nccl_perf.csv"); });
  moesim::fuzz::guarded([&] { moesim::parse_deepgemm_csv(text, "fuzz/deepgemm.csv"); });
  moesim::fuzz::guarded([&] { moesim::parse_aiconfigurator_deepep_csv(text, "fuzz/deepep.csv"); });
  moesim::fuzz::guarded([&] { moesim::parse_aiconfigurator_moe_csv(text, "fuzz/moe.csv"); });
  moesim::fuzz::guarded([&] { moesim::parse_deepep_readme_csv(text, "fuzz/readme.csv"); });
  moesim::fuzz::guarded([&] { moesim::parse_deepep_test_log(text, "fuzz/deepep.log"); });
  return moesim::fuzz::guarded([&] {
    // "key=value" lines as zone properties of a calibrated platform.
    std::map<std::string, std::string> props;
    size_t pos = 0;
    while (pos < text.size()) {
      const size_t end = std::min(text.find('\n', pos), text.size());
      const std::string line = text.substr(pos, end - pos);
      const size_t eq = line.find('=');
      if (eq != std::string::npos)
        props["moesim_" + line.substr(0, eq)] = line.substr(eq + 1);
      pos = end + 1;
    }
    moesim::PlatformCalibration::from_props(props, "fuzz/platform.xml");
  });
}
