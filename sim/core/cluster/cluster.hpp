#pragma once
// The cluster as moesim sees it: GPUs with their node/index and compute properties. Built from a SimGrid
// platform's host properties (sim/simgrid/platform_loader) or directly in tests; no SimGrid types here.
#include <map>
#include <string>
#include <vector>

namespace moesim {

struct GpuInfo {
  std::string host_name;
  int node = 0;                      ///< node index, 0..nodes-1
  int local_index = 0;               ///< GPU index inside the node, 0..gpus_per_node-1
  double peak_flops_bf16 = 0;        ///< dense FLOP/s
  double peak_flops_fp8 = 0;         ///< dense FLOP/s (0 = no FP8 support)
  double hbm_bandwidth_Bps = 0;      ///< bytes/s
  double hbm_capacity_bytes = 0;
  int sm_count = 132;                ///< streaming multiprocessors (communication kernels size their grids by it)
  std::string model;                 ///< e.g. "H100-SXM"; "" when the platform does not say
};

/// Host property names moesim reads (docs/platforms.md).
namespace prop {
inline constexpr const char* node = "node";
inline constexpr const char* gpu = "gpu";
inline constexpr const char* flops_bf16 = "peak_flops_bf16";
inline constexpr const char* flops_fp8 = "peak_flops_fp8";
inline constexpr const char* hbm_bw = "hbm_bandwidth_Bps";
inline constexpr const char* hbm_cap = "hbm_capacity_bytes";
inline constexpr const char* sm_count = "sm_count";   ///< optional, default 132 (Hopper SXM)
inline constexpr const char* gpu_model = "gpu_model"; ///< optional name of the GPU
/// Hosts without node/gpu (a SimGrid <cluster>, or any zone): GPUs per node, on the host or a zone above it. Such
/// hosts are ranked by their names (prefix and suffix around the last number, then that number: node-2 before
/// node-10); GPU rank r sits on node r / moesim_gpus_per_node as its GPU r % moesim_gpus_per_node.
inline constexpr const char* gpus_per_node = "moesim_gpus_per_node";
/// A GPU preset (h100, h200, h800, a100) whose values stand for the GPU properties a host does not set.
inline constexpr const char* gpu_preset = "moesim_gpu";
} // namespace prop

struct HostProperties {
  std::string name;
  std::map<std::string, std::string> properties;
};

class Cluster {
public:
  /// Validates the properties of every host (platform_file is named in errors). GPUs are ordered by (node, gpu):
  /// GPU rank = node * gpus_per_node + gpu.
  static Cluster from_hosts(const std::vector<HostProperties>& hosts, const std::string& platform_file);
  /// A homogeneous cluster for tests and estimates.
  static Cluster uniform(int nodes, int gpus_per_node, const GpuInfo& proto);

  int num_gpus() const { return static_cast<int>(gpus_.size()); }
  int num_nodes() const { return num_nodes_; }
  int gpus_per_node() const { return gpus_per_node_; }
  const GpuInfo& gpu(int rank) const { return gpus_[rank]; }
  const std::vector<GpuInfo>& gpus() const { return gpus_; }
  int node_of(int rank) const { return rank / gpus_per_node_; }

private:
  std::vector<GpuInfo> gpus_;
  int num_nodes_ = 0;
  int gpus_per_node_ = 0;
};

/// Properties of an H100 SXM5 80 GB (NVIDIA datasheet: 989 TFLOP/s dense BF16, 1979 dense FP8, 3.35 TB/s HBM3).
GpuInfo h100_sxm();

/// A GPU model with the links of the HGX/DGX node it comes in (`moesim platform --gpu NAME`).
struct GpuPreset {
  std::string name;      ///< h100, h200, h800, a100
  GpuInfo gpu;
  double nvlink_Bps = 0; ///< per GPU and direction
  double nic_Bps = 0;    ///< per GPU and direction (one NIC per GPU)
  std::string source;    ///< where the values come from
};
const std::vector<GpuPreset>& gpu_presets();
/// UsageError listing the known names.
const GpuPreset& gpu_preset(const std::string& name);

} // namespace moesim
