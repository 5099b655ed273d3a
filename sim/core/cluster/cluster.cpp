#include "core/cluster/cluster.hpp"

#include "core/io/errors.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

namespace moesim {

GpuInfo h100_sxm()
{
  GpuInfo g;
  g.peak_flops_bf16 = 989e12;
  g.peak_flops_fp8 = 1979e12;
  g.hbm_bandwidth_Bps = 3.35e12;
  g.hbm_capacity_bytes = 80e9;
  return g;
}

namespace {

double number_prop(const HostProperties& h, const char* key, const std::string& file, bool allow_zero)
{
  auto it = h.properties.find(key);
  if (it == h.properties.end())
    throw InputError(file, "host '" + h.name + "'",
                     std::string("missing property '") + key + "' (every GPU host needs node, gpu, peak_flops_bf16, "
                     "peak_flops_fp8, hbm_bandwidth_Bps, hbm_capacity_bytes; see docs/platforms.md)");
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

} // namespace

Cluster Cluster::from_hosts(const std::vector<HostProperties>& hosts, const std::string& file)
{
  if (hosts.empty())
    throw InputError(file, "", "platform has no host");
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
