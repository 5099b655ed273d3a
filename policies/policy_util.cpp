#include "policy_util.hpp"

#include "core/errors.hpp"

#include <metis.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace moesim::policy {

/// Requests the k-means centroids are fitted on at most (a seeded sample beyond that).
constexpr int kMaxClusterSample = 1024;
/// k-means restarts (the lowest weighted inertia wins) and Lloyd iterations per restart.
constexpr int kRestarts = 4;
constexpr int kMaxLloydIterations = 50;

int64_t total_tokens(const Trace& trace, const std::vector<int32_t>& requests)
{
  int64_t total = 0;
  for (int32_t r : requests)
    total += trace.requests[r].token_count;
  return total;
}

std::vector<std::vector<double>> expert_loads(const Trace& trace, const std::vector<int32_t>& requests)
{
  const int L = trace.num_layers(), E = trace.num_experts, k = trace.top_k;
  std::vector<std::vector<double>> load(L, std::vector<double>(E, 0.0));
  for (int32_t r : requests) {
    const auto& q = trace.requests[r];
    for (int64_t t = q.token_offset; t < q.token_offset + q.token_count; ++t)
      for (int l = 0; l < L; ++l) {
        const uint16_t* ex = trace.experts_of(t, l);
        for (int j = 0; j < k; ++j)
          load[l][ex[j]] += 1;
      }
  }
  return load;
}

int slots_per_gpu(const std::string& policy, int experts, int gpus, int redundant_per_gpu)
{
  if (experts % gpus != 0)
    throw UsageError("placement " + policy + ": " + std::to_string(experts) + " experts do not divide evenly over " +
                     std::to_string(gpus) + " GPUs");
  return experts / gpus + redundant_per_gpu;
}

void check_experts_per_node(const std::string& policy, int experts, int nodes)
{
  if (experts % nodes != 0)
    throw UsageError("placement " + policy + ": " + std::to_string(experts) + " experts do not divide over " +
                     std::to_string(nodes) + " nodes");
}

std::vector<int> balanced_packing(const std::vector<double>& weights, int packs)
{
  const int n = static_cast<int>(weights.size());
  if (packs < 1 || n % packs != 0)
    throw InternalError("balanced_packing: items do not divide over packs");
  const int per_pack = n / packs;
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return weights[a] > weights[b]; });
  std::vector<double> pack_w(packs, 0.0);
  std::vector<int> pack_n(packs, 0), pack_of(n, -1);
  for (int item : order) {
    int best = -1;
    for (int p = 0; p < packs; ++p)
      if (pack_n[p] < per_pack && (best < 0 || pack_w[p] < pack_w[best]))
        best = p;
    pack_of[item] = best;
    pack_w[best] += weights[item];
    ++pack_n[best];
  }
  return pack_of;
}

std::vector<int> replicate_experts(const std::vector<double>& weights, int physical)
{
  const int logical = static_cast<int>(weights.size());
  std::vector<int> phy2log(physical);
  std::vector<int> count(logical, 1);
  std::iota(phy2log.begin(), phy2log.begin() + logical, 0);
  for (int i = logical; i < physical; ++i) {
    int best = 0;
    for (int e = 1; e < logical; ++e)
      if (weights[e] / count[e] > weights[best] / count[best])
        best = e;
    phy2log[i] = best;
    ++count[best];
  }
  return phy2log;
}

void pack_on_gpus(const std::vector<int>& experts, const std::vector<double>& load, const std::vector<int>& gpus,
                  std::vector<std::vector<int>>& replicas)
{
  std::vector<double> w;
  for (int e : experts)
    w.push_back(load[e]);
  const auto pack = balanced_packing(w, static_cast<int>(gpus.size()));
  for (size_t i = 0; i < experts.size(); ++i)
    replicas[experts[i]].push_back(gpus[pack[i]]);
}

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
      const uint16_t* ex = trace.experts_of(t, l);
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
  // Large fitting sets: centroids from a seeded sample of requests, then every request assigned to its nearest
  // centroid (keeps fitting linear in the number of requests; see docs/policies.md for the timing).
  std::vector<int> sample(n);
  std::iota(sample.begin(), sample.end(), 0);
  if (n > kMaxClusterSample) {
    std::mt19937_64 srng(seed ^ 0x2545f4914f6cdd1dULL);
    std::shuffle(sample.begin(), sample.end(), srng);
    sample.resize(kMaxClusterSample);
    std::sort(sample.begin(), sample.end());
  }
  const int ns = static_cast<int>(sample.size());
  std::vector<SparseVec> xs;
  xs.reserve(ns);
  for (int i : sample)
    xs.push_back(activation_vector(trace, fit[i], 0, -1));
  auto dense_of = [&](const SparseVec& x) {
    std::vector<double> d(c.dim, 0.0);
    for (auto [i, v] : x)
      d[i] = v;
    return d;
  };
  // Weighted k-means: a request weighs its token count (the steps it holds a batch slot), so clusters follow work,
  // not request counts. k-means++ seeding (D^2 x weight sampling) and Lloyd iterations, best of several restarts
  // by weighted inertia.
  std::vector<double> weight(ns);
  for (int i = 0; i < ns; ++i)
    weight[i] = trace.requests[fit[sample[i]]].token_count;
  std::mt19937_64 rng(seed ^ 0xa0761d6478bd642fULL);
  double best_inertia = 1e300;
  for (int restart = 0; restart < kRestarts; ++restart) {
    std::vector<std::vector<double>> cent;
    std::discrete_distribution<int> first(weight.begin(), weight.end());
    cent.push_back(dense_of(xs[first(rng)]));
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
      cent.push_back(dense_of(xs[pick]));
    }
    std::vector<int> assign(ns, -1);
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
    if (inertia < best_inertia) {
      best_inertia = inertia;
      c.centroids = cent;
      c.cluster_of_sample = assign;
    }
  }
  c.centroid_norm2.clear();
  for (const auto& cc : c.centroids)
    c.centroid_norm2.push_back(norm2(cc));
  // Clusters to nodes, largest first onto the node with the least work so far. Work = tokens: a request holds a
  // batch slot for as many steps as it has tokens, so token volume (not request count) sets a node's token mix.
  // Cluster sizes from the sample (all fitting requests when there are at most kMaxClusterSample).
  std::vector<double> size(k, 0);
  std::vector<int> order(k);
  for (int i = 0; i < ns; ++i)
    size[c.cluster_of_sample[i]] += weight[i];
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return size[a] > size[b]; });
  std::vector<double> node_requests(nodes, 0);
  c.node_of_cluster.assign(k, 0);
  for (int j : order) {
    const int node = static_cast<int>(std::min_element(node_requests.begin(), node_requests.end()) - node_requests.begin());
    c.node_of_cluster[j] = node;
    node_requests[node] += size[j];
  }
  return c;
}

std::vector<int> assign_by_signature(const Trace& trace, const std::vector<int32_t>& requests,
                                     const ActivationClusters& clusters, int nodes, int signature_tokens,
                                     int64_t* from_prefill)
{
  const int64_t cap = (total_tokens(trace, requests) + nodes - 1) / nodes;
  const bool trace_has_decode = trace.count_phase(Phase::Decode) > 0;
  std::vector<int64_t> node_tokens(nodes, 0);
  std::vector<int> out;
  out.reserve(requests.size());
  int64_t prefill = 0;
  for (int32_t r : requests) {
    const auto& q = trace.requests[r];
    bool has_prefill = false;
    for (int64_t t = q.token_offset; t < q.token_offset + q.token_count && !has_prefill; ++t)
      has_prefill = trace.token_phase[t] == static_cast<uint8_t>(Phase::Prefill);
    // A trace where every token is prefill (teacher-forced) has no decode to hide: use its first tokens then.
    const bool use_prefill = has_prefill && trace_has_decode;
    prefill += use_prefill;
    const auto x = use_prefill ? activation_vector(trace, r, 0, static_cast<int>(Phase::Prefill))
                               : activation_vector(trace, r, signature_tokens, -1);
    int node = -1;
    for (int c : nearest_clusters(clusters, x))
      if (node_tokens[clusters.node_of_cluster[c]] < cap) {
        node = clusters.node_of_cluster[c];
        break;
      }
    node_tokens[node] += q.token_count;
    out.push_back(node);
  }
  if (from_prefill)
    *from_prefill = prefill;
  return out;
}

std::vector<std::vector<std::vector<double>>> coactivation(const Trace& trace, const std::vector<int32_t>& requests)
{
  const int E = trace.num_experts, k = trace.top_k, L = trace.num_layers();
  // Blocks of tokens small enough to stay in cache, scanned once per layer: reads of the routing and writes to
  // the layer's E x E float counts both stay local. Widened to double at the end.
  constexpr int64_t kBlockTokens = 512;
  std::vector<float> flat(static_cast<size_t>(L) * E * E, 0.0f);
  std::vector<std::pair<int64_t, int64_t>> block; // token ranges [begin, end)
  int64_t block_tokens = 0;
  auto flush = [&] {
    for (int l = 0; l < L; ++l) {
      float* m = flat.data() + static_cast<size_t>(l) * E * E;
      for (auto [b, e] : block)
        for (int64_t t = b; t < e; ++t) {
          const uint16_t* ex = trace.experts_of(t, l);
          for (int a = 0; a < k; ++a)
            for (int c = a + 1; c < k; ++c)
              m[static_cast<size_t>(ex[a]) * E + ex[c]] += 1.0f;
        }
    }
    block.clear();
    block_tokens = 0;
  };
  for (int32_t r : requests) {
    const auto& q = trace.requests[r];
    for (int64_t t = q.token_offset; t < q.token_offset + q.token_count; t += kBlockTokens) {
      const int64_t e = std::min<int64_t>(q.token_offset + q.token_count, t + kBlockTokens);
      block.emplace_back(t, e);
      block_tokens += e - t;
      if (block_tokens >= kBlockTokens)
        flush();
    }
  }
  flush();
  std::vector<std::vector<std::vector<double>>> w(L, std::vector<std::vector<double>>(E, std::vector<double>(E, 0.0)));
  for (int l = 0; l < L; ++l) {
    const float* m = flat.data() + static_cast<size_t>(l) * E * E;
    for (int a = 0; a < E; ++a)
      for (int b = 0; b < E; ++b)
        if (a != b) { // a token's top-k experts are distinct: the diagonal stays empty
          w[l][a][b] += m[static_cast<size_t>(a) * E + b];
          w[l][b][a] += m[static_cast<size_t>(a) * E + b];
        }
  }
  return w;
}

std::vector<std::vector<int>> eplb_layer(const std::vector<double>& w, int physical, int n_groups, int nodes, int gpus)
{
  const int E = static_cast<int>(w.size());
  const int group_size = E / n_groups, groups_per_node = n_groups / nodes;
  const int experts_per_node = E / nodes, phy_per_node = physical / nodes, gpus_per_node = gpus / nodes;
  std::vector<std::vector<int>> replicas(E);
  // Step 1: groups onto nodes.
  std::vector<double> group_w(n_groups, 0.0);
  for (int e = 0; e < E; ++e)
    group_w[e / group_size] += w[e];
  const auto group_node = balanced_packing(group_w, nodes);
  for (int node = 0; node < nodes; ++node) {
    std::vector<int> experts; // logical experts of this node, in group order
    for (int g = 0; g < n_groups; ++g)
      if (group_node[g] == node)
        for (int i = 0; i < group_size; ++i)
          experts.push_back(g * group_size + i);
    if (static_cast<int>(experts.size()) != experts_per_node || groups_per_node * group_size != experts_per_node)
      throw InternalError("eplb: node packing broke the group balance");
    // Step 2: replicate inside the node.
    std::vector<double> node_w;
    for (int e : experts)
      node_w.push_back(w[e]);
    const auto phy2log = replicate_experts(node_w, phy_per_node);
    std::vector<int> count(experts.size(), 0);
    for (int x : phy2log)
      ++count[x];
    // Step 3: replicas onto the node's GPUs by load per replica.
    std::vector<double> phy_w;
    for (int x : phy2log)
      phy_w.push_back(node_w[x] / count[x]);
    const auto gpu_of = balanced_packing(phy_w, gpus_per_node);
    for (size_t i = 0; i < phy2log.size(); ++i)
      replicas[experts[phy2log[i]]].push_back(node * gpus_per_node + gpu_of[i]);
  }
  return replicas;
}

void exchange_between_nodes(const std::vector<std::vector<std::vector<double>>>& demand, int l,
                            std::vector<int>& node_of)
{
  const int E = static_cast<int>(node_of.size());
  for (bool improved = true; improved;) {
    improved = false;
    for (int a = 0; a < E; ++a)
      for (int b = a + 1; b < E; ++b) {
        const int na = node_of[a], nb = node_of[b];
        if (na != nb && demand[nb][l][a] + demand[na][l][b] > demand[na][l][a] + demand[nb][l][b]) {
          node_of[a] = nb;
          node_of[b] = na;
          improved = true;
        }
      }
  }
}

std::vector<CopySets> remote_copy_sets(const Trace& trace, const std::vector<std::vector<int32_t>>& requests_of_node,
                                       const std::vector<int>& node_of, int l, int64_t stride)
{
  const int N = static_cast<int>(requests_of_node.size()), E = static_cast<int>(node_of.size());
  std::vector<int> bit(E, 0), count(N, 0); // bit of each expert in its node's sets: the order of experts there
  for (int e = 0; e < E; ++e)
    bit[e] = count[node_of[e]]++;
  std::vector<CopySets> sets(N);
  std::vector<ExpertSet> m(N);
  std::vector<int> members(N, 0), touched;
  for (int src = 0; src < N; ++src)
    for (int32_t r : requests_of_node[src]) {
      const auto& q = trace.requests[r];
      for (int64_t t = q.token_offset; t < q.token_offset + q.token_count; ++t) {
        if (t % stride != 0)
          continue;
        const uint16_t* ex = trace.experts_of(t, l);
        for (int j = 0; j < trace.top_k; ++j) {
          const int n = node_of[ex[j]];
          if (n == src || bit[ex[j]] >= kCopySetExperts)
            continue;
          if (members[n]++ == 0)
            touched.push_back(n);
          m[n].set(static_cast<size_t>(bit[ex[j]]));
        }
        for (int n : touched) {
          if (members[n] >= 2) // routing ids are distinct per token: members = bits set
            sets[n][m[n]] += 1;
          m[n].reset();
          members[n] = 0;
        }
        touched.clear();
      }
    }
  return sets;
}

/// Passes of refine_copies over all expert pairs (it stops earlier when a pass finds nothing to improve).
constexpr int kRefinePasses = 8;

void refine_copies(const CopySets& sets, const std::vector<double>& load, int parts, double max_load,
                   std::vector<int>& part)
{
  const int n = static_cast<int>(load.size());
  if (sets.empty() || n > kCopySetExperts || parts > 64)
    return;
  // Each set as a list of its experts: set i = member[begin[i] .. begin[i + 1]).
  std::vector<int32_t> begin{0}, member;
  std::vector<double> weight;
  std::vector<std::vector<int32_t>> sets_of(n); // expert -> indices of the sets that contain it
  for (const auto& [s, w] : sets) {
    const auto i = static_cast<int32_t>(weight.size());
    for (int e = 0; e < n; ++e)
      if (s.test(static_cast<size_t>(e))) {
        member.push_back(e);
        sets_of[e].push_back(i);
      }
    begin.push_back(static_cast<int32_t>(member.size()));
    weight.push_back(w);
  }
  std::vector<double> pl(parts, 0.0);
  for (int v = 0; v < n; ++v)
    pl[part[v]] += load[v];
  const double limit = std::max(max_load, *std::max_element(pl.begin(), pl.end()));
  const auto copies = [&](int32_t i, int a, int pa, int b, int pb) { // GPUs set i touches, a -> pa, b -> pb
    uint64_t gpus = 0;
    int count = 0;
    for (int32_t k = begin[i]; k < begin[i + 1]; ++k) {
      const int e = member[k];
      const uint64_t g = uint64_t{1} << (e == a ? pa : e == b ? pb : part[e]);
      count += (gpus & g) == 0;
      gpus |= g;
    }
    return count;
  };
  const auto contains = [&](int32_t i, int e) {
    return std::binary_search(member.begin() + begin[i], member.begin() + begin[i + 1], e);
  };
  // First-improvement passes over all pairs (each pass costs what one best-swap search would).
  for (int pass = 0; pass < kRefinePasses; ++pass) {
    bool improved = false;
    for (int a = 0; a < n; ++a)
      for (int b = a + 1; b < n; ++b) {
        const int pa = part[a], pb = part[b];
        if (pa == pb || pl[pa] - load[a] + load[b] > limit || pl[pb] - load[b] + load[a] > limit)
          continue;
        double delta = 0;
        for (int x : {a, b})
          for (int32_t i : sets_of[x]) {
            if (contains(i, x == a ? b : a)) // both move: the set of GPUs is the same
              continue;
            delta += weight[i] * (copies(i, a, pb, b, pa) - copies(i, -1, 0, -1, 0));
          }
        if (delta < 0) {
          pl[pa] += load[b] - load[a];
          pl[pb] += load[a] - load[b];
          std::swap(part[a], part[b]);
          improved = true;
        }
      }
    if (!improved)
      return;
  }
}

int NodeDealer::deal(int node, int64_t tokens)
{
  int best = node * gpn_;
  for (int g = node * gpn_; g < (node + 1) * gpn_; ++g)
    if (tokens_[g] < tokens_[best])
      best = g;
  tokens_[best] += tokens;
  return best;
}

std::vector<int> partition(const std::vector<std::vector<double>>& w, int parts, uint64_t seed,
                           const std::vector<double>& vertex_weight)
{
  const int E = static_cast<int>(w.size());
  std::vector<int> part(E, 0);
  if (parts == 1)
    return part;
  std::vector<idx_t> xadj{0}, adj, adjw;
  for (int a = 0; a < E; ++a) {
    for (int b = 0; b < E; ++b)
      if (a != b && w[a][b] > 0) {
        adj.push_back(b);
        adjw.push_back(static_cast<idx_t>(std::min(w[a][b], 1e9)));
      }
    xadj.push_back(static_cast<idx_t>(adj.size()));
  }
  idx_t nv = E, ncon = 1, np = parts, objval = 0;
  // Vertex weights (scaled to integers) make METIS balance load; without them it balances counts.
  std::vector<idx_t> vw;
  if (!vertex_weight.empty()) {
    const double mx = std::max(1e-12, *std::max_element(vertex_weight.begin(), vertex_weight.end()));
    for (double v : vertex_weight)
      vw.push_back(1 + static_cast<idx_t>(1000.0 * v / mx));
  }
  std::vector<idx_t> out(E, 0);
  idx_t options[METIS_NOPTIONS];
  METIS_SetDefaultOptions(options);
  options[METIS_OPTION_SEED] = static_cast<idx_t>(seed & 0x7fffffff);
  options[METIS_OPTION_UFACTOR] = 1; // 0.1% imbalance in vertex counts
  if (adj.empty()) {
    // No co-activation at all (top-1 routing, e.g. Llama 4): every split cuts nothing, so balance counts and
    // load as the partitioner would.
    if (E % parts != 0)
      throw InternalError("partition: " + std::to_string(E) + " vertices do not divide over " +
                          std::to_string(parts) + " parts");
    return balanced_packing(vertex_weight.empty() ? std::vector<double>(E, 1.0) : vertex_weight, parts);
  }
  const int rc = METIS_PartGraphKway(&nv, &ncon, xadj.data(), adj.data(), vw.empty() ? nullptr : vw.data(), nullptr, adjw.data(), &np, nullptr,
                                     nullptr, options, &objval, out.data());
  if (rc != METIS_OK)
    throw InternalError("METIS_PartGraphKway failed with code " + std::to_string(rc));
  for (int e = 0; e < E; ++e)
    part[e] = static_cast<int>(out[e]);
  // Exact balance: move the expert with the weakest tie to its part into an under-full part, until balanced.
  const int cap = E / parts;
  for (;;) {
    std::vector<int> size(parts, 0);
    for (int p : part)
      ++size[p];
    int over = -1, under = -1;
    for (int p = 0; p < parts; ++p) {
      if (size[p] > cap && over < 0)
        over = p;
      if (size[p] < cap && under < 0)
        under = p;
    }
    if (over < 0)
      break;
    int best = -1;
    double best_gain = -1e300;
    for (int e = 0; e < E; ++e) {
      if (part[e] != over)
        continue;
      double to_over = 0, to_under = 0;
      for (int b = 0; b < E; ++b) {
        if (part[b] == over && b != e)
          to_over += w[e][b];
        if (part[b] == under)
          to_under += w[e][b];
      }
      if (to_under - to_over > best_gain) {
        best_gain = to_under - to_over;
        best = e;
      }
    }
    part[best] = under;
  }
  return part;
}

} // namespace moesim::policy
