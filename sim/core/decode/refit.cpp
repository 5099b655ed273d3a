#include "core/decode/refit.hpp"

#include "core/io/errors.hpp"

#include <algorithm>
#include <limits>

namespace moesim {

void ServedTokens::add_step(const std::vector<std::vector<int64_t>>& tokens)
{
  std::vector<int64_t> flat;
  for (const auto& g : tokens)
    flat.insert(flat.end(), g.begin(), g.end());
  steps_.push_back(std::move(flat));
}

void ServedTokens::keep_last(int window_steps)
{
  if (window_steps <= 0)
    return;
  while (static_cast<int>(steps_.size()) > window_steps)
    steps_.pop_front();
}

Trace ServedTokens::trace(const Trace& source) const
{
  std::vector<int64_t> tokens;
  for (const auto& s : steps_)
    tokens.insert(tokens.end(), s.begin(), s.end());
  // A request's tokens are contiguous and in ascending position in the source, so ascending token indices group
  // them by request in position order.
  std::sort(tokens.begin(), tokens.end());
  tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
  Trace t;
  t.model_name = source.model_name;
  t.source = "tokens served by the run (" + source.source + ")";
  t.num_experts = source.num_experts;
  t.top_k = source.top_k;
  t.moe_layers = source.moe_layers;
  t.labels = source.labels;
  t.datasets = source.datasets;
  const size_t per_token = source.moe_layers.size() * static_cast<size_t>(source.top_k);
  const bool narrow = !source.experts8.empty();
  (narrow ? t.experts8.reserve(tokens.size() * per_token) : t.experts.reserve(tokens.size() * per_token));
  int32_t previous = -1;
  for (int64_t tok : tokens) {
    if (tok < 0 || tok >= source.num_tokens())
      throw InternalError("served token out of the trace");
    const int32_t r = source.token_request[tok];
    if (r != previous) {
      previous = r;
      TraceRequest q = source.requests[r];
      q.token_offset = t.num_tokens();
      q.token_count = 0;
      t.requests.push_back(q);
    }
    ++t.requests.back().token_count;
    t.token_request.push_back(static_cast<int32_t>(t.requests.size() - 1));
    t.token_position.push_back(source.token_position[tok]);
    t.token_phase.push_back(source.token_phase[tok]);
    const size_t at = source.expert_offset(tok, 0);
    if (narrow)
      t.experts8.insert(t.experts8.end(), source.experts8.begin() + at, source.experts8.begin() + at + per_token);
    else
      t.experts.insert(t.experts.end(), source.experts.begin() + at, source.experts.begin() + at + per_token);
  }
  return t;
}

namespace {

/// Assignment of n rows to n columns maximising the summed weight (Hungarian method with potentials, O(n^3)).
/// Returns col_of_row.
std::vector<int> max_weight_assignment(const std::vector<std::vector<int64_t>>& w)
{
  const int n = static_cast<int>(w.size());
  int64_t top = 0;
  for (const auto& row : w)
    for (int64_t x : row)
      top = std::max(top, x);
  // Minimise cost = top - w; 1-based arrays, column 0 is the virtual start.
  const int64_t inf = std::numeric_limits<int64_t>::max() / 4;
  std::vector<int64_t> u(n + 1, 0), v(n + 1, 0), way_cost(n + 1);
  std::vector<int> row_of_col(n + 1, 0), way(n + 1, 0);
  for (int i = 1; i <= n; ++i) {
    row_of_col[0] = i;
    int j0 = 0;
    std::fill(way_cost.begin(), way_cost.end(), inf);
    std::vector<char> used(n + 1, 0);
    do {
      used[j0] = 1;
      const int i0 = row_of_col[j0];
      int64_t delta = inf;
      int j1 = 0;
      for (int j = 1; j <= n; ++j)
        if (!used[j]) {
          const int64_t cur = (top - w[i0 - 1][j - 1]) - u[i0] - v[j];
          if (cur < way_cost[j]) {
            way_cost[j] = cur;
            way[j] = j0;
          }
          if (way_cost[j] < delta) {
            delta = way_cost[j];
            j1 = j;
          }
        }
      for (int j = 0; j <= n; ++j)
        if (used[j]) {
          u[row_of_col[j]] += delta;
          v[j] -= delta;
        } else {
          way_cost[j] -= delta;
        }
      j0 = j1;
    } while (row_of_col[j0] != 0);
    do {
      const int j1 = way[j0];
      row_of_col[j0] = row_of_col[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<int> col_of_row(n, -1);
  for (int j = 1; j <= n; ++j)
    col_of_row[row_of_col[j] - 1] = j - 1;
  return col_of_row;
}

} // namespace

Placement keep_in_place(const Placement& from, const Placement& to, const Cluster& cluster)
{
  const int G = cluster.num_gpus(), gpn = cluster.gpus_per_node(), nodes = cluster.num_nodes();
  if (from.replicas.size() != to.replicas.size())
    throw InternalError("re-fitted placement has another number of layers");
  Placement out = to;
  std::vector<std::vector<char>> old_has(G);
  for (size_t l = 0; l < to.replicas.size(); ++l) {
    const size_t E = to.replicas[l].size();
    if (from.replicas[l].size() != E)
      throw InternalError("re-fitted placement has another number of experts");
    for (auto& h : old_has)
      h.assign(E, 0);
    for (size_t e = 0; e < E; ++e)
      for (int g : from.replicas[l][e])
        old_has[g][e] = 1;
    std::vector<int> gpu_of(G); // new GPU of each GPU layout of `to`
    for (int n = 0; n < nodes; ++n) {
      // w[i][j]: experts the layout of GPU n*gpn+i holds that GPU n*gpn+j holds already.
      std::vector<std::vector<int64_t>> w(gpn, std::vector<int64_t>(gpn, 0));
      for (size_t e = 0; e < E; ++e)
        for (int g : to.replicas[l][e])
          if (cluster.node_of(g) == n)
            for (int j = 0; j < gpn; ++j)
              w[g - n * gpn][j] += old_has[n * gpn + j][e];
      const std::vector<int> col = max_weight_assignment(w);
      for (int i = 0; i < gpn; ++i)
        gpu_of[n * gpn + i] = n * gpn + col[i];
    }
    for (size_t e = 0; e < E; ++e)
      for (int& g : out.replicas[l][e])
        g = gpu_of[g];
  }
  return out;
}

int keep_layers_that_balance(const Placement& from, Placement& to, const Trace& served, double min_gain)
{
  if (from.replicas.size() != to.replicas.size() || static_cast<int>(to.replicas.size()) != served.num_layers())
    throw InternalError("re-fitted placement does not match the served trace's layers");
  int kept = 0;
  std::vector<double> load, gpu;
  for (int l = 0; l < served.num_layers(); ++l) {
    load.assign(to.replicas[l].size(), 0.0);
    for (int64_t t = 0; t < served.num_tokens(); ++t) {
      const ExpertIds ex = served.experts_of(t, l);
      for (int i = 0; i < served.top_k; ++i)
        if (static_cast<size_t>(ex[i]) < load.size())
          load[ex[i]] += 1;
    }
    const auto largest = [&](const std::vector<std::vector<int>>& layer) {
      gpu.clear();
      for (size_t e = 0; e < layer.size(); ++e)
        for (int g : layer[e]) {
          if (static_cast<size_t>(g) >= gpu.size())
            gpu.resize(g + 1, 0.0);
          gpu[g] += load[e] / static_cast<double>(layer[e].size());
        }
      return gpu.empty() ? 0.0 : *std::max_element(gpu.begin(), gpu.end());
    };
    const double before = largest(from.replicas[l]), after = largest(to.replicas[l]);
    if (after < before * (1 - min_gain))
      ++kept;
    else
      to.replicas[l] = from.replicas[l];
  }
  return kept;
}

WeightMoves plan_weight_moves(const Placement& from, const Placement& to, const Cluster& cluster,
                              double expert_bytes)
{
  const int G = cluster.num_gpus();
  if (from.replicas.size() != to.replicas.size())
    throw InternalError("re-fitted placement has another number of layers");
  WeightMoves out;
  std::vector<std::vector<int32_t>> units(G, std::vector<int32_t>()); // [src] dense row, filled on demand
  std::vector<int64_t> given(G, 0);                                    // copies each GPU has to send so far
  for (size_t l = 0; l < to.replicas.size(); ++l) {
    if (from.replicas[l].size() != to.replicas[l].size())
      throw InternalError("re-fitted placement has another number of experts");
    for (size_t e = 0; e < to.replicas[l].size(); ++e) {
      const auto& old = from.replicas[l][e];
      std::vector<int> fresh;
      for (int g : to.replicas[l][e])
        if (std::find(old.begin(), old.end(), g) == old.end() && std::find(fresh.begin(), fresh.end(), g) == fresh.end())
          fresh.push_back(g);
      for (int g : fresh) {
        int src = -1;
        bool src_same_node = false;
        for (int s : old) {
          const bool same = cluster.node_of(s) == cluster.node_of(g);
          if (src < 0 || (same && !src_same_node) ||
              (same == src_same_node && (given[s] < given[src] || (given[s] == given[src] && s < src)))) {
            src = s;
            src_same_node = same;
          }
        }
        if (src < 0)
          throw InternalError("expert without a copy before the re-fit");
        ++given[src];
        if (units[src].empty())
          units[src].assign(G, 0);
        ++units[src][g];
        ++out.copies;
        if (!src_same_node)
          ++out.copies_inter_node;
      }
    }
  }
  LayerTraffic& lt = out.traffic;
  LayerComm& c = lt.comm;
  c.rule = CopyRule::PerGpu;
  c.stages.assign(1, PairUnits{});
  PairUnits& st = c.stages[0];
  st.out.assign(G, {});
  st.in.assign(G, {});
  c.units_own.assign(G, 0);
  c.units_held.assign(G, 0);
  for (int s = 0; s < G; ++s)
    for (int d = 0; d < G && !units[s].empty(); ++d)
      if (const int32_t n = units[s][d]; n > 0) {
        st.out[s].emplace_back(d, n);
        st.in[d].emplace_back(s, n);
        c.units_own[s] += n;
        c.units_held[d] += n;
        (cluster.node_of(s) == cluster.node_of(d) ? c.units_intra_node : c.units_inter_node) += n;
        c.max_message_units = std::max(c.max_message_units, n);
      }
  lt.dispatch_unit_bytes = expert_bytes;
  lt.combine_unit_bytes = 0;
  lt.combine_idle = true;
  lt.expert_time_s.assign(G, 0.0);
  lt.expert_tokens.assign(G, 0);
  return out;
}

} // namespace moesim
