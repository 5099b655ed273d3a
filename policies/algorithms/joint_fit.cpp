#include "algorithms/joint_fit.hpp"

#include "algorithms/assignment.hpp"
#include "algorithms/gpu_packing.hpp"
#include "algorithms/kmeans.hpp"
#include "algorithms/node_layout.hpp"
#include "algorithms/signature.hpp"
#include "algorithms/trace_counts.hpp"
#include "core/io/errors.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace moesim::policy {
namespace {

/// Alternations per start: the local pairs typically stop growing after 3-5 (docs/policies.md).
constexpr int kMaxIterations = 12;
/// Relative growth of the local pairs below which the alternation stops.
constexpr double kMinGain = 1e-4;
/// Subgradient steps and first step size of balancing_prices (shares are in [0, 1]).
constexpr int kPriceIterations = 200;
constexpr double kPriceStep = 0.05;
/// Requests the alternation runs on at most (a seeded sample beyond): bounds the fit at scale (bench/fit_speed.sh).
constexpr size_t kMaxAlternationRequests = 16384;

/// kMaxAlternationRequests of `requests`, drawn with the seed, in their given (arrival) order.
std::vector<int32_t> seeded_sample(const std::vector<int32_t>& requests, uint64_t seed)
{
  std::vector<size_t> pick(requests.size());
  std::iota(pick.begin(), pick.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(pick.begin(), pick.end(), rng);
  pick.resize(std::min(pick.size(), kMaxAlternationRequests));
  std::sort(pick.begin(), pick.end());
  std::vector<int32_t> sample;
  for (size_t i : pick)
    sample.push_back(requests[i]);
  return sample;
}

std::vector<int64_t> served_tokens(const Trace& trace, const std::vector<int32_t>& requests, bool has_decode)
{
  std::vector<int64_t> w(requests.size(), 0);
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& q = trace.requests[requests[i]];
    for (int64_t t = q.token_offset; t < q.token_offset + q.token_count; ++t)
      w[i] += serves_token(trace, t, has_decode);
  }
  return w;
}

/// Calls fn(i, l, e) for every served token-expert pair of every request i (index into `requests`).
template <typename Fn>
void for_served_pairs(const Trace& trace, const std::vector<int32_t>& requests, bool has_decode, Fn fn)
{
  const int L = trace.num_layers(), k = trace.top_k;
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& q = trace.requests[requests[i]];
    for (int64_t t = q.token_offset; t < q.token_offset + q.token_count; ++t) {
      if (!serves_token(trace, t, has_decode))
        continue;
      for (int l = 0; l < L; ++l) {
        const ExpertIds ex = trace.experts_of(t, l);
        for (int j = 0; j < k; ++j)
          fn(i, l, ex[j]);
      }
    }
  }
}

/// demand[n][l * E + e]: served tokens of node n's requests choosing expert e at MoE layer l.
std::vector<std::vector<double>> node_demand(const Trace& trace, const std::vector<int32_t>& requests,
                                             const std::vector<int>& node_of_request, int nodes, bool has_decode)
{
  const size_t E = static_cast<size_t>(trace.num_experts);
  std::vector<std::vector<double>> d(nodes, std::vector<double>(trace.num_layers() * E, 0.0));
  for_served_pairs(trace, requests, has_decode,
                   [&](size_t i, int l, int e) { d[node_of_request[i]][l * E + e] += 1; });
  return d;
}

/// score[i][n]: served pairs of request i whose expert's primary is on node n (node_of[l * E + e]).
std::vector<std::vector<double>> primary_scores(const Trace& trace, const std::vector<int32_t>& requests,
                                                const std::vector<int>& node_of, int nodes, bool has_decode)
{
  const size_t E = static_cast<size_t>(trace.num_experts);
  std::vector<std::vector<double>> s(requests.size(), std::vector<double>(nodes, 0.0));
  for_served_pairs(trace, requests, has_decode, [&](size_t i, int l, int e) { s[i][node_of[l * E + e]] += 1; });
  return s;
}

/// Requests dealt in the given order into consecutive nodes of equal token shares.
std::vector<int> deal_in_order(const std::vector<size_t>& order, const std::vector<int64_t>& w, int nodes)
{
  const int64_t total = std::accumulate(w.begin(), w.end(), int64_t{0});
  std::vector<int> node(w.size(), 0);
  int64_t acc = 0;
  for (size_t i : order) {
    node[i] = static_cast<int>(std::min<int64_t>(nodes - 1, total > 0 ? acc * nodes / total : 0));
    acc += w[i];
  }
  return node;
}

/// The request step: with signatures, as the online grouping will assign them (signatures scored against the
/// primaries' nodes, requests in arrival order); without, knowing every token (`full` = primary_scores).
std::vector<int> assign_requests(const Trace& trace, const std::vector<int32_t>& requests, const std::vector<int>& node_of,
                                 int nodes, const std::vector<int64_t>& w, bool has_decode, int signature_tokens,
                                 const std::vector<std::vector<double>>& full)
{
  if (signature_tokens <= 0)
    return balanced_assignment(full, w, nodes);
  const int L = trace.num_layers(), E = trace.num_experts;
  Placement primary;
  primary.replicas.assign(L, std::vector<std::vector<int>>(E));
  for (int l = 0; l < L; ++l)
    for (int e = 0; e < E; ++e)
      primary.replicas[l][e] = {node_of[static_cast<size_t>(l) * E + e]};
  const CopyNodes copies(primary, E, 1); // one "GPU" per node: the copies' GPU ranks are node ids
  std::vector<std::vector<double>> sig(requests.size(), std::vector<double>(nodes, 0.0));
  for (size_t i = 0; i < requests.size(); ++i)
    signature_scores(trace, requests[i], has_decode, signature_tokens, copies, sig[i]);
  return online_assignment(sig, w, nodes, balancing_prices(sig, w, nodes));
}

JointFit alternate(const Trace& trace, const std::vector<int32_t>& requests, int nodes,
                   const std::vector<int>& primaries, const std::vector<int64_t>& w, std::vector<int> assign,
                   bool has_decode, int signature_tokens)
{
  const int L = trace.num_layers(), E = trace.num_experts;
  JointFit best;
  best.local_pairs = -1;
  std::vector<std::vector<double>> gain(E, std::vector<double>(nodes));
  for (int it = 0; it < kMaxIterations; ++it) {
    const auto demand = node_demand(trace, requests, assign, nodes, has_decode);
    std::vector<int> node_of(static_cast<size_t>(L) * E);
    for (int l = 0; l < L; ++l) {
      for (int e = 0; e < E; ++e)
        for (int n = 0; n < nodes; ++n)
          gain[e][n] = demand[n][static_cast<size_t>(l) * E + e];
      const auto a = max_gain_assignment(gain, primaries);
      std::copy(a.begin(), a.end(), node_of.begin() + static_cast<size_t>(l) * E);
    }
    const auto score = primary_scores(trace, requests, node_of, nodes, has_decode);
    double local = 0, total = 0;
    for (size_t i = 0; i < requests.size(); ++i) {
      local += score[i][assign[i]];
      total += std::accumulate(score[i].begin(), score[i].end(), 0.0);
    }
    const bool improved = local > best.local_pairs * (1 + kMinGain);
    if (local > best.local_pairs) {
      best.node_of_expert.assign(L, {});
      for (int l = 0; l < L; ++l)
        best.node_of_expert[l].assign(node_of.begin() + static_cast<size_t>(l) * E,
                                      node_of.begin() + static_cast<size_t>(l + 1) * E);
      best.node_of_request = assign;
      best.local_pairs = local;
      best.total_pairs = total;
      best.iterations = it + 1;
    }
    if (!improved)
      break;
    assign = assign_requests(trace, requests, node_of, nodes, w, has_decode, signature_tokens, score);
  }
  return best;
}

} // namespace

bool serves_token(const Trace& trace, int64_t token, bool trace_has_decode)
{
  return !trace_has_decode || trace.token_phase[token] == static_cast<uint8_t>(Phase::Decode);
}

std::vector<int> balanced_assignment(const std::vector<std::vector<double>>& score, const std::vector<int64_t>& weight,
                                     int nodes)
{
  const size_t R = score.size();
  const int64_t total = std::accumulate(weight.begin(), weight.end(), int64_t{0});
  const int64_t cap = (total + nodes - 1) / nodes;
  std::vector<double> regret(R, 0.0);
  for (size_t i = 0; i < R; ++i) {
    double a = -1, b = -1; // best and second-best scores
    for (double s : score[i])
      if (s > a) {
        b = a;
        a = s;
      } else if (s > b) {
        b = s;
      }
    regret[i] = a - std::max(b, 0.0);
  }
  std::vector<size_t> order(R);
  std::iota(order.begin(), order.end(), 0);
  // Largest regret first; heavier requests first among equals (they are the hardest to fit late).
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    return regret[x] != regret[y] ? regret[x] > regret[y] : weight[x] > weight[y];
  });
  std::vector<int64_t> used(nodes, 0);
  std::vector<int> node(R, 0), by_score(nodes);
  for (size_t i : order) {
    std::iota(by_score.begin(), by_score.end(), 0);
    std::stable_sort(by_score.begin(), by_score.end(), [&](int x, int y) { return score[i][x] > score[i][y]; });
    int pick = -1;
    for (int n : by_score)
      if (used[n] < cap) { // a node with room takes the request whole (as the online groupings deal them)
        pick = n;
        break;
      }
    if (pick < 0) // no node has room: the emptiest
      pick = static_cast<int>(std::min_element(used.begin(), used.end()) - used.begin());
    node[i] = pick;
    used[pick] += weight[i];
  }
  return node;
}

namespace {

/// share[i][n] = score[i][n] / sum over nodes (0 where the request scores nothing).
std::vector<std::vector<double>> shares_of(const std::vector<std::vector<double>>& score)
{
  auto s = score;
  for (auto& row : s) {
    const double sum = std::accumulate(row.begin(), row.end(), 0.0);
    for (double& x : row)
      x = sum > 0 ? x / sum : 0.0;
  }
  return s;
}

} // namespace

std::vector<double> balancing_prices(const std::vector<std::vector<double>>& score, const std::vector<int64_t>& weight,
                                     int nodes)
{
  const auto share = shares_of(score);
  const double total = static_cast<double>(std::accumulate(weight.begin(), weight.end(), int64_t{0}));
  std::vector<double> price(nodes, 0.0), best = price, load(nodes);
  if (total <= 0 || nodes < 2)
    return price;
  double best_over = 1e300;
  for (int it = 0; it < kPriceIterations; ++it) {
    std::fill(load.begin(), load.end(), 0.0);
    for (size_t i = 0; i < share.size(); ++i) {
      int pick = 0;
      for (int n = 1; n < nodes; ++n)
        if (share[i][n] - price[n] > share[i][pick] - price[pick])
          pick = n;
      load[pick] += static_cast<double>(weight[i]);
    }
    double over = 0; // the largest load against the equal share
    for (int n = 0; n < nodes; ++n)
      over = std::max(over, load[n] * nodes / total);
    if (over < best_over) {
      best_over = over;
      best = price;
    }
    const double step = kPriceStep / std::sqrt(1.0 + it);
    for (int n = 0; n < nodes; ++n)
      price[n] += step * (load[n] * nodes / total - 1.0);
  }
  return best;
}

std::vector<int> online_assignment(const std::vector<std::vector<double>>& score, const std::vector<int64_t>& weight,
                                   int nodes, const std::vector<double>& prices)
{
  const int64_t total = std::accumulate(weight.begin(), weight.end(), int64_t{0});
  const int64_t cap = (total + nodes - 1) / nodes;
  const auto share = shares_of(score);
  std::vector<int64_t> used(nodes, 0);
  std::vector<int> node(score.size(), 0);
  for (size_t i = 0; i < score.size(); ++i) {
    int pick = -1;
    const auto value = [&](int n) { return share[i][n] - prices[n]; };
    for (int n = 0; n < nodes; ++n) {
      if (used[n] >= cap)
        continue;
      if (pick < 0 || value(n) > value(pick) || (value(n) == value(pick) && used[n] < used[pick]))
        pick = n;
    }
    if (pick < 0) // every node is full (requests larger than the share): the emptiest
      pick = static_cast<int>(std::min_element(used.begin(), used.end()) - used.begin());
    node[i] = pick;
    used[pick] += weight[i];
  }
  return node;
}

int signature_scores(const Trace& trace, int32_t r, bool trace_has_decode, int signature_tokens,
                     const CopyNodes& copies, std::vector<double>& score)
{
  const auto& q = trace.requests[r];
  if (signature_from_prefill(trace, r, trace_has_decode)) {
    for (int64_t t = q.token_offset; t < q.token_offset + q.token_count; ++t)
      if (trace.token_phase[t] == static_cast<uint8_t>(Phase::Prefill))
        copies.add_token(trace, t, score);
    return 0;
  }
  const int n = signature_length(trace, r, signature_tokens);
  for (int64_t t = q.token_offset; t < q.token_offset + n; ++t)
    copies.add_token(trace, t, score);
  return n;
}

namespace {

/// The three starts of fit_joint on `requests`, the best returned.
JointFit fit_starts(const Trace& trace, const std::vector<int32_t>& requests, int nodes,
                    const std::vector<int>& node_primaries, uint64_t seed, int signature_tokens, bool has_decode)
{
  const auto w = served_tokens(trace, requests, has_decode);
  // Start 1: requests in label order (a task family's requests share experts), dealt into equal token shares.
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return trace.requests[requests[a]].label < trace.requests[requests[b]].label;
  });
  JointFit best = alternate(trace, requests, nodes, node_primaries, w, deal_in_order(order, w, nodes), has_decode,
                            signature_tokens);
  // Start 2: a seeded random order.
  std::mt19937_64 rng(seed ^ 0x5bd1e9955bd1e995ULL);
  std::shuffle(order.begin(), order.end(), rng);
  JointFit other = alternate(trace, requests, nodes, node_primaries, w, deal_in_order(order, w, nodes), has_decode,
                           signature_tokens);
  if (other.local_pairs > best.local_pairs)
    best = std::move(other);
  // Start 3: the activation clustering's signature assignment (k-means, k = nodes), as `activation` fits.
  const auto clusters = fit_activation_clusters(trace, requests, 0, nodes, seed);
  auto km = assign_by_signature(trace, requests, clusters, nodes, signature_tokens > 0 ? signature_tokens : 1 << 30);
  JointFit third = alternate(trace, requests, nodes, node_primaries, w, std::move(km), has_decode, signature_tokens);
  if (third.local_pairs > best.local_pairs)
    best = std::move(third);
  return best;
}

} // namespace

JointFit fit_joint(const Trace& trace, const std::vector<int32_t>& requests, int nodes,
                   const std::vector<int>& node_primaries, uint64_t seed, int signature_tokens)
{
  if (nodes < 1 || static_cast<int>(node_primaries.size()) != nodes ||
      std::accumulate(node_primaries.begin(), node_primaries.end(), 0) != trace.num_experts)
    throw InternalError("fit_joint: the primaries per node must sum to the experts");
  const bool has_decode = trace.count_phase(Phase::Decode) > 0;
  if (requests.size() <= kMaxAlternationRequests)
    return fit_starts(trace, requests, nodes, node_primaries, seed, signature_tokens, has_decode);
  // Many requests: the alternation runs on a seeded sample (arrival order kept), then every request is assigned
  // once under the placement it found.
  const auto sample = seeded_sample(requests, seed ^ 0x9e3779b97f4a7c15ULL);
  JointFit fit = fit_starts(trace, sample, nodes, node_primaries, seed, signature_tokens, has_decode);
  const int L = trace.num_layers(), E = trace.num_experts;
  std::vector<int> node_of(static_cast<size_t>(L) * E);
  for (int l = 0; l < L; ++l)
    std::copy(fit.node_of_expert[l].begin(), fit.node_of_expert[l].end(), node_of.begin() + static_cast<size_t>(l) * E);
  const auto w = served_tokens(trace, requests, has_decode);
  const auto score = primary_scores(trace, requests, node_of, nodes, has_decode);
  fit.node_of_request = assign_requests(trace, requests, node_of, nodes, w, has_decode, signature_tokens, score);
  fit.local_pairs = fit.total_pairs = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    fit.local_pairs += score[i][fit.node_of_request[i]];
    fit.total_pairs += std::accumulate(score[i].begin(), score[i].end(), 0.0);
  }
  return fit;
}

CopyNodes::CopyNodes(const Placement& placement, int num_experts, int gpus_per_node) : E_(num_experts)
{
  begin_.assign(1, 0);
  std::vector<int32_t> v;
  for (const auto& layer : placement.replicas)
    for (int e = 0; e < E_; ++e) {
      v.clear();
      for (int g : layer[e])
        v.push_back(g / gpus_per_node);
      std::sort(v.begin(), v.end());
      v.erase(std::unique(v.begin(), v.end()), v.end());
      node_.insert(node_.end(), v.begin(), v.end());
      begin_.push_back(static_cast<int32_t>(node_.size()));
    }
}

void CopyNodes::add_token(const Trace& trace, int64_t t, std::vector<double>& score) const
{
  for (int l = 0; l < trace.num_layers(); ++l) {
    const ExpertIds ex = trace.experts_of(t, l);
    const int32_t* b = begin_.data() + static_cast<size_t>(l) * E_;
    for (int j = 0; j < trace.top_k; ++j)
      for (int32_t i = b[ex[j]]; i < b[ex[j] + 1]; ++i)
        score[node_[i]] += 1;
  }
}

std::vector<std::vector<double>> local_pairs_by_node(const Trace& trace, const std::vector<int32_t>& requests,
                                                     const Placement& placement, int nodes, int gpus_per_node)
{
  const bool has_decode = trace.count_phase(Phase::Decode) > 0;
  const CopyNodes copies(placement, trace.num_experts, gpus_per_node);
  std::vector<std::vector<double>> s(requests.size(), std::vector<double>(nodes, 0.0));
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& q = trace.requests[requests[i]];
    for (int64_t t = q.token_offset; t < q.token_offset + q.token_count; ++t)
      if (serves_token(trace, t, has_decode))
        copies.add_token(trace, t, s[i]);
  }
  return s;
}

ActivationClusters node_centroids(const Trace& trace, const std::vector<int32_t>& all_fit_requests,
                                  const Placement& placement, int nodes, int gpus_per_node, uint64_t seed)
{
  // Beyond kMaxAlternationRequests, a seeded sample (arrival order kept): the centroids are means, and the sample
  // bounds the fit at scale (bench/fit_speed.sh).
  const std::vector<int32_t> fit_requests = all_fit_requests.size() > kMaxAlternationRequests
                                                 ? seeded_sample(all_fit_requests, seed ^ 0x94d049bb133111ebULL)
                                                 : all_fit_requests;
  std::vector<int64_t> w;
  for (int32_t r : fit_requests)
    w.push_back(trace.requests[r].token_count);
  const auto node_of =
      balanced_assignment(local_pairs_by_node(trace, fit_requests, placement, nodes, gpus_per_node), w, nodes);
  ActivationClusters c;
  c.k = nodes;
  c.dim = trace.num_layers() * trace.num_experts;
  c.centroids.assign(nodes, std::vector<double>(c.dim, 0.0));
  std::vector<double> weight(nodes, 0.0);
  for (size_t i = 0; i < fit_requests.size(); ++i) {
    for (const auto& [j, v] : activation_vector(trace, fit_requests[i], 0, -1))
      c.centroids[node_of[i]][j] += static_cast<double>(w[i]) * v;
    weight[node_of[i]] += static_cast<double>(w[i]);
  }
  for (int n = 0; n < nodes; ++n) {
    double norm2 = 0;
    for (double& v : c.centroids[n]) {
      v = weight[n] > 0 ? v / weight[n] : 0.0;
      norm2 += v * v;
    }
    c.centroid_norm2.push_back(norm2);
    c.node_of_cluster.push_back(n);
  }
  c.cluster_of_sample = node_of;
  return c;
}

Placement place_by_joint_fit(const PlacementContext& ctx, const std::vector<int32_t>& requests, int signature_tokens)
{
  const int E = ctx.model.num_routed_experts, N = ctx.cluster.num_nodes(), L = ctx.model.num_moe_layers();
  const int gpn = ctx.cluster.gpus_per_node();
  const SlotLayout layout = slot_layout(E, N, gpn, ctx.redundant_experts);
  std::vector<int> primaries(N);
  for (int n = 0; n < N; ++n)
    primaries[n] = layout.node_primary(n, gpn);
  const JointFit fit = fit_joint(ctx.trace, requests, N, primaries, ctx.seed, signature_tokens);
  std::vector<std::vector<int32_t>> of_node(N);
  for (size_t i = 0; i < requests.size(); ++i)
    of_node[fit.node_of_request[i]].push_back(requests[i]);
  std::vector<std::vector<std::vector<double>>> demand;
  for (int n = 0; n < N; ++n)
    demand.push_back(expert_loads(ctx.trace, of_node[n]));
  const auto coact = coactivation(ctx.trace, requests);
  const int64_t token_stride = std::max<int64_t>(1, total_tokens(ctx.trace, requests) / kCopySampleTokens);
  Placement p;
  p.replicas.assign(L, std::vector<std::vector<int>>(E));
  for (int l = 0; l < L; ++l)
    lay_out_layer(ctx, layout, l, fit.node_of_expert[l], demand, of_node, coact[l], token_stride, p.replicas[l]);
  return p;
}

} // namespace moesim::policy
