#include "core/trace/split.hpp"

#include "core/io/errors.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace moesim {

RequestSplit split_requests(const Trace& trace, double train_fraction, uint64_t seed)
{
  if (!(train_fraction >= 0 && train_fraction < 1))
    throw UsageError("--train-fraction must be in [0, 1)");
  RequestSplit s;
  const int32_t R = static_cast<int32_t>(trace.requests.size());
  if (train_fraction == 0) {
    for (int32_t r = 0; r < R; ++r)
      s.fit.push_back(r);
    s.serve = s.fit;
    return s;
  }
  std::vector<std::vector<int32_t>> by_label(trace.labels.size());
  for (int32_t r = 0; r < R; ++r)
    by_label[trace.requests[r].label].push_back(r);
  std::mt19937_64 rng(seed ^ 0x5bd1e995ULL);
  for (auto& reqs : by_label) {
    std::shuffle(reqs.begin(), reqs.end(), rng);
    const size_t n = reqs.size();
    size_t k = static_cast<size_t>(std::llround(train_fraction * static_cast<double>(n)));
    if (n >= 2)
      k = std::clamp<size_t>(k, 1, n - 1);
    s.fit.insert(s.fit.end(), reqs.begin(), reqs.begin() + static_cast<long>(k));
    s.serve.insert(s.serve.end(), reqs.begin() + static_cast<long>(k), reqs.end());
  }
  std::sort(s.fit.begin(), s.fit.end());
  std::sort(s.serve.begin(), s.serve.end());
  if (s.fit.empty() || s.serve.empty())
    throw UsageError("the train/test split leaves one side empty (the trace has too few requests)");
  return s;
}

std::vector<std::string> parse_label_list(const std::string& text)
{
  std::vector<std::string> out;
  size_t at = 0;
  while (true) {
    const size_t comma = text.find(',', at);
    const std::string name = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    if (name.empty())
      throw UsageError("--fit-labels: expected comma-separated label names, got '" + text + "'");
    if (std::find(out.begin(), out.end(), name) != out.end())
      throw UsageError("--fit-labels: label '" + name + "' is given twice");
    out.push_back(name);
    if (comma == std::string::npos)
      break;
    at = comma + 1;
  }
  return out;
}

RequestSplit split_by_labels(const Trace& trace, const std::vector<std::string>& labels, const std::string& trace_file)
{
  std::vector<char> fit_label(trace.labels.size(), 0);
  for (const auto& name : labels) {
    const auto it = std::find(trace.labels.begin(), trace.labels.end(), name);
    if (it == trace.labels.end()) {
      std::string known;
      for (const auto& l : trace.labels)
        known += (known.empty() ? "" : ", ") + l;
      throw UsageError(trace_file + ": --fit-labels: no label '" + name + "' in the trace (its labels: " + known + ")");
    }
    fit_label[it - trace.labels.begin()] = 1;
  }
  RequestSplit s;
  for (int32_t r = 0; r < static_cast<int32_t>(trace.requests.size()); ++r)
    (fit_label[trace.requests[r].label] ? s.fit : s.serve).push_back(r);
  if (s.fit.empty() || s.serve.empty())
    throw UsageError(trace_file + ": --fit-labels leaves no request " + (s.fit.empty() ? "to fit on" : "to serve") +
                     " (fit on some labels, serve the others)");
  return s;
}

} // namespace moesim
