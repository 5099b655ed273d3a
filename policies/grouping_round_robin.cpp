// `round_robin`: the i-th arriving request joins GPU i mod G.
#include "core/policy/policy.hpp"

namespace moesim {
namespace {

Grouping group_round_robin(const GroupingContext& ctx)
{
  Grouping g;
  g.gpu_of_request.assign(ctx.trace.requests.size(), -1);
  const int G = ctx.cluster.num_gpus();
  for (size_t i = 0; i < ctx.requests.size(); ++i)
    g.gpu_of_request[ctx.requests[i]] = static_cast<int>(i % G);
  return g;
}

const bool registered =
    GroupingRegistry::instance().add("round_robin", "request i (arrival order) joins GPU i mod GPUs", group_round_robin);

} // namespace
} // namespace moesim
