#pragma once
// Joint fit of expert placement and request grouping on nodes: node-local token-expert pairs, maximised by
// alternating an exact per-layer expert -> node assignment (capacities = primaries per node) with a
// capacity-balanced request -> node assignment (capacity = an equal share of the tokens).
#include "algorithms/kmeans.hpp"
#include "core/policy/policy.hpp"

#include <cstdint>
#include <vector>

namespace moesim::policy {

struct JointFit {
  std::vector<std::vector<int>> node_of_expert; ///< [moe layer][expert] node of its primary copy
  std::vector<int> node_of_request;             ///< aligned with the fitted requests
  double local_pairs = 0;                       ///< served token-expert pairs on their request's node
  double total_pairs = 0;                       ///< served token-expert pairs
  int iterations = 0;                           ///< alternations run (of the best start)
};

/// The tokens a run serves of a request: its decode-phase tokens when the trace has any, else all (the replay rule
/// of `--replay auto`).
bool serves_token(const Trace& trace, int64_t token, bool trace_has_decode);

/// The nodes holding a copy of each expert under a placement, to score requests against nodes.
class CopyNodes {
public:
  CopyNodes(const Placement& placement, int num_experts, int gpus_per_node);
  /// Adds to score[n], for each of token t's token-expert pairs, 1 for every node n holding a copy of its expert.
  void add_token(const Trace& trace, int64_t t, std::vector<double>& score) const;

private:
  int E_ = 0;
  std::vector<int32_t> begin_, node_; ///< nodes of (l, e): node_[begin_[l * E + e] .. begin_[l * E + e + 1])
};

/// Fits the requests (arrival order) onto `nodes` nodes, node n holding node_primaries[n] experts per layer (sum =
/// the experts). Experts go where the served tokens of each node's requests need them; requests are assigned as the
/// grouping will assign them: with signature_tokens > 0 from their signatures only (prefill, or their first tokens)
/// in arrival order (online_assignment, as `locality` does), with 0 knowing every token (balanced_assignment: the
/// in-sample bound). Three starts (requests dealt in label order, in a seeded random order, and by the `activation`
/// clustering's signature rule), each alternated until the served local pairs stop growing; the best is returned.
JointFit fit_joint(const Trace& trace, const std::vector<int32_t>& requests, int nodes,
                   const std::vector<int>& node_primaries, uint64_t seed, int signature_tokens);

/// Per request (aligned with `requests`) and node, the served token-expert pairs that have a copy of their expert on
/// the node under `placement` (nodes of gpus_per_node GPUs): [request][node].
std::vector<std::vector<double>> local_pairs_by_node(const Trace& trace, const std::vector<int32_t>& requests,
                                                     const Placement& placement, int nodes, int gpus_per_node);

/// The `joint` placement fitted on `requests` (the fitting split with signatures, or the served one knowing every
/// token, signature_tokens = 0, for the `oracle` bound): the joint fit's expert -> node map, then each node's GPUs
/// and replicas laid out as `activation` does.
Placement place_by_joint_fit(const PlacementContext& ctx, const std::vector<int32_t>& requests, int signature_tokens);

/// Capacity-balanced assignment of requests to nodes maximising score[i][node]: requests in order of regret (best
/// minus second-best score) take their best node with room; a node has room while it holds less than an equal share
/// of the requests' tokens (`weight`). Returns the node of each request.
std::vector<int> balanced_assignment(const std::vector<std::vector<double>>& score, const std::vector<int64_t>& weight,
                                     int nodes);
/// Node prices for the online rule, from requests seen before (the fitting split): with share[i][n] = score[i][n]
/// / sum over nodes, a request choosing the node of largest share - price[n] leaves every node near its equal share
/// of the tokens. Found by subgradient steps on the nodes' overload. Without prices an online rule fills the node
/// every request slightly prefers (the one with the hot experts) with whoever comes first, and a trace whose requests
/// arrive sorted by task then splits by arrival, not by experts.
std::vector<double> balancing_prices(const std::vector<std::vector<double>>& score, const std::vector<int64_t>& weight,
                                     int nodes);
/// The online rule: requests in the given order each take the node of largest share - price among the nodes that
/// hold less than an equal share of the tokens (ties: fewer tokens).
std::vector<int> online_assignment(const std::vector<std::vector<double>>& score, const std::vector<int64_t>& weight,
                                   int nodes, const std::vector<double>& prices);

/// What the `locality` grouping learns from the fitting requests: each is put on a node knowing all its served tokens
/// under the run's placement (balanced_assignment of local_pairs_by_node, an equal share of the tokens per node),
/// and node n's centroid is the token-weighted mean of its requests' activation vectors (all tokens, as the
/// `activation` clustering's). Cluster n is node n. A new request then goes to the node whose requests its signature
/// is nearest to (assign_by_signature): a classifier of what the best assignment of the requests seen so far did.
/// Beyond 16,384 fitting requests the centroids are fitted on a seeded sample; cluster_of_sample is then the node
/// of each sampled request.
ActivationClusters node_centroids(const Trace& trace, const std::vector<int32_t>& fit_requests,
                                  const Placement& placement, int nodes, int gpus_per_node, uint64_t seed);

/// Scores request r's signature against every node (adds to score[n] its pairs with a copy on n) and returns the
/// leading tokens it read from the tokens a run replays (0 for a prefill signature).
int signature_scores(const Trace& trace, int32_t r, bool trace_has_decode, int signature_tokens,
                     const CopyNodes& copies, std::vector<double>& score);

} // namespace moesim::policy
