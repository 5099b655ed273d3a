#include "core/cluster/cluster.hpp"
#include "core/cluster/platform_gen.hpp"
#include "core/io/errors.hpp"

#include <catch2/catch.hpp>

#include <regex>

using namespace moesim;

static int count(const std::string& s, const std::string& what)
{
  int n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1))
    ++n;
  return n;
}

TEST_CASE("Rail platform: hosts, split-duplex NVLink/PCIe/IB links per GPU, one leaf per rail and a spine")
{
  PlatformParams p;
  p.nodes = 4;
  const std::string xml = generate_platform_xml(p);
  CHECK(count(xml, "<host ") == 32);
  CHECK(count(xml, "<link id=\"nvl-") == 32);
  CHECK(count(xml, "<link id=\"ib-") == 32);
  CHECK(count(xml, "<link id=\"pcie-") == 32);
  CHECK(count(xml, "<router id=\"leaf-") == 8);
  CHECK(count(xml, "<router id=\"spine\"") == 1);
  CHECK(count(xml, "sharing_policy=\"SPLITDUPLEX\"") == 32 * 3 + 8);
  CHECK(xml.find("<link id=\"nvl-0-0\" bandwidth=\"4.5e+11Bps\"") != std::string::npos);
  CHECK(xml.find("<link id=\"ib-3-7\" bandwidth=\"5e+10Bps\" latency=\"1e-06s\"") != std::string::npos);
  // Rail uplink: 4 NICs x 50 GB/s, non-blocking.
  CHECK(xml.find("<link id=\"uplink-0\" bandwidth=\"2e+11Bps\"") != std::string::npos);
  CHECK(xml.find("<prop id=\"node\" value=\"3\"/>") != std::string::npos);
  CHECK(xml.find("<prop id=\"hbm_bandwidth_Bps\" value=\"3.35e+12\"/>") != std::string::npos);
}

TEST_CASE("Fat-tree and single-switch platforms")
{
  PlatformParams p;
  p.nodes = 5;
  p.topology = Topology::FatTree;
  p.nodes_per_leaf = 2;
  p.oversubscription = 2;
  std::string xml = generate_platform_xml(p);
  CHECK(count(xml, "<router id=\"leaf-") == 3);
  // Leaf 0 serves 2 nodes x 8 NICs x 50 GB/s = 800 GB/s down, uplink half of it.
  CHECK(xml.find("<link id=\"uplink-0\" bandwidth=\"4e+11Bps\"") != std::string::npos);
  CHECK(xml.find("<link id=\"uplink-2\" bandwidth=\"2e+11Bps\"") != std::string::npos);
  p.topology = Topology::SingleSwitch;
  xml = generate_platform_xml(p);
  CHECK(count(xml, "<router id=\"leaf-") == 1);
  CHECK(count(xml, "<router id=\"spine\"") == 0);
}

TEST_CASE("Shared NICs: GPUs of a node share --nics-per-node NICs, each GPU keeps its PCIe link")
{
  PlatformParams p;
  p.nodes = 2;
  p.nics_per_node = 4;
  const std::string xml = generate_platform_xml(p);
  CHECK(count(xml, "<link id=\"pcie-") == 16);
  CHECK(count(xml, "<link id=\"ib-") == 8);
  CHECK(count(xml, "<router id=\"nic-") == 8);
  CHECK(count(xml, "<router id=\"leaf-") == 4); // one rail per NIC
  // GPUs 2 and 3 of node 1 share NIC 1 of node 1, which sits on rail 1.
  CHECK(xml.find("<route src=\"gpu-1-2\" dst=\"nic-1-1\"") != std::string::npos);
  CHECK(xml.find("<route src=\"gpu-1-3\" dst=\"nic-1-1\"") != std::string::npos);
  CHECK(xml.find("<route src=\"nic-1-1\" dst=\"leaf-1\"") != std::string::npos);
  // Rail uplink: 2 NICs x 50 GB/s.
  CHECK(xml.find("<link id=\"uplink-0\" bandwidth=\"1e+11Bps\"") != std::string::npos);
  // One NIC per GPU (the default) writes the same platform as before the option existed.
  PlatformParams q;
  q.nodes = 2;
  PlatformParams r = q;
  r.nics_per_node = 8;
  CHECK(generate_platform_xml(q) == generate_platform_xml(r));
}

TEST_CASE("Platform generator rejects impossible parameters")
{
  PlatformParams p;
  p.nodes = 0;
  CHECK_THROWS_WITH(generate_platform_xml(p), "nodes must be between 1 and 100000");
  p.nodes = 2;
  p.oversubscription = 0.5;
  CHECK_THROWS_WITH(generate_platform_xml(p), "oversubscription must be >= 1");
  p.oversubscription = 1;
  p.nic_Bps = -1;
  CHECK_THROWS_WITH(generate_platform_xml(p), "NIC bandwidth must be a positive number");
  p.nic_Bps = 50e9;
  p.nics_per_node = 3;
  CHECK_THROWS_WITH(generate_platform_xml(p), "NICs per node must divide the GPUs per node (8)");
  p.nics_per_node = 0;
  CHECK_THROWS_WITH(parse_topology("torus"), "unknown topology 'torus' (expected rail, fat-tree or single-switch)");
}

namespace {
HostProperties host(const std::string& name, int node, int gpu)
{
  return HostProperties{name,
                        {{"node", std::to_string(node)},
                         {"gpu", std::to_string(gpu)},
                         {"peak_flops_bf16", "1e15"},
                         {"peak_flops_fp8", "2e15"},
                         {"hbm_bandwidth_Bps", "3e12"},
                         {"hbm_capacity_bytes", "8e10"}}};
}
} // namespace

TEST_CASE("Host properties become a Cluster; bad properties are named")
{
  std::vector<HostProperties> hosts{host("b", 1, 0), host("a", 0, 1), host("c", 0, 0), host("d", 1, 1)};
  SECTION("valid, ordered by (node, gpu)")
  {
    Cluster c = Cluster::from_hosts(hosts, "p.xml");
    CHECK(c.num_nodes() == 2);
    CHECK(c.gpus_per_node() == 2);
    CHECK(c.gpu(0).host_name == "c");
    CHECK(c.gpu(1).host_name == "a");
    CHECK(c.gpu(2).host_name == "b");
    CHECK(c.gpu(1).peak_flops_fp8 == 2e15);
    CHECK(c.node_of(3) == 1);
  }
  SECTION("missing property")
  {
    hosts[1].properties.erase("hbm_bandwidth_Bps");
    CHECK_THROWS_WITH(Cluster::from_hosts(hosts, "p.xml"),
                      "p.xml: host 'a': missing property 'hbm_bandwidth_Bps' (every GPU host needs node, gpu, "
                      "peak_flops_bf16, peak_flops_fp8, hbm_bandwidth_Bps, hbm_capacity_bytes, or "
                      "moesim_gpus_per_node and moesim_gpu on the host or its zone; see docs/platforms.md)");
  }
  SECTION("hosts of a <cluster>: ranked by the number in their name, GPU values from a preset")
  {
    std::vector<HostProperties> cl;
    for (int i : {10, 2, 0, 1, 3, 11, 9, 8, 4, 5, 6, 7})
      cl.push_back({"node-" + std::to_string(i) + ".simgrid.org", {{"moesim_gpus_per_node", "4"}, {"moesim_gpu", "h200"}}});
    Cluster c = Cluster::from_hosts(cl, "p.xml");
    CHECK(c.num_nodes() == 3);
    CHECK(c.gpus_per_node() == 4);
    CHECK(c.gpu(0).host_name == "node-0.simgrid.org");
    CHECK(c.gpu(10).host_name == "node-10.simgrid.org");
    CHECK(c.gpu(5).model == "H200-SXM");
    CHECK(c.gpu(5).hbm_bandwidth_Bps == gpu_preset("h200").gpu.hbm_bandwidth_Bps);
    cl[0].properties["peak_flops_bf16"] = "1e15"; // explicit values win over the preset
    CHECK(Cluster::from_hosts(cl, "p.xml").gpu(10).peak_flops_bf16 == 1e15);
    cl[1].properties["moesim_gpu"] = "b200";
    CHECK_THROWS_WITH(Cluster::from_hosts(cl, "p.xml"),
                      "p.xml: host 'node-2.simgrid.org', property 'moesim_gpu': unknown GPU preset 'b200' (known: h100, "
                      "h200, h800, a100)");
    cl[1].properties["moesim_gpu"] = "h200";
    cl[2].name = "frontend";
    CHECK_THROWS_WITH(Cluster::from_hosts(cl, "p.xml"),
                      Catch::Contains("host 'frontend', property 'moesim_gpus_per_node': the host's name has no number"));
    cl[2].name = "node-0.simgrid.org";
    cl[3].properties["moesim_gpus_per_node"] = "0";
    CHECK_THROWS_WITH(Cluster::from_hosts(cl, "p.xml"), Catch::Contains("expected 1..64 GPUs per node, got '0'"));
  }
  SECTION("non-numeric property")
  {
    hosts[0].properties["peak_flops_bf16"] = "fast";
    CHECK_THROWS_WITH(Cluster::from_hosts(hosts, "p.xml"),
                      "p.xml: host 'b', property 'peak_flops_bf16': expected a positive number, got 'fast'");
  }
  SECTION("negative / NaN property")
  {
    hosts[0].properties["hbm_capacity_bytes"] = "nan";
    CHECK_THROWS_WITH(Cluster::from_hosts(hosts, "p.xml"),
                      "p.xml: host 'b', property 'hbm_capacity_bytes': expected a positive number, got 'nan'");
  }
  SECTION("duplicate GPU index")
  {
    hosts[3].properties["gpu"] = "0";
    CHECK_THROWS_WITH(Cluster::from_hosts(hosts, "p.xml"),
                      "p.xml: host 'd': (node, gpu) = (1, 0) breaks the layout: expected every node 0..1 to have GPUs "
                      "0..1 exactly once");
  }
}
