#pragma once
// Helpers shared by the tests: temporary directories, bundled file paths, small hand-made traces.
#include "core/model/model_spec.hpp"
#include "core/trace/trace.hpp"

#include <functional>
#include <string>
#include <vector>

namespace moesim::test {

/// A fresh empty directory under the system temp dir, removed by the destructor.
class TempDir {
public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

std::string source_path(const std::string& rel); ///< path inside the source tree
void write_file(const std::string& path, const std::string& text);
std::string read_file(const std::string& path); ///< the whole file, "" when it cannot be read
/// The message of the InputError `fn` throws, "" when it throws none.
std::string input_error_of(const std::function<void()>& fn);
void write_gzip(const std::string& path, const std::string& text);

/// A tiny MoE model: `layers` layers all MoE, `experts` experts, top-k, hidden 256.
ModelSpec tiny_model(int layers, int experts, int k);
/// A trace for `model`: requests[r] tokens, experts chosen by fn(request, token, layer, slot).
template <typename Fn> Trace make_trace(const ModelSpec& model, const std::vector<int>& tokens_per_request, Fn fn,
                                        const std::vector<int>& labels = {})
{
  Trace t;
  t.model_name = model.name;
  t.num_experts = model.num_routed_experts;
  t.top_k = model.top_k;
  t.moe_layers = model.moe_layers;
  t.datasets = {"test"};
  int max_label = 0;
  for (int l : labels)
    max_label = std::max(max_label, l);
  for (int l = 0; l <= max_label; ++l)
    t.labels.push_back("label" + std::to_string(l));
  for (size_t r = 0; r < tokens_per_request.size(); ++r) {
    const int n = tokens_per_request[r];
    t.requests.push_back(TraceRequest{static_cast<int64_t>(r), labels.empty() ? 0 : labels[r], 0, 10,
                                      t.num_tokens(), n});
    for (int i = 0; i < n; ++i) {
      t.token_request.push_back(static_cast<int32_t>(r));
      t.token_position.push_back(i);
      t.token_phase.push_back(1);
      for (int l = 0; l < model.num_moe_layers(); ++l)
        for (int j = 0; j < model.top_k; ++j)
          t.experts.push_back(static_cast<uint16_t>(fn(static_cast<int>(r), i, l, j)));
    }
  }
  return t;
}

} // namespace moesim::test
