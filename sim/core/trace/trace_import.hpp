#pragma once
// Converters from published routing-trace formats into moesim's Trace (docs/trace-schema.md).
#include "core/trace/trace.hpp"

#include <string>
#include <vector>

namespace moesim {

struct ModelSpec;

/// ESFT expert_scores layout: dir/<domain>/expert_weights_<layer>.txt.gz, one line per sequence holding the
/// token-major expert ids (top_k per token, tab separated), a double tab, then the gate weights in the same order.
/// Every file of a domain must have the same sequences with the same token counts.
Trace import_esft(const std::string& dir, const ModelSpec& model);

/// gpt-oss expert-fingerprinting JSON: per file one prompt object (or a list of them) with dataset, category,
/// row_index and router_data (one entry per generated token: {"token_<pos>": {"layer_<i>": {selected_experts,
/// selected_probs}}}). Tokens are decode-phase; the prompt length is the first generated position.
Trace import_gptoss_json(const std::vector<std::string>& files, const ModelSpec& model);

/// Reads a whole gzip file; InputError naming the file on gzip errors (bad header, CRC, truncation).
std::string read_gzip_file(const std::string& path);

} // namespace moesim
