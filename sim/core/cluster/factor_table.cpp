#include "core/cluster/factor_table.hpp"

#include "core/io/errors.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace moesim {

double FactorTable::eval(double at) const
{
  if (size.empty())
    return 1.0;
  if (at <= size.front())
    return factor.front();
  if (at >= size.back())
    return factor.back();
  size_t hi = 1;
  while (size[hi] < at)
    ++hi;
  const double x0 = std::log(size[hi - 1]), x1 = std::log(size[hi]);
  const double w = (std::log(at) - x0) / (x1 - x0);
  return factor[hi - 1] + w * (factor[hi] - factor[hi - 1]);
}

bool FactorTable::covers(double at) const
{
  return size.empty() || (at >= size.front() * 0.99 && at <= size.back() * 1.01);
}

std::string FactorTable::to_string() const
{
  std::string out;
  char buf[64];
  for (size_t i = 0; i < size.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.10g:%.6g", i ? ";" : "", size[i], factor[i]);
    out += buf;
  }
  return out;
}

FactorTable FactorTable::parse(const std::string& text, const std::string& file, const std::string& place)
{
  FactorTable t;
  if (text.empty())
    return t;
  auto number = [&](const std::string& s) {
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v) || v <= 0)
      throw InputError(file, place, "expected 'size:factor;size:factor;...' with positive numbers, found '" + s +
                                        "' in '" + text + "'");
    return v;
  };
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t end = std::min(text.find(';', pos), text.size());
    const std::string item = text.substr(pos, end - pos);
    const size_t colon = item.find(':');
    if (colon == std::string::npos)
      throw InputError(file, place, "expected 'size:factor' items separated by ';', found '" + item + "'");
    const double s = number(item.substr(0, colon)), f = number(item.substr(colon + 1));
    if (!t.size.empty() && s <= t.size.back())
      throw InputError(file, place, "sizes must be ascending in '" + text + "'");
    t.size.push_back(s);
    t.factor.push_back(f);
    pos = end + 1;
  }
  return t;
}

} // namespace moesim
