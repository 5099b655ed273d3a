#pragma once
// Expert-routing traces in memory, and their HDF5 schema (docs/trace-schema.md).
#include <cstdint>
#include <string>
#include <vector>

namespace moesim {

struct ModelSpec;

enum class Phase : uint8_t { Prefill = 0, Decode = 1 };

struct TraceRequest {
  int64_t id = 0;           ///< id from the source (row index, sequence number)
  int32_t label = 0;        ///< index into Trace::labels (task family / domain)
  int32_t dataset = 0;      ///< index into Trace::datasets
  int32_t prompt_len = 0;   ///< prompt tokens before the first traced token's KV (0 when unknown)
  int64_t token_offset = 0; ///< first token of this request in the token arrays
  int32_t token_count = 0;  ///< tokens of this request (contiguous, ascending position)
};

/// The top_k expert ids of one token at one MoE layer, stored in one or two bytes each (Trace::compact).
class ExpertIds {
public:
  ExpertIds(const uint16_t* ids) : wide_(ids) {}
  ExpertIds(const uint8_t* ids) : narrow_(ids) {}
  int operator[](int i) const { return narrow_ ? narrow_[i] : wide_[i]; }
  /// The first k ids as a vector (tests, tools).
  std::vector<int> first(int k) const
  {
    std::vector<int> v(k);
    for (int i = 0; i < k; ++i)
      v[i] = (*this)[i];
    return v;
  }

private:
  const uint8_t* narrow_ = nullptr;
  const uint16_t* wide_ = nullptr;
};

struct Trace {
  static constexpr int kSchemaVersion = 1;
  std::string model_name;
  std::string source;        ///< where the data came from (format, files)
  int num_experts = 0;
  int top_k = 0;
  std::vector<int> moe_layers; ///< model layer id of each traced MoE layer
  std::vector<std::string> labels;
  std::vector<std::string> datasets;
  std::vector<TraceRequest> requests;
  std::vector<int32_t> token_request;  ///< [T] request index of each token
  std::vector<int32_t> token_position; ///< [T] position in the sequence (prompt tokens included)
  std::vector<uint8_t> token_phase;    ///< [T] Phase
  /// [T][L][k] expert ids as built (synthesis, import, tests); compact() moves them into experts8 when every id
  /// fits one byte, as read_trace does: at 4,096 GPUs a DeepSeek-V3 trace's routing is 0.97 GB in two bytes.
  std::vector<uint16_t> experts;
  std::vector<uint8_t> experts8;       ///< [T][L][k] the same ids in one byte each (num_experts <= 256)
  std::vector<float> weights;          ///< [T][L][k] gate weights, or empty when unknown or not read

  int64_t num_tokens() const { return static_cast<int64_t>(token_request.size()); }
  int num_layers() const { return static_cast<int>(moe_layers.size()); }
  /// Index of token t's first id at MoE layer index l in experts / experts8 ([T][L][k]).
  size_t expert_offset(int64_t t, int l) const
  {
    return (static_cast<size_t>(t) * moe_layers.size() + static_cast<size_t>(l)) * static_cast<size_t>(top_k);
  }
  /// The top_k expert ids of token t at MoE layer index l.
  ExpertIds experts_of(int64_t t, int l) const
  {
    const size_t at = expert_offset(t, l);
    if (!experts8.empty())
      return ExpertIds(experts8.data() + at);
    return ExpertIds(experts.data() + at);
  }
  /// Where experts_of(t, l) reads, for prefetching (the [T][L][k] layout puts each token's ids of one layer on
  /// their own cache line).
  const void* experts_address(int64_t t, int l) const
  {
    const size_t at = expert_offset(t, l);
    return experts8.empty() ? static_cast<const void*>(experts.data() + at) : static_cast<const void*>(experts8.data() + at);
  }
  /// Ids stored (either form) and the i-th of them.
  size_t num_expert_ids() const { return experts8.empty() ? experts.size() : experts8.size(); }
  int expert_id(size_t i) const { return experts8.empty() ? experts[i] : experts8[i]; }
  /// Every id in two-byte form, whichever form holds them (tests, tools).
  std::vector<uint16_t> expert_ids() const
  {
    return experts8.empty() ? experts : std::vector<uint16_t>(experts8.begin(), experts8.end());
  }
  /// Moves `experts` into experts8 when there are at most 256 experts (call after every id is known valid).
  void compact();
  int64_t count_phase(Phase p) const;

  /// Checks every invariant of the schema; throws InputError naming `file` and the record.
  void validate(const std::string& file) const;
};

/// Writes the trace to HDF5 (chunked, shuffle + deflate). The file is written under a temporary name and renamed.
void write_trace(const Trace& trace, const std::string& path);
/// Reads and validates a trace; InputError naming the file and object on any problem. Ids are kept in one byte when
/// they fit (Trace::compact); gate weights are read only when asked for (a run does not use them).
Trace read_trace(const std::string& path, bool with_weights = true);
/// Throws InputError when the trace was not recorded for this model (experts, top-k, MoE layer ids).
void check_trace_matches_model(const Trace& trace, const std::string& trace_file, const ModelSpec& model);

/// Throws InputError naming `file` when the trace has no token (nothing to replay or characterise).
void require_tokens(const Trace& trace, const std::string& file);

/// Human-readable summary (moesim trace info).
std::string describe_trace(const Trace& trace);

} // namespace moesim
