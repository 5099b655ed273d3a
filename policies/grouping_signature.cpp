// `signature`: the online grouping of the activation-pattern method. Each request is classified from its prefill
// activations (or, where the trace has no prefill tokens for it, its first --signature-tokens tokens) to the nearest
// centroid of the clustering that the `activation` placement fits on the training split, then joins a GPU of that
// cluster's node; a node that is full passes the request to the next-nearest cluster. Capacity is work: every node
// takes at most its equal share of the served tokens (a request holds a slot for as many steps as it has tokens),
// and inside a node the request joins the GPU with the fewest tokens.
#include "algorithms/gpu_packing.hpp"
#include "algorithms/kmeans.hpp"
#include "algorithms/signature.hpp"
#include "core/io/errors.hpp"
#include "core/policy/policy.hpp"

namespace moesim {
namespace {

Grouping group_signature(const GroupingContext& ctx)
{
  if (!ctx.model || !ctx.fit_requests)
    throw InternalError("signature grouping needs the model and the fitting split");
  const int N = ctx.cluster.num_nodes();
  const auto clusters = policy::fit_activation_clusters(ctx.trace, *ctx.fit_requests, ctx.clusters, N, ctx.seed);
  const size_t n = ctx.requests.size();
  int64_t from_prefill = 0;
  std::vector<int32_t> read;
  const auto nodes =
      policy::assign_by_signature(ctx.trace, ctx.requests, clusters, N, ctx.signature_tokens, &from_prefill, &read);
  Grouping g;
  g.gpu_of_request.assign(ctx.trace.requests.size(), -1);
  g.read_tokens.assign(ctx.trace.requests.size(), 0);
  policy::NodeDealer dealer(ctx.cluster);
  for (size_t i = 0; i < n; ++i) {
    const int32_t r = ctx.requests[i];
    g.gpu_of_request[r] = dealer.deal(nodes[i], ctx.trace.requests[r].token_count);
    g.read_tokens[r] = read[i];
  }
  g.note = policy::signature_note(from_prefill, static_cast<int64_t>(n) - from_prefill, ctx.signature_tokens);
  return g;
}

const bool registered = GroupingRegistry::instance().add(
    "signature",
    "nearest activation-cluster centroid from prefill (or first tokens), to a GPU of that cluster's node (balanced)",
    group_signature);

} // namespace
} // namespace moesim
