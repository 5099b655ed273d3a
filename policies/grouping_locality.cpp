// `locality`: each served request, in arrival order, joins the node holding copies of the largest share of its
// signature's token-expert pairs under the run's placement, less the node's price (its prefill, or where it has
// none its first --signature-tokens tokens, which are then not replayed). Only nodes with room are candidates: a
// node takes requests while it holds less than an equal share of the served tokens (ties: fewer tokens). The
// prices balance the nodes on the fitting split's signatures. Inside the node the request joins the GPU with the
// fewest tokens. Works with any placement; `joint` is fitted for it (docs/policies.md).
#include "algorithms/gpu_packing.hpp"
#include "algorithms/joint_fit.hpp"
#include "algorithms/signature.hpp"
#include "core/io/errors.hpp"
#include "core/policy/policy.hpp"

#include <algorithm>

namespace moesim {
namespace {

Grouping group_locality(const GroupingContext& ctx)
{
  if (!ctx.placement)
    throw InternalError("the locality grouping needs the run's placement");
  const Trace& trace = ctx.trace;
  const int N = ctx.cluster.num_nodes();
  const bool has_decode = trace.count_phase(Phase::Decode) > 0;
  const policy::CopyNodes copies(*ctx.placement, trace.num_experts, ctx.cluster.gpus_per_node());
  Grouping g;
  g.gpu_of_request.assign(trace.requests.size(), -1);
  g.read_tokens.assign(trace.requests.size(), 0);
  // Signature scores and tokens of a list of requests (read: where to record the tokens each signature read).
  const auto score_all = [&](const std::vector<int32_t>& requests, std::vector<std::vector<double>>& score,
                             std::vector<int64_t>& w, std::vector<int32_t>* read) {
    score.assign(requests.size(), std::vector<double>(N, 0.0));
    for (size_t i = 0; i < requests.size(); ++i) {
      const int32_t r = requests[i];
      const int n = policy::signature_scores(trace, r, has_decode, ctx.signature_tokens, copies, score[i]);
      if (read)
        (*read)[r] = n;
      w.push_back(trace.requests[r].token_count);
    }
  };
  std::vector<std::vector<double>> score;
  std::vector<int64_t> w;
  score_all(ctx.requests, score, w, &g.read_tokens);
  int64_t from_prefill = 0;
  for (int32_t r : ctx.requests)
    from_prefill += policy::signature_from_prefill(trace, r, has_decode);
  // Prices from the fitting split's signatures, which a server has seen before these requests arrive.
  std::vector<double> prices(N, 0.0);
  if (ctx.fit_requests && !ctx.fit_requests->empty()) {
    std::vector<std::vector<double>> fit_score;
    std::vector<int64_t> fit_w;
    score_all(*ctx.fit_requests, fit_score, fit_w, nullptr);
    prices = policy::balancing_prices(fit_score, fit_w, N);
  }
  const auto nodes = policy::online_assignment(score, w, N, prices);
  policy::NodeDealer dealer(ctx.cluster);
  for (size_t i = 0; i < ctx.requests.size(); ++i)
    g.gpu_of_request[ctx.requests[i]] = dealer.deal(nodes[i], w[i]);
  g.note = policy::signature_note(from_prefill, static_cast<int64_t>(ctx.requests.size()) - from_prefill,
                                  ctx.signature_tokens) +
           "; node = largest share of signature pairs with a local copy under the placement, less its price";
  return g;
}

const bool registered = GroupingRegistry::instance().add(
    "locality",
    "to the node holding the largest share of the request's signature (prefill, or first tokens) under the run's "
    "placement, less a balancing price (balanced tokens per node); fitted for by placement joint",
    group_locality);

} // namespace
} // namespace moesim
