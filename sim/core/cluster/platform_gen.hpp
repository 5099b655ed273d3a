#pragma once
// Generates SimGrid (DTD 4.1) platform XML for GPU clusters (docs/platforms.md).
#include "core/cluster/cluster.hpp"

#include <map>
#include <string>
#include <vector>

namespace moesim {

enum class Topology { Rail, FatTree, SingleSwitch };
Topology parse_topology(const std::string& name); ///< "rail", "fat-tree", "single-switch"; UsageError otherwise
std::string topology_name(Topology t);

struct PlatformParams {
  Topology topology = Topology::Rail;
  int nodes = 2;
  int gpus_per_node = 8;
  double nvlink_Bps = 450e9;       ///< per GPU, per direction (H100 NVLink4: 18 links x 25 GB/s)
  double nvlink_latency_s = 0.5e-6; ///< GPU <-> NVSwitch, each way
  double pcie_Bps = 64e9;          ///< GPU <-> NIC (PCIe Gen5 x16), per direction
  double pcie_latency_s = 0.25e-6;
  double nic_Bps = 50e9;           ///< ConnectX-7 400 Gb/s, per direction
  double nic_latency_s = 1e-6;     ///< NIC <-> leaf switch
  double spine_latency_s = 0.5e-6; ///< leaf <-> spine
  double oversubscription = 1.0;   ///< leaf downlink capacity / uplink capacity (>= 1)
  int nodes_per_leaf = 16;         ///< fat-tree only: nodes whose NICs share a leaf switch
  /// NICs of a node (0: one per GPU); GPUs g * nics / gpus_per_node share NIC g / (gpus_per_node / nics), each with
  /// its own PCIe link to it. nic_Bps is per NIC. Must divide gpus_per_node.
  int nics_per_node = 0;
  int nics() const { return nics_per_node > 0 ? nics_per_node : gpus_per_node; }
  GpuInfo gpu = h100_sxm();
  /// Properties of the root zone (a calibration's moesim_ factors, PlatformCalibration::to_props()).
  std::map<std::string, std::string> zone_properties;
  /// Extra comment lines in the header (provenance of a calibrated platform); "--" is written as "- -".
  std::vector<std::string> comment_lines;

  /// UsageError on impossible values.
  void validate() const;
};

std::string generate_platform_xml(const PlatformParams& p);

/// Names used in generated platforms (host gpu-<node>-<gpu>).
std::string gpu_host_name(int node, int gpu);

} // namespace moesim
