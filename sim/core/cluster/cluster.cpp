#include "core/cluster/cluster.hpp"

#include "core/io/errors.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cmath>
#include <set>
#include <tuple>

namespace moesim {

GpuInfo h100_sxm()
{
  GpuInfo g;
  g.peak_flops_bf16 = 989e12;
  g.peak_flops_fp8 = 1979e12;
  g.hbm_bandwidth_Bps = 3.35e12;
  g.hbm_capacity_bytes = 80e9;
  g.sm_count = 132;
  g.model = "H100-SXM";
  return g;
}

const std::vector<GpuPreset>& gpu_presets()
{
  static const std::vector<GpuPreset> presets = [] {
    std::vector<GpuPreset> v;
    GpuPreset h100{"h100", h100_sxm(), 450e9, 50e9,
                   "NVIDIA H100 datasheet (SXM5 80 GB: 989/1979 TFLOP/s dense BF16/FP8, 3.35 TB/s HBM3, NVLink4 "
                   "900 GB/s), DGX H100: one ConnectX-7 400 Gb/s per GPU"};
    v.push_back(h100);
    GpuPreset h200 = h100;
    h200.name = "h200";
    h200.gpu.model = "H200-SXM";
    h200.gpu.hbm_bandwidth_Bps = 4.8e12;
    h200.gpu.hbm_capacity_bytes = 141.0 * 1073741824.0;
    h200.source = "NVIDIA H200 datasheet (SXM 141 GB HBM3e, 4.8 TB/s; compute and NVLink as H100), "
                  "data/calib/aiconfigurator-h200/h200_sxm.yaml (mem_capacity 141 GiB, 400 Gb/s NIC per GPU)";
    v.push_back(h200);
    GpuPreset h800 = h100;
    h800.name = "h800";
    h800.gpu.model = "H800-SXM";
    h800.nvlink_Bps = 200e9;
    h800.source = "H800 SXM5 80 GB: H100 compute and HBM3 with NVLink at 400 GB/s (200 GB/s per direction; DeepEP "
                  "README: ~160 GB/s reached), one ConnectX-7 400 Gb/s per GPU (DeepEP's and DeepSeek's clusters)";
    v.push_back(h800);
    GpuPreset a100;
    a100.name = "a100";
    a100.gpu.peak_flops_bf16 = 312e12;
    a100.gpu.peak_flops_fp8 = 0; // no FP8 tensor cores: FP8 weights run BF16 GEMMs
    a100.gpu.hbm_bandwidth_Bps = 2.039e12;
    a100.gpu.hbm_capacity_bytes = 80e9;
    a100.gpu.sm_count = 108;
    a100.gpu.model = "A100-SXM4";
    a100.nvlink_Bps = 300e9;
    a100.nic_Bps = 25e9;
    a100.source = "NVIDIA A100 datasheet (SXM4 80 GB: 312 TFLOP/s dense BF16, no FP8, 2.039 TB/s HBM2e, 108 SMs, "
                  "NVLink3 600 GB/s), DGX A100: one ConnectX-6 HDR 200 Gb/s per GPU";
    v.push_back(a100);
    return v;
  }();
  return presets;
}

const GpuPreset& gpu_preset(const std::string& name)
{
  std::string known;
  for (const auto& p : gpu_presets()) {
    if (p.name == name)
      return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  throw UsageError("unknown GPU preset '" + name + "' (known: " + known + ")");
}

namespace {

double number_prop(const HostProperties& h, const char* key, const std::string& file, bool allow_zero)
{
  auto it = h.properties.find(key);
  if (it == h.properties.end())
    throw InputError(file, "host '" + h.name + "'",
                     std::string("missing property '") + key + "' (every GPU host needs node, gpu, peak_flops_bf16, "
                     "peak_flops_fp8, hbm_bandwidth_Bps, hbm_capacity_bytes, or moesim_gpus_per_node and moesim_gpu on the "
                     "host or its zone; see docs/platforms.md)");
  const std::string& s = it->second;
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v) || v < 0 || (!allow_zero && v == 0))
    throw InputError(file, "host '" + h.name + "', property '" + key + "'",
                     "expected a " + std::string(allow_zero ? "non-negative" : "positive") + " number, got '" + s + "'");
  return v;
}

int int_prop(const HostProperties& h, const char* key, const std::string& file)
{
  const double v = number_prop(h, key, file, true);
  if (v != std::floor(v) || v > 1e6)
    throw InputError(file, "host '" + h.name + "', property '" + key + "'", "expected a non-negative integer");
  return static_cast<int>(v);
}

/// A host name split around its last run of digits (a SimGrid <cluster> names its hosts prefix + number + suffix):
/// (prefix + suffix, number); number -1 when the name has none.
std::pair<std::string, long long> name_key(const std::string& name)
{
  size_t end = name.size();
  while (end > 0 && !std::isdigit(static_cast<unsigned char>(name[end - 1])))
    --end;
  size_t begin = end;
  while (begin > 0 && std::isdigit(static_cast<unsigned char>(name[begin - 1])))
    --begin;
  if (begin == end || end - begin > 15)
    return {name, -1};
  return {name.substr(0, begin) + "\x01" + name.substr(end), std::stoll(name.substr(begin, end - begin))};
}

/// The properties of `h` with what moesim_gpus_per_node and moesim_gpu stand for filled in.
HostProperties resolve_host(const HostProperties& h, const std::string& file)
{
  HostProperties r = h;
  auto& p = r.properties;
  if (auto it = p.find(prop::gpu_preset); it != p.end()) {
    const GpuPreset* preset = nullptr;
    try {
      preset = &gpu_preset(it->second);
    } catch (const UsageError& e) { // the known names, said of this host's property
      throw InputError(file, "host '" + h.name + "', property '" + prop::gpu_preset + "'", e.what());
    }
    const auto fill = [&p](const char* key, double v) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", v);
      p.try_emplace(key, buf);
    };
    fill(prop::flops_bf16, preset->gpu.peak_flops_bf16);
    fill(prop::flops_fp8, preset->gpu.peak_flops_fp8);
    fill(prop::hbm_bw, preset->gpu.hbm_bandwidth_Bps);
    fill(prop::hbm_cap, preset->gpu.hbm_capacity_bytes);
    fill(prop::sm_count, preset->gpu.sm_count);
    p.try_emplace(prop::gpu_model, preset->gpu.model);
  }
  return r;
}

/// Gives node and gpu properties to the hosts that have moesim_gpus_per_node instead: ranked by their names'
/// prefix and suffix, then by the number between (node-2 before node-10), GPU i of them on node i / per_node.
void rank_cluster_hosts(std::vector<HostProperties>& hosts, const std::string& file)
{
  std::vector<std::tuple<std::pair<std::string, long long>, size_t, int>> order; // (name key, host, per node)
  for (size_t i = 0; i < hosts.size(); ++i) {
    const auto& p = hosts[i].properties;
    if (!p.count(prop::gpus_per_node) || p.count(prop::node) || p.count(prop::gpu))
      continue;
    const std::string place = "host '" + hosts[i].name + "', property '" + prop::gpus_per_node + "'";
    const int per_node = int_prop(hosts[i], prop::gpus_per_node, file);
    if (per_node < 1 || per_node > 64)
      throw InputError(file, place, "expected 1..64 GPUs per node, got '" + p.at(prop::gpus_per_node) + "'");
    const auto key = name_key(hosts[i].name);
    if (key.second < 0)
      throw InputError(file, place,
                       "the host's name has no number to rank it by (name hosts prefix<N>suffix, as <cluster> does, "
                       "or set the node and gpu properties)");
    order.emplace_back(key, i, per_node);
  }
  std::sort(order.begin(), order.end());
  for (size_t rank = 0; rank < order.size(); ++rank) {
    auto& h = hosts[std::get<1>(order[rank])];
    const int per_node = std::get<2>(order[rank]);
    h.properties[prop::node] = std::to_string(rank / per_node);
    h.properties[prop::gpu] = std::to_string(rank % per_node);
  }
}

} // namespace

Cluster Cluster::from_hosts(const std::vector<HostProperties>& given, const std::string& file)
{
  if (given.empty())
    throw InputError(file, "", "platform has no host");
  std::vector<HostProperties> hosts;
  for (const auto& raw : given)
    hosts.push_back(resolve_host(raw, file));
  rank_cluster_hosts(hosts, file);
  Cluster c;
  for (const auto& h : hosts) {
    GpuInfo g;
    g.host_name = h.name;
    g.node = int_prop(h, prop::node, file);
    g.local_index = int_prop(h, prop::gpu, file);
    g.peak_flops_bf16 = number_prop(h, prop::flops_bf16, file, false);
    g.peak_flops_fp8 = number_prop(h, prop::flops_fp8, file, true);
    g.hbm_bandwidth_Bps = number_prop(h, prop::hbm_bw, file, false);
    g.hbm_capacity_bytes = number_prop(h, prop::hbm_cap, file, false);
    if (h.properties.count(prop::sm_count)) {
      g.sm_count = int_prop(h, prop::sm_count, file);
      if (g.sm_count < 1 || g.sm_count > 4096)
        throw InputError(file, "host '" + h.name + "', property 'sm_count'", "expected 1..4096 SMs");
    }
    if (auto it = h.properties.find(prop::gpu_model); it != h.properties.end())
      g.model = it->second;
    c.gpus_.push_back(g);
  }
  std::sort(c.gpus_.begin(), c.gpus_.end(), [](const GpuInfo& a, const GpuInfo& b) {
    return a.node != b.node ? a.node < b.node : a.local_index < b.local_index;
  });
  c.num_nodes_ = c.gpus_.back().node + 1;
  if (c.num_gpus() % c.num_nodes_ != 0)
    throw InputError(file, "", "nodes must have the same number of GPUs and node ids must be 0..N-1 (" +
                                   std::to_string(c.num_gpus()) + " GPUs over node ids up to " +
                                   std::to_string(c.num_nodes_ - 1) + ")");
  c.gpus_per_node_ = c.num_gpus() / c.num_nodes_;
  for (int r = 0; r < c.num_gpus(); ++r) {
    const auto& g = c.gpus_[r];
    if (g.node != r / c.gpus_per_node_ || g.local_index != r % c.gpus_per_node_)
      throw InputError(file, "host '" + g.host_name + "'",
                       "(node, gpu) = (" + std::to_string(g.node) + ", " + std::to_string(g.local_index) +
                           ") breaks the layout: expected every node 0.." + std::to_string(c.num_nodes_ - 1) +
                           " to have GPUs 0.." + std::to_string(c.gpus_per_node_ - 1) + " exactly once");
  }
  return c;
}

Cluster Cluster::uniform(int nodes, int gpus_per_node, const GpuInfo& proto)
{
  Cluster c;
  c.num_nodes_ = nodes;
  c.gpus_per_node_ = gpus_per_node;
  for (int n = 0; n < nodes; ++n)
    for (int g = 0; g < gpus_per_node; ++g) {
      GpuInfo x = proto;
      x.host_name = "gpu-" + std::to_string(n) + "-" + std::to_string(g);
      x.node = n;
      x.local_index = g;
      c.gpus_.push_back(x);
    }
  return c;
}

} // namespace moesim
