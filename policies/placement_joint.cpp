// `joint`: placement and grouping fitted together on the fitting split. Requests and experts are assigned to nodes
// by alternating an exact per-layer expert -> node assignment (min-cost flow under the slot layout's primaries per
// node) with a capacity-balanced request -> node assignment (each node an equal share of the served tokens), both
// maximising node-local token-expert pairs, from three starts (label order, seeded random, the activation
// clustering); the request step assigns requests by their signatures in arrival order, as the `locality` grouping
// will. Then inside each node experts that tokens choose together share a GPU and redundant slots take replicas, as
// `activation` does (docs/policies.md).
#include "algorithms/joint_fit.hpp"
#include "core/policy/policy.hpp"

namespace moesim {
namespace {

Placement place_joint(const PlacementContext& ctx) { return policy::place_by_joint_fit(ctx, ctx.fit_requests, ctx.signature_tokens); }

const bool registered = PlacementRegistry::instance().add(
    "joint",
    "experts and the fitting requests assigned to nodes together (exact per-layer expert assignment alternated with "
    "a balanced request assignment, most node-local pairs); in-node GPUs and replicas as activation. Use with "
    "--grouping locality",
    place_joint);

} // namespace
} // namespace moesim
