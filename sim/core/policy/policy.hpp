#pragma once
// Placement and grouping policies: pure functions from read-only views to a decision, registered by name from
// their own .cpp under policies/ (static registrars; the policies are linked as an OBJECT library).
#include "core/cluster/cluster.hpp"
#include "core/io/registry.hpp"
#include "core/model/model_spec.hpp"
#include "core/trace/trace.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace moesim {

/// Expert -> GPU map per MoE layer; an expert may have several replicas.
struct Placement {
  std::vector<std::vector<std::vector<int>>> replicas; ///< [moe layer][expert] -> GPU ranks holding a copy
  /// Checks every expert has >= 1 copy on valid GPUs; InternalError otherwise (a policy bug).
  void validate(int num_layers, int num_experts, int num_gpus, const std::string& policy) const;
};

struct PlacementContext {
  const ModelSpec& model;
  const Cluster& cluster;
  const Trace& trace;                         ///< routing to fit on
  const std::vector<int32_t>& fit_requests;   ///< request indices of the fitting (training) split
  int redundant_experts = 0;                  ///< extra expert copies in all (EPLB's and SGLang's count)
  uint64_t seed = 0;
  int clusters = 0;                           ///< k of the activation clustering (0 = nodes)
  int signature_tokens = 32;                  ///< see GroupingContext
  /// `activation`: largest routed-expert load of a GPU, x the layer's mean over all GPUs, accepted to save copies
  double gpu_balance = 1.5;
  /// The served (held-out) split: only the `oracle` bound reads it (it fits on what it is judged on)
  const std::vector<int32_t>* serve_requests = nullptr;
  /// The run's all-to-all sends one message per (token, selected expert) (DeepEP low-latency): experts sharing a
  /// GPU save no bytes, and experts that the same tokens choose are better spread over a node's GPUs.
  bool messages_per_expert = false;
};

/// Which GPU (attention data-parallel rank) each request joins.
struct Grouping {
  std::vector<int> gpu_of_request; ///< [request] -> GPU rank, or -1 for requests not served
  std::string note;                ///< how it was decided, shown to the user (e.g. what signature was used)
  /// [request] leading tokens the grouping read to decide (a signature from tokens the run would replay): they are
  /// not replayed, since a server has served them before it could classify the request. Empty = none.
  std::vector<int32_t> read_tokens;
};

struct GroupingContext {
  const Cluster& cluster;
  const Trace& trace;
  const std::vector<int32_t>& requests;     ///< requests to place (the served split), in arrival order
  int batch_per_gpu = 1;
  uint64_t seed = 0;
  const ModelSpec* model = nullptr;          ///< for groupings that fit on routing
  const std::vector<int32_t>* fit_requests = nullptr; ///< training split (same as the placement's)
  int signature_tokens = 32;                 ///< tokens a request is classified from when it has no prefill
  int clusters = 0;                          ///< k of the activation clustering (0 = nodes)
  const Placement* placement = nullptr;      ///< the run's placement (groupings that score nodes by it)
};

using PlacementFn = std::function<Placement(const PlacementContext&)>;
using GroupingFn = std::function<Grouping(const GroupingContext&)>;

using PlacementRegistry = Registry<PlacementFn>;
using GroupingRegistry = Registry<GroupingFn>;

} // namespace moesim
