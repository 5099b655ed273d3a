// `oracle`: not a deployable policy but a bound. The `joint` fit run on the served split itself (the requests the
// run is judged on, all their tokens), so that with the `oracle` grouping it shows the best static placement and
// grouping this method finds for the served requests; `moesim compare --oracle` reports every row's share of its
// gain (docs/policies.md).
#include "algorithms/joint_fit.hpp"
#include "core/io/errors.hpp"
#include "core/policy/policy.hpp"

namespace moesim {
namespace {

Placement place_oracle(const PlacementContext& ctx)
{
  if (!ctx.serve_requests || ctx.serve_requests->empty())
    throw UsageError("the oracle placement fits on the served requests, and there are none");
  return policy::place_by_joint_fit(ctx, *ctx.serve_requests, 0);
}

const bool registered = PlacementRegistry::instance().add(
    "oracle",
    "bound, not a policy: the joint fit on the served split itself (in-sample); with --grouping oracle the best "
    "static placement + grouping found for the requests it is judged on",
    place_oracle);

} // namespace
} // namespace moesim
