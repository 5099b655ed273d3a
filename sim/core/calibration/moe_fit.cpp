#include "core/calibration/moe_fit.hpp"

#include "core/comm/traffic.hpp"
#include "core/io/errors.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>

namespace moesim {

std::string preset_of_gpu_name(const std::string& name)
{
  for (const char* p : {"H200", "H800", "H100", "A100"})
    if (name.find(p) != std::string::npos) {
      std::string s = p;
      std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
      return s;
    }
  return "";
}

std::vector<KernelParamSpec> compute_param_specs()
{
  return {
      {"hbm_efficiency", 0.85, 0.2, 1.0, "fraction", "achieved / datasheet HBM bandwidth of memory-bound kernels"},
      {"gemm_fixed_s", 4e-6, 0, 1e-3, "s", "fixed time of one (grouped) GEMM kernel"},
      {"expert_fixed_s", 10e-6, 0, 1e-3, "s", "routed experts: the rest of the layer (activation kernel, gaps)"},
      {"expert_group_s", 0.7e-6, 0, 1e-4, "s", "routed experts: time per local expert (masked kernels visit each)"},
      {"expert_flop_efficiency", 0.6, 0.1, 1.0, "fraction", "routed experts: achieved / peak FLOP/s of full tiles"},
  };
}

KernelParams compute_params_of(const ComputeParams& c)
{
  return {{"hbm_efficiency", c.hbm_efficiency},
          {"gemm_fixed_s", c.gemm_fixed()},
          {"expert_fixed_s", c.expert_fixed()},
          {"expert_group_s", c.expert_group_s},
          {"expert_flop_efficiency", c.expert_flop_efficiency}};
}

void set_compute_params(ComputeParams& c, const KernelParams& p)
{
  c.hbm_efficiency = p.at("hbm_efficiency");
  c.gemm_fixed_s = p.at("gemm_fixed_s");
  c.expert_fixed_s = p.at("expert_fixed_s");
  c.expert_group_s = p.at("expert_group_s");
  c.expert_flop_efficiency = p.at("expert_flop_efficiency");
}

namespace {

std::string kernel_of_op(const std::string& op)
{
  if (op.rfind("ll_", 0) == 0)
    return "deepep-ll";
  if (op.rfind("normal_", 0) == 0)
    return "deepep-normal";
  return "";
}

bool is_dispatch(const std::string& op) { return op.find("dispatch") != std::string::npos; }

} // namespace

namespace {

/// Multiplies every count of `c` (units, tokens) by `f`, rounded: a large batch from a smaller draw.
void scale_counts(LayerComm& c, double f)
{
  auto sc = [f](auto& v) { v = static_cast<std::decay_t<decltype(v)>>(std::llround(static_cast<double>(v) * f)); };
  for (auto& st : c.stages)
    for (auto* rows : {&st.out, &st.in})
      for (auto& row : *rows)
        for (auto& [peer, n] : row)
          sc(n);
  for (auto* v : {&c.tokens, &c.units_own, &c.units_held})
    for (auto& n : *v)
      sc(n);
  sc(c.units_intra_node);
  sc(c.units_inter_node);
  sc(c.max_message_units);
}

/// Routed samples by everything they depend on: measurements of one shape share them (the normal-kernel tables
/// repeat every shape for several SM budgets and both phases).
std::map<std::string, std::weak_ptr<const MoeCase::Samples>>& sample_cache()
{
  static std::map<std::string, std::weak_ptr<const MoeCase::Samples>> cache;
  return cache;
}

} // namespace

MoeCase::MoeCase(const Measurement& m, const GpuInfo& gpu, const LinkValues& links, const Cluster& cluster)
    : m_(m), gpu_(gpu), links_(links), kernel_(kernel_of_op(m.op))
{
  if (m.op == "gemm" || m.op == "hbm") {
    model_ = op_model(128, 128, 1, 1, m.dtype == "fp8" ? "fp8" : "bf16");
    return;
  }
  if (!is_moe_op(m.op))
    throw InternalError("MoeCase for the collective " + m.op);
  if (m.metric != "time" && !(m.bandwidth_Bps > 0))
    throw InternalError("MoeCase: a bandwidth measurement without a bandwidth");
  model_ = op_model(m.hidden, m.inter > 0 ? m.inter : 2048, m.top_k, m.experts, m.dtype == "bf16" ? "bf16" : "fp8");
  if (!kernel_.empty())
    kernel_model_ = make_a2a_kernel(kernel_);
  OpSpec spec;
  spec.gpus = m.nodes * m.gpus_per_node;
  spec.gpus_per_node = m.gpus_per_node;
  spec.tokens_per_gpu = m.tokens;
  spec.routing = OpRouting::parse(m.routing.empty() ? "uniform" : m.routing);
  spec.samples = spec.routing.kind == OpRouting::Kind::PowerLaw ? 5 : 1;
  spec.seed = 1;
  const int G = spec.gpus, per = m.experts / G;
  if (m.op != "moe_experts" && G > cluster.num_gpus())
    throw UsageError(m.source + " line " + std::to_string(m.line) + ": the measurement ran on " + std::to_string(G) +
                     " GPUs, the platform has " + std::to_string(cluster.num_gpus()));
  // Large batches of random routing are drawn at kMaxSampledTokens tokens per GPU and their counts scaled up:
  // their per-pair counts are proportional to the tokens to well under 1% there (calibration speed; `moesim op`
  // draws every token).
  constexpr int kMaxSampledTokens = 8192;
  const bool random_routing = spec.routing.kind == OpRouting::Kind::Uniform ||
                              spec.routing.kind == OpRouting::Kind::DeepEpTest ||
                              spec.routing.kind == OpRouting::Kind::NodeLimited;
  const int drawn = random_routing && m.op != "moe_experts" ? std::min(m.tokens, kMaxSampledTokens) : m.tokens;
  spec.tokens_per_gpu = drawn;
  // The routing, not the hidden size, sets the counts: measurements of other hidden sizes share them.
  const std::string key = (m.op == "moe_experts" ? std::string("experts") : kernel_) + "|" + std::to_string(G) + "|" +
                          std::to_string(m.gpus_per_node) + "|" + std::to_string(m.tokens) + "|" +
                          std::to_string(m.top_k) + "|" + std::to_string(m.experts) + "|" + spec.routing.name() + "|" +
                          std::to_string(cluster.gpus_per_node());
  if (auto hit = sample_cache()[key].lock()) {
    samples_ = hit;
    return;
  }
  auto samples = std::make_shared<Samples>();
  for (int s = 0; s < spec.samples; ++s) {
    const OpTokens tokens = make_op_tokens(spec, model_, s);
    Sample smp;
    if (m.op == "moe_experts") {
      // Compute only: each GPU's tokens per local expert (experts placed linearly, as the benchmark's ranks hold
      // them); no traffic.
      smp.local.assign(G, std::vector<int32_t>(per, 0));
      for (int g = 0; g < G; ++g)
        for (int32_t e : tokens.experts[g])
          if (e >= 0)
            ++smp.local[e / per][e % per];
    } else {
      const KernelSetup k = KernelSetup::make(kernel_, {}, m.dtype, std::max(2, m.kernel_sms), "calibration");
      ComputeModel none(model_, ComputeParams{});
      LayerTraffic lt = plan_op_layer(tokens, model_, cluster, k, none, &gpu_);
      smp.comm = std::move(lt.comm);
      if (drawn < m.tokens)
        scale_counts(smp.comm, static_cast<double>(m.tokens) / drawn);
      // Node-level copies (what DeepEP's internode test counts as RDMA tokens): distinct destination nodes of
      // each token, its own node included.
      smp.node_copies.assign(G, 0);
      const int nodes = std::max(1, G / m.gpus_per_node), per_node = m.experts / nodes;
      std::vector<char> seen(nodes, 0);
      for (int g = 0; g < G; ++g)
        for (size_t t = 0; t * tokens.k < tokens.experts[g].size(); ++t) {
          for (int j = 0; j < tokens.k; ++j) {
            const int32_t e = tokens.experts[g][t * tokens.k + j];
            if (e >= 0 && !seen[e / per_node]) {
              seen[e / per_node] = 1;
              ++smp.node_copies[g];
            }
          }
          std::fill(seen.begin(), seen.end(), 0);
        }
      if (drawn < m.tokens)
        for (auto& n : smp.node_copies)
          n = std::llround(static_cast<double>(n) * m.tokens / drawn);
    }
    samples->push_back(std::move(smp));
  }
  samples_ = samples;
  sample_cache()[key] = samples_;
}

double MoeCase::measured() const { return m_.metric == "time" ? m_.time_s : m_.bandwidth_Bps; }

double MoeCase::simulate(const MoeParams& p, const PhaseSimulator& sim)
{
  ComputeModel compute(model_, p.compute);
  if (m_.op == "gemm")
    return compute.gemm_time_s(m_.m, m_.n, m_.k, m_.groups, m_.dtype, gpu_);
  if (m_.op == "hbm") // a copy kernel: bytes read + written at the achieved HBM bandwidth
    return m_.bytes / (p.compute.hbm_efficiency * gpu_.hbm_bandwidth_Bps);
  double sum = 0;
  if (m_.op == "moe_experts") {
    for (const auto& s : *samples_) {
      double worst = 0;
      for (const auto& local : s.local)
        worst = std::max(worst, compute.routed_experts_time_s(local, gpu_));
      sum += worst;
    }
    return sum / static_cast<double>(samples_->size());
  }
  const bool dispatch = is_dispatch(m_.op);
  KernelSetup k;
  k.name = kernel_;
  k.kernel = kernel_model_;
  k.params = p.kernels.at(kernel_);
  k.dispatch_dtype = m_.dtype;
  k.kernel_sms = std::max(2, m_.kernel_sms);
  std::vector<double> end;
  for (const auto& s : *samples_) {
    const int G = static_cast<int>(s.comm.tokens.size());
    const int hidden = static_cast<int>(model_.hidden_size);
    const PhaseCost cost =
        phase_cost(k, s.comm, dispatch, model_.num_routed_experts, model_.top_k, hidden, gpu_.sm_count, m_.nodes > 1);
    const double unit = k.unit_bytes(dispatch, hidden);
    sim(s.comm, dispatch, unit, cost, links_, end);
    const double t = std::accumulate(end.begin(), end.end(), 0.0) / G; // a typical rank (DeepEP prints rank 0's)
    if (m_.metric == "time") {
      sum += t;
      continue;
    }
    // Bandwidths as DeepEP's tests count them, per GPU: node-level token copies (its own node included) for RDMA,
    // every unit the GPU holds after dispatch for NVLink; over the time.
    double units = 0;
    if (m_.metric == "rdma_bandwidth")
      for (int64_t n : s.node_copies)
        units += static_cast<double>(n);
    else
      for (int64_t n : s.comm.units_held)
        units += static_cast<double>(n);
    sum += units * unit / G / t;
  }
  return sum / static_cast<double>(samples_->size());
}

namespace {

/// One parameter the fit moves, in log space between its bounds.
struct FreeParam {
  std::string group; ///< kernel name, or "compute"
  std::string name;
  double lo, hi;
};

double get(const MoeParams& p, const FreeParam& f)
{
  if (f.group == "compute")
    return compute_params_of(p.compute).at(f.name);
  return p.kernels.at(f.group).at(f.name);
}

void put(MoeParams& p, const FreeParam& f, double v)
{
  v = std::clamp(v, f.lo, f.hi);
  if (f.group == "compute") {
    KernelParams c = compute_params_of(p.compute);
    c[f.name] = v;
    set_compute_params(p.compute, c);
  } else {
    p.kernels.at(f.group)[f.name] = v;
  }
}

/// log(p) with a floor for parameters whose range starts at 0.
double to_z(double v, const FreeParam& f)
{
  const double floor = f.lo > 0 ? f.lo : f.hi * 1e-7;
  return std::log(std::max(v, floor));
}
double from_z(double z, const FreeParam& f)
{
  const double floor = f.lo > 0 ? f.lo : f.hi * 1e-7;
  const double v = std::exp(z);
  return v <= floor * 1.0000001 ? f.lo : std::min(v, f.hi);
}

/// Solves A x = b (A symmetric positive definite, small): Gaussian elimination with partial pivoting.
std::vector<double> solve_linear(std::vector<std::vector<double>> A, std::vector<double> b)
{
  const size_t n = b.size();
  for (size_t c = 0; c < n; ++c) {
    size_t piv = c;
    for (size_t r = c + 1; r < n; ++r)
      if (std::fabs(A[r][c]) > std::fabs(A[piv][c]))
        piv = r;
    std::swap(A[c], A[piv]);
    std::swap(b[c], b[piv]);
    if (std::fabs(A[c][c]) < 1e-300)
      continue;
    for (size_t r = c + 1; r < n; ++r) {
      const double f = A[r][c] / A[c][c];
      for (size_t k = c; k < n; ++k)
        A[r][k] -= f * A[c][k];
      b[r] -= f * b[c];
    }
  }
  std::vector<double> x(n, 0.0);
  for (size_t i = n; i-- > 0;) {
    double s = b[i];
    for (size_t k = i + 1; k < n; ++k)
      s -= A[i][k] * x[k];
    x[i] = std::fabs(A[i][i]) < 1e-300 ? 0.0 : s / A[i][i];
  }
  return x;
}

constexpr double kSoftL1Scale = 0.05; ///< residuals (log ratio) beyond ~5% count linearly, not quadratically

struct Fitter {
  std::vector<MoeCase>& cases;
  const std::vector<size_t>& use; ///< cases the fit sees
  std::vector<double> series_w;   ///< [use index] 1 / sqrt(cases in the same source and op)
  const PhaseSimulator& sim;

  std::vector<double> residuals(const MoeParams& p) const
  {
    std::vector<double> r(use.size());
    for (size_t i = 0; i < use.size(); ++i) {
      MoeCase& c = cases[use[i]];
      const double v = c.simulate(p, sim);
      r[i] = std::log(std::max(v, 1e-30) / c.measured());
    }
    return r;
  }
  /// Soft-L1 cost and the IRLS weights at these residuals.
  double cost(const std::vector<double>& r, std::vector<double>* w = nullptr) const
  {
    double c = 0;
    if (w)
      w->resize(r.size());
    for (size_t i = 0; i < r.size(); ++i) {
      const double u = r[i] / kSoftL1Scale;
      c += series_w[i] * 2 * kSoftL1Scale * kSoftL1Scale * (std::sqrt(1 + u * u) - 1);
      if (w)
        (*w)[i] = series_w[i] / std::sqrt(1 + u * u);
    }
    return c;
  }

  void run(MoeParams& p, std::vector<FreeParam> free)
  {
    if (use.empty() || free.empty())
      return;
    // Parameters no fitted case depends on stay as they are.
    {
      const auto r0 = residuals(p);
      std::vector<FreeParam> keep;
      for (const auto& f : free) {
        MoeParams q = p;
        const double v = get(p, f);
        put(q, f, from_z(to_z(v, f) + 0.05, f));
        if (get(q, f) == v)
          put(q, f, from_z(to_z(v, f) - 0.05, f));
        const auto r1 = residuals(q);
        double d = 0;
        for (size_t i = 0; i < r0.size(); ++i)
          d = std::max(d, std::fabs(r1[i] - r0[i]));
        if (d > 1e-9)
          keep.push_back(f);
      }
      free = keep;
    }
    const size_t n = free.size();
    if (n == 0)
      return;
    std::vector<double> z(n);
    for (size_t j = 0; j < n; ++j)
      z[j] = to_z(get(p, free[j]), free[j]);
    auto params_at = [&](const std::vector<double>& zz) {
      MoeParams q = p;
      for (size_t j = 0; j < n; ++j)
        put(q, free[j], from_z(zz[j], free[j]));
      return q;
    };
    std::vector<double> r = residuals(params_at(z)), w;
    double c = cost(r, &w), lambda = 1e-2;
    for (int iter = 0; iter < 60; ++iter) {
      // Jacobian of the residuals in z (forward differences).
      std::vector<std::vector<double>> J(r.size(), std::vector<double>(n, 0.0));
      for (size_t j = 0; j < n; ++j) {
        std::vector<double> zj = z;
        // Forward differences, backward at the upper bound (a clamped step would read as no sensitivity).
        const double h = z[j] + 0.01 > to_z(free[j].hi, free[j]) ? -0.01 : 0.01;
        zj[j] += h;
        const auto rj = residuals(params_at(zj));
        for (size_t i = 0; i < r.size(); ++i)
          J[i][j] = (rj[i] - r[i]) / h;
      }
      std::vector<std::vector<double>> A(n, std::vector<double>(n, 0.0));
      std::vector<double> g(n, 0.0);
      for (size_t i = 0; i < r.size(); ++i)
        for (size_t a = 0; a < n; ++a) {
          g[a] += w[i] * J[i][a] * r[i];
          for (size_t b = 0; b < n; ++b)
            A[a][b] += w[i] * J[i][a] * J[i][b];
        }
      bool improved = false;
      for (int tries = 0; tries < 12 && !improved; ++tries) {
        auto M = A;
        for (size_t a = 0; a < n; ++a)
          M[a][a] += lambda * (A[a][a] > 0 ? A[a][a] : 1e-12) + 1e-12;
        std::vector<double> minus_g(n);
        for (size_t a = 0; a < n; ++a)
          minus_g[a] = -g[a];
        const auto step = solve_linear(M, minus_g);
        std::vector<double> zn = z;
        for (size_t a = 0; a < n; ++a)
          zn[a] = std::clamp(z[a] + std::clamp(step[a], -2.0, 2.0), to_z(free[a].lo, free[a]),
                             to_z(free[a].hi, free[a]));
        const auto rn = residuals(params_at(zn));
        std::vector<double> wn;
        const double cn = cost(rn, &wn);
        if (cn < c) {
          const double gain = (c - cn) / std::max(c, 1e-300);
          z = zn;
          r = rn;
          w = wn;
          c = cn;
          lambda = std::max(lambda / 3, 1e-7);
          improved = true;
          if (gain < 1e-7)
            iter = 1000;
        } else {
          lambda *= 4;
        }
      }
      if (!improved)
        break;
    }
    p = params_at(z);
  }
};

} // namespace

namespace {

/// The series a measurement belongs to: one table, operation, shape and routing, over tokens per GPU (or m).
std::string series_key(const Measurement& m)
{
  return m.source + "|" + m.op + "|" + std::to_string(m.nodes) + "x" + std::to_string(m.gpus_per_node) + "|" +
         m.dtype + "|" + m.layout + "|" + std::to_string(m.hidden) + "|" + std::to_string(m.top_k) + "|" +
         std::to_string(m.experts) + "|" + std::to_string(m.inter) + "|" + std::to_string(m.kernel_sms) + "|" +
         m.routing + "|" + std::to_string(m.n) + "|" + std::to_string(m.k) + "|" + std::to_string(m.groups) + "|" +
         m.metric;
}

double series_size(const Measurement& m) { return m.op == "gemm" ? m.m : static_cast<double>(m.tokens); }

/// Hampel filter over neighbouring sizes, as the collectives' factors are filtered (calibration.cpp): a case whose
/// log error is more than max(3 scaled MADs, log 1.25) from the median of its two neighbours on each side in its
/// series is a noisy repetition, not the model's misfit (which is smooth over sizes). Needs three neighbours.
std::vector<size_t> neighbour_outliers(const std::vector<MoeCase>& cases, const std::vector<size_t>& use,
                                       const std::vector<double>& log_error)
{
  std::map<std::string, std::vector<size_t>> series; // key -> positions in `use`
  for (size_t i = 0; i < use.size(); ++i)
    series[series_key(cases[use[i]].measurement())].push_back(i);
  std::vector<size_t> out;
  for (auto& [key, pos] : series) {
    std::stable_sort(pos.begin(), pos.end(), [&](size_t a, size_t b) {
      return series_size(cases[use[a]].measurement()) < series_size(cases[use[b]].measurement());
    });
    for (size_t i = 0; i < pos.size(); ++i) {
      std::vector<double> nb;
      for (size_t j = i >= 2 ? i - 2 : 0; j < std::min(pos.size(), i + 3); ++j)
        if (j != i)
          nb.push_back(log_error[pos[j]]);
      if (nb.size() < 3)
        continue;
      auto median = [](std::vector<double> v) {
        std::sort(v.begin(), v.end());
        const size_t n = v.size();
        return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
      };
      const double med = median(nb);
      std::vector<double> dev;
      for (double v : nb)
        dev.push_back(std::fabs(v - med));
      const double mad = 1.4826 * median(dev);
      if (std::fabs(log_error[pos[i]] - med) > std::max(3 * mad, std::log(1.25)))
        out.push_back(use[pos[i]]);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace

void fit_moe_params(std::vector<MoeCase>& cases, const std::vector<bool>& held_out, MoeParams& params,
                    const PhaseSimulator& sim, std::vector<std::string>& notes, std::vector<bool>* outlier)
{
  if (outlier)
    outlier->assign(cases.size(), false);
  // Groups of cases fitted apart: each kernel's, and the compute model's (moe_experts and gemm).
  // Power-law MoE rows are validated, not fitted: the benchmark's generator is rebuilt from its source
  // (OpRouting::PowerLaw), but at small batches its rows need more active experts than that generator gives
  // (docs/calibration.md), and fitting them would push the physical parameters to their bounds.
  std::map<std::string, std::vector<size_t>> by_group;
  int power_law = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    if (held_out[i])
      continue;
    if (cases[i].measurement().op == "moe_experts" && cases[i].measurement().routing.rfind("power_law", 0) == 0) {
      ++power_law;
      continue;
    }
    by_group[cases[i].kernel().empty() ? "compute" : cases[i].kernel()].push_back(i);
  }
  if (power_law > 0)
    notes.push_back(std::to_string(power_law) + " power-law MoE-layer measurements validated, not fitted (their "
                                                "routing generator is uncertain at small batches)");
  for (auto& entry : by_group) {
    // Named references, not a structured binding: the lambdas below capture them (clang before C++20's P1091).
    const std::string& group = entry.first;
    std::vector<size_t>& idx = entry.second;
    std::vector<KernelParamSpec> specs =
        group == "compute" ? compute_param_specs() : make_a2a_kernel(group)->params();
    if (group != "compute" && !params.kernels.count(group))
      params.kernels[group] = resolve_kernel_params(*make_a2a_kernel(group), {}, "calibration");
    auto series_weights = [&](const std::vector<size_t>& use) {
      std::map<std::string, int> count;
      for (size_t i : use)
        ++count[cases[i].measurement().source + "|" + cases[i].measurement().op];
      std::vector<double> w;
      for (size_t i : use)
        w.push_back(1.0 / std::sqrt(count[cases[i].measurement().source + "|" + cases[i].measurement().op]));
      return w;
    };
    auto free_of = [&](bool multi_node_only) {
      std::vector<FreeParam> f;
      for (const auto& s : specs)
        if ((s.name.find("inter") != std::string::npos) == multi_node_only)
          f.push_back(FreeParam{group, s.name, s.lo, s.hi});
      return f;
    };
    size_t single_count = 0, multi = 0;
    auto fit_group = [&](const std::vector<size_t>& use) {
      // Stage 1: single-node cases, every parameter but the multi-node ones.
      std::vector<size_t> single;
      for (size_t i : use)
        if (!cases[i].multi_node())
          single.push_back(i);
      {
        Fitter fit{cases, single, series_weights(single), sim};
        fit.run(params, free_of(false));
      }
      // Stage 2: every case, the multi-node parameters only.
      single_count = single.size();
      multi = use.size() - single.size();
      if (multi > 0) {
        Fitter fit{cases, use, series_weights(use), sim};
        fit.run(params, free_of(true));
      }
    };
    fit_group(idx);
    // Noisy repetitions: rejected and the group refitted once without them.
    const std::vector<double> err = Fitter{cases, idx, series_weights(idx), sim}.residuals(params);
    const std::vector<size_t> rejected = neighbour_outliers(cases, idx, err);
    if (!rejected.empty()) {
      for (size_t pos = 0; pos < idx.size(); ++pos)
        if (std::binary_search(rejected.begin(), rejected.end(), idx[pos])) {
          const Measurement& m = cases[idx[pos]].measurement();
          char b[64];
          std::snprintf(b, sizeof b, "%+.1f%%", 100 * std::expm1(err[pos]));
          notes.push_back("outlier rejected: " + m.source + " line " + std::to_string(m.line) + " (" + m.op + ", " +
                          std::to_string(static_cast<long long>(series_size(m))) + (m.op == "gemm" ? " m" : " tokens") +
                          ": error " + b + " after the first fit, far from its neighbouring sizes)");
          if (outlier)
            (*outlier)[idx[pos]] = true;
        }
      std::vector<size_t> kept;
      for (size_t i : idx)
        if (!std::binary_search(rejected.begin(), rejected.end(), i))
          kept.push_back(i);
      idx = kept;
      fit_group(idx);
    }
    std::string values;
    const KernelParams fitted = group == "compute" ? compute_params_of(params.compute) : params.kernels.at(group);
    for (const auto& s : specs) {
      char b[96];
      std::snprintf(b, sizeof b, "%s%s %.4g", values.empty() ? "" : ", ", s.name.c_str(), fitted.at(s.name));
      values += b;
    }
    notes.push_back((group == "compute" ? std::string("compute model") : "kernel " + group) + " fitted on " +
                    std::to_string(single_count) + " single-node and " + std::to_string(multi) +
                    " multi-node measurements: " + values);
  }
}

} // namespace moesim
