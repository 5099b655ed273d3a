// `random`: requests shuffled with the seed, then dealt round-robin (equal counts per GPU).
#include "core/policy/policy.hpp"

#include <algorithm>
#include <random>

namespace moesim {
namespace {

Grouping group_random(const GroupingContext& ctx)
{
  std::vector<int32_t> order = ctx.requests;
  std::mt19937_64 rng(ctx.seed ^ 0x9e3779b97f4a7c15ULL);
  std::shuffle(order.begin(), order.end(), rng);
  Grouping g;
  g.gpu_of_request.assign(ctx.trace.requests.size(), -1);
  const int G = ctx.cluster.num_gpus();
  for (size_t i = 0; i < order.size(); ++i)
    g.gpu_of_request[order[i]] = static_cast<int>(i % G);
  return g;
}

const bool registered = GroupingRegistry::instance().add(
    "random", "requests shuffled with the seed, then dealt evenly over GPUs", group_random);

} // namespace
} // namespace moesim
