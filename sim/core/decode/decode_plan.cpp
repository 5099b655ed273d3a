#include "core/decode/decode_plan.hpp"

#include "core/decode/refit.hpp"
#include "core/io/errors.hpp"

#include <algorithm>
#include <cstdio>
#include <numeric>

namespace moesim {

ReplayPhase parse_replay_phase(const std::string& s)
{
  if (s == "auto")
    return ReplayPhase::Auto;
  if (s == "decode")
    return ReplayPhase::Decode;
  if (s == "all")
    return ReplayPhase::All;
  throw UsageError("unknown replay phase '" + s + "' (expected auto, decode or all)");
}

std::string replay_phase_name(ReplayPhase p)
{
  switch (p) {
    case ReplayPhase::Auto: return "auto";
    case ReplayPhase::Decode: return "decode";
    case ReplayPhase::All: return "all";
  }
  return "?";
}

void cost_layer(const KernelSetup& kernel, const ModelSpec& model, const Cluster& cluster, int gpus, LayerTraffic& lt)
{
  const int hidden = static_cast<int>(model.hidden_size);
  const bool multi_node = (gpus - 1) / cluster.gpus_per_node() > 0;
  const int sms = cluster.gpu(0).sm_count;
  lt.dispatch_unit_bytes = kernel.unit_bytes(true, hidden);
  lt.combine_unit_bytes = kernel.unit_bytes(false, hidden);
  lt.dispatch_cost = phase_cost(kernel, lt.comm, true, model.num_routed_experts, model.top_k, hidden, sms, multi_node);
  lt.combine_cost = phase_cost(kernel, lt.comm, false, model.num_routed_experts, model.top_k, hidden, sms, multi_node);
}

namespace {
/// Weights every GPU holds whatever the placement: attention, dense FFNs, shared experts, gates, embeddings, LM head.
double replicated_weight_bytes(const ModelSpec& m)
{
  double dense = 0;
  for (int l = 0; l < m.num_layers; ++l) {
    dense += static_cast<double>(m.attention_params()) * m.param_bytes;
    if (m.is_moe_layer(l))
      dense += 3.0 * m.hidden_size * m.shared_expert_ffn_size * m.num_shared_experts * m.expert_param_bytes +
               static_cast<double>(m.hidden_size) * m.num_routed_experts * m.param_bytes;
    else
      dense += 3.0 * m.hidden_size * m.dense_ffn_size * m.param_bytes;
  }
  return dense + 2.0 * static_cast<double>(m.hidden_size) * m.vocab_size * m.param_bytes; // embeddings + LM head
}
} // namespace

double weight_bytes_on_gpu(const ModelSpec& m, const Placement& placement, int gpu)
{
  return gpu < 0 ? replicated_weight_bytes(m) : weight_bytes_per_gpu(m, placement, gpu + 1)[static_cast<size_t>(gpu)];
}

std::vector<double> weight_bytes_per_gpu(const ModelSpec& m, const Placement& placement, int gpus)
{
  std::vector<double> experts(static_cast<size_t>(gpus), 0.0);
  const double copy_bytes = static_cast<double>(m.expert_params()) * m.expert_param_bytes;
  for (const auto& layer : placement.replicas)
    for (const auto& reps : layer)
      for (int g : reps)
        if (g >= 0 && g < gpus)
          experts[static_cast<size_t>(g)] += copy_bytes;
  const double dense = replicated_weight_bytes(m);
  for (double& b : experts)
    b = dense + b;
  return experts;
}

void check_weights_fit(const ModelSpec& model, const Cluster& cluster, const Placement& placement,
                       const std::string& placement_name, int redundant_experts)
{
  const std::vector<double> bytes = weight_bytes_per_gpu(model, placement, cluster.num_gpus());
  for (int g = 0; g < cluster.num_gpus(); ++g) {
    const double need = bytes[static_cast<size_t>(g)];
    if (need > cluster.gpu(g).hbm_capacity_bytes) {
      char buf[320];
      std::snprintf(buf, sizeof buf,
                    "placement %s with %d redundant experts in all puts %.1f GB of weights on GPU %d (%s), more "
                    "than its HBM capacity of %.1f GB: lower --redundant-experts(-total) or use more GPUs",
                    placement_name.c_str(), redundant_experts, need / 1e9, g, cluster.gpu(g).host_name.c_str(),
                    cluster.gpu(g).hbm_capacity_bytes / 1e9);
      throw UsageError(buf);
    }
  }
}

BatchScheduler::BatchScheduler(const Trace& trace, const Grouping& grouping, int num_gpus, int batch_per_gpu,
                               ReplayPhase phase, uint64_t seed)
    : trace_(trace), batch_(batch_per_gpu), rng_(seed)
{
  if (batch_per_gpu < 1)
    throw UsageError("batch per GPU must be >= 1");
  const bool has_decode = trace.count_phase(Phase::Decode) > 0;
  if (phase == ReplayPhase::Decode && !has_decode)
    throw UsageError("--replay decode: the trace has no decode-phase tokens (use --replay all)");
  decode_only_ = phase == ReplayPhase::Decode || (phase == ReplayPhase::Auto && has_decode);
  eligible_.resize(trace.requests.size());
  if (!grouping.read_tokens.empty() && grouping.read_tokens.size() != trace.requests.size())
    throw InternalError("grouping's read tokens do not match the trace");
  for (size_t r = 0; r < trace.requests.size(); ++r) {
    const auto& q = trace.requests[r];
    const int64_t first = q.token_offset + (grouping.read_tokens.empty() ? 0 : grouping.read_tokens[r]);
    for (int64_t t = first; t < q.token_offset + q.token_count; ++t)
      if (!decode_only_ || trace.token_phase[t] == static_cast<uint8_t>(Phase::Decode))
        eligible_[r].push_back(t);
  }
  queue_.resize(num_gpus);
  if (grouping.gpu_of_request.size() != trace.requests.size())
    throw InternalError("grouping size does not match the trace");
  for (size_t r = 0; r < trace.requests.size(); ++r) {
    const int g = grouping.gpu_of_request[r];
    if (g >= num_gpus)
      throw InternalError("grouping sends a request to GPU " + std::to_string(g));
    if (g >= 0 && !eligible_[r].empty())
      queue_[g].push_back(static_cast<int32_t>(r));
  }
  for (const auto& q : queue_)
    if (!q.empty()) {
      distinct_ += std::min<int64_t>(batch_per_gpu, static_cast<int64_t>(q.size()));
      slots_used_ += batch_per_gpu;
    }
  if (distinct_ == 0)
    throw UsageError(std::string("no served request has ") + (decode_only_ ? "decode-phase " : "") +
                     "tokens to replay (empty trace, or a --train-fraction that leaves no request to serve)");
  slots_.assign(num_gpus, std::vector<Slot>(batch_per_gpu));
  next_in_queue_.assign(num_gpus, 0);
}

void BatchScheduler::next_step(std::vector<std::vector<int64_t>>& tokens, std::vector<std::vector<int64_t>>& kv)
{
  const int G = static_cast<int>(queue_.size());
  tokens.assign(G, {});
  kv.assign(G, {});
  for (int g = 0; g < G; ++g) {
    const auto& q = queue_[g];
    if (q.empty())
      continue; // this GPU serves no request
    if (!started_) // the first refill takes the request after those the slots started with
      next_in_queue_[g] = static_cast<int32_t>(std::min<size_t>(batch_, q.size()) % q.size());
    for (int j = 0; j < batch_; ++j) {
      Slot& s = slots_[g][j];
      if (!started_) {
        s.request = q[j % q.size()];
        std::uniform_int_distribution<int32_t> d(0, static_cast<int32_t>(eligible_[s.request].size()) - 1);
        s.cursor = d(rng_);
      } else if (++s.cursor >= static_cast<int32_t>(eligible_[s.request].size())) {
        s.request = q[next_in_queue_[g]];
        next_in_queue_[g] = static_cast<int32_t>((next_in_queue_[g] + 1) % q.size());
        s.cursor = 0;
      }
      const int64_t t = eligible_[s.request][s.cursor];
      tokens[g].push_back(t);
      kv[g].push_back(int64_t(trace_.requests[s.request].prompt_len) + trace_.token_position[t] + 1);
    }
  }
  started_ = true;
}

DecodePlanner::DecodePlanner(const Trace& trace, const ModelSpec& model, const Cluster& cluster,
                             const Placement& placement, const ComputeModel& compute, BatchScheduler& scheduler,
                             int micro_batches, const KernelSetup& kernel)
    : trace_(trace), model_(model), cluster_(cluster), placement_(placement), compute_(compute), scheduler_(scheduler),
      micro_batches_(micro_batches), kernel_(kernel),
      traffic_(kernel.kernel->copy_rule(), cluster.num_gpus(), cluster.gpus_per_node())
{
  if (micro_batches < 1 || micro_batches > scheduler.batch_per_gpu())
    throw UsageError("micro-batches must be between 1 and the batch per GPU");
  index_placement();
}

DecodePlanner::~DecodePlanner() = default;

void DecodePlanner::index_placement()
{
  const int G = cluster_.num_gpus(), E = model_.num_routed_experts;
  local_experts_.assign(model_.num_moe_layers(), std::vector<std::vector<int>>(G));
  for (int l = 0; l < model_.num_moe_layers(); ++l)
    for (int e = 0; e < E; ++e)
      for (int g : placement_.replicas[l][e])
        local_experts_[l][g].push_back(e);
  rep_begin_.assign(1, 0);
  rep_gpu_.clear();
  rep_node_.clear();
  for (int l = 0; l < model_.num_moe_layers(); ++l)
    for (int e = 0; e < E; ++e) {
      for (int g : placement_.replicas[l][e]) {
        rep_gpu_.push_back(g);
        rep_node_.push_back(cluster_.node_of(g));
      }
      rep_begin_.push_back(static_cast<int32_t>(rep_gpu_.size()));
    }
}

void DecodePlanner::enable_refit(const RefitSettings& settings, int steps)
{
  if (step_ > 0)
    throw InternalError("re-fitting enabled after the first step");
  if (settings.every_steps < 1 || settings.window_steps < 0 || !settings.fit || !(settings.expert_bytes > 0) ||
      !(settings.min_load_gain >= 0 && settings.min_load_gain < 1))
    throw InternalError("invalid re-fit settings");
  expert_bytes_ = settings.expert_bytes;
  // Every re-fitted placement is kept until its step: refuse runs whose re-fits would not fit in memory.
  double placement_bytes = 0;
  for (const auto& layer : placement_.replicas)
    for (const auto& reps : layer)
      placement_bytes += sizeof(reps) + 16.0 + sizeof(int) * static_cast<double>(reps.size());
  const int refits = steps > 1 ? (steps - 1) / settings.every_steps : 0;
  if (refits * placement_bytes > 2e9) {
    char buf[300];
    std::snprintf(buf, sizeof buf,
                  "--refit-every %d over %d steps re-fits %d times, and the re-fitted placements would take about "
                  "%.1f GB until their steps: re-fit less often or simulate fewer steps",
                  settings.every_steps, steps, refits, refits * placement_bytes / 1e9);
    throw UsageError(buf);
  }
  // The tokens a step serves do not depend on simulated time, so every re-fit is fitted here, before the run, on a
  // copy of the scheduler: a policy's error is raised before any simulation (and never inside an actor).
  BatchScheduler ahead = scheduler_;
  ServedTokens served;
  const Placement* current = &placement_;
  std::vector<std::vector<int64_t>> tokens, kv;
  for (int s = 1; s < steps; ++s) {
    ahead.next_step(tokens, kv);
    served.add_step(tokens);
    if (s % settings.every_steps != 0)
      continue;
    served.keep_last(settings.window_steps);
    const Trace fit_on = served.trace(trace_);
    Placement fitted;
    try {
      fitted = settings.fit(fit_on);
    } catch (const UsageError& e) {
      throw UsageError("re-fit before step " + std::to_string(s) + " on the " + std::to_string(fit_on.requests.size()) +
                       " requests served (" + std::to_string(fit_on.num_tokens()) + " tokens): " + e.what() +
                       "; re-fit on more steps (--refit-window, --refit-every)");
    }
    fitted.validate(model_.num_moe_layers(), model_.num_routed_experts, cluster_.num_gpus(), "re-fit");
    Placement next = keep_in_place(*current, fitted, cluster_);
    if (settings.min_load_gain > 0)
      keep_layers_that_balance(*current, next, fit_on, settings.min_load_gain);
    refits_.emplace_back(s, std::move(next));
    current = &refits_.back().second;
  }
}

void DecodePlanner::choose_replicas(const std::vector<std::vector<int>>& replicas_of_layer, ExpertIds experts,
                                    int k, int src_gpu, const Cluster& cluster, const std::vector<int64_t>& load,
                                    std::vector<int>& dest)
{
  dest.resize(k);
  const int node = cluster.node_of(src_gpu);
  for (int i = 0; i < k; ++i) {
    const auto& reps = replicas_of_layer[experts[i]];
    if (reps.size() == 1) {
      dest[i] = reps[0];
      continue;
    }
    int best = -1;
    bool best_same_node = false;
    for (int r : reps) {
      if (r == src_gpu) {
        best = r;
        break;
      }
      const bool same_node = cluster.node_of(r) == node;
      if (best < 0 || (same_node && !best_same_node) ||
          (same_node == best_same_node && (load[r] < load[best] || (load[r] == load[best] && r < best)))) {
        best = r;
        best_same_node = same_node;
      }
    }
    dest[i] = best;
  }
}

StepPlan StepSource::next_step()
{
  StepPlan plan = begin_step();
  for (int m = 0; m < static_cast<int>(plan.micro.size()); ++m)
    for (int l = 0; l < moe_layers(); ++l)
      plan.micro[m].layers.push_back(plan_layer(plan, m, l));
  return plan;
}

void DecodePlanner::take_pending_placement(int step)
{
  if (!pending_ || step < pending_step_)
    return;
  placement_ = std::move(*pending_);
  pending_.reset();
  index_placement();
}

namespace {
__extension__ typedef unsigned __int128 ReplicaKey; // GCC and Clang: compared branch-free (cmp, sbb, cmov)
} // namespace

LayerTraffic DecodePlanner::plan_layer(const StepPlan& step, int micro, int l)
{
  take_pending_placement(step.step);
  const auto& tokens = step.micro.at(micro).gpu_tokens;
  LayerTraffic out;
  const int G = cluster_.num_gpus(), k = model_.top_k, E = model_.num_routed_experts;
  out.expert_time_s.assign(G, 0.0);
  out.expert_tokens.assign(G, 0);
  std::vector<int64_t> load(G, 0);
  // [gpu][expert] tokens; only a GPU's own experts are counted, and they are reset below after reading.
  std::vector<int32_t>& expert_count = expert_count_;
  expert_count.resize(static_cast<size_t>(G) * E, 0);
  std::vector<int> dest(k);
  const int32_t* rep_begin = rep_begin_.data() + static_cast<size_t>(l) * E;
  traffic_.begin();
  const int gpn = cluster_.gpus_per_node();
  // A token's ids of one layer are a cache line of their own, far from the previous token's: fetched ahead.
  constexpr size_t kPrefetchTokens = 8;
  for (int g = 0; g < G; ++g) {
    const int node = cluster_.node_of(g), node_first = node * gpn;
    const auto& gpu_tokens = tokens[g];
    for (size_t j = 0; j < std::min(kPrefetchTokens, gpu_tokens.size()); ++j)
      __builtin_prefetch(trace_.experts_address(gpu_tokens[j], l));
    for (size_t j = 0; j < gpu_tokens.size(); ++j) {
      const int64_t t = gpu_tokens[j];
      if (j + kPrefetchTokens < gpu_tokens.size())
        __builtin_prefetch(trace_.experts_address(gpu_tokens[j + kPrefetchTokens], l));
      else if (g + 1 < G && j + kPrefetchTokens - gpu_tokens.size() < tokens[g + 1].size())
        __builtin_prefetch(trace_.experts_address(tokens[g + 1][j + kPrefetchTokens - gpu_tokens.size()], l));
      const ExpertIds ex = trace_.experts_of(t, l);
      // choose_replicas' rule over the flat table (tests check the two agree): the least of (not the sending GPU,
      // not on its node, load, GPU id) over the copies, as a 128-bit key per copy (1 + 1 + 62 bits, then the id)
      // and a branch-free minimum, where the rule's comparisons mispredict on every other copy.
      for (int i = 0; i < k; ++i) {
        const int32_t b = rep_begin[ex[i]], e = rep_begin[ex[i] + 1];
        int best = rep_gpu_[b];
        if (e - b > 1) {
          ReplicaKey least = ~ReplicaKey{0};
          for (int32_t j = b; j < e; ++j) {
            const int r = rep_gpu_[j];
            const uint64_t rank = (static_cast<uint64_t>(r != g) << 63) |
                                  (static_cast<uint64_t>(rep_node_[j] != node) << 62) | static_cast<uint64_t>(load[r]);
            least = std::min(least, (static_cast<ReplicaKey>(rank) << 64) | static_cast<uint32_t>(r));
          }
          best = static_cast<int>(static_cast<uint64_t>(least));
        }
        dest[i] = best;
      }
      for (int i = 0; i < k; ++i) {
        const int d = dest[i];
        ++load[d];
        ++expert_count[static_cast<size_t>(d) * E + ex[i]];
        ++out.pairs_total;
        if (d == g)
          ++out.pairs_local_gpu;
        if (static_cast<unsigned>(d - node_first) < static_cast<unsigned>(gpn)) // d on g's node, no division
          ++out.pairs_local_node;
      }
      traffic_.add_token(g, dest.data(), k);
    }
    traffic_.end_gpu(g);
  }
  traffic_.finish(out.comm);
  cost_layer(kernel_, model_, cluster_, G, out);
  std::vector<int32_t> local;
  for (int g = 0; g < G; ++g) {
    local.clear();
    for (int e : local_experts_[l][g])
      local.push_back(expert_count[static_cast<size_t>(g) * E + e]);
    for (int e : local_experts_[l][g]) // after reading: an expert may be listed twice on one GPU
      expert_count[static_cast<size_t>(g) * E + e] = 0;
    out.expert_tokens[g] = load[g];
    out.expert_time_s[g] = compute_.routed_experts_time_s(local, cluster_.gpu(g));
  }
  return out;
}

StepPlan DecodePlanner::begin_step()
{
  StepPlan plan;
  take_pending_placement(step_);
  if (next_refit_ < refits_.size() && refits_[next_refit_].first == step_) {
    auto next = std::make_unique<Placement>(std::move(refits_[next_refit_++].second));
    WeightMoves moves = plan_weight_moves(placement_, *next, cluster_, expert_bytes_);
    plan.weight_copies = moves.copies;
    plan.weight_copies_inter_node = moves.copies_inter_node;
    plan.refit = true;
    if (moves.copies > 0)
      plan.weight_moves = std::make_shared<const LayerTraffic>(std::move(moves.traffic));
    pending_ = std::move(next);
    pending_step_ = step_;
  }
  std::vector<std::vector<int64_t>> tokens, kv;
  scheduler_.next_step(tokens, kv);
  const int G = cluster_.num_gpus(), M = micro_batches_;
  plan.step = step_++;
  plan.micro.resize(M);
  for (int m = 0; m < M; ++m) {
    // Micro-batch m holds the slots [m * B / M, (m + 1) * B / M) of every GPU.
    MicroBatchPlan& mp = plan.micro[m];
    auto& mt = mp.gpu_tokens;
    mt.resize(G);
    mp.tokens.assign(G, 0);
    mp.kv_tokens.assign(G, 0);
    for (int g = 0; g < G; ++g) {
      const size_t B = tokens[g].size();
      const size_t lo = m * B / M, hi = (m + 1) * B / M;
      mt[g].assign(tokens[g].begin() + lo, tokens[g].begin() + hi);
      mp.tokens[g] = static_cast<int64_t>(hi - lo);
      mp.kv_tokens[g] = std::accumulate(kv[g].begin() + lo, kv[g].begin() + hi, int64_t{0});
    }
    mp.moe_pre_s.assign(G, 0.0);
    mp.dense_layer_s.assign(G, 0.0);
    mp.lm_head_s.assign(G, 0.0);
    for (int g = 0; g < G; ++g) {
      const int64_t n = mp.tokens[g];
      if (n == 0)
        continue;
      const GpuInfo& gpu = cluster_.gpu(g);
      const double att = compute_.time_s(compute_.attention(n, mp.kv_tokens[g]), gpu, false);
      mp.moe_pre_s[g] = att + compute_.time_s(compute_.gate(n), gpu, false) +
                        compute_.time_s(compute_.shared_experts(n), gpu, true);
      mp.dense_layer_s[g] = att + compute_.time_s(compute_.dense_ffn(n), gpu, false);
      mp.lm_head_s[g] = compute_.time_s(compute_.lm_head(n), gpu, false);
    }
  }
  return plan;
}

} // namespace moesim
