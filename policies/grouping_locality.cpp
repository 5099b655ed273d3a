// `locality`: learns from the fitting split where requests like a new one are best served under the run's
// placement, then classifies each served request (arrival order) by its signature (its prefill, or where it has none
// its first --signature-tokens tokens, which are then not replayed). The fitting requests are put on nodes knowing
// all their tokens (the most node-local token-expert pairs, an equal share of the tokens per node); a served request
// joins the node whose fitting requests' mean activation vector its signature is nearest to, among the nodes that
// hold less than an equal share of the served tokens (else the next nearest). Inside the node the request joins the
// GPU with the fewest tokens. Works with any placement; `joint` is fitted for it (docs/policies.md).
#include "algorithms/gpu_packing.hpp"
#include "algorithms/joint_fit.hpp"
#include "algorithms/signature.hpp"
#include "core/io/errors.hpp"
#include "core/policy/policy.hpp"

namespace moesim {
namespace {

Grouping group_locality(const GroupingContext& ctx)
{
  if (!ctx.placement || !ctx.fit_requests)
    throw InternalError("the locality grouping needs the run's placement and the fitting split");
  if (ctx.fit_requests->empty())
    throw UsageError("the locality grouping learns from the fitting split, and it has no requests");
  const Trace& trace = ctx.trace;
  const int N = ctx.cluster.num_nodes();
  const auto centroids =
      policy::node_centroids(trace, *ctx.fit_requests, *ctx.placement, N, ctx.cluster.gpus_per_node(), ctx.seed);
  int64_t from_prefill = 0;
  std::vector<int32_t> read;
  const auto nodes =
      policy::assign_by_signature(trace, ctx.requests, centroids, N, ctx.signature_tokens, &from_prefill, &read);
  Grouping g;
  g.gpu_of_request.assign(trace.requests.size(), -1);
  g.read_tokens.assign(trace.requests.size(), 0);
  policy::NodeDealer dealer(ctx.cluster);
  for (size_t i = 0; i < ctx.requests.size(); ++i) {
    const int32_t r = ctx.requests[i];
    g.gpu_of_request[r] = dealer.deal(nodes[i], trace.requests[r].token_count);
    g.read_tokens[r] = read[i];
  }
  g.note = policy::signature_note(from_prefill, static_cast<int64_t>(ctx.requests.size()) - from_prefill,
                                  ctx.signature_tokens) +
           "; node = nearest to the signature among the nodes' fitting requests, placed knowing their tokens under "
           "the placement";
  return g;
}

const bool registered = GroupingRegistry::instance().add(
    "locality",
    "to the node whose fitting requests (placed knowing their tokens under the run's placement) the request's "
    "signature (prefill, or first tokens) is nearest to (balanced tokens per node); fitted for by placement joint",
    group_locality);

} // namespace
} // namespace moesim
