#pragma once
// A calibrated factor as a function of a size (bytes per message, tokens per expert), piecewise linear in
// log(size) between measured knots and held constant outside them. Like SimGrid's `network/bandwidth-factor`
// ("size:factor;..."), but interpolated, because measurements are taken at powers of two and the simulated sizes
// fall between them.
#include <string>
#include <vector>

namespace moesim {

struct FactorTable {
  std::vector<double> size; ///< ascending, > 0
  std::vector<double> factor; ///< > 0, same length

  bool empty() const { return size.empty(); }
  /// 1 for an empty table; the end value outside [size.front(), size.back()].
  double eval(double at) const;
  /// Whether `at` lies inside the measured range (with 1% slack).
  bool covers(double at) const;
  /// "size:factor;size:factor" (sizes %.10g, factors %.6g); "" for an empty table.
  std::string to_string() const;
  /// Parses to_string()'s format; InputError naming file and place when malformed (sizes not ascending, factors
  /// not positive, non-numbers).
  static FactorTable parse(const std::string& text, const std::string& file, const std::string& place);
};

} // namespace moesim
