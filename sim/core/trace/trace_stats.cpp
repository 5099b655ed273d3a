#include "core/trace/trace_stats.hpp"

#include "core/io/atomic_file.hpp"
#include "core/io/errors.hpp"
#include "core/io/h5.hpp"
#include "core/trace/split.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

namespace moesim {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> shares(const std::vector<double>& v)
{
  const double s = std::accumulate(v.begin(), v.end(), 0.0);
  std::vector<double> out(v.size(), 0.0);
  if (s > 0)
    for (size_t i = 0; i < v.size(); ++i)
      out[i] = v[i] / s;
  return out;
}

double mean_finite(const std::vector<double>& v)
{
  double s = 0;
  int n = 0;
  for (double x : v)
    if (std::isfinite(x)) {
      s += x;
      ++n;
    }
  return n ? s / n : kNaN;
}

} // namespace

double zipf_exponent(const std::vector<double>& counts)
{
  std::vector<double> c = counts;
  std::sort(c.begin(), c.end(), std::greater<>());
  const size_t half = (c.size() + 1) / 2;
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  int n = 0;
  for (size_t i = 0; i < half && c[i] > 0; ++i) {
    const double x = std::log(static_cast<double>(i + 1)), y = std::log(c[i]);
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
    ++n;
  }
  if (n < 2)
    return kNaN;
  const double den = n * sxx - sx * sx;
  return den > 0 ? -(n * sxy - sx * sy) / den : kNaN;
}

double overlap_coefficient(const std::vector<double>& a, const std::vector<double>& b)
{
  const auto pa = shares(a), pb = shares(b);
  double s = 0;
  for (size_t i = 0; i < pa.size(); ++i)
    s += std::min(pa[i], pb[i]);
  return s;
}

double js_divergence(const std::vector<double>& a, const std::vector<double>& b)
{
  const auto pa = shares(a), pb = shares(b);
  double d = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    const double m = 0.5 * (pa[i] + pb[i]);
    if (pa[i] > 0)
      d += 0.5 * pa[i] * std::log2(pa[i] / m);
    if (pb[i] > 0)
      d += 0.5 * pb[i] * std::log2(pb[i] / m);
  }
  return std::clamp(d, 0.0, 1.0);
}

double pearson(const std::vector<double>& a, const std::vector<double>& b)
{
  const size_t n = a.size();
  if (n == 0 || b.size() != n)
    return kNaN;
  const double ma = std::accumulate(a.begin(), a.end(), 0.0) / n, mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < n; ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : kNaN;
}

double gini(std::vector<double> v)
{
  const size_t n = v.size();
  const double total = std::accumulate(v.begin(), v.end(), 0.0);
  if (n == 0 || total <= 0)
    return kNaN;
  std::sort(v.begin(), v.end());
  double s = 0;
  for (size_t i = 0; i < n; ++i)
    s += static_cast<double>(i + 1) * v[i];
  return 2 * s / (static_cast<double>(n) * total) - static_cast<double>(n + 1) / static_cast<double>(n);
}

int top_set_size(int num_experts, int top_k) { return std::min(num_experts, std::max(top_k, (num_experts + 7) / 8)); }

namespace {

/// Counts of one pass over every token (windows are decode steps when the trace has decode tokens, else token
/// indices in the request).
struct TokenCounts {
  std::vector<int64_t> window_load; ///< [W][L][E]
  std::vector<int64_t> pairs;       ///< [L][E][E], a < b: tokens choosing both experts (top_k > 1)
};

TokenCounts count_tokens(const Trace& t, const TraceStatsOptions& opt, TraceStats& s)
{
  const int E = t.num_experts, K = t.top_k, L = t.num_layers();
  const size_t LE = static_cast<size_t>(L) * E;
  TokenCounts c;
  c.pairs.assign(K > 1 ? LE * E : 0, 0);
  for (size_t r = 0; r < t.requests.size(); ++r) {
    const auto& q = t.requests[r];
    s.label_requests[q.label] += 1;
    s.label_tokens[q.label] += q.token_count;
    int step = 0;
    for (int64_t tok = q.token_offset; tok < q.token_offset + q.token_count; ++tok) {
      const bool windowed = !s.windows_over_decode || t.token_phase[tok] == static_cast<uint8_t>(Phase::Decode);
      const int w = windowed ? step++ / opt.window_steps : -1;
      if (w >= 0 && static_cast<size_t>(w + 1) * LE > c.window_load.size()) {
        c.window_load.resize(static_cast<size_t>(w + 1) * LE, 0);
        s.window_tokens.resize(w + 1, 0);
      }
      if (w >= 0)
        s.window_tokens[w] += 1;
      for (int l = 0; l < L; ++l) {
        const ExpertIds ex = t.experts_of(tok, l);
        for (int j = 0; j < K; ++j) {
          const size_t i = static_cast<size_t>(l) * E + ex[j];
          s.load[i] += 1;
          s.label_load[static_cast<size_t>(q.label) * LE + i] += 1;
          if (w >= 0)
            c.window_load[static_cast<size_t>(w) * LE + i] += 1;
          for (int j2 = j + 1; j2 < K; ++j2) {
            const int a = std::min(ex[j], ex[j2]), b = std::max(ex[j], ex[j2]);
            c.pairs[(static_cast<size_t>(l) * E + a) * E + b] += 1;
          }
        }
      }
    }
  }
  return c;
}

/// Per layer: the sum and count over requests with both phases of pearson(prefill counts, decode counts).
void prefill_decode_correlation(const Trace& t, std::vector<double>& corr_sum, std::vector<int64_t>& corr_n)
{
  const int E = t.num_experts, K = t.top_k, L = t.num_layers();
  const size_t LE = static_cast<size_t>(L) * E;
  corr_sum.assign(L, 0.0);
  corr_n.assign(L, 0);
  std::vector<double> pre(LE), dec(LE), a(E), b(E);
  for (const auto& q : t.requests) {
    std::fill(pre.begin(), pre.end(), 0.0);
    std::fill(dec.begin(), dec.end(), 0.0);
    bool has_pre = false, has_dec = false;
    for (int64_t tok = q.token_offset; tok < q.token_offset + q.token_count; ++tok) {
      const bool is_dec = t.token_phase[tok] == static_cast<uint8_t>(Phase::Decode);
      (is_dec ? has_dec : has_pre) = true;
      auto& v = is_dec ? dec : pre;
      for (int l = 0; l < L; ++l) {
        const ExpertIds ex = t.experts_of(tok, l);
        for (int j = 0; j < K; ++j)
          v[static_cast<size_t>(l) * E + ex[j]] += 1;
      }
    }
    if (!has_pre || !has_dec)
      continue;
    for (int l = 0; l < L; ++l) {
      std::copy_n(pre.begin() + static_cast<long>(l) * E, E, a.begin());
      std::copy_n(dec.begin() + static_cast<long>(l) * E, E, b.begin());
      const double c = pearson(a, b);
      if (std::isfinite(c)) {
        corr_sum[l] += c;
        corr_n[l] += 1;
      }
    }
  }
}

/// Load imbalance of layer l over the whole trace (max/mean, CV, Gini) and per step window.
void layer_imbalance(const TokenCounts& c, int l, TraceStats& s, LayerStats& ls)
{
  const int E = s.num_experts, K = s.top_k, L = s.num_layers, W = static_cast<int>(s.window_tokens.size());
  std::vector<double> col(E);
  for (int e = 0; e < E; ++e)
    col[e] = static_cast<double>(s.load[static_cast<size_t>(l) * E + e]);
  const double mean = std::accumulate(col.begin(), col.end(), 0.0) / E;
  double var = 0;
  for (double x : col)
    var += (x - mean) * (x - mean);
  ls.max_mean = mean > 0 ? *std::max_element(col.begin(), col.end()) / mean : kNaN;
  ls.cv = mean > 0 ? std::sqrt(var / E) / mean : kNaN;
  ls.gini = gini(col);
  std::vector<double> wmm;
  for (int w = 0; w < W; ++w) {
    if (s.window_tokens[w] * K < 8 * E)
      continue;
    double sum = 0, mx = 0;
    for (int e = 0; e < E; ++e) {
      const double x = static_cast<double>(c.window_load[(static_cast<size_t>(w) * L + l) * E + e]);
      sum += x;
      mx = std::max(mx, x);
    }
    const double v = sum > 0 ? mx / (sum / E) : kNaN;
    s.window_max_mean[static_cast<size_t>(w) * L + l] = v;
    wmm.push_back(v);
  }
  ls.window_max_mean_mean = mean_finite(wmm);
  ls.window_max_mean_max = wmm.empty() ? kNaN : *std::max_element(wmm.begin(), wmm.end());
}

/// Sums over layers of the label-pair matrices and of each label's Zipf exponent (finalised by label_means).
struct LabelSums {
  std::vector<double> js, overlap, top; ///< [NL][NL]
  std::vector<double> zipf;             ///< [NL]
  std::vector<int> zipf_n;              ///< [NL]
  explicit LabelSums(int NL)
      : js(static_cast<size_t>(NL) * NL, 0.0), overlap(js.size(), 0.0), top(js.size(), 0.0), zipf(NL, 0.0),
        zipf_n(NL, 0)
  {
  }
};

/// Domain specificity of layer l: each label's top experts and Zipf exponent, and the JS divergence, overlap and
/// top-set overlap of every label pair.
void layer_domain_specificity(int l, TraceStats& s, LayerStats& ls, LabelSums& sums)
{
  const int E = s.num_experts, L = s.num_layers, NL = static_cast<int>(s.labels.size());
  const size_t LE = static_cast<size_t>(L) * E;
  std::vector<std::vector<double>> pop(NL, std::vector<double>(E));
  std::vector<std::vector<char>> in_top(NL, std::vector<char>(E, 0));
  std::vector<double> zl;
  for (int a = 0; a < NL; ++a) {
    for (int e = 0; e < E; ++e)
      pop[a][e] = static_cast<double>(s.label_load[static_cast<size_t>(a) * LE + static_cast<size_t>(l) * E + e]);
    if (s.label_tokens[a] == 0)
      continue;
    std::vector<int> order(E);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return pop[a][x] > pop[a][y]; });
    for (int i = 0; i < s.top_n; ++i) {
      s.top_experts[(static_cast<size_t>(a) * L + l) * s.top_n + i] = order[i];
      in_top[a][order[i]] = 1;
    }
    const double z = zipf_exponent(pop[a]);
    zl.push_back(z);
    if (std::isfinite(z)) {
      sums.zipf[a] += z;
      sums.zipf_n[a] += 1;
    }
  }
  ls.zipf = mean_finite(zl);
  std::vector<double> js_l, ov_l, top_l;
  for (int a = 0; a < NL; ++a)
    for (int b = a + 1; b < NL; ++b) {
      if (s.label_tokens[a] == 0 || s.label_tokens[b] == 0)
        continue;
      const double js = js_divergence(pop[a], pop[b]), ov = overlap_coefficient(pop[a], pop[b]);
      int common = 0;
      for (int e = 0; e < E; ++e)
        common += in_top[a][e] && in_top[b][e];
      const double top = static_cast<double>(common) / s.top_n;
      js_l.push_back(js);
      ov_l.push_back(ov);
      top_l.push_back(top);
      for (auto [x, y] : {std::pair{a, b}, std::pair{b, a}}) {
        sums.js[static_cast<size_t>(x) * NL + y] += js;
        sums.overlap[static_cast<size_t>(x) * NL + y] += ov;
        sums.top[static_cast<size_t>(x) * NL + y] += top;
      }
    }
  ls.js = mean_finite(js_l);
  ls.overlap = mean_finite(ov_l);
  ls.top_overlap = mean_finite(top_l);
}

/// Share of co-activated token pairs of layer l covered by the top 1% of expert pairs (NaN under top-1 routing).
double coactivation_top1pct(const TokenCounts& c, int l, int E, int K)
{
  if (K <= 1)
    return kNaN;
  std::vector<int64_t> pl;
  pl.reserve(static_cast<size_t>(E) * (E - 1) / 2);
  for (int a = 0; a < E; ++a)
    for (int b = a + 1; b < E; ++b)
      pl.push_back(c.pairs[(static_cast<size_t>(l) * E + a) * E + b]);
  const double total = static_cast<double>(std::accumulate(pl.begin(), pl.end(), int64_t{0}));
  const size_t n_top = std::max<size_t>(1, static_cast<size_t>(std::ceil(0.01 * static_cast<double>(pl.size()))));
  std::nth_element(pl.begin(), pl.begin() + static_cast<long>(n_top) - 1, pl.end(), std::greater<>());
  const double top = static_cast<double>(std::accumulate(pl.begin(), pl.begin() + static_cast<long>(n_top), int64_t{0}));
  return total > 0 ? top / total : kNaN;
}

/// The label matrices as means over layers (1 on the diagonal, 0 for JS) and each label's mean Zipf exponent.
void label_means(const LabelSums& sums, TraceStats& s)
{
  const int NL = static_cast<int>(s.labels.size()), L = s.num_layers;
  s.label_zipf.resize(NL);
  for (int a = 0; a < NL; ++a)
    s.label_zipf[a] = sums.zipf_n[a] ? sums.zipf[a] / sums.zipf_n[a] : kNaN;
  s.label_js = sums.js;
  s.label_overlap = sums.overlap;
  s.label_top_overlap = sums.top;
  for (int a = 0; a < NL; ++a)
    for (int b = 0; b < NL; ++b) {
      const size_t i = static_cast<size_t>(a) * NL + b;
      if (a == b) {
        s.label_js[i] = 0;
        s.label_overlap[i] = s.label_top_overlap[i] = 1;
      } else {
        s.label_js[i] /= L;
        s.label_overlap[i] /= L;
        s.label_top_overlap[i] /= L;
      }
    }
}

void overall_means(TraceStats& s)
{
  auto overall = [&](double LayerStats::*m) {
    std::vector<double> v;
    for (const auto& ls : s.layers)
      v.push_back(ls.*m);
    return mean_finite(v);
  };
  s.max_mean = overall(&LayerStats::max_mean);
  s.cv = overall(&LayerStats::cv);
  s.gini_mean = overall(&LayerStats::gini);
  s.zipf = overall(&LayerStats::zipf);
  s.js = overall(&LayerStats::js);
  s.overlap = overall(&LayerStats::overlap);
  s.top_overlap = overall(&LayerStats::top_overlap);
  s.pd_correlation = overall(&LayerStats::pd_correlation);
  s.coactivation_top1pct = overall(&LayerStats::coactivation_top1pct);
}

/// A request's first signature_tokens tokens as per-layer L2-normalised expert counts ([L][E]).
void signature_feature(const Trace& t, int32_t r, int signature_tokens, std::vector<double>& f)
{
  const int E = t.num_experts, K = t.top_k, L = t.num_layers();
  std::fill(f.begin(), f.end(), 0.0);
  const auto& q = t.requests[r];
  const int64_t n = std::min<int64_t>(q.token_count, signature_tokens);
  for (int64_t tok = q.token_offset; tok < q.token_offset + n; ++tok)
    for (int l = 0; l < L; ++l) {
      const ExpertIds ex = t.experts_of(tok, l);
      for (int j = 0; j < K; ++j)
        f[static_cast<size_t>(l) * E + ex[j]] += 1;
    }
  for (int l = 0; l < L; ++l) {
    double nn = 0;
    for (int e = 0; e < E; ++e)
      nn += f[static_cast<size_t>(l) * E + e] * f[static_cast<size_t>(l) * E + e];
    nn = std::sqrt(nn);
    if (nn > 0)
      for (int e = 0; e < E; ++e)
        f[static_cast<size_t>(l) * E + e] /= nn;
  }
}

/// Nearest-centroid classification of the label from the first tokens: centroids per label fitted on one split,
/// accuracy on the other. NaN (and a note in classify_source) when no label can be split.
void classify_labels(const Trace& t, const TraceStatsOptions& opt, TraceStats& s)
{
  const int NL = static_cast<int>(t.labels.size());
  const size_t LE = static_cast<size_t>(t.num_layers()) * t.num_experts;
  s.classify_source = t.count_phase(Phase::Prefill) > 0 ? "first prefill tokens" : "first decode tokens";
  s.classify_accuracy = kNaN;
  int labels_present = 0;
  bool splittable = false; // a label with requests on both sides of the split
  for (int a = 0; a < NL; ++a) {
    labels_present += s.label_requests[a] > 0;
    splittable = splittable || s.label_requests[a] >= 2;
  }
  if (!splittable)
    s.classify_source += " (not enough requests per label to hold any out)";
  if (labels_present < 2 || !splittable)
    return;
  const RequestSplit split = split_requests(t, opt.train_fraction, opt.seed);
  std::vector<double> centroid(static_cast<size_t>(NL) * LE, 0.0), f(LE);
  std::vector<int64_t> members(NL, 0);
  for (int32_t r : split.fit) {
    signature_feature(t, r, opt.signature_tokens, f);
    const int a = t.requests[r].label;
    members[a] += 1;
    for (size_t i = 0; i < LE; ++i)
      centroid[static_cast<size_t>(a) * LE + i] += f[i];
  }
  for (int a = 0; a < NL; ++a)
    if (members[a])
      for (size_t i = 0; i < LE; ++i)
        centroid[static_cast<size_t>(a) * LE + i] /= static_cast<double>(members[a]);
  int64_t right = 0;
  for (int32_t r : split.serve) {
    signature_feature(t, r, opt.signature_tokens, f);
    int best = -1;
    double best_d = std::numeric_limits<double>::infinity();
    for (int a = 0; a < NL; ++a) {
      if (!members[a])
        continue;
      double d = 0;
      for (size_t i = 0; i < LE; ++i) {
        const double x = f[i] - centroid[static_cast<size_t>(a) * LE + i];
        d += x * x;
      }
      if (d < best_d) {
        best_d = d;
        best = a;
      }
    }
    s.classify_test.push_back(r);
    s.classify_predicted.push_back(best);
    right += best == t.requests[r].label;
  }
  s.classify_accuracy = static_cast<double>(right) / static_cast<double>(split.serve.size());
}

} // namespace

TraceStats compute_trace_stats(const Trace& t, const TraceStatsOptions& opt)
{
  if (opt.window_steps < 1)
    throw UsageError("--window must be at least 1");
  if (opt.signature_tokens < 1)
    throw UsageError("--signature-tokens must be at least 1");
  TraceStats s;
  s.model_name = t.model_name;
  s.num_experts = t.num_experts;
  s.top_k = t.top_k;
  s.num_layers = t.num_layers();
  s.labels = t.labels;
  s.options = opt;
  const int E = t.num_experts, L = t.num_layers(), NL = static_cast<int>(t.labels.size());
  const size_t LE = static_cast<size_t>(L) * E;
  s.top_n = top_set_size(E, t.top_k);
  s.label_requests.assign(NL, 0);
  s.label_tokens.assign(NL, 0);
  s.load.assign(LE, 0);
  s.label_load.assign(static_cast<size_t>(NL) * LE, 0);
  s.windows_over_decode = t.count_phase(Phase::Decode) > 0;

  const TokenCounts counts = count_tokens(t, opt, s);
  std::vector<double> corr_sum;
  std::vector<int64_t> corr_n;
  prefill_decode_correlation(t, corr_sum, corr_n);

  s.window_max_mean.assign(s.window_tokens.size() * L, kNaN);
  s.top_experts.assign(static_cast<size_t>(NL) * L * s.top_n, -1);
  LabelSums sums(NL);
  for (int l = 0; l < L; ++l) {
    LayerStats ls;
    ls.layer = t.moe_layers[l];
    layer_imbalance(counts, l, s, ls);
    layer_domain_specificity(l, s, ls, sums);
    ls.pd_requests = corr_n[l];
    ls.pd_correlation = corr_n[l] ? corr_sum[l] / static_cast<double>(corr_n[l]) : kNaN;
    ls.coactivation_top1pct = coactivation_top1pct(counts, l, E, t.top_k);
    s.layers.push_back(ls);
  }
  label_means(sums, s);
  overall_means(s);
  classify_labels(t, opt, s);
  return s;
}

void write_trace_stats(const TraceStats& s, const std::string& path)
{
  AtomicFile out(path);
  {
    h5::File f = h5::File::create(out.temp_path());
    auto root = h5::root(f);
    const hsize_t L = s.num_layers, E = s.num_experts, NL = s.labels.size();
    h5::write_attr(root, "schema", std::string("moesim-trace-stats"));
    h5::write_attr(root, "schema_version", int64_t{1});
    h5::write_attr(root, "model_name", s.model_name);
    h5::write_attr(root, "num_experts", int64_t{s.num_experts});
    h5::write_attr(root, "top_k", int64_t{s.top_k});
    h5::write_attr(root, "top_n", int64_t{s.top_n});
    h5::write_attr(root, "window_steps", int64_t{s.options.window_steps});
    h5::write_attr(root, "windows_over", std::string(s.windows_over_decode ? "decode steps" : "tokens of the request"));
    h5::write_attr(root, "signature_tokens", int64_t{s.options.signature_tokens});
    h5::write_attr(root, "train_fraction", s.options.train_fraction);
    h5::write_attr(root, "seed", static_cast<int64_t>(s.options.seed));
    h5::write_attr(root, "classify_source", s.classify_source);
    h5::write_attr(root, "classify_accuracy", s.classify_accuracy);
    for (auto [name, v] : {std::pair{"max_mean", s.max_mean}, {"cv", s.cv}, {"gini", s.gini_mean}, {"zipf", s.zipf},
                           {"js", s.js}, {"overlap", s.overlap}, {"top_overlap", s.top_overlap},
                           {"pd_correlation", s.pd_correlation}, {"coactivation_top1pct", s.coactivation_top1pct}})
      h5::write_attr(root, name, v);
    h5::write_strings(root, "labels", s.labels);
    h5::write_vector(root, "label_requests", s.label_requests);
    h5::write_vector(root, "label_tokens", s.label_tokens);

    std::vector<double> cols[11];
    std::vector<int64_t> layer, pd_n;
    for (const auto& ls : s.layers) {
      layer.push_back(ls.layer);
      pd_n.push_back(ls.pd_requests);
      const double v[] = {ls.max_mean, ls.cv, ls.gini, ls.window_max_mean_mean, ls.window_max_mean_max, ls.zipf,
                          ls.js, ls.overlap, ls.top_overlap, ls.pd_correlation, ls.coactivation_top1pct};
      for (int i = 0; i < 11; ++i)
        cols[i].push_back(v[i]);
    }
    const char* names[] = {"max_mean", "cv", "gini", "window_max_mean_mean", "window_max_mean_max", "zipf",
                           "js", "overlap", "top_overlap", "pd_correlation", "coactivation_top1pct"};
    h5::CompoundWriter table;
    table.add_int("layer", &layer);
    for (int i = 0; i < 11; ++i)
      table.add_double(names[i], &cols[i]);
    table.add_int("pd_requests", &pd_n);
    table.write(root, "layers");

    h5::write_dataset(root, "load", s.load, {L, E});
    h5::write_dataset(root, "label_load", s.label_load, {NL, L, E});
    h5::write_dataset(root, "top_experts", s.top_experts, {NL, L, static_cast<hsize_t>(s.top_n)});
    h5::write_dataset(root, "window_max_mean", s.window_max_mean, {s.window_tokens.size(), L});
    h5::write_vector(root, "window_tokens", s.window_tokens);
    h5::write_vector(root, "label_zipf", s.label_zipf);
    h5::write_dataset(root, "label_js", s.label_js, {NL, NL});
    h5::write_dataset(root, "label_overlap", s.label_overlap, {NL, NL});
    h5::write_dataset(root, "label_top_overlap", s.label_top_overlap, {NL, NL});
    h5::write_vector(root, "classify_test", s.classify_test);
    h5::write_vector(root, "classify_predicted", s.classify_predicted);
  }
  out.commit();
}

std::string format_trace_stats(const TraceStats& s)
{
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(3);
  const int NL = static_cast<int>(s.labels.size());
  os << "trace of " << s.model_name << ": " << s.num_layers << " MoE layers, " << s.num_experts << " experts, top-"
     << s.top_k << "\n\noverall (mean over layers)\n"
     << "  load imbalance     max/mean " << s.max_mean << "  CV " << s.cv << "  Gini " << s.gini_mean << "\n"
     << "  label popularity   Zipf exponent " << s.zipf << "  JS divergence " << s.js << "  overlap " << s.overlap
     << "  top-" << s.top_n << " overlap " << s.top_overlap << "\n"
     << "  prefill/decode     Pearson " << s.pd_correlation << (std::isfinite(s.pd_correlation) ? "" : " (no request has both phases)") << "\n"
     << "  label from first " << s.options.signature_tokens << " tokens (" << s.classify_source << ", nearest centroid, held-out "
     << std::lround(100 * (1 - s.options.train_fraction)) << "%): accuracy " << s.classify_accuracy << "\n"
     << "  co-activation      top 1% of expert pairs cover " << s.coactivation_top1pct << " of token pairs\n\n";
  os << "labels\n";
  for (int a = 0; a < NL; ++a) {
    os << "  " << s.labels[a] << ": " << s.label_requests[a] << " requests, " << s.label_tokens[a]
       << " tokens, Zipf " << s.label_zipf[a] << ", top experts (first MoE layer):";
    for (int i = 0; i < std::min(8, s.top_n); ++i)
      os << " " << s.top_experts[(static_cast<size_t>(a) * s.num_layers) * s.top_n + i];
    os << "\n";
  }
  if (NL > 1) {
    os << "\nJensen-Shannon divergence between labels (mean over layers)\n" << std::string(14, ' ');
    for (int b = 0; b < NL; ++b)
      os << " " << std::string(std::max(0, 12 - static_cast<int>(s.labels[b].substr(0, 12).size())), ' ')
         << s.labels[b].substr(0, 12);
    os << "\n";
    for (int a = 0; a < NL; ++a) {
      const std::string n = s.labels[a].substr(0, 12);
      os << "  " << n << std::string(12 - n.size(), ' ');
      for (int b = 0; b < NL; ++b) {
        std::ostringstream c;
        c.setf(std::ios::fixed);
        c.precision(3);
        c << s.label_js[static_cast<size_t>(a) * NL + b];
        os << " " << std::string(12 - c.str().size(), ' ') << c.str();
      }
      os << "\n";
    }
  }
  os << "\nper layer\n  layer  max/mean     CV   Gini  window max/mean (mean, max)   Zipf     JS  overlap  "
        "pd-corr  coact-1%\n";
  for (const auto& ls : s.layers) {
    char line[256];
    std::snprintf(line, sizeof line, "  %5d  %8.3f %6.3f %6.3f  %12.3f %10.3f          %6.3f %6.3f  %7.3f  %7.3f  %8.3f\n",
                  ls.layer, ls.max_mean, ls.cv, ls.gini, ls.window_max_mean_mean, ls.window_max_mean_max, ls.zipf,
                  ls.js, ls.overlap, ls.pd_correlation, ls.coactivation_top1pct);
    os << line;
  }
  return os.str();
}

} // namespace moesim
