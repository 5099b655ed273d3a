// Readers of MoE-kernel measurements (docs/calibration.md, "Inputs"): aiconfigurator's DeepEP and DeepEP-MoE
// tables, DeepEP's README tables (as transcribed CSV) and the lines DeepEP's tests print. Every reader names the
// file, the line and what was expected on bad input.
#include "core/calibration/calib_input.hpp"

#include "core/calibration/text.hpp"

#include "core/io/errors.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>
#include <set>

namespace moesim {

namespace {

using calib_text::at_line;
using calib_text::lines_of;
using calib_text::tokens_of;

/// A CSV table with a header: fields by column name, numbers checked, errors naming file, line and column.
class CsvTable {
public:
  CsvTable(const std::string& text, const std::string& path, const std::vector<std::string>& required)
      : path_(path)
  {
    const auto lines = lines_of(text);
    size_t i = 0;
    for (; i < lines.size(); ++i) {
      if (lines[i].empty())
        continue;
      if (lines[i][0] == '#') {
        comments_.push_back(lines[i].substr(1));
        continue;
      }
      break;
    }
    if (i == lines.size())
      throw InputError(path, "", "no header line");
    header_line_ = static_cast<int>(i) + 1;
    const auto names = tokens_of(lines[i], ',');
    for (size_t c = 0; c < names.size(); ++c)
      col_[names[c]] = c;
    for (const auto& r : required)
      if (!col_.count(r))
        throw InputError(path, at_line(header_line_), "the header lacks the column '" + r + "'");
    for (++i; i < lines.size(); ++i) {
      if (lines[i].empty() || lines[i][0] == '#')
        continue;
      auto f = tokens_of(lines[i], ',');
      if (f.size() != names.size())
        throw InputError(path, at_line(static_cast<int>(i) + 1),
                         "expected " + std::to_string(names.size()) + " comma-separated fields (as the header), found " +
                             std::to_string(f.size()) + " (a truncated or garbled row?)");
      rows_.push_back(std::move(f));
      row_line_.push_back(static_cast<int>(i) + 1);
    }
    if (rows_.empty())
      throw InputError(path, "", "no rows after the header");
  }
  size_t size() const { return rows_.size(); }
  int line(size_t r) const { return row_line_[r]; }
  bool has(const std::string& c) const { return col_.count(c) > 0; }
  const std::string& text(size_t r, const std::string& c) const { return rows_[r][col_.at(c)]; }
  double number(size_t r, const std::string& c, bool zero_ok = false) const
  {
    const std::string& s = text(r, c);
    const auto v = calib_text::positive_number_of(s, zero_ok);
    if (!v)
      throw InputError(path_, at_line(line(r)), "column " + c + ": expected a positive number, found '" + s + "'");
    return *v;
  }
  int integer(size_t r, const std::string& c, int lo, int hi) const
  {
    const double v = number(r, c, lo == 0);
    if (v != std::floor(v) || v < lo || v > hi)
      throw InputError(path_, at_line(line(r)), "column " + c + ": expected an integer in [" + std::to_string(lo) +
                                                  ", " + std::to_string(hi) + "], found '" + text(r, c) + "'");
    return static_cast<int>(v);
  }
  const std::vector<std::string>& comments() const { return comments_; }

private:
  std::string path_;
  int header_line_ = 0;
  std::map<std::string, size_t> col_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<int> row_line_;
  std::vector<std::string> comments_;
};

/// `base` as one phase of a DeepEP kernel: its operation, and the routing DeepEP's test of that kernel draws
/// (test_low_latency.py: uniform with masked selections; test_internode.py: top-k inside a few nodes).
Measurement deepep_phase(const Measurement& base, bool ll, bool dispatch)
{
  Measurement m = base;
  const std::string ph = dispatch ? "dispatch" : "combine";
  m.op = (ll ? "ll_" : "normal_") + ph;
  m.routing = ll ? "deepep-test" : m.nodes > 1 ? "deepep-internode" : "uniform";
  return m;
}

/// The shape every DeepEP / MoE measurement must have; InputError naming the place otherwise.
void check_shape(const Measurement& m, const std::string& path, const std::string& place)
{
  if (m.experts < 1 || m.top_k < 1 || m.top_k > m.experts || m.top_k > 64)
    throw InputError(path, place, "top-k must be between 1 and min(64, experts), found top-" +
                                      std::to_string(m.top_k) + " of " + std::to_string(m.experts));
  if (m.hidden < 128 || m.hidden > 65536 || m.hidden % 128 != 0)
    throw InputError(path, place, "hidden size must be a multiple of 128 in [128, 65536], found " +
                                      std::to_string(m.hidden));
  const int gpus = m.nodes * m.gpus_per_node;
  if (m.experts % gpus != 0)
    throw InputError(path, place, std::to_string(m.experts) + " experts do not divide over the " +
                                      std::to_string(gpus) + " GPUs of the measurement");
  if (m.tokens < 1 || m.tokens > 1 << 20)
    throw InputError(path, place, "tokens per GPU must be between 1 and 1048576, found " + std::to_string(m.tokens));
}

} // namespace

std::string aiconfigurator_csv_kind(const std::string& header_line)
{
  std::string h = header_line;
  h.erase(std::remove(h.begin(), h.end(), '\r'), h.end());
  const auto names = tokens_of(h, ',');
  const std::set<std::string> cols(names.begin(), names.end());
  if (cols.count("dispatch_avg_t_us") || cols.count("dispatch_transmit_us"))
    return "aiconfigurator-deepep-csv";
  if (cols.count("moe_ep_size") && cols.count("distribution"))
    return "aiconfigurator-moe-csv";
  if (cols.count("nccl_dtype"))
    return "nccl-perf-csv";
  return "";
}

CalibInput parse_aiconfigurator_deepep_csv(const std::string& text, const std::string& path)
{
  CalibInput in;
  in.path = path;
  in.format = "aiconfigurator-deepep-csv";
  const CsvTable t(text, path, {"device", "node_num", "hidden_size", "num_token", "num_topk", "num_experts"});
  const bool ll = t.has("dispatch_avg_t_us");
  if (ll ? !t.has("combine_avg_t_us")
         : !(t.has("dispatch_transmit_us") && t.has("dispatch_notify_us") && t.has("combine_transmit_us") &&
             t.has("combine_notify_us") && t.has("dispatch_sms") && t.has("combine_sms")))
    throw InputError(path, "header", ll ? "a low-latency table needs dispatch_avg_t_us and combine_avg_t_us"
                                        : "a normal-kernel table needs dispatch/combine _sms, _transmit_us, _notify_us");
  std::set<std::string> devices;
  for (size_t r = 0; r < t.size(); ++r) {
    Measurement base;
    base.source = path;
    base.line = t.line(r);
    base.nodes = t.integer(r, "node_num", 1, 4096);
    base.gpus_per_node = 8; // aiconfigurator's systems are 8-GPU HGX nodes
    base.hidden = t.integer(r, "hidden_size", 1, 1 << 20);
    base.tokens = t.integer(r, "num_token", 1, 1 << 24);
    base.top_k = t.integer(r, "num_topk", 1, 1 << 10);
    base.experts = t.integer(r, "num_experts", 1, 1 << 16);
    base.gpu_name = t.text(r, "device");
    base.dtype = "fp8";
    check_shape(base, path, at_line(base.line));
    devices.insert(base.gpu_name);
    for (bool dispatch : {true, false}) {
      Measurement m = deepep_phase(base, ll, dispatch);
      const std::string ph = dispatch ? "dispatch" : "combine";
      if (ll) {
        m.time_s = t.number(r, ph + "_avg_t_us") * 1e-6;
      } else {
        m.kernel_sms = t.integer(r, ph + "_sms", 2, 4096);
        m.time_s = (t.number(r, ph + "_transmit_us") + t.number(r, ph + "_notify_us", true)) * 1e-6;
      }
      in.measurements.push_back(m);
    }
  }
  for (const auto& d : devices)
    in.notes.push_back("GPU: " + d);
  in.notes.push_back(ll ? "DeepEP low-latency kernels (FP8 dispatch, BF16 combine), times in microseconds"
                        : "DeepEP normal kernels: transmit + notify, microseconds");
  return in;
}

CalibInput parse_aiconfigurator_moe_csv(const std::string& text, const std::string& path)
{
  CalibInput in;
  in.path = path;
  in.format = "aiconfigurator-moe-csv";
  const CsvTable t(text, path,
                   {"device", "op_name", "moe_dtype", "num_tokens", "hidden_size", "inter_size", "topk", "num_experts",
                    "moe_tp_size", "moe_ep_size", "distribution", "latency"});
  std::set<std::string> devices;
  int prefill = 0;
  for (size_t r = 0; r < t.size(); ++r) {
    const std::string op = t.text(r, "op_name");
    if (op != "moe_generation" && op != "moe_context")
      throw InputError(path, at_line(t.line(r)), "op_name must be moe_generation or moe_context, found '" + op + "'");
    if (op == "moe_context") { // contiguous-layout prefill GEMMs: not the decode model (docs/calibration.md)
      ++prefill;
      continue;
    }
    Measurement m;
    m.source = path;
    m.line = t.line(r);
    m.op = "moe_experts";
    m.gpu_name = t.text(r, "device");
    devices.insert(m.gpu_name);
    const std::string dtype = t.text(r, "moe_dtype");
    if (dtype != "fp8_block" && dtype != "fp8" && dtype != "bf16" && dtype != "float16")
      throw InputError(path, at_line(m.line), "moe_dtype must be fp8_block, fp8, bf16 or float16, found '" + dtype + "'");
    m.dtype = dtype.rfind("fp8", 0) == 0 ? "fp8" : "bf16";
    if (t.integer(r, "moe_tp_size", 1, 4096) != 1)
      throw InputError(path, at_line(m.line), "moe_tp_size must be 1 (expert parallelism only)");
    const int ep = t.integer(r, "moe_ep_size", 1, 4096);
    m.gpus_per_node = std::min(ep, 8);
    m.nodes = ep / m.gpus_per_node;
    if (m.nodes * m.gpus_per_node != ep)
      throw InputError(path, at_line(m.line), "moe_ep_size must be at most 8 or a multiple of 8");
    const int global = t.integer(r, "num_tokens", 1, 1 << 26);
    if (global % ep != 0)
      throw InputError(path, at_line(m.line), "num_tokens (the global batch) must be a multiple of moe_ep_size");
    m.tokens = global / ep;
    m.hidden = t.integer(r, "hidden_size", 1, 1 << 20);
    m.inter = t.integer(r, "inter_size", 1, 1 << 20);
    m.top_k = t.integer(r, "topk", 1, 1 << 10);
    m.experts = t.integer(r, "num_experts", 1, 1 << 16);
    check_shape(m, path, at_line(m.line));
    const std::string dist = t.text(r, "distribution");
    if (dist == "uniform") {
      m.routing = "balanced";
    } else if (dist.rfind("power_law_", 0) == 0) {
      const std::string a = dist.substr(10);
      char* end = nullptr;
      const double alpha = std::strtod(a.c_str(), &end);
      if (a.empty() || *end != '\0' || !(alpha > 0 && alpha <= 10))
        throw InputError(path, at_line(m.line), "distribution power_law_ALPHA needs 0 < ALPHA <= 10, found '" + dist + "'");
      m.routing = "power_law:" + a;
    } else {
      throw InputError(path, at_line(m.line), "distribution must be uniform or power_law_ALPHA, found '" + dist + "'");
    }
    m.time_s = t.number(r, "latency") * 1e-3; // milliseconds
    in.measurements.push_back(m);
  }
  for (const auto& d : devices)
    in.notes.push_back("GPU: " + d);
  if (prefill > 0)
    in.notes.push_back(std::to_string(prefill) + " moe_context (prefill, contiguous-layout GEMM) rows skipped: "
                                                 "moesim models the decode (masked) grouped GEMMs");
  if (in.measurements.empty())
    throw InputError(path, "", "no moe_generation rows (only prefill rows, which moesim does not model)");
  return in;
}

namespace {

/// Setup values from a README table's comment lines ("128 tokens", "hidden 7168", "top-8 experts").
int comment_value(const std::vector<std::string>& comments, const std::regex& re, int fallback)
{
  for (const auto& c : comments) {
    std::smatch m;
    if (std::regex_search(c, m, re))
      return std::stoi(m[1].str());
  }
  return fallback;
}

} // namespace

CalibInput parse_deepep_readme_csv(const std::string& text, const std::string& path)
{
  CalibInput in;
  in.path = path;
  in.format = "deepep-readme-csv";
  if (text.find("arch,nic,topo,dispatch_GBps") != std::string::npos)
    throw InputError(path, "", "DeepEP v2 (NCCL Gin backend) tables are not modelled: moesim models DeepEP's v1 "
                               "kernels (deepep-ll, deepep-normal); give the v1 tables or your own test output");
  const bool ll = text.find("ep,dispatch_latency_us") != std::string::npos &&
                  text.find("type,ep,dispatch_bottleneck") == std::string::npos;
  const CsvTable t(text, path,
                   ll ? std::vector<std::string>{"ep", "dispatch_latency_us", "combine_latency_us"}
                      : std::vector<std::string>{"type", "ep", "dispatch_bottleneck_GBps", "dispatch_link",
                                                 "combine_bottleneck_GBps", "combine_link"});
  const auto& cm = t.comments();
  const int hidden = comment_value(cm, std::regex(R"(hidden (\d+))"), 7168);
  const int top_k = comment_value(cm, std::regex(R"(top-(\d+) experts)"), 8);
  const int tokens = comment_value(cm, std::regex(R"((\d+) tokens)"), ll ? 128 : 4096);
  const std::string gpu = [&] {
    for (const auto& c : cm)
      for (const char* name : {"H800", "H100", "H200", "H20"})
        if (c.find(name) != std::string::npos)
          return std::string(name);
    return std::string("H800"); // DeepEP's published tables were measured on H800
  }();
  for (size_t r = 0; r < t.size(); ++r) {
    const int ep = t.integer(r, "ep", 1, 65536);
    Measurement base;
    base.source = path;
    base.line = t.line(r);
    base.gpus_per_node = std::min(ep, 8);
    base.nodes = ep / base.gpus_per_node;
    base.hidden = hidden;
    base.top_k = top_k;
    base.experts = 256; // DeepSeek-V3's routed experts (the README's setting)
    base.tokens = tokens;
    base.dtype = "fp8";
    base.gpu_name = gpu;
    check_shape(base, path, at_line(base.line));
    for (bool dispatch : {true, false}) {
      Measurement m = deepep_phase(base, ll, dispatch);
      const std::string ph = dispatch ? "dispatch" : "combine";
      if (ll) {
        m.time_s = t.number(r, ph + "_latency_us") * 1e-6;
      } else {
        m.kernel_sms = 24; // the README's runs (DeepEP's default tuning range)
        const std::string link = t.text(r, ph + "_link");
        if (link != "RDMA" && link != "NVLink")
          throw InputError(path, at_line(m.line), ph + "_link must be RDMA or NVLink, found '" + link + "'");
        m.metric = link == "RDMA" ? "rdma_bandwidth" : "nvl_bandwidth";
        m.bandwidth_Bps = t.number(r, ph + "_bottleneck_GBps") * 1e9;
      }
      in.measurements.push_back(m);
    }
  }
  in.notes.push_back("DeepEP README table (" + std::string(ll ? "low-latency" : "normal") + " kernels) on " + gpu +
                     ": hidden " + std::to_string(hidden) + ", top-" + std::to_string(top_k) + " of 256 experts, " +
                     std::to_string(tokens) + " tokens per GPU");
  return in;
}

namespace {

/// Values of a `# moesim-deepep: key=value ...` header line (calib/deepep/run_deepep_tests.sh writes one).
std::map<std::string, std::string> header_values(const std::string& line, const std::string& path, int ln)
{
  std::map<std::string, std::string> v;
  static const std::set<std::string> keys = {"test",        "num_tokens", "hidden", "num_topk", "num_experts",
                                             "nodes",       "gpus_per_node", "gpu",  "num_sms"};
  std::smatch m;
  std::string rest = line.substr(line.find(':') + 1);
  static const std::regex kv(R"(([a-z_]+)=([^ \t]+))");
  for (auto it = std::sregex_iterator(rest.begin(), rest.end(), kv); it != std::sregex_iterator(); ++it) {
    const std::string k = (*it)[1].str();
    if (!keys.count(k))
      throw InputError(path, at_line(ln), "unknown key '" + k + "' in the moesim-deepep header (expected test, "
                                        "num_tokens, hidden, num_topk, num_experts, nodes, gpus_per_node, gpu, num_sms)");
    v[k] = (*it)[2].str();
  }
  return v;
}

int header_int(const std::map<std::string, std::string>& h, const std::string& key, const std::string& path, int ln)
{
  auto it = h.find(key);
  if (it == h.end())
    throw InputError(path, at_line(ln), "the run's " + key + " is not known: put a line '# moesim-deepep: test=... "
                                      "num_tokens=... hidden=... num_topk=... num_experts=... nodes=... "
                                      "gpus_per_node=...' before DeepEP's output (calib/deepep/run_deepep_tests.sh "
                                      "writes it)");
  try {
    size_t used = 0;
    const long v = std::stol(it->second, &used);
    if (used != it->second.size() || v < 1 || v > (1 << 26))
      throw std::out_of_range("range");
    return static_cast<int>(v);
  } catch (const std::exception&) {
    throw InputError(path, at_line(ln), key + " must be a positive integer, found '" + it->second + "'");
  }
}

} // namespace

CalibInput parse_deepep_test_log(const std::string& text, const std::string& path)
{
  CalibInput in;
  in.path = path;
  in.format = "deepep-test-log";
  const auto lines = lines_of(text);
  // Low-latency lines (DeepEP's tests/test_low_latency.py; aiconfigurator's copy adds the shape inline):
  static const std::regex ll_re(
      R"(\[rank (\d+)\](?: num_tokens=(\d+), hidden=(\d+), num_experts=(\d+), num_topk=(\d+), return_recv_hook=False)? Dispatch bandwidth: ([0-9.]+) GB/s, avg_t=([0-9.]+) us \| Combine bandwidth: ([0-9.]+) GB/s, avg_t=([0-9.]+) us)");
  // Normal kernels (tests/test_internode.py, test_intranode.py): "SMs N, ...: A + B us, X GB/s (RDMA), Y GB/s (NVL)",
  // aiconfigurator's "transmit: B us, notify: A us, BW: ...", or older bandwidth-only lines.
  static const std::regex best_re(R"(\[tuning\] Best (dispatch \((FP8|BF16)\)|combine): SMs (\d+)(.*))");
  static const std::regex plus_re(R"(([0-9.]+) \+ ([0-9.]+) us)");
  static const std::regex tn_re(R"(transmit: ([0-9.]+) us, notify: ([0-9.]+) us)");
  static const std::regex rdma_re(R"(([0-9.]+) GB/s \(RDMA\))");
  static const std::regex nvl_re(R"(([0-9.]+) GB/s \(NVL\))");
  static const std::regex config_re(R"(\[config\] num_tokens=(\d+), hidden=(\d+)(?:, num_topk_groups=[^,]*)?, num_topk=(\d+)(?: ?,num_experts=(\d+))?)");
  std::map<std::string, std::string> header;
  int header_line = 0;
  // Low-latency rows of one run (every rank prints): their times are averaged into one measurement per phase.
  struct Pending {
    Measurement m;
    std::vector<double> dispatch_s, combine_s;
    std::string key;
  };
  std::vector<Pending> pending;
  auto flush_ll = [&] {
    for (auto& p : pending) {
      for (bool dispatch : {true, false}) {
        const auto& v = dispatch ? p.dispatch_s : p.combine_s;
        Measurement m = deepep_phase(p.m, true, dispatch);
        double sum = 0;
        for (double x : v)
          sum += x;
        m.time_s = sum / static_cast<double>(v.size());
        in.measurements.push_back(m);
      }
    }
    pending.clear();
  };
  auto shape_from_header = [&](Measurement& m, int ln) {
    m.nodes = header.count("nodes") ? header_int(header, "nodes", path, ln) : 1;
    m.gpus_per_node = header.count("gpus_per_node") ? header_int(header, "gpus_per_node", path, ln) : 8;
    if (header.count("gpu"))
      m.gpu_name = header.at("gpu");
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    const int ln = static_cast<int>(i) + 1;
    const std::string& line = lines[i];
    if (line.rfind("# moesim-deepep:", 0) == 0) {
      flush_ll();
      header = header_values(line, path, ln);
      header_line = ln;
      continue;
    }
    std::smatch m;
    if (std::regex_search(line, m, ll_re)) {
      Measurement base;
      base.source = path;
      base.line = ln;
      base.dtype = "fp8";
      shape_from_header(base, ln);
      if (m[2].matched) {
        base.tokens = std::stoi(m[2].str());
        base.hidden = std::stoi(m[3].str());
        base.experts = std::stoi(m[4].str());
        base.top_k = std::stoi(m[5].str());
      } else {
        base.tokens = header_int(header, "num_tokens", path, ln);
        base.hidden = header_int(header, "hidden", path, ln);
        base.experts = header_int(header, "num_experts", path, ln);
        base.top_k = header_int(header, "num_topk", path, ln);
      }
      check_shape(base, path, at_line(ln));
      const double dt = std::stod(m[7].str()) * 1e-6, ct = std::stod(m[9].str()) * 1e-6;
      if (!(dt > 0 && ct > 0))
        throw InputError(path, at_line(ln), "avg_t must be positive");
      const std::string key = std::to_string(base.tokens) + "|" + std::to_string(base.hidden) + "|" +
                              std::to_string(base.experts) + "|" + std::to_string(base.top_k) + "|" +
                              std::to_string(header_line);
      auto it = std::find_if(pending.begin(), pending.end(), [&](const Pending& p) { return p.key == key; });
      if (it == pending.end()) {
        pending.push_back(Pending{base, {}, {}, key});
        it = pending.end() - 1;
      }
      it->dispatch_s.push_back(dt);
      it->combine_s.push_back(ct);
      continue;
    }
    if (std::regex_search(line, m, config_re)) {
      header["num_tokens"] = m[1].str();
      header["hidden"] = m[2].str();
      header["num_topk"] = m[3].str();
      if (m[4].matched)
        header["num_experts"] = m[4].str();
      continue;
    }
    if (std::regex_search(line, m, best_re)) {
      const bool dispatch = m[1].str() != "combine";
      Measurement x;
      x.source = path;
      x.line = ln;
      x.dtype = dispatch && m[2].str() == "BF16" ? "bf16" : "fp8";
      x.kernel_sms = std::stoi(m[3].str());
      shape_from_header(x, ln);
      x.tokens = header_int(header, "num_tokens", path, ln);
      x.hidden = header_int(header, "hidden", path, ln);
      x.top_k = header_int(header, "num_topk", path, ln);
      x.experts = header_int(header, "num_experts", path, ln);
      x = deepep_phase(x, false, dispatch);
      check_shape(x, path, at_line(ln));
      const std::string rest = m[4].str();
      std::smatch t;
      if (std::regex_search(rest, t, tn_re)) {
        x.time_s = (std::stod(t[1].str()) + std::stod(t[2].str())) * 1e-6;
      } else if (std::regex_search(rest, t, plus_re)) {
        x.time_s = (std::stod(t[1].str()) + std::stod(t[2].str())) * 1e-6;
      } else if (std::regex_search(rest, t, x.nodes > 1 ? rdma_re : nvl_re)) {
        x.metric = x.nodes > 1 ? "rdma_bandwidth" : "nvl_bandwidth";
        x.bandwidth_Bps = std::stod(t[1].str()) * 1e9;
      } else {
        throw InputError(path, at_line(ln), "a '[tuning] Best' line without times ('A + B us') or bandwidths "
                                          "('X GB/s (RDMA)' / '(NVL)')");
      }
      if (!(x.time_s > 0 || x.bandwidth_Bps > 0))
        throw InputError(path, at_line(ln), "times and bandwidths must be positive");
      in.measurements.push_back(x);
    }
  }
  flush_ll();
  if (in.measurements.empty())
    throw InputError(path, "", "no DeepEP result lines ('[rank N] Dispatch bandwidth: ...' or '[tuning] Best ...')");
  in.notes.push_back("DeepEP test output: " + std::to_string(in.measurements.size()) + " measurements");
  return in;
}

} // namespace moesim
