#include "commands.hpp"
#include "core/calibration/calibration.hpp"
#include "core/cluster/platform_gen.hpp"
#include "core/io/atomic_file.hpp"
#include "core/io/errors.hpp"
#include "simgrid/platform_loader.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>

namespace moesim::cli {

namespace {

struct PlatformOpts {
  PlatformParams p;
  std::string topology = "rail";
  double nvlink_GBps = 450, nic_Gbps = 400, pcie_GBps = 64;
  double nvlink_latency_us = 0.5, nic_latency_us = 1.0, pcie_latency_us = 0.25, spine_latency_us = 0.5;
  std::string out;
  std::string check;
  std::string calibration;
  std::string gpu = "h100";
  bool routes = false;
};

int check_platform(const std::string& file, bool routes)
{
  Simulation sim(file);
  const Cluster& c = sim.cluster();
  std::cout << file << ": OK, " << c.num_nodes() << " nodes x " << c.gpus_per_node() << " GPUs ("
            << c.num_gpus() << " GPUs)\n";
  const auto& g = c.gpu(0);
  std::cout << "  GPU 0: " << (g.model.empty() ? "" : g.model + ", ") << g.sm_count << " SMs, " << g.peak_flops_bf16 / 1e12 << " TFLOP/s BF16, " << g.peak_flops_fp8 / 1e12
            << " TFLOP/s FP8, HBM " << g.hbm_bandwidth_Bps / 1e12 << " TB/s, " << g.hbm_capacity_bytes / 1e9 << " GB\n";
  if (routes) {
    for (int d = 1; d < c.num_gpus(); ++d) {
      std::cout << "  route GPU 0 -> GPU " << d << " (latency " << sim.route_latency_s(0, d) * 1e6 << " us):";
      for (const auto& l : sim.route_links(0, d))
        std::cout << " " << l;
      std::cout << "\n";
    }
  }
  return 0;
}

std::string number(double v)
{
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

int write_platform(const std::string& xml, const std::string& out)
{
  if (out.empty()) {
    std::cout << xml;
    return 0;
  }
  write_file_atomically(out, xml);
  return 0;
}

} // namespace

void add_platform(CLI::App& app, Action& action)
{
  auto o = std::make_shared<PlatformOpts>();
  auto* cmd = app.add_subcommand("platform", "Generate a SimGrid platform XML for a GPU cluster, or check one (--check)");
  cmd->add_option("--topology", o->topology, "rail, fat-tree or single-switch")
      ->check(CLI::IsMember({"rail", "fat-tree", "single-switch"}))
      ->capture_default_str();
  cmd->add_option("--nodes", o->p.nodes, "number of nodes")->check(CLI::Range(1, 100000))->capture_default_str();
  cmd->add_option("--gpus-per-node", o->p.gpus_per_node, "GPUs per node")->check(CLI::Range(1, 64))->capture_default_str();
  cmd->add_option("--nvlink-GBps", o->nvlink_GBps, "NVLink bandwidth per GPU per direction, GB/s")->capture_default_str();
  cmd->add_option("--nvlink-latency-us", o->nvlink_latency_us, "GPU <-> NVSwitch latency, us")->capture_default_str();
  cmd->add_option("--nic-Gbps", o->nic_Gbps, "NIC bandwidth per direction, Gb/s (one NIC per GPU unless --nics-per-node)")->capture_default_str();
  cmd->add_option("--nics-per-node", o->p.nics_per_node,
                  "NICs per node, shared by GPUs g / (GPUs per node / NICs) (0: one per GPU); must divide the GPUs")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  cmd->add_option("--nic-latency-us", o->nic_latency_us, "NIC <-> leaf switch latency, us")->capture_default_str();
  cmd->add_option("--pcie-GBps", o->pcie_GBps, "GPU <-> NIC PCIe bandwidth per direction, GB/s")->capture_default_str();
  cmd->add_option("--pcie-latency-us", o->pcie_latency_us, "GPU <-> NIC latency, us")->capture_default_str();
  cmd->add_option("--spine-latency-us", o->spine_latency_us, "leaf <-> spine latency, us")->capture_default_str();
  cmd->add_option("--oversubscription", o->p.oversubscription, "leaf down/up capacity ratio (>= 1)")->capture_default_str();
  cmd->add_option("--nodes-per-leaf", o->p.nodes_per_leaf, "fat-tree: nodes per leaf switch")->capture_default_str();
  cmd->add_option("--gpu", o->gpu,
                  "GPU preset: its FLOP/s, HBM, SM count and its node's NVLink and NIC bandwidths (the options "
                  "below override single values)")
      ->check(CLI::IsMember({"h100", "h200", "h800", "a100"}))
      ->capture_default_str();
  cmd->add_option("--peak-flops-bf16", o->p.gpu.peak_flops_bf16, "peak dense BF16 FLOP/s per GPU")->capture_default_str();
  cmd->add_option("--peak-flops-fp8", o->p.gpu.peak_flops_fp8, "peak dense FP8 FLOP/s per GPU (0: none)")->capture_default_str();
  cmd->add_option("--hbm-Bps", o->p.gpu.hbm_bandwidth_Bps, "HBM bandwidth, bytes/s")->capture_default_str();
  cmd->add_option("--hbm-bytes", o->p.gpu.hbm_capacity_bytes, "HBM capacity, bytes")->capture_default_str();
  cmd->add_option("-o,--out", o->out, "output XML file (default: standard output)");
  cmd->add_option("--check", o->check, "load this platform in SimGrid and check the host properties moesim needs");
  cmd->add_flag("--routes", o->routes, "with --check: print the route from GPU 0 to every GPU");
  auto* gpu_opt = cmd->get_option("--gpu");
  auto* nodes_opt = cmd->get_option("--nodes");
  auto* gpn_opt = cmd->get_option("--gpus-per-node");
  std::vector<CLI::Option*> value_opts;
  for (const char* name : {"--nvlink-GBps", "--nic-Gbps", "--peak-flops-bf16", "--peak-flops-fp8", "--hbm-Bps",
                           "--hbm-bytes", "--topology", "--nics-per-node"})
    value_opts.push_back(cmd->get_option(name));
  cmd->add_option("--calibration", o->calibration,
                  "take links, GPU values and factors from a calibration record (moesim calibrate); --nodes, "
                  "--gpus-per-node, --nics-per-node and --topology still choose the shape, --gpu swaps in another GPU "
                  "and its links, --nvlink-GBps and --nic-Gbps other link bandwidths (what-ifs)")
      ->check(CLI::ExistingFile);
  cmd->callback([&action, o, nodes_opt, gpn_opt, value_opts, gpu_opt] {
    const bool nodes_given = nodes_opt->count() > 0, gpn_given = gpn_opt->count() > 0;
    const bool gpu_given = gpu_opt->count() > 0;
    std::vector<bool> given;
    for (auto* v : value_opts)
      given.push_back(v->count() > 0);
    action = [o, nodes_given, gpn_given, given, gpu_given] {
      if (!o->check.empty())
        return check_platform(o->check, o->routes);
      if (!o->calibration.empty()) {
        PlatformParams p = read_record_platform(o->calibration);
        if (nodes_given)
          p.nodes = o->p.nodes;
        if (gpn_given)
          p.gpus_per_node = o->p.gpus_per_node;
        if (gpu_given) {
          // Another GPU with the record's kernel and compute calibration (fractions and times that carry over):
          // the preset's GPU values and node links, the record's latencies and NCCL factors.
          const GpuPreset& preset = gpu_preset(o->gpu);
          p.gpu = preset.gpu;
          p.nvlink_Bps = preset.nvlink_Bps;
          p.nic_Bps = preset.nic_Bps;
          p.pcie_Bps = std::max(p.pcie_Bps, preset.nic_Bps);
          p.comment_lines.push_back("GPU and links: the " + preset.name + " preset (moesim platform --gpu " +
                                    preset.name + ")");
        }
        // Shape and link what-ifs on the record's calibration.
        if (given[6])
          p.topology = parse_topology(o->topology);
        if (given[7])
          p.nics_per_node = o->p.nics_per_node;
        if (given[0]) {
          p.nvlink_Bps = o->nvlink_GBps * 1e9;
          p.comment_lines.push_back("NVLink: " + number(o->nvlink_GBps) + " GB/s (moesim platform --nvlink-GBps)");
        }
        if (given[1]) {
          p.nic_Bps = o->nic_Gbps * 1e9 / 8;
          p.pcie_Bps = std::max(p.pcie_Bps, p.nic_Bps);
          p.comment_lines.push_back("NIC: " + number(o->nic_Gbps) + " Gb/s (moesim platform --nic-Gbps)");
        }
        return write_platform(generate_platform_xml(p), o->out);
      }
      PlatformParams p = o->p;
      // The preset first, then the values given explicitly.
      const GpuPreset& preset = gpu_preset(o->gpu);
      const GpuInfo explicit_gpu = p.gpu;
      p.gpu = preset.gpu;
      if (given[2])
        p.gpu.peak_flops_bf16 = explicit_gpu.peak_flops_bf16;
      if (given[3])
        p.gpu.peak_flops_fp8 = explicit_gpu.peak_flops_fp8;
      if (given[4])
        p.gpu.hbm_bandwidth_Bps = explicit_gpu.hbm_bandwidth_Bps;
      if (given[5])
        p.gpu.hbm_capacity_bytes = explicit_gpu.hbm_capacity_bytes;
      p.topology = parse_topology(o->topology);
      p.nvlink_Bps = given[0] ? o->nvlink_GBps * 1e9 : preset.nvlink_Bps;
      p.nic_Bps = given[1] ? o->nic_Gbps * 1e9 / 8 : preset.nic_Bps;
      p.pcie_Bps = o->pcie_GBps * 1e9;
      p.nvlink_latency_s = o->nvlink_latency_us * 1e-6;
      p.nic_latency_s = o->nic_latency_us * 1e-6;
      p.pcie_latency_s = o->pcie_latency_us * 1e-6;
      p.spine_latency_s = o->spine_latency_us * 1e-6;
      return write_platform(generate_platform_xml(p), o->out);
    };
  });
}

} // namespace moesim::cli
