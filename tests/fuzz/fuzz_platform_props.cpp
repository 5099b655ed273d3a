// Fuzz target: the reader of the host properties a platform XML declares (node, gpu, peak FLOP/s, HBM...).
// Input: lines "host key value"; SimGrid's own XML parser is not fuzzed here (one engine per process).
#include "core/cluster/cluster.hpp"
#include "fuzz_common.hpp"

#include <map>
#include <sstream>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  std::map<std::string, moesim::HostProperties> hosts;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string host, key, value;
    if (!(l >> host >> key))
      continue;
    std::getline(l >> std::ws, value);
    hosts[host].name = host;
    hosts[host].properties[key] = value;
  }
  std::vector<moesim::HostProperties> v;
  for (auto& [n, h] : hosts)
    v.push_back(h);
  return moesim::fuzz::guarded([&] { moesim::Cluster::from_hosts(v, "fuzz/platform.xml"); });
}
