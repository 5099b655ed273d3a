// `coactivation`: per MoE layer, the co-activation graph (experts as vertices, edge weight = tokens that choose both
// experts) partitioned with METIS into one part per node, minimising the co-activation cut (tokens whose experts
// span nodes); parts are then made exactly equal in size (moving the experts with the weakest ties) and each node's
// experts are packed onto its GPUs by load. Node and GPU shares follow the slot layout (uneven when the experts do
// not divide the GPUs). With redundant experts (or more GPUs than experts), the spare slots host replicas of the
// experts with the highest load per copy (EPLB's rule), placed on the node whose other experts they are tied to most.
#include "algorithms/eplb.hpp"
#include "algorithms/gpu_packing.hpp"
#include "algorithms/graph_partition.hpp"
#include "algorithms/trace_counts.hpp"
#include "core/io/errors.hpp"
#include "core/policy/policy.hpp"

#include <algorithm>
#include <map>
#include <numeric>

namespace moesim {
namespace {

Placement place_coactivation(const PlacementContext& ctx)
{
  const int E = ctx.model.num_routed_experts, G = ctx.cluster.num_gpus(), N = ctx.cluster.num_nodes();
  const int gpn = ctx.cluster.gpus_per_node(), L = ctx.model.num_moe_layers();
  const policy::SlotLayout layout = policy::slot_layout(E, ctx.cluster.num_nodes(), ctx.cluster.gpus_per_node(), ctx.redundant_experts);
  std::vector<int> node_size(N);
  for (int n = 0; n < N; ++n)
    node_size[n] = layout.node_primary(n, gpn);
  Placement p;
  p.replicas.assign(L, std::vector<std::vector<int>>(E));
  const auto loads = policy::expert_loads(ctx.trace, ctx.fit_requests);
  const auto coact = policy::coactivation(ctx.trace, ctx.fit_requests);
  for (int l = 0; l < L; ++l) {
    const auto& w = coact[l];
    const auto& load = loads[l];
    const auto part = policy::partition(w, node_size, ctx.seed + static_cast<uint64_t>(l));
    std::vector<int> used(G, 0);
    std::vector<double> gpu_load(G, 0.0);
    for (int n = 0; n < N; ++n) {
      std::vector<int> experts;
      for (int e = 0; e < E; ++e)
        if (part[e] == n)
          experts.push_back(e);
      std::vector<int> gpus(gpn);
      std::iota(gpus.begin(), gpus.end(), n * gpn);
      const std::vector<int> caps(layout.primary.begin() + n * gpn, layout.primary.begin() + (n + 1) * gpn);
      policy::pack_on_gpus(experts, load, gpus, caps, p.replicas[l]);
      for (int e : experts) {
        ++used[p.replicas[l][e][0]];
        gpu_load[p.replicas[l][e][0]] += load[e];
      }
    }
    if (layout.total > E) {
      const auto phy2log = policy::replicate_experts(load, layout.total);
      for (size_t i = static_cast<size_t>(E); i < phy2log.size(); ++i) {
        const int e = phy2log[i];
        // The node (without a copy yet) most tied to e, then its least-loaded GPU with a free slot.
        int best_gpu = -1;
        double best_tie = -1;
        for (int n = 0; n < N; ++n) {
          bool has = false;
          for (int g : p.replicas[l][e])
            has |= g / gpn == n;
          if (has)
            continue;
          double tie = 0;
          for (int b = 0; b < E; ++b)
            if (part[b] == n)
              tie += w[e][b];
          int g_best = -1;
          for (int g = n * gpn; g < (n + 1) * gpn; ++g)
            if (used[g] < layout.slots[g] && (g_best < 0 || gpu_load[g] < gpu_load[g_best]))
              g_best = g;
          if (g_best >= 0 && tie > best_tie) {
            best_tie = tie;
            best_gpu = g_best;
          }
        }
        if (best_gpu < 0)
          continue; // already on every node
        p.replicas[l][e].push_back(best_gpu);
        ++used[best_gpu];
        gpu_load[best_gpu] += load[e] / static_cast<double>(p.replicas[l][e].size());
      }
    }
  }
  return p;
}

const bool registered = PlacementRegistry::instance().add(
    "coactivation",
    "METIS partition of the expert co-activation graph into balanced node parts, packed onto GPUs by load",
    place_coactivation);

} // namespace
} // namespace moesim
