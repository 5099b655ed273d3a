#include "core/op/op.hpp"

#include "core/io/errors.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>
#include <system_error>

namespace moesim {

OpKind parse_op_kind(const std::string& name)
{
  if (name == "dispatch")
    return OpKind::Dispatch;
  if (name == "combine")
    return OpKind::Combine;
  if (name == "experts")
    return OpKind::Experts;
  if (name == "moe-layer")
    return OpKind::MoeLayer;
  throw UsageError("unknown operation '" + name + "' (expected dispatch, combine, experts or moe-layer)");
}

std::string op_kind_name(OpKind k)
{
  switch (k) {
    case OpKind::Dispatch: return "dispatch";
    case OpKind::Combine: return "combine";
    case OpKind::Experts: return "experts";
    case OpKind::MoeLayer: return "moe-layer";
  }
  return "?";
}

OpRouting OpRouting::parse(const std::string& text)
{
  OpRouting r;
  if (text == "uniform")
    return r;
  if (text == "deepep-test") {
    r.kind = Kind::DeepEpTest;
    return r;
  }
  if (text == "balanced") {
    r.kind = Kind::Balanced;
    return r;
  }
  if (text == "deepep-internode") {
    r.kind = Kind::NodeLimited;
    return r;
  }
  if (text.rfind("power_law:", 0) == 0) {
    r.kind = Kind::PowerLaw;
    const std::string a = text.substr(10);
    char* end = nullptr;
    r.alpha = std::strtod(a.c_str(), &end);
    if (a.empty() || *end != '\0' || !std::isfinite(r.alpha) || r.alpha <= 0 || r.alpha > 10)
      throw UsageError("--routing power_law:ALPHA needs an exponent in (0, 10], got '" + a + "'");
    return r;
  }
  static const char* kExpected =
      "uniform, deepep-test, deepep-internode, balanced, power_law:ALPHA or a trace file (FILE.h5[:MOE_LAYER])";
  if (text.empty())
    throw UsageError(std::string("--routing: expected ") + kExpected);
  r.kind = Kind::Trace;
  r.trace_file = text;
  // FILE:LAYER (the last ':' followed by digits only).
  const size_t c = text.rfind(':');
  if (c != std::string::npos && c + 1 < text.size() &&
      text.find_first_not_of("0123456789", c + 1) == std::string::npos) {
    r.trace_file = text.substr(0, c);
    if (text.size() - c - 1 > 6)
      throw UsageError("--routing: MoE layer '" + text.substr(c + 1) + "' is out of range");
    r.trace_layer = std::stoi(text.substr(c + 1));
  }
  std::error_code ec;
  if (!std::filesystem::exists(r.trace_file, ec))
    throw UsageError("--routing: '" + text + "' is not a routing name nor an existing trace file (expected " +
                     kExpected + ")");
  return r;
}

std::string OpRouting::name() const
{
  switch (kind) {
    case Kind::Uniform: return "uniform";
    case Kind::DeepEpTest: return "deepep-test";
    case Kind::Balanced: return "balanced";
    case Kind::NodeLimited: return "deepep-internode";
    case Kind::PowerLaw: {
      char b[48];
      std::snprintf(b, sizeof b, "power_law:%g", alpha);
      return b;
    }
    case Kind::Trace: return trace_file + ":" + std::to_string(trace_layer);
  }
  return "?";
}

std::vector<std::vector<int>> linear_expert_gpus(int num_experts, int gpus)
{
  if (gpus < 1 || num_experts % gpus != 0)
    throw UsageError(std::to_string(num_experts) + " experts do not divide evenly over " + std::to_string(gpus) +
                     " GPUs");
  std::vector<std::vector<int>> out(num_experts);
  for (int e = 0; e < num_experts; ++e)
    out[e] = {e / (num_experts / gpus)};
  return out;
}

namespace {

/// aiconfigurator's power-law expert loads (collector/helper.py, _generate_power_law_distribution): E samples of a
/// power law truncated to [xmin, xmax] (1 .. 0.8 N when tokens outnumber experts, else 0.01 .. 2), scaled to N x k
/// selections and rounded, the rounding difference given to (taken from) the largest (smallest) counts, and the
/// most loaded GPU's experts swapped into the first GPU's place.
std::vector<int64_t> power_law_counts(int64_t tokens, int experts, int k, int gpus, double alpha, std::mt19937_64& rng)
{
  const bool many = tokens * k > experts;
  const double xmin = many ? 1.0 : 0.01, xmax = many ? 0.8 * static_cast<double>(tokens) : 2.0;
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  std::vector<double> x(experts);
  for (double& v : x) {
    const double u = u01(rng);
    if (std::fabs(alpha - 1.0) < 1e-9) // the inverse CDF's limit: log-uniform
      v = xmin * std::pow(xmax / xmin, u);
    else
      v = std::pow((std::pow(xmax, 1 - alpha) - std::pow(xmin, 1 - alpha)) * u + std::pow(xmin, 1 - alpha),
                   1 / (1 - alpha));
  }
  const double sum = std::accumulate(x.begin(), x.end(), 0.0);
  const int64_t target = tokens * k;
  std::vector<int64_t> c(experts);
  for (int e = 0; e < experts; ++e)
    c[e] = std::llround(x[e] / sum * static_cast<double>(target));
  int64_t delta = target - std::accumulate(c.begin(), c.end(), int64_t{0});
  std::vector<int> order(experts);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return c[a] > c[b]; });
  for (int64_t i = 0; delta > 0 && i < delta; ++i)
    ++c[order[i % experts]];
  for (int64_t i = 0; delta < 0 && i < -delta; ++i) {
    const int e = order[experts - 1 - (i % experts)];
    if (c[e] > 0)
      --c[e];
    else
      --c[std::max_element(c.begin(), c.end()) - c.begin()];
  }
  const int per = experts / gpus;
  int best = 0;
  int64_t best_load = -1;
  for (int g = 0; g < gpus; ++g) {
    const int64_t load = std::accumulate(c.begin() + g * per, c.begin() + (g + 1) * per, int64_t{0});
    if (load > best_load) {
      best_load = load;
      best = g;
    }
  }
  if (best != 0)
    std::swap_ranges(c.begin(), c.begin() + per, c.begin() + best * per);
  return c;
}

} // namespace

OpTokens make_op_tokens(const OpSpec& spec, const ModelSpec& model, int sample, const Trace* trace)
{
  const int G = spec.gpus, T = spec.tokens_per_gpu, k = model.top_k, E = model.num_routed_experts;
  if (G < 1 || T < 0 || k < 1 || k > E)
    throw UsageError("operation needs at least one GPU, tokens >= 0 and 1 <= top-k <= experts");
  OpTokens out;
  out.k = k;
  out.experts.assign(G, std::vector<int32_t>(static_cast<size_t>(T) * k, -1));
  std::mt19937_64 rng(spec.seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(sample) + 1);
  using K = OpRouting::Kind;
  switch (spec.routing.kind) {
    case K::Uniform:
    case K::DeepEpTest: {
      std::uniform_int_distribution<int> pick(0, E - 1);
      for (int g = 0; g < G; ++g) {
        auto& ex = out.experts[g];
        for (int t = 0; t < T; ++t)
          for (int j = 0; j < k; ++j) {
            int e;
            do { // k distinct experts (rejection: k << E in practice)
              e = pick(rng);
            } while (std::find(ex.begin() + static_cast<long>(t) * k, ex.begin() + static_cast<long>(t) * k + j, e) !=
                     ex.begin() + static_cast<long>(t) * k + j);
            ex[static_cast<size_t>(t) * k + j] = e;
          }
        if (spec.routing.kind == K::DeepEpTest && T > 0) {
          std::uniform_int_distribution<int> tok(0, T - 1), slot(0, k - 1);
          for (int i = 0; i < 10; ++i) {
            const int t = tok(rng), j = slot(rng);
            ex[static_cast<size_t>(t) * k + j] = -1;
          }
        }
      }
      break;
    }
    case K::NodeLimited: {
      const int nodes = std::max(1, G / std::max(1, spec.gpus_per_node));
      if (E % nodes != 0)
        throw UsageError("node-limited routing needs the experts to divide over the nodes");
      const int groups = std::min(nodes, 4), per_node = E / nodes;
      if (k > groups * per_node)
        throw UsageError("node-limited routing: top-k exceeds the experts of the chosen nodes");
      std::vector<int> node_ids(nodes);
      std::uniform_int_distribution<int> pick(0, groups * per_node - 1);
      for (int g = 0; g < G; ++g) {
        auto& ex = out.experts[g];
        for (int t = 0; t < T; ++t) {
          std::iota(node_ids.begin(), node_ids.end(), 0);
          for (int i = 0; i < groups; ++i) // a random subset of `groups` nodes (partial Fisher-Yates)
            std::swap(node_ids[i], node_ids[std::uniform_int_distribution<int>(i, nodes - 1)(rng)]);
          for (int j = 0; j < k; ++j) {
            int e;
            do {
              const int x = pick(rng);
              e = node_ids[x / per_node] * per_node + x % per_node;
            } while (std::find(ex.begin() + static_cast<long>(t) * k, ex.begin() + static_cast<long>(t) * k + j, e) !=
                     ex.begin() + static_cast<long>(t) * k + j);
            ex[static_cast<size_t>(t) * k + j] = e;
          }
        }
      }
      break;
    }
    case K::Balanced: {
      if (E % G != 0)
        throw UsageError("balanced routing needs the experts to divide over the GPUs");
      const int64_t per = E / G;
      for (int g = 0; g < G; ++g)
        for (int64_t j = 0; j < static_cast<int64_t>(T) * k; ++j) {
          const int64_t idx = static_cast<int64_t>(g) * T * k + j;
          const int64_t rank = idx % G, local = (idx / G) % per;
          out.experts[g][j] = static_cast<int32_t>(rank * per + local);
        }
      break;
    }
    case K::PowerLaw: {
      if (E % G != 0)
        throw UsageError("power-law routing needs the experts to divide over the GPUs");
      const int64_t N = static_cast<int64_t>(T) * G;
      const auto c = power_law_counts(N, E, k, G, spec.routing.alpha, rng);
      // Experts by load (most first), each repeated by its count, dealt as [slot][token] (the collector's
      // reshape(topk, tokens).T); token i belongs to GPU i / T.
      std::vector<int> order(E);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return c[a] > c[b]; });
      std::vector<int32_t> assign;
      assign.reserve(static_cast<size_t>(N) * k);
      for (int e : order)
        assign.insert(assign.end(), static_cast<size_t>(c[e]), e);
      for (int64_t i = 0; i < N; ++i)
        for (int j = 0; j < k; ++j)
          out.experts[i / std::max(1, T)][static_cast<size_t>(i % std::max(1, T)) * k + j] =
              assign[static_cast<size_t>(j) * N + i];
      break;
    }
    case K::Trace: {
      if (!trace || trace->num_tokens() == 0)
        throw UsageError("routing from a trace needs a trace with tokens");
      if (trace->top_k != k || trace->num_experts != E)
        throw UsageError("the routing trace has " + std::to_string(trace->num_experts) + " experts and top-" +
                         std::to_string(trace->top_k) + ", the model " + std::to_string(E) + " and top-" +
                         std::to_string(k));
      if (spec.routing.trace_layer < 0 || spec.routing.trace_layer >= trace->num_layers())
        throw UsageError("the routing trace has MoE layers 0.." + std::to_string(trace->num_layers() - 1) +
                         ", not " + std::to_string(spec.routing.trace_layer));
      const int64_t n = trace->num_tokens();
      const int64_t first = static_cast<int64_t>(sample) * G * T;
      for (int g = 0; g < G; ++g)
        for (int t = 0; t < T; ++t) {
          const ExpertIds ex = trace->experts_of((first + static_cast<int64_t>(g) * T + t) % n, spec.routing.trace_layer);
          for (int j = 0; j < k; ++j)
            out.experts[g][static_cast<size_t>(t) * k + j] = ex[j];
        }
      break;
    }
  }
  return out;
}

LayerTraffic plan_op_layer(const OpTokens& tokens, const ModelSpec& model, const Cluster& cluster,
                           const KernelSetup& kernel, const ComputeModel& compute, const GpuInfo* gpu_info)
{
  const int G = static_cast<int>(tokens.experts.size()), k = tokens.k, E = model.num_routed_experts;
  if (G > cluster.num_gpus())
    throw UsageError("the operation needs " + std::to_string(G) + " GPUs, the platform has " +
                     std::to_string(cluster.num_gpus()));
  const int gpn = std::min(G, cluster.gpus_per_node());
  if (G % gpn != 0)
    throw UsageError("the operation's " + std::to_string(G) + " GPUs are not whole nodes of " +
                     std::to_string(cluster.gpus_per_node()) + " GPUs");
  const auto where = linear_expert_gpus(E, G);
  LayerTraffic lt;
  lt.expert_time_s.assign(G, 0.0);
  lt.expert_tokens.assign(G, 0);
  TrafficBuilder tb(kernel.kernel->copy_rule(), G, gpn);
  tb.begin();
  const int per = E / G;
  std::vector<std::vector<int32_t>> local(G, std::vector<int32_t>(per, 0));
  std::vector<int> dest;
  for (int g = 0; g < G; ++g) {
    const auto& ex = tokens.experts[g];
    for (size_t t = 0; t * k < ex.size(); ++t) {
      dest.clear();
      for (int j = 0; j < k; ++j) {
        const int32_t e = ex[t * k + j];
        if (e < 0)
          continue; // a masked selection
        const int d = where[e][0];
        dest.push_back(d);
        ++local[d][e % per];
        ++lt.expert_tokens[d];
        ++lt.pairs_total;
        lt.pairs_local_gpu += d == g;
        lt.pairs_local_node += d / gpn == g / gpn;
      }
      tb.add_token(g, dest.data(), static_cast<int>(dest.size()));
    }
    tb.end_gpu(g);
  }
  tb.finish(lt.comm);
  // The operation's GPUs: multi-node when they span nodes of the platform.
  const int hidden = static_cast<int>(model.hidden_size);
  const bool multi_node = G > cluster.gpus_per_node();
  const int sms = (gpu_info ? *gpu_info : cluster.gpu(0)).sm_count;
  lt.dispatch_unit_bytes = kernel.unit_bytes(true, hidden);
  lt.combine_unit_bytes = kernel.unit_bytes(false, hidden);
  lt.dispatch_cost = phase_cost(kernel, lt.comm, true, E, k, hidden, sms, multi_node);
  lt.combine_cost = phase_cost(kernel, lt.comm, false, E, k, hidden, sms, multi_node);
  for (int g = 0; g < G; ++g)
    lt.expert_time_s[g] = compute.routed_experts_time_s(local[g], gpu_info ? *gpu_info : cluster.gpu(g));
  return lt;
}

ModelSpec op_model(int hidden, int expert_ffn, int top_k, int experts, const std::string& expert_dtype)
{
  ModelSpec m;
  m.name = "op";
  m.model_type = "op";
  m.num_layers = 1;
  m.moe_layers = {0};
  m.num_routed_experts = experts;
  m.top_k = top_k;
  m.hidden_size = hidden;
  m.expert_ffn_size = expert_ffn;
  m.param_dtype = "bf16";
  m.expert_param_dtype = expert_dtype;
  m.expert_param_bytes = expert_dtype == "fp8" ? 1.0 : 2.0;
  return m;
}

OpPlanner::OpPlanner(LayerTraffic layer, OpKind kind) : layer_(std::move(layer))
{
  layer_.dispatch_idle = kind == OpKind::Combine || kind == OpKind::Experts;
  layer_.combine_idle = kind == OpKind::Dispatch || kind == OpKind::Experts;
  if (kind == OpKind::Dispatch || kind == OpKind::Combine)
    std::fill(layer_.expert_time_s.begin(), layer_.expert_time_s.end(), 0.0);
}

StepPlan OpPlanner::begin_step()
{
  const int G = static_cast<int>(layer_.expert_time_s.size());
  StepPlan plan;
  MicroBatchPlan mp;
  mp.tokens = layer_.comm.tokens;
  mp.kv_tokens.assign(G, 0);
  mp.moe_pre_s.assign(G, 0.0);
  mp.dense_layer_s.assign(G, 0.0);
  mp.lm_head_s.assign(G, 0.0);
  plan.micro.push_back(std::move(mp));
  return plan;
}

} // namespace moesim
