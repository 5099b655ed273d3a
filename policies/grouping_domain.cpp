// `domain`: an oracle for reference. Requests sorted by task label fill the nodes in contiguous blocks of equal work
// (tokens: a request holds a batch slot for as many steps as it has tokens), so a label stays on as few nodes as
// capacity allows; inside a node a request joins the GPU with the fewest tokens.
#include "algorithms/gpu_packing.hpp"
#include "algorithms/trace_counts.hpp"
#include "core/policy/policy.hpp"

#include <algorithm>

namespace moesim {
namespace {

Grouping group_domain(const GroupingContext& ctx)
{
  std::vector<int32_t> order = ctx.requests;
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return ctx.trace.requests[a].label < ctx.trace.requests[b].label; });
  const int N = ctx.cluster.num_nodes();
  const int64_t total = policy::total_tokens(ctx.trace, order);
  Grouping g;
  g.gpu_of_request.assign(ctx.trace.requests.size(), -1);
  policy::NodeDealer dealer(ctx.cluster);
  int64_t before = 0;
  for (int32_t r : order) {
    const int64_t len = ctx.trace.requests[r].token_count;
    // The node whose equal share of the work holds this request's midpoint.
    const int node = static_cast<int>(std::min<int64_t>(N - 1, (2 * before + len) * N / (2 * std::max<int64_t>(1, total))));
    g.gpu_of_request[r] = dealer.deal(node, len);
    before += len;
  }
  g.note = "requests grouped by their task label (oracle)";
  return g;
}

const bool registered = GroupingRegistry::instance().add(
    "domain", "oracle: requests of the same task label on the same node (blocks of equal tokens), least-loaded GPU",
    group_domain);

} // namespace
} // namespace moesim
