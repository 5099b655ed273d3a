#include "core/decode/recorder.hpp"

#include "core/io/atomic_file.hpp"
#include "core/io/errors.hpp"
#include "core/io/h5.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <numeric>
#include <sstream>

namespace moesim {

const char* span_kind_name(SpanKind k)
{
  switch (k) {
    case SpanKind::Attention: return "attention";
    case SpanKind::Dispatch: return "dispatch";
    case SpanKind::Expert: return "expert";
    case SpanKind::Combine: return "combine";
    case SpanKind::Head: return "lm_head";
    case SpanKind::Wait: return "wait";
  }
  return "?";
}

double estimate_recording_bytes(const RecorderShape& s)
{
  const double steps = s.steps, G = s.gpus;
  double bytes = steps * s.layers * kNumSpanKinds * 8.0 + steps * 200.0;
  bytes += static_cast<double>(s.matrix_steps.size()) * s.matrix_moe_layers.size() * G * G * 8.0 * 2; // kept + written
  if (s.timeline) // one span per phase per layer per GPU and micro-batch, plus its JSON text
    bytes += steps * G * s.micro_batches * (s.layers * 4.0 + 1) * (sizeof(double) * 2 + 4 * sizeof(int) + 8.0);
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

void Recorder::span(int step, int gpu, int micro, int layer, SpanKind kind, double t0, double t1)
{
  if (step < 0 || step >= shape_.steps)
    return;
  if (layer < 0)
    head_[step] += t1 - t0;
  else
    sums_[idx(step, layer, static_cast<int>(kind))] += t1 - t0;
  if (shape_.timeline)
    timeline_.push_back(TimelineSpan{step, gpu, micro, layer, kind, t0, t1});
}

void Recorder::step_done(int step, int /*gpu*/, double t)
{
  if (step >= 0 && step < shape_.steps)
    step_end_[step] = std::max(step_end_[step], t);
}

void Recorder::plan_metrics(const StepPlan& plan)
{
  if (plan.step >= shape_.steps)
    return;
  StepMetrics& m = metrics_[plan.step];
  const int G = shape_.gpus;
  for (const auto& mb : plan.micro) {
    for (auto t : mb.tokens)
      m.batch_tokens += static_cast<double>(t);
    for (size_t li = 0; li < mb.layers.size(); ++li) {
      const auto& lt = mb.layers[li];
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
      if (sum > 0) {
        m.load_ratio_sum += mx / (sum / G);
        ++m.load_ratio_n;
      }
    }
  }
  // Keep the dispatch matrices of the sampled steps and layers (micro-batches summed).
  if (std::find(shape_.matrix_steps.begin(), shape_.matrix_steps.end(), plan.step) == shape_.matrix_steps.end())
    return;
  for (int l : shape_.matrix_moe_layers) {
    std::vector<double> mat(static_cast<size_t>(G) * G, 0.0);
    for (const auto& mb : plan.micro)
      for (int s = 0; s < G; ++s)
        for (auto [d, n] : mb.layers[l].comm.stages.front().out[s])
          mat[static_cast<size_t>(s) * G + d] += n * shape_.dispatch_unit_bytes;
    matrices_.push_back(std::move(mat));
    matrix_keys_.emplace_back(plan.step, l);
  }
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
    lr += m.load_ratio_sum;
    lrn += m.load_ratio_n;
    mm = std::max(mm, m.max_message_tokens);
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
  // Per-layer breakdown; models with many layers get one row for dense and one for MoE layers (mean), plus the
  // slowest MoE layer. The HDF5 file always has every layer.
  auto bd = layer_breakdown_mean();
  auto is_moe = [&](int l) {
    return std::find(shape_.moe_layers.begin(), shape_.moe_layers.end(), l) != shape_.moe_layers.end();
  };
  os << "per-layer breakdown (mean per step per GPU; wait = a micro-batch waiting for the GPU in overlap mode):\n";
  os << "  layer       attention      dispatch       expert         combine        wait\n";
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

    // Per-step table.
    const int S = shape_.steps;
    std::vector<int64_t> step(S);
    std::vector<double> tpot(S), end(S), tokens(S), di(S), dx(S), ci(S), cx(S), lg(S), ln(S), lr(S), mm(S);
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
      lr[i] = m.load_ratio_n ? m.load_ratio_sum / m.load_ratio_n : 0;
      mm[i] = m.max_message_tokens * shape_.dispatch_unit_bytes;
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
    for (size_t i = 0; i < matrices_.size(); ++i) {
      all.insert(all.end(), matrices_[i].begin(), matrices_[i].end());
      ms.push_back(matrix_keys_[i].first);
      ml.push_back(shape_.moe_layers[matrix_keys_[i].second]);
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

void Recorder::write_timeline(const std::string& path) const
{
  AtomicFile out(path);
  {
    std::ofstream os(out.temp_path());
    if (!os)
      throw InputError(path, "", "cannot write timeline");
    os << "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
    bool first = true;
    const int gpn = shape_.gpus_per_node;
    for (int g = 0; g < shape_.gpus; ++g) {
      os << (first ? "" : ",\n") << "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":" << g / gpn
         << ",\"args\":{\"name\":\"node " << g / gpn << "\"}},\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":" << g / gpn
         << ",\"tid\":" << g << ",\"args\":{\"name\":\"GPU " << g << "\"}}";
      first = false;
    }
    char buf[320];
    for (const auto& s : timeline_) {
      const std::string name = s.layer < 0 ? std::string("lm_head")
                                           : std::string(span_kind_name(s.kind)) + " L" + std::to_string(s.layer);
      std::snprintf(buf, sizeof buf,
                    ",\n{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"ts\":%.4f,\"dur\":%.4f,\"pid\":%d,\"tid\":%d,"
                    "\"args\":{\"step\":%d,\"micro_batch\":%d}}",
                    name.c_str(), span_kind_name(s.kind), s.t0 * 1e6, (s.t1 - s.t0) * 1e6, s.gpu / gpn, s.gpu, s.step,
                    s.micro);
      os << buf;
    }
    os << "\n]}\n";
    if (!os)
      throw InputError(path, "", "error while writing timeline");
  }
  out.commit();
}

} // namespace moesim
