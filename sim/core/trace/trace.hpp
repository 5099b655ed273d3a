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
  std::vector<uint16_t> experts;       ///< [T][L][k] expert ids
  std::vector<float> weights;          ///< [T][L][k] gate weights, or empty when unknown

  int64_t num_tokens() const { return static_cast<int64_t>(token_request.size()); }
  int num_layers() const { return static_cast<int>(moe_layers.size()); }
  /// The top_k expert ids of token t at MoE layer index l.
  const uint16_t* experts_of(int64_t t, int l) const
  {
    return experts.data() + (static_cast<size_t>(t) * moe_layers.size() + static_cast<size_t>(l)) * static_cast<size_t>(top_k);
  }
  int64_t count_phase(Phase p) const;

  /// Checks every invariant of the schema; throws InputError naming `file` and the record.
  void validate(const std::string& file) const;
};

/// Writes the trace to HDF5 (chunked, shuffle + deflate). The file is written under a temporary name and renamed.
void write_trace(const Trace& trace, const std::string& path);
/// Reads and validates a trace; InputError naming the file and object on any problem.
Trace read_trace(const std::string& path);
/// Throws InputError when the trace was not recorded for this model (experts, top-k, MoE layer ids).
void check_trace_matches_model(const Trace& trace, const std::string& trace_file, const ModelSpec& model);

/// Throws InputError naming `file` when the trace has no token (nothing to replay or characterise).
void require_tokens(const Trace& trace, const std::string& file);

/// Human-readable summary (moesim trace info).
std::string describe_trace(const Trace& trace);

} // namespace moesim
