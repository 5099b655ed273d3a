#include "core/trace/trace_synth.hpp"

#include "core/io/errors.hpp"
#include "core/model/model_spec.hpp"
#include "core/trace/trace_stats.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>

namespace moesim {

namespace {

/// xoshiro256** (Blackman and Vigna): a fast generator with 256-bit state; the sampler draws billions of numbers
/// for large traces, where std::mt19937_64 took a quarter of the time.
class Rng {
public:
  using result_type = uint64_t;
  explicit Rng(uint64_t seed)
  {
    for (auto& w : s_) { // splitmix64 expansion of the seed
      seed += 0x9e3779b97f4a7c15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      w = z ^ (z >> 31);
    }
  }
  static constexpr uint64_t min() { return 0; }
  static constexpr uint64_t max() { return ~0ULL; }
  uint64_t operator()()
  {
    const uint64_t r = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return r;
  }
  double uniform() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }

private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

/// Walker/Vose alias table: O(1) draws from a discrete distribution.
class AliasTable {
public:
  void build(const double* w, int n)
  {
    prob_.assign(n, 0.0);
    alias_.assign(n, 0);
    double total = 0;
    for (int i = 0; i < n; ++i)
      total += w[i];
    small_.clear();
    large_.clear();
    scaled_.resize(n);
    for (int i = 0; i < n; ++i) {
      scaled_[i] = total > 0 ? w[i] * n / total : 1.0;
      (scaled_[i] < 1 ? small_ : large_).push_back(i);
    }
    while (!small_.empty() && !large_.empty()) {
      const int s = small_.back(), l = large_.back();
      small_.pop_back();
      prob_[s] = scaled_[s];
      alias_[s] = l;
      scaled_[l] -= 1 - scaled_[s];
      if (scaled_[l] < 1) {
        large_.pop_back();
        small_.push_back(l);
      }
    }
    for (int i : large_)
      prob_[i] = 1;
    for (int i : small_)
      prob_[i] = 1;
  }
  int draw(Rng& rng) const
  {
    const uint64_t x = rng();
    const int i = static_cast<int>((x >> 32) * prob_.size() >> 32);
    const double u = static_cast<double>(x & 0xffffffffULL) * (1.0 / 4294967296.0);
    return u < prob_[i] ? i : alias_[i];
  }

private:
  std::vector<double> prob_;
  std::vector<int> alias_;
  std::vector<double> scaled_;
  std::vector<int> small_, large_;
};

/// A label's expert popularity at one layer, with what the token sampler needs from it.
struct LabelLayer {
  std::vector<double> q;       ///< [E] popularity, sums to 1
  std::vector<double> group_w; ///< [G] popularity of each expert group
  AliasTable alias;
};

/// Draws a token's top-k experts without replacement from a request's distribution
///   p = (1 - dispersion) x label popularity + dispersion x (uniform over the request's M favourite slots),
/// by rejection (alias table / favourite slot) while that mostly accepts and by a scan of the residual otherwise.
/// Group-limited routing (DeepSeek-V3: experts from at most topk_group of n_group groups) is honoured by accepting
/// experts of new groups only until topk_group groups are used. Without group limit all experts are one group.
class TokenSampler {
public:
  TokenSampler(int experts, int top_k, int n_group, int topk_group)
      : E_(experts), K_(top_k), G_(n_group), TG_(std::min(topk_group, n_group)), per_group_(experts / n_group),
        group_w_(n_group), taken_((experts + 63) / 64, 0), used_(n_group, 0), group_of_(experts)
  {
    for (int e = 0; e < experts; ++e)
      group_of_[e] = e / per_group_;
  }
  void set(const LabelLayer& ll, const std::vector<int>& favourites, double dispersion)
  {
    ll_ = &ll;
    fav_ = favourites;
    if (fav_.empty() || (fav_.size() & (fav_.size() - 1)))
      throw InternalError("favourite slots must be a power of two");
    beta_ = dispersion;
    beta24_ = static_cast<uint64_t>(dispersion * 16777216.0);
    fav_e_.clear();
    fav_w_.clear();
    for (int f : fav_) {
      const auto it = std::find(fav_e_.begin(), fav_e_.end(), f);
      if (it == fav_e_.end()) {
        fav_e_.push_back(f);
        fav_w_.push_back(1);
      } else {
        fav_w_[it - fav_e_.begin()] += 1;
      }
    }
    for (int g = 0; g < G_; ++g)
      group_w_[g] = (1 - beta_) * ll.group_w[g];
    for (int f : fav_)
      group_w_[group_of_[f]] += beta_ / static_cast<double>(fav_.size());
    p_.resize(E_);
    for (int e = 0; e < E_; ++e)
      p_[e] = (1 - beta_) * ll.q[e];
    for (int f : fav_)
      p_[f] += beta_ / static_cast<double>(fav_.size());
  }
  void draw(Rng& rng, uint16_t* out)
  {
    int groups_used = 0;
    double open_mass = 1; // mass of the experts a draw may still accept (before removing drawn ones)
    double drawn_mass = 0;
    auto ok = [&](int e) {
      return !(taken_[e >> 6] >> (e & 63) & 1) && (groups_used < TG_ || used_[group_of_[e]] > 0);
    };
    const uint64_t fav_mask = fav_.size() - 1;
    for (int j = 0; j < K_; ++j) {
      int e = -1;
      const double open = open_mass - drawn_mass;
      // Rejection (a favourite slot or the popularity's alias table) while that mostly accepts; a scan of the
      // residual once it would not.
      if (open > 0.15)
        for (int attempt = 0; attempt < 16 && e < 0; ++attempt) {
          const uint64_t x = rng();
          const int c = (x >> 40) < beta24_ ? fav_[x & fav_mask] : ll_->alias.draw(rng);
          if (ok(c))
            e = c;
        }
      if (e < 0) {
        double u = rng.uniform() * open;
        int first = -1;
        for (int h = 0; h < G_ && (e < 0 || u >= 0); ++h) {
          if (groups_used == TG_ && used_[h] == 0)
            continue;
          for (int c = h * per_group_; c < (h + 1) * per_group_; ++c)
            if (!(taken_[c >> 6] >> (c & 63) & 1)) {
              if (first < 0)
                first = c;
              if (p_[c] > 0) {
                e = c;
                if ((u -= p_[c]) < 0)
                  break;
              }
            }
        }
        if (e < 0) // every open expert weighs zero
          e = first;
      }
      out[j] = static_cast<uint16_t>(e);
      taken_[e >> 6] |= 1ULL << (e & 63);
      drawn_mass += p_[e];
      const int g = group_of_[e];
      if (used_[g]++ == 0 && ++groups_used == TG_ && TG_ < G_) {
        // The token has reached its topk_group groups: from now on only their experts may be drawn.
        open_mass = 0;
        for (int h = 0; h < G_; ++h)
          if (used_[h] > 0)
            open_mass += group_w_[h];
      }
    }
    for (int j = 0; j < K_; ++j) {
      taken_[out[j] >> 6] = 0;
      used_[group_of_[out[j]]] = 0;
    }
  }

private:
  int E_, K_, G_, TG_, per_group_;
  const LabelLayer* ll_ = nullptr;
  double beta_ = 0;
  uint64_t beta24_ = 0; ///< dispersion in 24-bit fixed point
  std::vector<int> fav_;        ///< favourite slots (an expert may fill several)
  std::vector<int> fav_e_;      ///< distinct favourite experts ...
  std::vector<double> fav_w_;   ///< ... and the slots each fills
  std::vector<double> group_w_;
  std::vector<uint64_t> taken_; ///< bit set of the experts already drawn for the current token
  std::vector<int> used_;      ///< [G] experts drawn from each group for the current token
  std::vector<int> group_of_;  ///< [E]
  std::vector<double> p_;       ///< [E] the request's distribution
};

struct RequestShape {
  int label = 0;
  int prompt = 0;
  int decode = 0;
  int64_t offset = 0; ///< first token
};

struct Params {
  double zipf = 1, tail = 0, shared = 0.5, alpha = 0.5, dispersion = 0.5;
};

/// Per-layer label popularity: label a = shared x Zipf over a layer permutation + (1 - shared) x Zipf over another
/// permutation rotated by a x E / labels (so the labels' private favourites are distinct experts). The Zipf weights
/// fall with exponent `zipf` over the top half of the ranks and `zipf + tail` below it: real labels leave many
/// experts nearly unused, which is what keeps their overlap low at a moderate skew.
std::vector<std::vector<double>> label_distributions(int E, int NL, const Params& p, Rng& rng)
{
  std::vector<int> shared_perm(E), private_perm(E);
  std::iota(shared_perm.begin(), shared_perm.end(), 0);
  std::iota(private_perm.begin(), private_perm.end(), 0);
  std::shuffle(shared_perm.begin(), shared_perm.end(), rng);
  std::shuffle(private_perm.begin(), private_perm.end(), rng);
  std::vector<double> zipf(E);
  double h = 0;
  const double half = std::max(1.0, E / 2.0);
  for (int i = 0; i < E; ++i)
    h += zipf[i] = std::pow(i + 1.0, -p.zipf) * (i + 1.0 > half ? std::pow((i + 1.0) / half, -p.tail) : 1.0);
  for (double& z : zipf)
    z /= h;
  std::vector<std::vector<double>> q(NL, std::vector<double>(E, 0.0));
  for (int a = 0; a < NL; ++a) {
    const int shift = static_cast<int>(static_cast<int64_t>(a) * E / NL);
    for (int i = 0; i < E; ++i) {
      q[a][shared_perm[i]] += p.shared * zipf[i];
      q[a][private_perm[(i + shift) % E]] += (1 - p.shared) * zipf[i];
    }
  }
  return q;
}

/// Favourite slots per request: the power of two at or above 2 x top-k (at least 4).
int favourite_slots(int top_k)
{
  int m = 4;
  while (m < 2 * top_k)
    m *= 2;
  return m;
}

/// Routes the tokens of requests at MoE layers. Requests are the outer loop so that the writes of one request
/// (all its layers) stay in cache; every (request, layer) has its own random stream, so the result does not
/// depend on the loop order.
class Router {
public:
  Router(const ModelSpec& m, int NL, const Params& p, const SynthSpec& spec, int layers, uint64_t seed)
      : p_(p), spec_(spec), E_(m.num_routed_experts), K_(m.top_k), M_(favourite_slots(K_)), seed_(seed),
        prefill_(E_, K_, m.n_group, m.topk_group), decode_(E_, K_, m.n_group, m.topk_group)
  {
    const int G = m.n_group, per_group = E_ / G;
    for (int l = 0; l < layers; ++l) {
      Rng rng(mix(seed, static_cast<uint64_t>(l), ~0ULL));
      auto q = label_distributions(E_, NL, p, rng);
      std::vector<LabelLayer> ls(NL);
      for (int a = 0; a < NL; ++a) {
        ls[a].q = std::move(q[a]);
        ls[a].group_w.assign(G, 0.0);
        for (int e = 0; e < E_; ++e)
          ls[a].group_w[e / per_group] += ls[a].q[e];
        ls[a].alias.build(ls[a].q.data(), E_);
      }
      layers_.push_back(std::move(ls));
    }
  }
  /// Writes request r's experts at layer l to out[(token - r.offset) * stride ...]. The request's favourite
  /// slots are drawn from its label's popularity; its decode favourites keep each prefill slot with probability
  /// alpha (the prefill/decode correlation) and renew each slot with probability drift every drift_window steps.
  void route(const RequestShape& r, size_t request_index, int l, uint16_t* out, size_t stride)
  {
    Rng rng(mix(seed_, static_cast<uint64_t>(l), request_index));
    const LabelLayer& ll = layers_[l][r.label];
    pre_.resize(M_);
    for (int& f : pre_)
      f = ll.alias.draw(rng);
    prefill_.set(ll, pre_, p_.dispersion);
    size_t tok = 0;
    for (int i = 0; i < r.prompt; ++i, ++tok)
      prefill_.draw(rng, out + tok * stride);
    if (r.decode == 0)
      return;
    dec_.resize(M_);
    for (int i = 0; i < M_; ++i)
      dec_[i] = rng.uniform() < p_.alpha ? pre_[i] : ll.alias.draw(rng);
    decode_.set(ll, dec_, p_.dispersion);
    for (int i = 0; i < r.decode; ++i, ++tok) {
      if (i > 0 && spec_.drift > 0 && i % spec_.drift_window == 0) {
        for (int& f : dec_)
          if (rng.uniform() < spec_.drift)
            f = ll.alias.draw(rng);
        decode_.set(ll, dec_, p_.dispersion);
      }
      decode_.draw(rng, out + tok * stride);
    }
  }

private:
  static uint64_t mix(uint64_t a, uint64_t b, uint64_t c)
  {
    return a * 0xd1b54a32d192ed03ULL ^ (b + 1) * 0x8cb92ba72f3d8dd7ULL ^ (c + 1) * 0xaf251af3b0f025b5ULL;
  }
  Params p_;
  const SynthSpec& spec_;
  int E_, K_, M_;
  uint64_t seed_;
  std::vector<std::vector<LabelLayer>> layers_; ///< [layer][label]
  TokenSampler prefill_, decode_;
  std::vector<int> pre_, dec_;
};

struct PilotStats {
  double skew, overlap, correlation;
};

/// The statistics `trace stats` would report for one layer routed with `p` (same estimators).
PilotStats pilot(const ModelSpec& m, const std::vector<RequestShape>& reqs, int NL, const Params& p,
                 const SynthSpec& spec, uint64_t seed)
{
  const int E = m.num_routed_experts, K = m.top_k;
  const int64_t T = reqs.empty() ? 0 : reqs.back().offset + reqs.back().prompt + reqs.back().decode;
  std::vector<uint16_t> ex(static_cast<size_t>(T) * K);
  Router router(m, NL, p, spec, 1, seed);
  for (size_t i = 0; i < reqs.size(); ++i)
    router.route(reqs[i], i, 0, ex.data() + static_cast<size_t>(reqs[i].offset) * K, K);
  std::vector<std::vector<double>> pop(NL, std::vector<double>(E, 0.0));
  std::vector<double> a(E), b(E);
  double csum = 0;
  int cn = 0;
  for (const auto& r : reqs) {
    std::fill(a.begin(), a.end(), 0.0);
    std::fill(b.begin(), b.end(), 0.0);
    for (int i = 0; i < r.prompt + r.decode; ++i)
      for (int j = 0; j < K; ++j) {
        const int e = ex[static_cast<size_t>(r.offset + i) * K + j];
        pop[r.label][e] += 1;
        (i < r.prompt ? a : b)[e] += 1;
      }
    if (r.prompt > 0 && r.decode > 0) {
      const double c = pearson(a, b);
      if (std::isfinite(c)) {
        csum += c;
        ++cn;
      }
    }
  }
  double zs = 0, os = 0;
  int zn = 0, on = 0;
  for (int x = 0; x < NL; ++x) {
    const double z = zipf_exponent(pop[x]);
    if (std::isfinite(z)) {
      zs += z;
      ++zn;
    }
    for (int y = x + 1; y < NL; ++y)
      if (std::accumulate(pop[x].begin(), pop[x].end(), 0.0) > 0 && std::accumulate(pop[y].begin(), pop[y].end(), 0.0) > 0) {
        os += overlap_coefficient(pop[x], pop[y]);
        ++on;
      }
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  return {zn ? zs / zn : nan, on ? os / on : nan, cn ? csum / cn : nan};
}

/// Bisection on a parameter the statistic increases with; returns the parameter and leaves it set in p.
template <typename Get>
void bisect(double lo, double hi, double target, double& param, Get stat, int iterations = 14)
{
  for (int i = 0; i < iterations; ++i) {
    param = 0.5 * (lo + hi);
    const double v = stat();
    if (!std::isfinite(v))
      return;
    (v < target ? lo : hi) = param;
  }
  param = 0.5 * (lo + hi);
}

} // namespace

void SynthSpec::validate() const
{
  auto bad = [](const std::string& what) { throw UsageError("trace synth: " + what); };
  if (labels.empty())
    bad("at least one label is needed");
  if (!label_mix.empty() && label_mix.size() != labels.size())
    bad("--mix needs one weight per label (" + std::to_string(labels.size()) + "), got " + std::to_string(label_mix.size()));
  for (double w : label_mix)
    if (!(w >= 0) || !std::isfinite(w))
      bad("--mix weights must be finite and non-negative");
  if (!label_mix.empty() && std::accumulate(label_mix.begin(), label_mix.end(), 0.0) <= 0)
    bad("--mix weights must not all be zero");
  if (tokens < 0)
    bad("--tokens must be positive");
  if (tokens == 0 && requests < 1)
    bad("--requests must be at least 1");
  if (prompt_min < 0 || prompt_max < prompt_min)
    bad("prompt lengths need 0 <= min <= max");
  if (decode_min < 0 || decode_max < decode_min)
    bad("decode lengths need 0 <= min <= max");
  if (prompt_max + decode_max < 1)
    bad("requests need at least one token");
  if (static_cast<int64_t>(prompt_max) + decode_max > 1'000'000'000)
    bad("prompt + decode lengths above 1e9 tokens");
  if (!(skew >= 0 && skew <= 4))
    bad("--skew must be in [0, 4]");
  if (!(overlap >= 0 && overlap <= 1))
    bad("--overlap must be in [0, 1]");
  if (!(correlation >= -1 && correlation <= 1))
    bad("--correlation must be in [-1, 1]");
  if (!(drift >= 0 && drift <= 1))
    bad("--drift must be in [0, 1]");
  if (drift_window < 1)
    bad("--drift-window must be at least 1");
  if (arrival != "mixed" && arrival != "by-label")
    bad("--arrival must be mixed or by-label, got '" + arrival + "'");
  if (tokens > 100'000'000)
    bad("--tokens above 1e8 is not supported (the trace is held in memory)");
}

SynthSpec synth_preset(const std::string& name)
{
  SynthSpec s;
  s.preset = name;
  // Skew and overlap follow the bundled real ESFT trace (DeepSeek-V2-Lite, `moesim trace stats`, docs/traces.md);
  // the prefill/decode correlations are the published per-model values.
  s.skew = 0.5;
  s.overlap = 0.6;
  if (name == "generic")
    s.correlation = 0.6;
  else if (name == "deepseek-v3")
    s.correlation = 0.55;
  else if (name == "qwen3")
    s.correlation = 0.68;
  else if (name == "maverick")
    s.correlation = 0.82;
  else
    throw UsageError("unknown synth preset '" + name + "' (expected one of generic, deepseek-v3, qwen3, maverick)");
  return s;
}

std::vector<std::string> synth_preset_names() { return {"generic", "deepseek-v3", "qwen3", "maverick"}; }

std::string default_synth_preset(const ModelSpec& model)
{
  if (model.model_type == "deepseek_v3")
    return "deepseek-v3";
  if (model.model_type == "qwen3_moe")
    return "qwen3";
  if (model.model_type.rfind("llama4", 0) == 0)
    return "maverick";
  return "generic";
}

Trace synthesize_trace(const ModelSpec& m, const SynthSpec& spec, SynthCalibration* calibration)
{
  spec.validate();
  const int E = m.num_routed_experts, K = m.top_k, L = m.num_moe_layers();
  const int NL = static_cast<int>(spec.labels.size());
  if (E < 1 || K < 1 || L < 1)
    throw UsageError("trace synth: model " + m.name + " has no routed experts");
  if (E > 65535)
    throw UsageError("trace synth: more than 65535 experts");
  if (m.n_group > 1 && (m.n_group > 64 || E % m.n_group != 0 || m.topk_group < 1 || m.topk_group > m.n_group ||
                        static_cast<int64_t>(m.topk_group) * (E / m.n_group) < K))
    throw UsageError("trace synth: model " + m.name + " has group-limited routing that cannot be sampled (n_group " +
                     std::to_string(m.n_group) + ", topk_group " + std::to_string(m.topk_group) + ")");

  // Request shapes (label, lengths) first, from their own stream, so they do not depend on the routing.
  Rng rng(spec.seed * 0x9e3779b97f4a7c15ULL + 17);
  std::vector<double> mix = spec.label_mix.empty() ? std::vector<double>(NL, 1.0) : spec.label_mix;
  std::discrete_distribution<int> pick_label(mix.begin(), mix.end());
  std::uniform_int_distribution<int> prompt_len(spec.prompt_min, spec.prompt_max), decode_len(spec.decode_min, spec.decode_max);
  std::vector<RequestShape> reqs;
  int64_t total = 0;
  while (spec.tokens > 0 ? total < spec.tokens : static_cast<int>(reqs.size()) < spec.requests) {
    RequestShape r;
    r.label = pick_label(rng);
    r.prompt = prompt_len(rng);
    r.decode = decode_len(rng);
    if (r.prompt + r.decode == 0)
      r.prompt = 1;
    if (spec.tokens > 0 && total + r.prompt + r.decode > spec.tokens) {
      const int64_t left = spec.tokens - total;
      r.prompt = static_cast<int>(std::min<int64_t>(r.prompt, std::max<int64_t>(1, left - 1)));
      r.decode = static_cast<int>(left - r.prompt);
    }
    r.offset = total;
    total += r.prompt + r.decode;
    reqs.push_back(r);
  }

  // Calibration: coordinate-wise bisection of the generator parameters on a pilot layer (common random numbers),
  // so that the statistics `trace stats` measures hit the targets.
  std::vector<RequestShape> pilot_reqs(reqs.begin(), reqs.begin() + std::min<size_t>(reqs.size(), 160));
  const uint64_t pilot_seed = spec.seed ^ 0x51a7e5eedULL;
  const auto c0 = std::chrono::steady_clock::now();
  Params p;
  PilotStats got{};
  const bool has_pd = std::any_of(pilot_reqs.begin(), pilot_reqs.end(), [](const RequestShape& r) { return r.prompt > 0 && r.decode > 0; });
  for (int round = 0; round < 3; ++round) {
    bisect(0.0, 4.0, spec.skew, p.zipf, [&] { return pilot(m, pilot_reqs, NL, p, spec, pilot_seed).skew; });
    if (NL > 1) {
      // Labels drawn apart (no shared component) may still overlap more than wanted: then steepen the tails.
      Params apart = p;
      apart.shared = 0;
      apart.tail = 0;
      if (pilot(m, pilot_reqs, NL, apart, spec, pilot_seed).overlap > spec.overlap) {
        p.shared = 0;
        bisect(0.0, 12.0, -spec.overlap, p.tail, [&] { return -pilot(m, pilot_reqs, NL, p, spec, pilot_seed).overlap; });
      } else {
        p.tail = 0;
        bisect(0.0, 1.0, spec.overlap, p.shared, [&] { return pilot(m, pilot_reqs, NL, p, spec, pilot_seed).overlap; });
      }
    }
    if (has_pd) {
      // Widen the reachable correlation range first: more weight on the favourites lowers the correlation of
      // unrelated phases (alpha 0) and raises that of shared ones (alpha 1), at the price of more concentrated
      // requests, so the dispersion only grows when the target is out of reach.
      for (int i = 0; i < 4 && p.dispersion < 1; ++i) {
        Params lo = p, hi = p;
        lo.alpha = 0;
        hi.alpha = 1;
        if (pilot(m, pilot_reqs, NL, lo, spec, pilot_seed).correlation > spec.correlation ||
            pilot(m, pilot_reqs, NL, hi, spec, pilot_seed).correlation < spec.correlation)
          p.dispersion = std::min(1.0, p.dispersion + 0.125);
        else
          break;
      }
      bisect(0.0, 1.0, spec.correlation, p.alpha, [&] { return pilot(m, pilot_reqs, NL, p, spec, pilot_seed).correlation; });
    }
  }
  got = pilot(m, pilot_reqs, NL, p, spec, pilot_seed);
  spdlog::debug("trace synth: calibration took {:.2f} s", std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count());
  auto warn_off = [](const char* what, double target, double reached) {
    if (std::isfinite(reached) && std::abs(reached - target) > 0.02)
      spdlog::warn("trace synth: {} target {:.3f} is out of reach with the other targets; reached {:.3f}", what,
                   target, reached);
  };
  warn_off("skew", spec.skew, got.skew);
  if (NL > 1)
    warn_off("overlap", spec.overlap, got.overlap);
  if (has_pd)
    warn_off("correlation", spec.correlation, got.correlation);
  spdlog::info("trace synth: Zipf {:.3f} (tail +{:.3f}), shared {:.3f}, alpha {:.3f}, dispersion {:.3f} -> skew "
               "{:.3f}, overlap {:.3f}, prefill/decode correlation {:.3f} on the pilot",
               p.zipf, p.tail, p.shared, p.alpha, p.dispersion, got.skew, got.overlap, got.correlation);
  if (calibration)
    *calibration = SynthCalibration{p.zipf, p.tail, p.shared, p.alpha, p.dispersion, got.skew, got.overlap, got.correlation};

  // The pilot above calibrated on the requests in mixed order (every label); by-label arrival reorders them after.
  if (spec.arrival == "by-label") {
    std::stable_sort(reqs.begin(), reqs.end(), [](const RequestShape& a, const RequestShape& b) { return a.label < b.label; });
    int64_t at = 0;
    for (auto& r : reqs) {
      r.offset = at;
      at += r.prompt + r.decode;
    }
  }

  Trace t;
  t.model_name = m.name;
  t.num_experts = E;
  t.top_k = K;
  t.moe_layers = m.moe_layers;
  t.labels = spec.labels;
  t.datasets = {"synth/" + spec.preset};
  nlohmann::json src = {{"generator", "moesim trace synth"}, {"preset", spec.preset}, {"seed", spec.seed},
                        {"skew", spec.skew}, {"overlap", spec.overlap}, {"correlation", spec.correlation},
                        {"drift", spec.drift}, {"drift_window", spec.drift_window},
                        {"prompt", {spec.prompt_min, spec.prompt_max}}, {"decode", {spec.decode_min, spec.decode_max}},
                        {"context", spec.context},
                        {"label_mix", mix},
                        {"calibrated", {{"zipf", p.zipf}, {"tail", p.tail}, {"shared", p.shared}, {"alpha", p.alpha},
                                        {"dispersion", p.dispersion}}}};
  if (spec.arrival != "mixed")
    src["arrival"] = spec.arrival;
  t.source = src.dump();
  t.token_request.resize(total);
  t.token_position.resize(total);
  t.token_phase.resize(total);
  for (size_t i = 0; i < reqs.size(); ++i) {
    const auto& r = reqs[i];
    t.requests.push_back(TraceRequest{static_cast<int64_t>(i), r.label, 0, spec.context, r.offset, r.prompt + r.decode});
    for (int j = 0; j < r.prompt + r.decode; ++j) {
      t.token_request[r.offset + j] = static_cast<int32_t>(i);
      t.token_position[r.offset + j] = j;
      t.token_phase[r.offset + j] = static_cast<uint8_t>(j < r.prompt ? Phase::Prefill : Phase::Decode);
    }
  }
  t.experts.resize(static_cast<size_t>(total) * L * K);
  Router router(m, NL, p, spec, L, spec.seed);
  const size_t stride = static_cast<size_t>(L) * K;
  for (size_t i = 0; i < reqs.size(); ++i)
    for (int l = 0; l < L; ++l)
      router.route(reqs[i], i, l, t.experts.data() + static_cast<size_t>(reqs[i].offset) * stride + static_cast<size_t>(l) * K, stride);
  spdlog::debug("trace synth: routing took {:.2f} s", std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count());
  return t;
}

} // namespace moesim
