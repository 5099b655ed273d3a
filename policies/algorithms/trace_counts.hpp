#pragma once
// Counts over a trace's requests that the policies fit on: tokens, token-expert loads, co-activation.
#include "core/trace/trace.hpp"

#include <cstdint>
#include <vector>

namespace moesim::policy {

/// Tokens of the given requests (a request holds a batch slot for as many steps as it has tokens).
int64_t total_tokens(const Trace& trace, const std::vector<int32_t>& requests);

/// Token-expert counts of the given requests: [moe layer][expert].
std::vector<std::vector<double>> expert_loads(const Trace& trace, const std::vector<int32_t>& requests);

/// Co-activation counts over the given requests: w[layer][a][b] = tokens choosing both a and b at that MoE layer.
std::vector<std::vector<std::vector<double>>> coactivation(const Trace& trace, const std::vector<int32_t>& requests);

} // namespace moesim::policy
