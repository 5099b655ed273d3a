#pragma once
// Sweep specifications (moesim sweep SPEC.toml): axes, zip groups and exclusions, expanded into points. Parsed and
// validated once here; the runner (sim/app/cmd_sweep.cpp) only executes points. Format: docs/sweeps.md.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace moesim {

/// The axes a sweep can vary, in the order points list them. String axes hold text, the others numbers.
const std::vector<std::string>& sweep_axis_names();
bool sweep_axis_is_string(const std::string& axis);

/// One value of an axis (text for string axes; the number as written for numeric ones).
struct AxisValue {
  std::string text;
  double number = 0;
  bool operator==(const AxisValue& o) const { return text == o.text; }
};

struct SweepPoint {
  std::map<std::string, AxisValue> values; ///< every axis -> its value
  std::string key() const;                 ///< canonical "axis=value;..." text (identity of a point)
  /// Arguments of `moesim run` for this point (without the binary, `--out`; `--platform` only when the point names
  /// a platform file).
  std::vector<std::string> run_args(int steps) const;
  /// Whether a knob of the platform generator is set: the point's platform is then generated (moesim platform).
  bool generates_platform() const;
  /// Arguments of `moesim platform` (without `-o`) for this point's platform; empty when it names a file. Without a
  /// `calibration` axis the bundled H100 record is the base; calibration = "none" takes the GPU preset's datasheet.
  std::vector<std::string> platform_args() const;
};

struct SweepSpec {
  std::string file; ///< the spec file (named in errors)
  std::string out;  ///< result HDF5
  int steps = 16;   ///< decode steps per point
  std::vector<SweepPoint> points;
};

/// Parses and expands a TOML sweep spec; InputError naming the file and the key path on unknown keys, wrong types,
/// empty axes, zip groups of unequal lengths, exclusions naming unknown axes, or a spec with no point left.
/// A trace axis value "synth:PRESET[:REQUESTS]": a synthetic trace the sweep generates for the point's model
/// (moesim trace synth --preset PRESET --requests REQUESTS --seed SEED) instead of a file.
struct SynthTraceRequest {
  std::string preset;
  int requests = 2048;
};
/// UsageError on unknown presets or bad request counts.
SynthTraceRequest parse_synth_trace(const std::string& value);

SweepSpec parse_sweep_spec(const std::string& toml_text, const std::string& file);
SweepSpec load_sweep_spec(const std::string& file);

} // namespace moesim
