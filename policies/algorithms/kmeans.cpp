#include "algorithms/kmeans.hpp"

#include "core/io/errors.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>

namespace moesim::policy {

/// Requests the k-means centroids are fitted on at most (a seeded sample beyond that).
constexpr int kMaxClusterSample = 1024;
/// k-means restarts (the lowest weighted inertia wins) and Lloyd iterations per restart.
constexpr int kRestarts = 4;
constexpr int kMaxLloydIterations = 50;

SparseVec activation_vector(const Trace& trace, int32_t request, int max_tokens, int phase)
{
  const int L = trace.num_layers(), E = trace.num_experts, k = trace.top_k;
  const auto& q = trace.requests[request];
  // Counts in a reused dense buffer; only the touched entries are read back and cleared (O(tokens x L x k)).
  thread_local std::vector<double> dense;
  thread_local std::vector<int> touched;
  dense.resize(static_cast<size_t>(L) * E, 0.0);
  touched.clear();
  int used = 0;
  for (int64_t t = q.token_offset; t < q.token_offset + q.token_count; ++t) {
    if (phase >= 0 && trace.token_phase[t] != phase)
      continue;
    if (max_tokens > 0 && used >= max_tokens)
      break;
    ++used;
    for (int l = 0; l < L; ++l) {
      const ExpertIds ex = trace.experts_of(t, l);
      for (int j = 0; j < k; ++j) {
        const int i = l * E + ex[j];
        if (dense[i] == 0)
          touched.push_back(i);
        dense[i] += 1;
      }
    }
  }
  std::vector<double> layer_norm2(L, 0.0);
  for (int i : touched)
    layer_norm2[i / E] += dense[i] * dense[i];
  SparseVec x;
  x.reserve(touched.size());
  const double layer_scale = 1.0 / std::sqrt(static_cast<double>(L));
  for (int i : touched) {
    x.emplace_back(i, dense[i] * layer_scale / std::sqrt(layer_norm2[i / E]));
    dense[i] = 0;
  }
  return x;
}

namespace {

double dist2(const SparseVec& x, const std::vector<double>& c, double c_norm2)
{
  // |x - c|^2 = |x|^2 + |c|^2 - 2 x.c, touching only x's non-zeros.
  double xx = 0, xc = 0;
  for (auto [i, v] : x) {
    xx += v * v;
    xc += v * c[i];
  }
  return xx + c_norm2 - 2 * xc;
}

double norm2(const std::vector<double>& c)
{
  double s = 0;
  for (double v : c)
    s += v * v;
  return s;
}

} // namespace

std::vector<int> nearest_clusters(const ActivationClusters& c, const SparseVec& x)
{
  std::vector<std::pair<double, int>> d;
  for (int j = 0; j < c.k; ++j)
    d.emplace_back(dist2(x, c.centroids[j], c.centroid_norm2[j]), j);
  std::sort(d.begin(), d.end());
  std::vector<int> out;
  for (auto [v, j] : d)
    out.push_back(j);
  return out;
}

namespace {

/// Indices into the fitting requests the centroids are fitted on: all of them, or a seeded sample of
/// kMaxClusterSample (keeps fitting linear in the number of requests; docs/policies.md has the timing).
std::vector<int> cluster_sample(int n, uint64_t seed)
{
  std::vector<int> sample(n);
  std::iota(sample.begin(), sample.end(), 0);
  if (n > kMaxClusterSample) {
    std::mt19937_64 srng(seed ^ 0x2545f4914f6cdd1dULL);
    std::shuffle(sample.begin(), sample.end(), srng);
    sample.resize(kMaxClusterSample);
    std::sort(sample.begin(), sample.end());
  }
  return sample;
}

std::vector<double> dense_of(const SparseVec& x, int dim)
{
  std::vector<double> d(dim, 0.0);
  for (auto [i, v] : x)
    d[i] = v;
  return d;
}

/// k-means++ seeding: the first centroid drawn by weight, each further one by D^2 x weight.
std::vector<std::vector<double>> seed_centroids(const std::vector<SparseVec>& xs, const std::vector<double>& weight,
                                                int k, int dim, std::mt19937_64& rng)
{
  const int ns = static_cast<int>(xs.size());
  std::vector<std::vector<double>> cent;
  std::discrete_distribution<int> first(weight.begin(), weight.end());
  cent.push_back(dense_of(xs[first(rng)], dim));
  std::vector<double> best(ns, 1e300);
  while (static_cast<int>(cent.size()) < k) {
    const auto& last = cent.back();
    const double ln = norm2(last);
    std::vector<double> p(ns);
    double total = 0;
    for (int i = 0; i < ns; ++i) {
      best[i] = std::min(best[i], std::max(0.0, dist2(xs[i], last, ln)));
      p[i] = best[i] * weight[i];
      total += p[i];
    }
    int pick = 0;
    if (total > 0) {
      std::discrete_distribution<int> d(p.begin(), p.end());
      pick = d(rng);
    }
    cent.push_back(dense_of(xs[pick], dim));
  }
  return cent;
}

/// Weighted Lloyd iterations from the given centroids until no assignment changes; returns the weighted inertia.
double lloyd(const std::vector<SparseVec>& xs, const std::vector<double>& weight,
             std::vector<std::vector<double>>& cent, std::vector<int>& assign)
{
  const int ns = static_cast<int>(xs.size()), k = static_cast<int>(cent.size());
  assign.assign(ns, -1);
  double inertia = 0;
  for (int iter = 0; iter < kMaxLloydIterations; ++iter) {
    bool changed = false;
    inertia = 0;
    std::vector<double> cn(k);
    for (int j = 0; j < k; ++j)
      cn[j] = norm2(cent[j]);
    for (int i = 0; i < ns; ++i) {
      int bj = 0;
      double bd = 1e300;
      for (int j = 0; j < k; ++j) {
        const double d = dist2(xs[i], cent[j], cn[j]);
        if (d < bd) {
          bd = d;
          bj = j;
        }
      }
      inertia += weight[i] * bd;
      if (bj != assign[i]) {
        assign[i] = bj;
        changed = true;
      }
    }
    if (!changed)
      break;
    std::vector<double> mass(k, 0.0);
    for (auto& cc : cent)
      std::fill(cc.begin(), cc.end(), 0.0);
    for (int i = 0; i < ns; ++i) {
      mass[assign[i]] += weight[i];
      for (auto [d, v] : xs[i])
        cent[assign[i]][d] += weight[i] * v;
    }
    for (int j = 0; j < k; ++j)
      if (mass[j] > 0)
        for (double& v : cent[j])
          v /= mass[j];
  }
  return inertia;
}

/// Clusters to nodes, largest first onto the node with the least work so far. Work = tokens: a request holds a
/// batch slot for as many steps as it has tokens, so token volume (not request count) sets a node's token mix.
std::vector<int> clusters_to_nodes(const std::vector<int>& cluster_of_sample, const std::vector<double>& weight, int k,
                                   int nodes)
{
  std::vector<double> size(k, 0);
  for (size_t i = 0; i < cluster_of_sample.size(); ++i)
    size[cluster_of_sample[i]] += weight[i];
  std::vector<int> order(k);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return size[a] > size[b]; });
  std::vector<double> node_work(nodes, 0);
  std::vector<int> node_of_cluster(k, 0);
  for (int j : order) {
    const int node = static_cast<int>(std::min_element(node_work.begin(), node_work.end()) - node_work.begin());
    node_of_cluster[j] = node;
    node_work[node] += size[j];
  }
  return node_of_cluster;
}

} // namespace

ActivationClusters fit_activation_clusters(const Trace& trace, const std::vector<int32_t>& fit, int k, int nodes,
                                           uint64_t seed)
{
  if (k < 1)
    k = nodes;
  const int n = static_cast<int>(fit.size());
  if (n < k)
    throw UsageError("activation clustering: " + std::to_string(n) + " fitting requests for k = " + std::to_string(k) +
                     " clusters (lower --clusters or use a larger trace)");
  ActivationClusters c;
  c.k = k;
  c.dim = trace.num_layers() * trace.num_experts;
  const auto sample = cluster_sample(n, seed);
  std::vector<SparseVec> xs;
  std::vector<double> weight; // a request weighs its token count: clusters follow work, not request counts
  for (int i : sample) {
    xs.push_back(activation_vector(trace, fit[i], 0, -1));
    weight.push_back(static_cast<double>(trace.requests[fit[i]].token_count));
  }
  std::mt19937_64 rng(seed ^ 0xa0761d6478bd642fULL);
  double best_inertia = 1e300;
  for (int restart = 0; restart < kRestarts; ++restart) {
    auto cent = seed_centroids(xs, weight, k, c.dim, rng);
    std::vector<int> assign;
    const double inertia = lloyd(xs, weight, cent, assign);
    if (inertia < best_inertia) {
      best_inertia = inertia;
      c.centroids = std::move(cent);
      c.cluster_of_sample = std::move(assign);
    }
  }
  for (const auto& cc : c.centroids)
    c.centroid_norm2.push_back(norm2(cc));
  c.node_of_cluster = clusters_to_nodes(c.cluster_of_sample, weight, k, nodes);
  return c;
}

} // namespace moesim::policy
