#include "core/calibration/calibration.hpp"

#include "core/calibration/moe_fit.hpp"
#include "core/compute/compute_model.hpp"
#include "core/io/errors.hpp"
#include "core/io/json_util.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>

namespace moesim {

namespace {

constexpr const char* kBwIntra = "moesim_bandwidth_factor_intra";
constexpr const char* kBwInter = "moesim_bandwidth_factor_inter";
constexpr const char* kOverheadIntra = "moesim_overhead_intra_s";
constexpr const char* kOverheadInter = "moesim_overhead_inter_s";
constexpr const char* kOpPrefix = "moesim_op_factor_"; // + op + "_" + nodes + "x" + gpus_per_node
constexpr const char* kGemmPrefix = "moesim_gemm_efficiency_"; // + dtype: no longer read (recalibrate)
constexpr const char* kKernelPrefix = "moesim_kernel_";        // + kernel ('_' for '-') + "_" + parameter
constexpr const char* kComputePrefix = "moesim_";              // + compute_param_specs() name
constexpr const char* kOpOverheadPrefix = "moesim_op_overhead_";  // + op + "_" + shape, seconds

// Factors are solved in [kMinFactor, kMaxFactor]: link values are the best goodput measured, so a factor well
// above 1 would mean a faster-than-measured link; below 1e-4 would mean a size the model cannot represent.
constexpr double kMinFactor = 1e-4;
constexpr double kMaxFactor = 1.5;

double median(std::vector<double> v)
{
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// The small-message floor of a series of latency-bound times ordered by size: the median of its smallest
/// third (at least three): sizes above it pay protocol costs the bandwidth factors describe, and the median
/// ignores the occasional slow repetition.
double floor_time(std::vector<double> times_by_size)
{
  times_by_size.resize(std::max<size_t>(std::min<size_t>(times_by_size.size(), 3), times_by_size.size() / 3));
  return median(times_by_size);
}

/// Median of the three largest values: the best goodput, robust to one lucky sample.
double top_median(std::vector<double> v)
{
  std::sort(v.rbegin(), v.rend());
  v.resize(std::min<size_t>(v.size(), 3));
  return median(v);
}

std::string fmt(const char* f, double v)
{
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

bool is_collective(const std::string& op) { return op != "gemm" && op != "hbm" && !is_moe_op(op); }

std::string shape(const Measurement& m) { return std::to_string(m.nodes) + "x" + std::to_string(m.gpus_per_node); }

} // namespace

bool PlatformCalibration::empty() const
{
  return bandwidth_intra.empty() && bandwidth_inter.empty() && overhead_intra_s == 0 && overhead_inter_s == 0 &&
         op_factor.empty() && op_overhead_s.empty() && kernel_params.empty() && compute.empty();
}

void PlatformCalibration::apply_compute(ComputeParams& c) const
{
  if (compute.empty())
    return;
  KernelParams p = compute_params_of(c);
  for (const auto& [k, v] : compute)
    p[k] = v;
  set_compute_params(c, p);
}

KernelSetup PlatformCalibration::kernel(const std::string& name, const std::string& dispatch_dtype, int kernel_sms,
                                        const std::string& where) const
{
  auto it = kernel_params.find(name);
  return KernelSetup::make(name, it == kernel_params.end() ? KernelParams{} : it->second, dispatch_dtype, kernel_sms,
                           where);
}

std::map<std::string, std::string> PlatformCalibration::to_props() const
{
  std::map<std::string, std::string> p;
  if (!bandwidth_intra.empty())
    p[kBwIntra] = bandwidth_intra.to_string();
  if (!bandwidth_inter.empty())
    p[kBwInter] = bandwidth_inter.to_string();
  p[kOverheadIntra] = fmt("%.6g", overhead_intra_s);
  p[kOverheadInter] = fmt("%.6g", overhead_inter_s);
  for (const auto& [name, v] : compute)
    p[kComputePrefix + name] = fmt("%.6g", v);
  for (const auto& [kernel, params] : kernel_params)
    for (const auto& [name, v] : params)
      p[kernel_param_property(kernel, name)] = fmt("%.6g", v);
  for (const auto& [key, table] : op_factor) {
    std::string name = key;
    std::replace(name.begin(), name.end(), '/', '_');
    p[kOpPrefix + name] = table.to_string();
  }
  for (const auto& [key, s] : op_overhead_s) {
    std::string name = key;
    std::replace(name.begin(), name.end(), '/', '_');
    p[kOpOverheadPrefix + name] = fmt("%.6g", s);
  }
  return p;
}

PlatformCalibration PlatformCalibration::from_props(const std::map<std::string, std::string>& props,
                                                  const std::string& file)
{
  PlatformCalibration c;
  auto number = [&](const std::string& key, const std::string& v) {
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !std::isfinite(x) || x < 0)
      throw InputError(file, "zone property '" + key + "'", "expected a non-negative number, found '" + v + "'");
    return x;
  };
  auto is_compute_key = [&](const std::string& key) {
    for (const auto& spec : compute_param_specs())
      if (key == kComputePrefix + spec.name)
        return true;
    return false;
  };
  auto seconds = [&](const std::string& key, const std::string& v) {
    char* end = nullptr;
    const double s = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !std::isfinite(s) || s < 0 || s > 1)
      throw InputError(file, "zone property '" + key + "'", "expected seconds in [0, 1], found '" + v + "'");
    return s;
  };
  for (const auto& [key, value] : props) {
    // The GPU description a zone or <cluster> may carry for its hosts (read by Cluster::from_hosts).
    if (key.rfind("moesim_", 0) != 0 || key == prop::gpus_per_node || key == prop::gpu_preset)
      continue;
    const std::string place = "zone property '" + key + "'";
    if (key == kBwIntra) {
      c.bandwidth_intra = FactorTable::parse(value, file, place);
    } else if (key == kBwInter) {
      c.bandwidth_inter = FactorTable::parse(value, file, place);
    } else if (key == kOverheadIntra) {
      c.overhead_intra_s = seconds(key, value);
    } else if (key == kOverheadInter) {
      c.overhead_inter_s = seconds(key, value);
    } else if (key.rfind(kGemmPrefix, 0) == 0) {
      throw InputError(file, place, "a GEMM efficiency table is no longer read (it counted memory-bound time twice): "
                                    "recalibrate with moesim calibrate, which fits moesim_hbm_efficiency and the "
                                    "moesim_expert_* parameters of the grouped-GEMM model");
    } else if (key.rfind(kKernelPrefix, 0) == 0) {
      bool matched = false;
      for (const auto& [name, entry] : A2aKernelRegistry::instance().entries()) {
        const std::string prefix = kernel_param_property(name, "");
        if (key.rfind(prefix, 0) != 0)
          continue;
        const std::string param = key.substr(prefix.size());
        KernelParams one{{param, number(key, value)}};
        resolve_kernel_params(*entry.fn(), one, file + ": " + place); // unknown names and ranges are errors
        c.kernel_params[name][param] = one.at(param);
        matched = true;
        break;
      }
      if (!matched) {
        std::string known;
        for (const auto& [name, entry] : A2aKernelRegistry::instance().entries())
          known += (known.empty() ? "" : ", ") + kernel_param_property(name, "<param>");
        throw InputError(file, place, "unknown kernel (expected " + known + ")");
      }
    } else if (is_compute_key(key)) {
      const std::string name = key.substr(std::string(kComputePrefix).size());
      const double v = number(key, value);
      for (const auto& spec : compute_param_specs())
        if (spec.name == name && !(v >= spec.lo && v <= spec.hi))
          throw InputError(file, place, "expected " + spec.unit + " in [" + fmt("%g", spec.lo) + ", " +
                                            fmt("%g", spec.hi) + "], found '" + value + "'");
      c.compute[name] = v;
    } else if (key.rfind(kOpPrefix, 0) == 0 || key.rfind(kOpOverheadPrefix, 0) == 0) {
      const bool is_overhead = key.rfind(kOpOverheadPrefix, 0) == 0;
      std::string rest = key.substr(std::string(is_overhead ? kOpOverheadPrefix : kOpPrefix).size());
      // <op>_<nodes>x<gpus>[_<dtype>]: op names contain '_', so find the shape token.
      std::vector<std::string> parts;
      for (size_t a = 0, b; a <= rest.size(); a = b + 1) {
        b = std::min(rest.find('_', a), rest.size());
        parts.push_back(rest.substr(a, b - a));
      }
      auto is_shape = [](const std::string& t) {
        const size_t x = t.find('x');
        return x != std::string::npos && x > 0 && x + 1 < t.size() && t.find('x', x + 1) == std::string::npos &&
               t.find_first_not_of("0123456789x") == std::string::npos;
      };
      size_t si = 0;
      while (si < parts.size() && !is_shape(parts[si]))
        ++si;
      std::string op, table;
      for (size_t i = 0; i < si; ++i)
        op += (i ? "_" : "") + parts[i];
      const auto& ops = measurement_ops();
      if (si == parts.size() || si + 2 < parts.size() || std::find(ops.begin(), ops.end(), op) == ops.end() ||
          (si + 1 < parts.size() && dtype_bytes(parts[si + 1]) == 0))
        throw InputError(file, place, "expected moesim_op_factor_ or moesim_op_overhead_ followed by "
                                      "<op>_<nodes>x<gpus_per_node>[_<dtype>] with a known op and data type");
      table = op + "/" + parts[si] + (si + 1 < parts.size() ? "/" + parts[si + 1] : "");
      if (is_overhead)
        c.op_overhead_s[table] = seconds(key, value);
      else
        c.op_factor[table] = FactorTable::parse(value, file, place);
    } else {
      throw InputError(file, place,
                       "unknown moesim property (expected moesim_bandwidth_factor_intra/_inter, "
                       "moesim_overhead_intra_s/_inter_s, moesim_op_factor_<op>_<shape>, moesim_op_overhead_<op>_<shape>, "
                       "moesim_kernel_<kernel>_<param>, moesim_hbm_efficiency, moesim_expert_fixed_s, "
                       "moesim_expert_group_s, moesim_expert_flop_efficiency)");
    }
  }
  return c;
}

CollectivePattern collective_pattern(const std::string& op, int nodes, int gpus_per_node, int platform_gpus_per_node,
                                     double bytes)
{
  if (nodes < 1 || gpus_per_node < 1 || gpus_per_node > platform_gpus_per_node)
    throw UsageError("collective on " + std::to_string(nodes) + " x " + std::to_string(gpus_per_node) +
                     " GPUs does not fit a platform with " + std::to_string(platform_gpus_per_node) +
                     " GPUs per node");
  const int n = nodes * gpus_per_node;
  auto rank = [&](int node, int local) { return node * platform_gpus_per_node + local; };
  auto at = [&](int r) { return rank(r / gpus_per_node, r % gpus_per_node); };
  CollectivePattern p;
  if (op == "alltoall") {
    for (int a = 0; a < n; ++a)
      for (int b = 0; b < n; ++b)
        if (a != b)
          p.transfers.emplace_back(at(a), at(b), bytes / n);
  } else if (op == "sendrecv") {
    if (n > 1)
      for (int a = 0; a < n; ++a)
        p.transfers.emplace_back(at(a), at((a + 1) % n), bytes);
  } else if (op == "p2p") {
    if (n < 2)
      throw UsageError("a p2p measurement needs two GPUs");
    p.transfers.emplace_back(at(0), at(1), bytes);
  } else if (op == "all_reduce" || op == "all_gather" || op == "reduce_scatter") {
    const double share = (op == "all_reduce" ? 2.0 : 1.0) * (n - 1) / n;
    p.latency_steps = (op == "all_reduce" ? 2.0 : 1.0) * (n - 1);
    const int channels = nodes > 1 ? gpus_per_node : 1;
    if (n > 1)
      for (int c = 0; c < channels; ++c) {
        std::vector<int> ring;
        for (int k = 0; k < nodes; ++k)
          for (int j = 0; j < gpus_per_node; ++j)
            ring.push_back(rank(k, (c + j) % gpus_per_node));
        for (size_t i = 0; i < ring.size(); ++i)
          p.transfers.emplace_back(ring[i], ring[(i + 1) % ring.size()], share * bytes / channels);
      }
  } else {
    throw UsageError("no communication pattern for operation '" + op + "'");
  }
  return p;
}

CollectivePattern measurement_pattern(const Measurement& m, int platform_gpus_per_node)
{
  if (m.op == "p2p" || m.op == "alltoallv") {
    const int n = m.nodes * m.gpus_per_node;
    if (m.gpus_per_node > platform_gpus_per_node)
      throw UsageError("a measurement on " + std::to_string(m.gpus_per_node) + " GPUs per node does not fit a "
                       "platform with " + std::to_string(platform_gpus_per_node));
    auto at = [&](int r) { return r / m.gpus_per_node * platform_gpus_per_node + r % m.gpus_per_node; };
    CollectivePattern p;
    if (m.op == "p2p") {
      if (m.src == m.dst || m.src >= n || m.dst >= n)
        throw UsageError("p2p between ranks " + std::to_string(m.src) + " and " + std::to_string(m.dst) + " of " +
                         std::to_string(n));
      p.transfers.emplace_back(at(m.src), at(m.dst), m.bytes);
      return p;
    }
    double total = 0;
    for (int d = 1; d < n; ++d)
      total += std::pow(1.0 + (d - 1), -m.skew);
    for (int a = 0; a < n; ++a)
      for (int d = 1; d < n; ++d)
        p.transfers.emplace_back(at(a), at((a + d) % n),
                                 std::floor(m.bytes * (n - 1) / n * std::pow(1.0 + (d - 1), -m.skew) / total / 4) * 4);
    return p;
  }
  return collective_pattern(m.op, m.nodes, m.gpus_per_node, platform_gpus_per_node, m.bytes);
}

std::vector<bool> every_other_holdout(const std::vector<Measurement>& ms)
{
  // The size a series runs over: m for GEMMs, tokens per GPU for DeepEP and MoE-layer operations, bytes otherwise.
  auto size_of = [](const Measurement& m) {
    return m.op == "gemm" ? m.m : is_moe_op(m.op) ? static_cast<double>(m.tokens) : m.bytes;
  };
  std::map<std::string, std::vector<size_t>> series;
  for (size_t i = 0; i < ms.size(); ++i) {
    const auto& m = ms[i];
    std::string key = m.source + "|" + m.op + "|" + std::to_string(m.nodes) + "x" + std::to_string(m.gpus_per_node) +
                      "|" + m.dtype + "|" + m.layout;
    if (is_moe_op(m.op))
      key += "|" + std::to_string(m.hidden) + "|" + std::to_string(m.top_k) + "|" + std::to_string(m.experts) + "|" +
             std::to_string(m.inter) + "|" + std::to_string(m.kernel_sms) + "|" + m.routing;
    series[key].push_back(i);
  }
  std::vector<bool> out(ms.size(), false);
  for (auto& [key, idx] : series) {
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return size_of(ms[a]) < size_of(ms[b]); });
    // Sizes, not rows: repeats of one size stay together.
    std::vector<double> sizes;
    for (size_t i : idx) {
      const double k = size_of(ms[i]);
      if (sizes.empty() || k != sizes.back())
        sizes.push_back(k);
      out[i] = (sizes.size() - 1) % 2 == 1;
    }
  }
  return out;
}

std::vector<bool> every_other_shape_holdout(const std::vector<Measurement>& ms)
{
  // (source, op) -> shape key -> measurements, shapes in first-seen order.
  std::map<std::string, std::vector<std::string>> shapes;
  std::map<std::string, std::vector<size_t>> members;
  for (size_t i = 0; i < ms.size(); ++i) {
    const auto& m = ms[i];
    if (!is_moe_op(m.op))
      continue;
    // Dispatch and combine of one shape share it: strip the phase from the op.
    const std::string family = m.op.substr(0, m.op.find('_'));
    const std::string group = m.source + "|" + family;
    const std::string shape = std::to_string(m.nodes) + "x" + std::to_string(m.gpus_per_node) + "|" +
                              std::to_string(m.hidden) + "|" + std::to_string(m.top_k) + "|" +
                              std::to_string(m.experts) + "|" + std::to_string(m.inter);
    auto& list = shapes[group];
    if (std::find(list.begin(), list.end(), shape) == list.end())
      list.push_back(shape);
    members[group + "#" + shape].push_back(i);
  }
  std::vector<bool> out(ms.size(), false);
  for (const auto& [group, list] : shapes)
    for (size_t s = 1; s < list.size(); s += 2)
      for (size_t i : members[group + "#" + list[s]])
        out[i] = true;
  return out;
}

double gemm_peak_flops(const GpuInfo& gpu, const std::string& dtype)
{
  if ((dtype == "fp8" || dtype == "f8e4m3" || dtype == "f8e5m2") && gpu.peak_flops_fp8 > 0)
    return gpu.peak_flops_fp8;
  return gpu.peak_flops_bf16;
}

CalibrationResult fit_link_values(const std::vector<Measurement>& ms, const std::vector<bool>& held_out,
                                  const PlatformParams& base)
{
  CalibrationResult r;
  r.platform = base;
  int max_nodes = 1, max_gpn = 0;
  std::vector<double> intra_goodput, inter_goodput, hbm;
  // Ring collectives' bus bandwidth (nccl-tests' busbw): per GPU and direction inside a node; across nodes, what
  // a node's NICs carry together (one ring channel per GPU and NIC, as collective_pattern lays them out).
  std::vector<double> intra_bus, inter_bus_per_gpu;
  for (size_t i = 0; i < ms.size(); ++i) {
    const auto& m = ms[i];
    FitPoint p;
    p.m = m;
    p.held_out = held_out[i];
    r.points.push_back(p);
    if (is_collective(m.op)) {
      max_nodes = std::max(max_nodes, m.nodes);
      max_gpn = std::max(max_gpn, m.gpus_per_node);
    }
    if (held_out[i])
      continue;
    const double n = static_cast<double>(m.nodes) * m.gpus_per_node;
    if (m.op == "alltoall" && m.nodes == 1 && n > 1)
      intra_goodput.push_back(m.bytes * (n - 1) / n / m.time_s);
    if (m.op == "alltoall" && m.nodes > 1)
      inter_goodput.push_back(m.bytes * (n - m.gpus_per_node) / n / m.time_s);
    if (m.op == "hbm")
      hbm.push_back(m.bytes / m.time_s);
    if ((m.op == "all_reduce" || m.op == "all_gather" || m.op == "reduce_scatter") && n > 1) {
      const double busbw = m.bytes * (m.op == "all_reduce" ? 2.0 : 1.0) * (n - 1) / n / m.time_s;
      if (m.nodes == 1)
        intra_bus.push_back(busbw);
      else
        inter_bus_per_gpu.push_back(busbw / m.gpus_per_node);
    }
  }
  r.platform.nodes = max_nodes;
  r.platform.gpus_per_node = max_gpn > 0 ? max_gpn : base.gpus_per_node; // no collective: the base node
  // Links and HBM keep their datasheet values: they are what every kernel family shares, and each family's
  // goodput below them is its own (NCCL's in the factor tables, DeepEP's in its kernel parameters, the grouped
  // GEMMs' in the HBM efficiency). The best goodputs measured are reported.
  // Without all-to-alls, the ring collectives' best bus bandwidth stands for the links (the datasheet value would
  // go unchecked while their factor tables fit every point exactly).
  if (intra_goodput.empty() && !intra_bus.empty()) {
    r.platform.nvlink_Bps = top_median(intra_bus);
    r.notes.push_back("NVLink " + fmt("%.4g", r.platform.nvlink_Bps / 1e9) +
                      " GB/s per GPU and direction: the best single-node ring bus bandwidth (all_reduce, all_gather, "
                      "reduce_scatter; " + std::to_string(intra_bus.size()) + " measurements), no alltoall measured");
  }
  if (inter_goodput.empty() && !inter_bus_per_gpu.empty()) {
    r.platform.nic_Bps = top_median(inter_bus_per_gpu);
    r.platform.pcie_Bps = std::max(r.platform.pcie_Bps, r.platform.nic_Bps);
    r.notes.push_back("NIC " + fmt("%.4g", r.platform.nic_Bps / 1e9) +
                      " GB/s per GPU and direction: the best multi-node ring bus bandwidth over the GPUs of a node (" +
                      std::to_string(inter_bus_per_gpu.size()) + " measurements), no alltoall measured");
  }
  if (!intra_goodput.empty())
    r.notes.push_back("NVLink " + fmt("%.4g", r.platform.nvlink_Bps / 1e9) + " GB/s per GPU and direction "
                      "(datasheet); best single-node NCCL alltoall goodput " +
                      fmt("%.4g", top_median(intra_goodput) / 1e9) + " GB/s (" + std::to_string(intra_goodput.size()) +
                      " measurements), carried by the NCCL factors");
  else if (intra_bus.empty())
    r.notes.push_back("no single-node alltoall measured: NVLink " + fmt("%.4g", base.nvlink_Bps / 1e9) +
                      " GB/s (datasheet), no NCCL factor inside nodes");
  if (!inter_goodput.empty())
    r.notes.push_back("NIC " + fmt("%.4g", r.platform.nic_Bps / 1e9) + " GB/s per GPU and direction (datasheet); "
                      "best multi-node NCCL alltoall goodput over the network " +
                      fmt("%.4g", top_median(inter_goodput) / 1e9) + " GB/s (" + std::to_string(inter_goodput.size()) +
                      " measurements), carried by the NCCL factors");
  else if (inter_bus_per_gpu.empty())
    r.notes.push_back("no multi-node alltoall measured: NIC " + fmt("%.4g", base.nic_Bps / 1e9) +
                      " GB/s (datasheet), no NCCL factor between nodes");
  if (!hbm.empty())
    r.notes.push_back("HBM copy bandwidth measured up to " + fmt("%.4g", top_median(hbm) / 1e9) +
                      " GB/s: fitted as the HBM efficiency with the MoE and GEMM measurements");
  // Message overheads: the small-message floor of alltoall (the bandwidth term is below 10% of the time there),
  // less the route latency the platform already has.
  auto floor_of = [&](bool inter, double bw_Bps, double route_s, double& out) {
    std::vector<std::pair<double, double>> by_size;
    for (size_t i = 0; i < ms.size(); ++i) {
      const auto& m = ms[i];
      if (held_out[i] || m.op != "alltoall" || (m.nodes > 1) != inter || m.gpus_per_node != max_gpn ||
          m.nodes * m.gpus_per_node < 2)
        continue;
      const double n = static_cast<double>(m.nodes) * m.gpus_per_node;
      if (m.bytes * (n - 1) / n / bw_Bps < 0.1 * m.time_s)
        by_size.emplace_back(m.bytes, m.time_s);
    }
    if (by_size.size() < 3)
      return false;
    std::sort(by_size.begin(), by_size.end());
    std::vector<double> times;
    for (auto [b, t] : by_size)
      times.push_back(t);
    out = std::max(0.0, floor_time(times) - route_s);
    r.notes.push_back(std::string("message overhead ") + (inter ? "between nodes " : "inside a node ") +
                      fmt("%.3g", out * 1e6) + " us: median small-message alltoall time (" +
                      std::to_string(times.size()) + " latency-bound measurements) less the route latency");
    return true;
  };
  const double intra_route = 2 * r.platform.nvlink_latency_s;
  const double inter_route = 2 * r.platform.pcie_latency_s + 2 * r.platform.nic_latency_s;
  if (!floor_of(false, r.platform.nvlink_Bps, intra_route, r.network.overhead_intra_s))
    r.notes.push_back("no latency-bound single-node alltoall measured: no message overhead inside a node");
  if (!floor_of(true, r.platform.nic_Bps, inter_route, r.network.overhead_inter_s)) {
    r.network.overhead_inter_s = std::max(0.0, r.network.overhead_intra_s + intra_route - inter_route);
    r.notes.push_back("no latency-bound multi-node alltoall measured: the message overhead between nodes is "
                      "assumed to give the same small-message time as inside a node (" +
                      fmt("%.3g", r.network.overhead_inter_s * 1e6) + " us)");
  }
  return r;
}

std::string factor_table_name(const Measurement& m, int platform_gpus_per_node)
{
  if (m.op == "hbm" || m.op == "gemm" || is_moe_op(m.op))
    return ""; // fitted as operations by parameters (moe_fit.hpp)
  if (m.op == "alltoall" && m.gpus_per_node == platform_gpus_per_node)
    return m.nodes > 1 ? "network/inter" : "network/intra";
  // Reductions run arithmetic whose speed depends on the data type (int8 sums are slower than half on H100).
  if ((m.op == "all_reduce" || m.op == "reduce_scatter") && !m.dtype.empty())
    return m.op + "/" + shape(m) + "/" + m.dtype;
  return m.op + "/" + shape(m);
}

namespace {

/// The key a measurement's factor is tabulated by: bytes per message for the network tables (the size
/// moesim run's messages are looked up by), the operation's size for per-collective tables, m for GEMMs.
double table_key(const Measurement& m, const std::string& table)
{
  if (m.op == "gemm")
    return m.m;
  if (table.rfind("network/", 0) == 0)
    return m.bytes / (static_cast<double>(m.nodes) * m.gpus_per_node);
  return m.bytes;
}

/// Knots from (key, factor) samples. Sizes within 0.1% are one knot (nccl-tests rounds sizes to multiples of the
/// rank count). A sample is an outlier (a slow or fast repetition, common in small-message latencies) when its
/// log factor lies more than 3 scaled MADs and log(1.25) from the median of the samples of its own and the two
/// neighbouring knots on each side. A knot's log factor is the mean of its remaining samples weighted by the share
/// of their time the factor acts on (latency-bound samples barely determine it). Factors are not forced to grow
/// with size: NCCL's protocol switches (LL, LL128, Simple) make goodput dip between sizes, and the held-out
/// check (docs/calibration.md) is better without that constraint.
FactorTable build_table(std::vector<FitPoint*>& pts)
{
  std::sort(pts.begin(), pts.end(), [](const FitPoint* a, const FitPoint* b) { return a->key < b->key; });
  std::vector<std::vector<size_t>> knots;
  for (size_t i = 0; i < pts.size();) {
    size_t j = i;
    knots.emplace_back();
    while (j < pts.size() && pts[j]->key <= pts[i]->key * 1.001)
      knots.back().push_back(j++);
    i = j;
  }
  std::vector<double> logf(pts.size());
  for (size_t i = 0; i < pts.size(); ++i)
    logf[i] = std::log(pts[i]->factor);
  for (size_t k = 0; k < knots.size(); ++k) {
    std::vector<size_t> window;
    for (size_t j = (k >= 2 ? k - 2 : 0); j <= std::min(knots.size() - 1, k + 2); ++j)
      window.insert(window.end(), knots[j].begin(), knots[j].end());
    for (size_t i : knots[k]) {
      std::vector<double> nb;
      for (size_t w : window)
        if (w != i)
          nb.push_back(logf[w]);
      if (nb.size() < 3)
        continue;
      const double med = median(nb);
      std::vector<double> dev;
      for (double v : nb)
        dev.push_back(std::abs(v - med));
      const double mad = 1.4826 * median(dev);
      pts[i]->outlier = std::abs(logf[i] - med) > std::max(3 * mad, std::log(1.25));
    }
  }
  std::vector<double> keys, vals, weights; // vals: log factors
  for (const auto& kn : knots) {
    std::vector<double> ks;
    double sw = 0, swf = 0;
    for (size_t i : kn)
      if (!pts[i]->outlier) {
        ks.push_back(pts[i]->key);
        sw += pts[i]->weight;
        swf += pts[i]->weight * logf[i];
      }
    if (ks.empty())
      continue;
    keys.push_back(median(ks));
    vals.push_back(swf / sw);
    weights.push_back(sw);
  }
  // Knots whose samples are all latency-bound (weight 1e-3 each) say nothing about the factor: those below the
  // first informative size get the largest factor (their bandwidth term vanishes: the time is the overhead, as
  // measured), those above it are left to interpolation.
  std::vector<double> latency_keys;
  {
    std::vector<double> k2, v2, w2;
    for (size_t i = 0; i < keys.size(); ++i)
      if (weights[i] >= 0.05) {
        k2.push_back(keys[i]);
        v2.push_back(vals[i]);
        w2.push_back(weights[i]);
      } else if (k2.empty()) {
        latency_keys.push_back(keys[i]);
      }
    if (k2.empty())
      latency_keys.clear(); // nothing informative: keep every knot as it is
    else {
      keys = k2;
      vals = v2;
      weights = w2;
    }
  }
  FactorTable t;
  for (double k : latency_keys) {
    t.size.push_back(k);
    t.factor.push_back(kMaxFactor);
  }
  for (size_t k = 0; k < keys.size(); ++k) {
    t.size.push_back(keys[k]);
    t.factor.push_back(std::exp(vals[k]));
  }
  return t;
}

/// Largest factor f in [kMinFactor, kMaxFactor] whose simulated time is >= the measured time (time falls as f
/// grows); bisection in log f.
double solve_factor(const std::function<double(double)>& time_at, double measured_s)
{
  double lo = std::log(kMinFactor), hi = std::log(kMaxFactor);
  if (time_at(kMaxFactor) >= measured_s)
    return kMaxFactor;
  if (time_at(kMinFactor) <= measured_s)
    return kMinFactor;
  for (int it = 0; it < 60; ++it) {
    const double mid = 0.5 * (lo + hi);
    if (time_at(std::exp(mid)) > measured_s)
      lo = mid;
    else
      hi = mid;
  }
  return std::exp(0.5 * (lo + hi));
}

/// The operation's own message overhead, where the calibration has one.
void use_op_overhead(CollectivePattern& pat, const PlatformCalibration& c, const std::string& table)
{
  auto it = c.op_overhead_s.find(table);
  if (it != c.op_overhead_s.end())
    pat.overhead_s = it->second;
}

FactorTable constant(double f)
{
  FactorTable t;
  t.size = {1.0};
  t.factor = {f};
  return t;
}

} // namespace

namespace {

/// Slow repetitions: a size that took more than 1.2x the time of the next larger size of its series (same source,
/// operation, shape and type) did not measure the operation, since time does not fall as messages grow.
void mark_slow_repetitions(std::vector<FitPoint>& points)
{
  std::map<std::string, std::vector<FitPoint*>> series;
  for (auto& p : points)
    if (!p.held_out && is_collective(p.m.op))
      series[p.m.source + "|" + p.m.op + "|" + shape(p.m) + "|" + p.m.dtype].push_back(&p);
  for (auto& [key, v] : series) {
    std::stable_sort(v.begin(), v.end(), [](auto* a, auto* b) { return a->m.bytes < b->m.bytes; });
    for (size_t i = 0; i + 1 < v.size(); ++i)
      if (v[i]->m.time_s > 1.2 * v[i + 1]->m.time_s && v[i + 1]->m.bytes > v[i]->m.bytes)
        v[i]->outlier = true;
  }
}

/// The fitted (not held-out, not rejected) points of one factor table.
std::vector<FitPoint*> points_of(CalibrationResult& r, const std::string& table)
{
  std::vector<FitPoint*> pts;
  for (auto& p : r.points)
    if (!p.held_out && !p.outlier && factor_table_name(p.m, r.platform.gpus_per_node) == table)
      pts.push_back(&p);
  return pts;
}

/// Network tables first (inside a node, then between nodes with the former fixed), then per-collective tables.
std::vector<std::string> factor_table_order(const CalibrationResult& r)
{
  std::vector<std::string> order = {"network/intra", "network/inter"};
  std::set<std::string> rest;
  for (const auto& p : r.points)
    if (is_collective(p.m.op) && factor_table_name(p.m, r.platform.gpus_per_node).rfind("network/", 0) != 0)
      rest.insert(factor_table_name(p.m, r.platform.gpus_per_node));
  order.insert(order.end(), rest.begin(), rest.end());
  return order;
}

/// A per-collective table's own message overhead: its latency-bound sizes (where the bandwidth part, simulated
/// without overhead, is below 10% of the time), less the bandwidth and route part. Needs three such sizes.
void fit_op_overhead(CalibrationResult& r, const std::string& table, const std::vector<FitPoint*>& pts,
                     const CollectiveSimulator& simulate)
{
  std::vector<std::pair<double, double>> excess; // (size, time beyond the bandwidth and route part)
  for (auto* p : pts) {
    const Measurement& m = p->m;
    CollectivePattern pat = measurement_pattern(m, r.platform.gpus_per_node);
    pat.overhead_s = 0;
    const double t = simulate(pat, r.network, 1.0);
    for (auto& tr : pat.transfers)
      std::get<2>(tr) = 0;
    const double route_s = simulate(pat, r.network, 1.0);
    if (t - route_s < 0.1 * m.time_s && t < m.time_s)
      excess.emplace_back(m.bytes, m.time_s - t);
  }
  if (excess.size() < 3)
    return;
  std::sort(excess.begin(), excess.end());
  std::vector<double> ex;
  for (auto [b, e] : excess)
    ex.push_back(e);
  r.network.op_overhead_s[table] = floor_time(ex);
}

/// One point of a factor table: its weight (the share of the measured time beyond the latency-only time, the same
/// pattern without bytes) and the factor that makes the simulated time equal the measured one.
void solve_point(CalibrationResult& r, const std::string& table, FitPoint& p, const CollectiveSimulator& simulate)
{
  const Measurement& m = p.m;
  const CollectivePattern pat = measurement_pattern(m, r.platform.gpus_per_node);
  p.table = table;
  p.key = table_key(m, table);
  CollectivePattern empty = pat;
  for (auto& tr : empty.transfers)
    std::get<2>(tr) = 0;
  use_op_overhead(empty, r.network, table);
  const double t0 = simulate(empty, r.network, 1.0);
  // Below 10% the factor would describe the run-to-run noise of latency-bound times, not bandwidth.
  const double share = (m.time_s - t0) / m.time_s;
  p.weight = share < 0.1 ? 1e-3 : std::min(share, 1.0);
  if (table.rfind("network/", 0) == 0) {
    const bool inter = table == "network/inter";
    p.factor = solve_factor(
        [&](double f) {
          PlatformCalibration c = r.network;
          (inter ? c.bandwidth_inter : c.bandwidth_intra) = constant(f);
          return simulate(pat, c, 1.0);
        },
        m.time_s);
  } else {
    CollectivePattern op_pat = pat;
    use_op_overhead(op_pat, r.network, table);
    p.factor = solve_factor([&](double f) { return simulate(op_pat, r.network, f); }, m.time_s);
  }
}

} // namespace

void fit_factors(CalibrationResult& r, const CollectiveSimulator& simulate)
{
  mark_slow_repetitions(r.points);
  for (const auto& table : factor_table_order(r)) {
    auto pts = points_of(r, table);
    if (pts.empty())
      continue;
    if (table.rfind("network/", 0) != 0)
      fit_op_overhead(r, table, pts, simulate);
    for (auto* p : pts)
      solve_point(r, table, *p, simulate);
    FactorTable t = build_table(pts);
    if (table == "network/intra")
      r.network.bandwidth_intra = t;
    else if (table == "network/inter")
      r.network.bandwidth_inter = t;
    else
      r.network.op_factor[table] = t;
  }
  for (auto& p : r.points)
    if (p.outlier)
      r.notes.push_back("outlier rejected: " + p.m.source + " line " + std::to_string(p.m.line) + " (" + p.m.op +
                        ", factor " + fmt("%.3g", p.factor) + " far from its neighbours)");
}

double simulate_measurement(const Measurement& m, const CalibrationResult& r, int platform_gpus_per_node,
                            const CollectiveSimulator& simulate)
{
  if (m.op == "hbm") {
    ComputeParams cp;
    r.network.apply_compute(cp);
    return m.bytes / (cp.hbm_efficiency * r.platform.gpu.hbm_bandwidth_Bps);
  }
  if (m.op == "gemm" || is_moe_op(m.op))
    throw InternalError("simulate_measurement: " + m.op + " measurements are simulated as operations (MoeCase)");
  CollectivePattern pat = measurement_pattern(m, platform_gpus_per_node);
  const std::string table = factor_table_name(m, platform_gpus_per_node);
  double op_factor = 1.0;
  auto it = r.network.op_factor.find(table);
  if (it != r.network.op_factor.end())
    op_factor = it->second.eval(m.bytes);
  use_op_overhead(pat, r.network, table);
  return simulate(pat, r.network, op_factor);
}

void write_record_platform(const PlatformParams& p, const PlatformCalibration& network, nlohmann::json& record)
{
  record["schema"] = "moesim-calibration/1";
  record["platform"] = {{"topology", topology_name(p.topology)},
                        {"nodes", p.nodes},
                        {"gpus_per_node", p.gpus_per_node},
                        {"nvlink_Bps", p.nvlink_Bps},
                        {"nvlink_latency_s", p.nvlink_latency_s},
                        {"pcie_Bps", p.pcie_Bps},
                        {"pcie_latency_s", p.pcie_latency_s},
                        {"nic_Bps", p.nic_Bps},
                        {"nic_latency_s", p.nic_latency_s},
                        {"spine_latency_s", p.spine_latency_s},
                        {"peak_flops_bf16", p.gpu.peak_flops_bf16},
                        {"peak_flops_fp8", p.gpu.peak_flops_fp8},
                        {"hbm_bandwidth_Bps", p.gpu.hbm_bandwidth_Bps},
                        {"hbm_capacity_bytes", p.gpu.hbm_capacity_bytes},
                        {"sm_count", p.gpu.sm_count},
                        {"gpu_model", p.gpu.model}};
  record["zone_properties"] = network.to_props();
}

PlatformParams read_record_platform(const std::string& file)
{
  const JsonDocument doc = JsonDocument::parse(read_text_file(file), file);
  const JsonView root = doc.root();
  if (root.get_string("schema") != "moesim-calibration/1")
    root.fail("schema", "expected \"moesim-calibration/1\" (a record written by moesim calibrate)");
  const JsonView pl = root.child("platform");
  PlatformParams p;
  try {
    p.topology = parse_topology(pl.get_string("topology"));
  } catch (const UsageError& e) {
    pl.fail("topology", e.what());
  }
  p.nodes = pl.get_int("nodes", 1);
  p.gpus_per_node = pl.get_int("gpus_per_node", 1);
  p.nvlink_Bps = pl.get_double("nvlink_Bps");
  p.nvlink_latency_s = pl.get_double("nvlink_latency_s");
  p.pcie_Bps = pl.get_double("pcie_Bps");
  p.pcie_latency_s = pl.get_double("pcie_latency_s");
  p.nic_Bps = pl.get_double("nic_Bps");
  p.nic_latency_s = pl.get_double("nic_latency_s");
  p.spine_latency_s = pl.get_double("spine_latency_s");
  p.gpu.peak_flops_bf16 = pl.get_double("peak_flops_bf16");
  p.gpu.peak_flops_fp8 = pl.get_double("peak_flops_fp8");
  p.gpu.hbm_bandwidth_Bps = pl.get_double("hbm_bandwidth_Bps");
  p.gpu.hbm_capacity_bytes = pl.get_double("hbm_capacity_bytes");
  if (pl.has("sm_count"))
    p.gpu.sm_count = pl.get_int("sm_count", 1);
  p.gpu.model = pl.has("gpu_model") ? pl.get_string("gpu_model") : "";
  if (!root.has("zone_properties") || !root.node()["zone_properties"].is_object())
    root.fail("zone_properties", "expected an object of strings");
  for (const auto& [k, v] : root.node()["zone_properties"].items()) {
    if (!v.is_string())
      root.fail("zone_properties." + k, "expected a string");
    p.zone_properties[k] = v.get<std::string>();
  }
  PlatformCalibration::from_props(p.zone_properties, file); // validates the factors
  p.comment_lines.push_back("Calibrated: links, GPU values and factors from the record " +
                            std::filesystem::path(file).filename().string());
  p.validate();
  return p;
}

} // namespace moesim
