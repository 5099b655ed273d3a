#pragma once
// Line and field splitting shared by the calibration input readers (calib_input.cpp, moe_input.cpp).
#include <cmath>
#include <exception>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace moesim::calib_text {

/// The lines of `text` without their '\n' or '\r'; a last line without '\n' counts, an empty one does not.
inline std::vector<std::string> lines_of(const std::string& text)
{
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == '\n') {
      out.push_back(cur);
      cur.clear();
    } else if (c != '\r') {
      cur += c;
    }
  }
  if (!cur.empty())
    out.push_back(cur);
  return out;
}

/// Fields of `line` separated by `sep` (empty fields kept), or by whitespace when sep is 0 (empty ones dropped).
inline std::vector<std::string> tokens_of(const std::string& line, char sep = 0)
{
  std::vector<std::string> out;
  if (sep == 0) {
    std::istringstream in(line);
    std::string t;
    while (in >> t)
      out.push_back(t);
    return out;
  }
  std::string cur;
  for (char c : line) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else if (c != '\r') {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

/// `s` as a whole finite number > 0 (>= 0 when zero_ok); nullopt otherwise (the readers word their own errors).
inline std::optional<double> positive_number_of(const std::string& s, bool zero_ok = false)
{
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (s.empty() || used != s.size() || !std::isfinite(v) || v < 0 || (!zero_ok && v == 0))
    return std::nullopt;
  return v;
}

inline std::string at_line(int line) { return "line " + std::to_string(line); }

} // namespace moesim::calib_text
