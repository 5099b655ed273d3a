// `oracle`: not a deployable policy but a bound. The served requests are assigned to nodes knowing all the tokens
// they will be served (in-sample): the capacity-balanced assignment that maximises node-local token-expert pairs
// under the run's placement (requests in order of regret take their best node with room). With the `oracle`
// placement it is the best static placement + grouping this method finds (docs/policies.md). It replays the tokens
// the honest groupings replay (not the leading tokens their signatures read), so a row's share of its gain compares
// the same tokens.
#include "algorithms/gpu_packing.hpp"
#include "algorithms/joint_fit.hpp"
#include "algorithms/signature.hpp"
#include "core/io/errors.hpp"
#include "core/policy/policy.hpp"

namespace moesim {
namespace {

Grouping group_oracle(const GroupingContext& ctx)
{
  if (!ctx.placement)
    throw InternalError("the oracle grouping needs the run's placement");
  const int N = ctx.cluster.num_nodes();
  const auto score = policy::local_pairs_by_node(ctx.trace, ctx.requests, *ctx.placement, N,
                                                 ctx.cluster.gpus_per_node());
  std::vector<int64_t> w;
  for (int32_t r : ctx.requests)
    w.push_back(ctx.trace.requests[r].token_count);
  const auto nodes = policy::balanced_assignment(score, w, N);
  Grouping g;
  g.gpu_of_request.assign(ctx.trace.requests.size(), -1);
  policy::NodeDealer dealer(ctx.cluster);
  for (size_t i = 0; i < ctx.requests.size(); ++i)
    g.gpu_of_request[ctx.requests[i]] = dealer.deal(nodes[i], w[i]);
  // The window the honest groupings serve: the leading tokens a signature would read are not replayed here
  // either, so that the bound is measured on the tokens the policies it bounds are measured on.
  const bool has_decode = ctx.trace.count_phase(Phase::Decode) > 0;
  g.read_tokens.assign(ctx.trace.requests.size(), 0);
  for (int32_t r : ctx.requests)
    if (!policy::signature_from_prefill(ctx.trace, r, has_decode))
      g.read_tokens[r] = policy::signature_length(ctx.trace, r, ctx.signature_tokens);
  int64_t skipping = 0;
  for (int32_t r : ctx.requests)
    skipping += g.read_tokens[r] > 0;
  g.note = "in-sample bound: requests placed knowing every token they are served";
  if (skipping > 0)
    g.note += "; the first " + std::to_string(ctx.signature_tokens) + " tokens of " + std::to_string(skipping) +
              " requests without prefill (at most all but their last) are not replayed, as under the signature "
              "groupings, so that the bound is judged on the same tokens";
  return g;
}

const bool registered = GroupingRegistry::instance().add(
    "oracle",
    "bound, not a policy: served requests to nodes knowing all their tokens (in-sample, balanced tokens per node)",
    group_oracle);

} // namespace
} // namespace moesim
