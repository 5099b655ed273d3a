#include "core/decode/recorder.hpp"

#include "core/io/atomic_file.hpp"
#include "core/io/errors.hpp"
#include "core/io/h5.hpp"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <numeric>
#include <sstream>

namespace moesim {

const char* span_kind_name(SpanKind k)
{
  switch (k) {
    case SpanKind::Attention: return "attention_block"; // attention + gate + shared experts, or + the dense FFN
    case SpanKind::Dispatch: return "dispatch";
    case SpanKind::Expert: return "expert";
    case SpanKind::Combine: return "combine";
    case SpanKind::Head: return "lm_head";
    case SpanKind::Wait: return "wait";
    case SpanKind::WeightMove: return "weight_move";
  }
  return "?";
}

double estimate_recording_bytes(const RecorderShape& s)
{
  const double steps = s.steps, G = s.gpus;
  double bytes = steps * s.layers * kNumSpanKinds * 8.0 + steps * 200.0;
  bytes += static_cast<double>(s.matrix_steps.size()) * s.matrix_moe_layers.size() * G * G * 8.0 * 2; // kept + written
  if (s.timeline) { // one span per phase per layer per GPU and micro-batch, plus its JSON text
    const auto kept = [](int first, int last, int n) { return std::max(0, (last < 0 ? n - 1 : std::min(last, n - 1)) - first + 1); };
    const double ts = kept(s.timeline_first_step, s.timeline_last_step, s.steps);
    const double tg = kept(s.timeline_first_gpu, s.timeline_last_gpu, s.gpus);
    bytes += ts * tg * s.micro_batches * (s.layers * 4.0 + 1) * (sizeof(Recorder::TimelineSpan) + 160.0);
  }
  return bytes;
}

Recorder::Recorder(RecorderShape shape) : shape_(std::move(shape))
{
  sums_.assign(static_cast<size_t>(shape_.steps) * shape_.layers * kNumSpanKinds, 0.0);
  head_.assign(shape_.steps, 0.0);
  step_end_.assign(shape_.steps, 0.0);
  metrics_.assign(shape_.steps, StepMetrics{});
  layer_intra_tokens_.assign(shape_.moe_layers.size(), 0.0);
  layer_gpu_pairs_.assign(shape_.moe_layers.size() * static_cast<size_t>(shape_.gpus), 0.0);
  layer_inter_tokens_.assign(shape_.moe_layers.size(), 0.0);
}

void Recorder::span(int step, int gpu, int micro, int layer, SpanKind kind, double t0, double t1, int64_t tokens,
                    double bytes)
{
  if (step < 0 || step >= shape_.steps)
    return;
  if (kind == SpanKind::WeightMove) {
    auto& m = metrics_[step];
    m.weight_move_s = std::max(m.weight_move_s, t1 - t0);
  } else if (layer < 0)
    head_[step] += t1 - t0;
  else
    sums_[idx(step, layer, static_cast<int>(kind))] += t1 - t0;
  const auto in = [](int v, int first, int last) { return v >= first && (last < 0 || v <= last); };
  if (shape_.timeline && in(step, shape_.timeline_first_step, shape_.timeline_last_step) &&
      in(gpu, shape_.timeline_first_gpu, shape_.timeline_last_gpu))
    timeline_.push_back(TimelineSpan{step, gpu, micro, layer, kind, t0, t1, tokens, bytes});
}

void Recorder::step_done(int step, int /*gpu*/, double t)
{
  if (step >= 0 && step < shape_.steps)
    step_end_[step] = std::max(step_end_[step], t);
}

void Recorder::step_metrics(const StepPlan& plan)
{
  if (plan.step >= shape_.steps)
    return;
  StepMetrics& m = metrics_[plan.step];
  for (const auto& mb : plan.micro)
    for (auto t : mb.tokens)
      m.batch_tokens += static_cast<double>(t);
  m.refit = plan.refit;
  m.weight_copies = static_cast<double>(plan.weight_copies);
  m.weight_copies_inter_node = static_cast<double>(plan.weight_copies_inter_node);
}

void Recorder::layer_metrics(int step, int micro, int li, const LayerTraffic& lt)
{
  if (step >= shape_.steps)
    return;
  StepMetrics& m = metrics_[step];
  const int G = shape_.gpus;
  const size_t L = shape_.moe_layers.size();
  layer_intra_tokens_[li] += static_cast<double>(lt.comm.units_intra_node);
  layer_inter_tokens_[li] += static_cast<double>(lt.comm.units_inter_node);
  m.dispatch_intra_tokens += static_cast<double>(lt.comm.units_intra_node);
  m.dispatch_inter_tokens += static_cast<double>(lt.comm.units_inter_node);
  m.pairs_total += static_cast<double>(lt.pairs_total);
  m.pairs_local_gpu += static_cast<double>(lt.pairs_local_gpu);
  m.pairs_local_node += static_cast<double>(lt.pairs_local_node);
  m.max_message_tokens = std::max<double>(m.max_message_tokens, lt.comm.max_message_units);
  for (size_t g = 0; g < lt.expert_tokens.size() && g < static_cast<size_t>(G); ++g)
    layer_gpu_pairs_[li * static_cast<size_t>(G) + g] += static_cast<double>(lt.expert_tokens[g]);
  const double mx = static_cast<double>(*std::max_element(lt.expert_tokens.begin(), lt.expert_tokens.end()));
  double sum = 0;
  for (auto x : lt.expert_tokens)
    sum += static_cast<double>(x);
  if (m.load_ratio.empty())
    m.load_ratio.assign(static_cast<size_t>(shape_.micro_batches) * L, -1.0);
  m.load_ratio.at(static_cast<size_t>(micro) * L + li) = sum > 0 ? mx / (sum / G) : -1.0;
  // Keep the dispatch matrices of the sampled steps and layers (micro-batches summed).
  if (std::find(shape_.matrix_steps.begin(), shape_.matrix_steps.end(), step) == shape_.matrix_steps.end() ||
      std::find(shape_.matrix_moe_layers.begin(), shape_.matrix_moe_layers.end(), li) ==
          shape_.matrix_moe_layers.end())
    return;
  auto& mat = matrices_[{step, li}];
  mat.resize(static_cast<size_t>(G) * G, 0.0);
  for (int s = 0; s < G; ++s)
    for (auto [d, n] : lt.comm.stages.front().out[s])
      mat[static_cast<size_t>(s) * G + d] += n * shape_.dispatch_unit_bytes;
}

double Recorder::StepMetrics::load_ratio_sum() const
{
  double s = 0;
  for (double r : load_ratio)
    if (r >= 0)
      s += r;
  return s;
}

int Recorder::StepMetrics::load_ratio_n() const
{
  return static_cast<int>(std::count_if(load_ratio.begin(), load_ratio.end(), [](double r) { return r >= 0; }));
}

std::vector<double> Recorder::step_end_times() const { return step_end_; }

static double percentile(std::vector<double> v, double q)
{
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  // Nearest-rank percentile.
  const size_t rank = static_cast<size_t>(std::ceil(q * v.size()));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

Recorder::Summary Recorder::summary() const
{
  Summary s;
  std::vector<double> tpot;
  double prev = 0;
  for (double e : step_end_) {
    tpot.push_back(e - prev);
    prev = e;
  }
  double sum = 0;
  for (double t : tpot)
    sum += t;
  const int S = shape_.steps;
  s.tpot_mean_s = S ? sum / S : 0;
  s.tpot_p50_s = percentile(tpot, 0.50);
  s.tpot_p99_s = percentile(tpot, 0.99);
  s.tpot_max_s = tpot.empty() ? 0 : *std::max_element(tpot.begin(), tpot.end());
  s.simulated_s = S ? step_end_.back() : 0;
  double tokens = 0, di = 0, dx = 0, pt = 0, pg = 0, pn = 0, lr = 0, mm = 0;
  int lrn = 0;
  for (const auto& m : metrics_) {
    tokens += m.batch_tokens;
    di += m.dispatch_intra_tokens;
    dx += m.dispatch_inter_tokens;
    pt += m.pairs_total;
    pg += m.pairs_local_gpu;
    pn += m.pairs_local_node;
    lr += m.load_ratio_sum();
    lrn += m.load_ratio_n();
    mm = std::max(mm, m.max_message_tokens);
    s.refits += m.refit ? 1 : 0;
    s.weight_move_s += m.weight_move_s;
    s.weight_bytes += m.weight_copies * expert_bytes_;
    s.weight_bytes_inter_node += m.weight_copies_inter_node * expert_bytes_;
  }
  if (s.simulated_s > 0) {
    s.tokens_per_s = tokens / s.simulated_s;
    s.tokens_per_s_per_gpu = s.tokens_per_s / shape_.gpus;
    s.tokens_per_s_per_node = s.tokens_per_s / (static_cast<double>(shape_.gpus) / shape_.gpus_per_node);
  }
  if (S > 0) {
    s.dispatch_intra_bytes_per_step = di * shape_.dispatch_unit_bytes / S;
    s.dispatch_inter_bytes_per_step = dx * shape_.dispatch_unit_bytes / S;
    s.combine_intra_bytes_per_step = di * shape_.combine_unit_bytes / S;
    s.combine_inter_bytes_per_step = dx * shape_.combine_unit_bytes / S;
  }
  s.locality_gpu = pt > 0 ? pg / pt : 0;
  s.locality_node = pt > 0 ? pn / pt : 0;
  s.expert_load_max_over_mean = lrn ? lr / lrn : 0;
  s.max_message_bytes = mm * shape_.dispatch_unit_bytes;
  return s;
}

std::vector<std::array<double, kNumSpanKinds>> Recorder::layer_breakdown_mean() const
{
  std::vector<std::array<double, kNumSpanKinds>> out(shape_.layers);
  const double n = static_cast<double>(shape_.steps) * shape_.gpus;
  for (int l = 0; l < shape_.layers; ++l)
    for (int k = 0; k < kNumSpanKinds; ++k) {
      double s = 0;
      for (int st = 0; st < shape_.steps; ++st)
        s += sums_[idx(st, l, k)];
      out[l][k] = n > 0 ? s / n : 0;
    }
  return out;
}

namespace {
std::string fmt_time(double s)
{
  char b[64];
  if (s >= 1e-3)
    std::snprintf(b, sizeof b, "%.3f ms", s * 1e3);
  else
    std::snprintf(b, sizeof b, "%.1f us", s * 1e6);
  return b;
}
std::string fmt_bytes(double b)
{
  char buf[64];
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) {
    b /= 1000;
    ++u;
  }
  std::snprintf(buf, sizeof buf, "%.2f %s", b, units[u]);
  return buf;
}
} // namespace

std::string Recorder::format_summary(const Summary& s) const
{
  std::ostringstream os;
  os << std::fixed << std::setprecision(3);
  os << "TPOT          mean " << fmt_time(s.tpot_mean_s) << "   p50 " << fmt_time(s.tpot_p50_s) << "   p99 "
     << fmt_time(s.tpot_p99_s) << "   (" << shape_.steps << " steps, " << fmt_time(s.simulated_s) << " simulated)\n";
  os << std::setprecision(1);
  os << "throughput    " << s.tokens_per_s << " tokens/s   " << s.tokens_per_s_per_gpu << " per GPU   "
     << s.tokens_per_s_per_node << " per node\n";
  os << "traffic/step  dispatch intra-node " << fmt_bytes(s.dispatch_intra_bytes_per_step) << ", inter-node "
     << fmt_bytes(s.dispatch_inter_bytes_per_step) << "; combine intra-node " << fmt_bytes(s.combine_intra_bytes_per_step)
     << ", inter-node " << fmt_bytes(s.combine_inter_bytes_per_step) << "\n";
  os << std::setprecision(3);
  os << "locality      token-expert pairs on own GPU " << 100 * s.locality_gpu << "%, on own node "
     << 100 * s.locality_node << "%\n";
  os << "imbalance     expert tokens per GPU max/mean " << s.expert_load_max_over_mean << "   largest message "
     << fmt_bytes(s.max_message_bytes) << "\n";
  if (s.refits > 0)
    os << "re-fits       " << s.refits << ", expert weights copied " << fmt_bytes(s.weight_bytes) << " ("
       << fmt_bytes(s.weight_bytes_inter_node) << " across nodes), " << fmt_time(s.weight_move_s)
       << " simulated, in the TPOT above\n";
  // Per-layer breakdown; models with many layers get one row for dense and one for MoE layers (mean), plus the
  // slowest MoE layer. The HDF5 file always has every layer.
  auto bd = layer_breakdown_mean();
  auto is_moe = [&](int l) {
    return std::find(shape_.moe_layers.begin(), shape_.moe_layers.end(), l) != shape_.moe_layers.end();
  };
  os << "per-layer breakdown (mean per step per GPU; attn block = attention + gate + shared experts in MoE layers,\n"
        "attention + FFN in dense layers; wait = a micro-batch waiting for the GPU in overlap mode):\n";
  os << "  layer       attn block     dispatch       expert         combine        wait\n";
  auto row = [&](const std::string& label, const std::array<double, kNumSpanKinds>& v) {
    char line[256];
    std::snprintf(line, sizeof line, "  %-10s  %-13s  %-13s  %-13s  %-13s  %-13s\n", label.c_str(),
                  fmt_time(v[0]).c_str(), fmt_time(v[1]).c_str(), fmt_time(v[2]).c_str(), fmt_time(v[3]).c_str(),
                  fmt_time(v[5]).c_str());
    os << line;
  };
  const int L = static_cast<int>(bd.size());
  if (L <= 32) {
    for (int l = 0; l < L; ++l)
      row(std::to_string(l) + (is_moe(l) ? " moe" : " dense"), bd[l]);
  } else {
    std::array<double, kNumSpanKinds> dense{}, moe{};
    int nd = 0, nm = 0, slowest = -1;
    double slowest_t = -1;
    for (int l = 0; l < L; ++l) {
      auto& acc = is_moe(l) ? moe : dense;
      (is_moe(l) ? nm : nd) += 1;
      double t = 0;
      for (int k = 0; k < kNumSpanKinds; ++k) {
        acc[k] += bd[l][k];
        t += bd[l][k];
      }
      if (is_moe(l) && t > slowest_t) {
        slowest_t = t;
        slowest = l;
      }
    }
    for (int k = 0; k < kNumSpanKinds; ++k) {
      dense[k] = nd ? dense[k] / nd : 0;
      moe[k] = nm ? moe[k] / nm : 0;
    }
    if (nd)
      row("dense x" + std::to_string(nd), dense);
    row("moe x" + std::to_string(nm), moe);
    row(std::to_string(slowest) + " slowest", bd[slowest]);
  }
  os << "  lm_head     " << fmt_time(std::accumulate(head_.begin(), head_.end(), 0.0) /
                                    std::max(1.0, static_cast<double>(shape_.steps) * shape_.gpus))
     << " per step\n";
  return os.str();
}

void Recorder::write_hdf5(const std::string& path, const nlohmann::json& config,
                          const std::map<std::string, std::string>& attrs,
                          const std::map<std::string, double>& summary_values) const
{
  AtomicFile out(path);
  {
    h5::File f = h5::File::create(out.temp_path());
    auto root = h5::root(f);
    h5::write_attr(root, "moesim_version", std::string(MOESIM_VERSION));
    h5::write_attr(root, "config", config.dump(2));
    for (const auto& [k, v] : attrs)
      h5::write_attr(root, k, v);

    const Summary s = summary();
    auto sg = h5::create_group(root, "summary");
    h5::write_attr(sg, "tpot_mean_s", s.tpot_mean_s);
    h5::write_attr(sg, "tpot_p50_s", s.tpot_p50_s);
    h5::write_attr(sg, "tpot_p99_s", s.tpot_p99_s);
    h5::write_attr(sg, "tpot_max_s", s.tpot_max_s);
    h5::write_attr(sg, "tokens_per_s", s.tokens_per_s);
    h5::write_attr(sg, "tokens_per_s_per_gpu", s.tokens_per_s_per_gpu);
    for (const auto& [k, v] : summary_values)
      h5::write_attr(sg, k, v);
    h5::write_attr(sg, "tokens_per_s_per_node", s.tokens_per_s_per_node);
    h5::write_attr(sg, "simulated_s", s.simulated_s);
    h5::write_attr(sg, "dispatch_intra_bytes_per_step", s.dispatch_intra_bytes_per_step);
    h5::write_attr(sg, "dispatch_inter_bytes_per_step", s.dispatch_inter_bytes_per_step);
    h5::write_attr(sg, "combine_intra_bytes_per_step", s.combine_intra_bytes_per_step);
    h5::write_attr(sg, "combine_inter_bytes_per_step", s.combine_inter_bytes_per_step);
    h5::write_attr(sg, "locality_gpu", s.locality_gpu);
    h5::write_attr(sg, "locality_node", s.locality_node);
    h5::write_attr(sg, "expert_load_max_over_mean", s.expert_load_max_over_mean);
    h5::write_attr(sg, "max_message_bytes", s.max_message_bytes);
    h5::write_attr(sg, "refits", static_cast<int64_t>(s.refits));
    h5::write_attr(sg, "weight_move_s", s.weight_move_s);
    h5::write_attr(sg, "weight_bytes", s.weight_bytes);
    h5::write_attr(sg, "weight_bytes_inter_node", s.weight_bytes_inter_node);

    // Per-step table.
    const int S = shape_.steps;
    std::vector<int64_t> step(S), refit(S);
    std::vector<double> tpot(S), end(S), tokens(S), di(S), dx(S), ci(S), cx(S), lg(S), ln(S), lr(S), mm(S), wm(S),
        wb(S), wx(S);
    double prev = 0;
    for (int i = 0; i < S; ++i) {
      const auto& m = metrics_[i];
      step[i] = i;
      end[i] = step_end_[i];
      tpot[i] = step_end_[i] - prev;
      prev = step_end_[i];
      tokens[i] = m.batch_tokens;
      di[i] = m.dispatch_intra_tokens * shape_.dispatch_unit_bytes;
      dx[i] = m.dispatch_inter_tokens * shape_.dispatch_unit_bytes;
      ci[i] = m.dispatch_intra_tokens * shape_.combine_unit_bytes;
      cx[i] = m.dispatch_inter_tokens * shape_.combine_unit_bytes;
      lg[i] = m.pairs_total > 0 ? m.pairs_local_gpu / m.pairs_total : 0;
      ln[i] = m.pairs_total > 0 ? m.pairs_local_node / m.pairs_total : 0;
      lr[i] = m.load_ratio_n() ? m.load_ratio_sum() / m.load_ratio_n() : 0;
      mm[i] = m.max_message_tokens * shape_.dispatch_unit_bytes;
      refit[i] = m.refit ? 1 : 0;
      wm[i] = m.weight_move_s;
      wb[i] = m.weight_copies * expert_bytes_;
      wx[i] = m.weight_copies_inter_node * expert_bytes_;
    }
    h5::CompoundWriter steps;
    steps.add_int("step", &step);
    steps.add_double("tpot_s", &tpot);
    steps.add_double("end_s", &end);
    steps.add_double("batch_tokens", &tokens);
    steps.add_double("dispatch_intra_bytes", &di);
    steps.add_double("dispatch_inter_bytes", &dx);
    steps.add_double("combine_intra_bytes", &ci);
    steps.add_double("combine_inter_bytes", &cx);
    steps.add_double("locality_gpu", &lg);
    steps.add_double("locality_node", &ln);
    steps.add_double("expert_load_max_over_mean", &lr);
    steps.add_double("max_message_bytes", &mm);
    steps.add_int("refit", &refit);
    steps.add_double("weight_move_s", &wm);
    steps.add_double("weight_bytes", &wb);
    steps.add_double("weight_bytes_inter_node", &wx);
    steps.write(root, "steps");

    // Per-layer breakdown table (mean per step per GPU) and the [step, layer] matrices behind it.
    auto bd = layer_breakdown_mean();
    const int L = shape_.layers;
    std::vector<int64_t> layer(L), is_moe(L);
    std::vector<std::vector<double>> cols(kNumSpanKinds, std::vector<double>(L));
    for (int l = 0; l < L; ++l) {
      layer[l] = l;
      is_moe[l] = std::find(shape_.moe_layers.begin(), shape_.moe_layers.end(), l) != shape_.moe_layers.end();
      for (int k = 0; k < kNumSpanKinds; ++k)
        cols[k][l] = bd[l][k];
    }
    h5::CompoundWriter layers;
    layers.add_int("layer", &layer);
    layers.add_int("is_moe", &is_moe);
    for (int k : {0, 1, 2, 3, 5})
      layers.add_double(std::string(span_kind_name(static_cast<SpanKind>(k))) + "_s", &cols[k]);
    layers.write(root, "layers");
    auto ls = h5::create_group(root, "layer_step");
    for (int k : {0, 1, 2, 3, 5}) {
      std::vector<double> m(static_cast<size_t>(S) * L);
      for (int st = 0; st < S; ++st)
        for (int l = 0; l < L; ++l)
          m[static_cast<size_t>(st) * L + l] = sums_[idx(st, l, k)] / shape_.gpus;
      h5::write_dataset(ls, std::string(span_kind_name(static_cast<SpanKind>(k))) + "_s", m,
                        {static_cast<hsize_t>(S), static_cast<hsize_t>(L)});
    }
    std::vector<double> head(S);
    for (int st = 0; st < S; ++st)
      head[st] = head_[st] / shape_.gpus;
    h5::write_vector(ls, "lm_head_s", head);

    // Per MoE layer dispatch traffic (mean bytes per step).
    std::vector<int64_t> moe_layer(shape_.moe_layers.begin(), shape_.moe_layers.end());
    std::vector<double> lintra, linter;
    for (size_t li = 0; li < shape_.moe_layers.size(); ++li) {
      lintra.push_back(layer_intra_tokens_[li] * shape_.dispatch_unit_bytes / std::max(1, S));
      linter.push_back(layer_inter_tokens_[li] * shape_.dispatch_unit_bytes / std::max(1, S));
    }
    h5::CompoundWriter moe_traffic;
    moe_traffic.add_int("layer", &moe_layer);
    moe_traffic.add_double("dispatch_intra_bytes", &lintra);
    moe_traffic.add_double("dispatch_inter_bytes", &linter);
    moe_traffic.write(root, "moe_layer_traffic");
    // Expert load: token-expert pairs each GPU computes per MoE layer, mean per step ([moe layer][GPU]).
    std::vector<double> load(layer_gpu_pairs_.size());
    for (size_t k = 0; k < load.size(); ++k)
      load[k] = layer_gpu_pairs_[k] / std::max(1, S);
    h5::write_dataset(root, "gpu_load", load,
                      {static_cast<hsize_t>(shape_.moe_layers.size()), static_cast<hsize_t>(shape_.gpus)}, 0, 0);

    auto tr = h5::create_group(root, "traffic");
    const hsize_t G = static_cast<hsize_t>(shape_.gpus);
    std::vector<double> all;
    std::vector<int64_t> ms, ml;
    for (const auto& [key, mat] : matrices_) { // steps ascending, then layers ascending
      all.insert(all.end(), mat.begin(), mat.end());
      ms.push_back(key.first);
      ml.push_back(shape_.moe_layers[key.second]);
    }
    h5::write_dataset(tr, "dispatch_bytes", all, {static_cast<hsize_t>(matrices_.size()), G, G}, 1);
    h5::write_vector(tr, "step", ms);
    h5::write_vector(tr, "layer", ml);
    h5::write_attr(tr, "description", std::string("dispatch_bytes[i, src, dst]: bytes GPU src sends GPU dst in the "
                                                  "dispatch of layer[i] at step[i]; combine is the transpose scaled by "
                                                  "combine/dispatch bytes per token"));
  }
  out.commit();
}

namespace {

/// Integer nanoseconds of an instant in seconds (each instant rounded once: slices that meet stay adjacent).
int64_t ns_of(double t_s) { return std::llround(t_s * 1e9); }

/// Nanoseconds as JSON microseconds with three decimals: exact, and what Perfetto reads back to the nanosecond.
std::string us_text(int64_t ns)
{
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%lld.%03lld", ns < 0 ? "-" : "", static_cast<long long>(std::llabs(ns) / 1000),
                static_cast<long long>(std::llabs(ns) % 1000));
  return buf;
}

/// A slice's name: what the phase holds (the attention block of a MoE layer also runs the gate and shared
/// experts, that of a dense layer its FFN).
std::string slice_name(const Recorder::TimelineSpan& s, bool moe_layer)
{
  if (s.kind == SpanKind::WeightMove)
    return "weight move (re-fit)";
  if (s.layer < 0)
    return "lm_head";
  std::string what;
  switch (s.kind) {
    case SpanKind::Attention: what = moe_layer ? "attention+gate+shared" : "attention+ffn"; break;
    case SpanKind::Wait: what = "wait for GPU"; break;
    default: what = span_kind_name(s.kind); break;
  }
  return what + " L" + std::to_string(s.layer);
}

/// Writes to a plain or gzip file (by the name's ending).
class TimelineSink {
public:
  TimelineSink(const std::string& temp, bool gz, const std::string& path) : path_(path)
  {
    if (gz)
      gz_ = gzopen(temp.c_str(), "wb6");
    else
      os_.open(temp);
    if (gz ? gz_ == nullptr : !os_)
      throw InputError(path, "", "cannot write timeline");
  }
  ~TimelineSink()
  {
    if (gz_ != nullptr)
      gzclose(gz_);
  }
  TimelineSink(const TimelineSink&) = delete;
  TimelineSink& operator=(const TimelineSink&) = delete;
  void put(const std::string& text)
  {
    if (gz_ != nullptr) {
      if (!text.empty() && gzwrite(gz_, text.data(), static_cast<unsigned>(text.size())) == 0)
        throw InputError(path_, "", "error while writing timeline");
    } else {
      os_ << text;
    }
  }
  void close()
  {
    if (gz_ != nullptr) {
      const int rc = gzclose(gz_);
      gz_ = nullptr;
      if (rc != Z_OK)
        throw InputError(path_, "", "error while writing timeline");
    } else {
      os_.close();
      if (!os_)
        throw InputError(path_, "", "error while writing timeline");
    }
  }

private:
  std::string path_;
  std::ofstream os_;
  gzFile gz_ = nullptr;
};

} // namespace

void Recorder::write_timeline(const std::string& path) const
{
  AtomicFile out(path);
  {
    const bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
    TimelineSink sink(out.temp_path(), gz, path);
    const int gpn = shape_.gpus_per_node, M = shape_.micro_batches;
    const auto tid = [M](int gpu, int micro) { return gpu * M + micro; };
    sink.put("{\"traceEvents\":[\n");
    bool first = true;
    const auto event = [&](const std::string& e) {
      sink.put((first ? "" : ",\n") + e);
      first = false;
    };
    std::vector<bool> gpu_seen(shape_.gpus, false);
    for (const auto& s : timeline_)
      gpu_seen[s.gpu] = true;
    std::vector<bool> node_named(shape_.gpus / std::max(gpn, 1) + 1, false);
    for (int g = 0; g < shape_.gpus; ++g) {
      if (!gpu_seen[g])
        continue;
      const int node = g / gpn;
      if (!node_named[node]) {
        event("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":" + std::to_string(node) +
              ",\"args\":{\"name\":\"node " + std::to_string(node) + "\"}}");
        event("{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":" + std::to_string(node) +
              ",\"args\":{\"sort_index\":" + std::to_string(node) + "}}");
        node_named[node] = true;
      }
      for (int m = 0; m < M; ++m) {
        const std::string t = std::to_string(tid(g, m));
        event("{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":" + std::to_string(node) + ",\"tid\":" + t +
              ",\"args\":{\"name\":\"GPU " + std::to_string(g) + (M > 1 ? " mb" + std::to_string(m) : "") + "\"}}");
        event("{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":" + std::to_string(node) + ",\"tid\":" + t +
              ",\"args\":{\"sort_index\":" + t + "}}");
      }
    }
    // Each track's slices in time order, a step slice around each step's phases (from its first start to its
    // last end: it contains them at the nanosecond).
    std::vector<size_t> order(timeline_.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      const auto &x = timeline_[a], &y = timeline_[b];
      if (tid(x.gpu, x.micro) != tid(y.gpu, y.micro))
        return tid(x.gpu, x.micro) < tid(y.gpu, y.micro);
      return x.step != y.step ? x.step < y.step : x.t0 < y.t0;
    });
    for (size_t i = 0; i < order.size();) {
      const auto& head = timeline_[order[i]];
      size_t j = i;
      int64_t begin = ns_of(head.t0), end = ns_of(head.t1);
      while (j < order.size() && timeline_[order[j]].gpu == head.gpu && timeline_[order[j]].micro == head.micro &&
             timeline_[order[j]].step == head.step) {
        begin = std::min(begin, ns_of(timeline_[order[j]].t0));
        end = std::max(end, ns_of(timeline_[order[j]].t1));
        ++j;
      }
      const std::string where = ",\"pid\":" + std::to_string(head.gpu / gpn) + ",\"tid\":" +
                                std::to_string(tid(head.gpu, head.micro));
      event("{\"name\":\"step " + std::to_string(head.step) + "\",\"cat\":\"step\",\"ph\":\"X\",\"ts\":" +
            us_text(begin) + ",\"dur\":" + us_text(end - begin) + where + ",\"args\":{\"step\":" +
            std::to_string(head.step) + ",\"micro_batch\":" + std::to_string(head.micro) + "}}");
      for (size_t k = i; k < j; ++k) {
        const auto& s = timeline_[order[k]];
        const int64_t t0 = ns_of(s.t0), t1 = ns_of(s.t1);
        std::string args = "\"step\":" + std::to_string(s.step) + ",\"micro_batch\":" + std::to_string(s.micro);
        if (s.layer >= 0)
          args += ",\"layer\":" + std::to_string(s.layer);
        if (s.tokens >= 0)
          args += std::string(s.kind == SpanKind::Expert ? ",\"token_expert_pairs\":" : ",\"tokens\":") +
                  std::to_string(s.tokens);
        if (s.bytes >= 0)
          args += ",\"bytes_sent\":" + std::to_string(static_cast<int64_t>(std::llround(s.bytes)));
        const bool moe = std::binary_search(shape_.moe_layers.begin(), shape_.moe_layers.end(), s.layer);
        event("{\"name\":\"" + slice_name(s, moe) + "\",\"cat\":\"" + span_kind_name(s.kind) +
              "\",\"ph\":\"X\",\"ts\":" + us_text(t0) + ",\"dur\":" + us_text(t1 - t0) + where + ",\"args\":{" +
              args + "}}");
      }
      i = j;
    }
    sink.put("\n]}\n");
    sink.close();
  }
  out.commit();
}

} // namespace moesim
