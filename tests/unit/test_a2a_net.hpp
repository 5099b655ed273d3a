#pragma once
// A small analytic network for the phase and calibration tests: every GPU has an up and a down NVLink port to its
// node's switch and an up and a down NIC port to one network switch; routes inside a node take 2 NVLink ports
// (route latency `lat_s`), between nodes the 2 NIC ports (3 x lat_s).
#include "core/comm/phase.hpp"

#include <vector>

namespace moesim::test {

class StarNetwork final : public NetworkView {
public:
  StarNetwork(int gpus, int gpus_per_node, double nvlink_Bps, double nic_Bps, double lat_s)
      : gpn_(gpus_per_node), lat_(lat_s)
  {
    for (int g = 0; g < gpus; ++g) {
      net_.add_link(nvlink_Bps, false); // 4g: NVLink up
      net_.add_link(nvlink_Bps, false); // 4g + 1: NVLink down
      net_.add_link(nic_Bps, false);    // 4g + 2: NIC up
      net_.add_link(nic_Bps, false);    // 4g + 3: NIC down
    }
  }
  const FlowNetwork& flow_network() const override { return net_; }
  const int32_t* route(int src, int dst, int& n) override
  {
    const bool inter = node_of(src) != node_of(dst);
    buf_[0] = 4 * src + (inter ? 2 : 0);
    buf_[1] = 4 * dst + (inter ? 3 : 1);
    n = 2;
    return buf_;
  }
  double route_latency_s(int src, int dst) override { return node_of(src) != node_of(dst) ? 3 * lat_ : lat_; }
  int node_of(int gpu) const override { return gpu / gpn_; }
  double nccl_overhead_s(bool) const override { return 0; }
  double nccl_factor(bool, double) override { return 1; }
  /// Scales the NVLink and NIC ports (a measurement on another GPU's node).
  void set_bandwidths(double nvlink_Bps, double nic_Bps)
  {
    for (int l = 0; l < net_.num_links(); ++l)
      net_.bandwidth_Bps[l] = (l % 4) < 2 ? nvlink_Bps : nic_Bps;
  }

private:
  FlowNetwork net_;
  int gpn_;
  double lat_;
  int32_t buf_[2] = {0, 0};
};

} // namespace moesim::test
