#include "core/comm/a2a_kernel.hpp"

#include "core/io/errors.hpp"

#include <cmath>
#include <cstdio>
#include <set>

namespace moesim {

std::shared_ptr<const A2aKernel> make_a2a_kernel(const std::string& name)
{
  return A2aKernelRegistry::instance().get(name, "all-to-all kernel", "").fn();
}

KernelSetup KernelSetup::make(const std::string& name, const KernelParams& given, const std::string& dispatch_dtype,
                              int kernel_sms, const std::string& where)
{
  KernelSetup k;
  k.name = name;
  k.kernel = make_a2a_kernel(name);
  k.params = resolve_kernel_params(*k.kernel, given, where);
  k.dispatch_dtype = dispatch_dtype;
  k.kernel_sms = kernel_sms;
  return k;
}

KernelParams resolve_kernel_params(const A2aKernel& kernel, const KernelParams& given, const std::string& where)
{
  KernelParams out;
  std::set<std::string> known;
  for (const auto& spec : kernel.params()) {
    known.insert(spec.name);
    auto it = given.find(spec.name);
    const double v = it == given.end() ? spec.default_value : it->second;
    if (!std::isfinite(v) || v < spec.lo || v > spec.hi) {
      char b[160];
      std::snprintf(b, sizeof b, "%s = %g is outside [%g, %g] (%s)", spec.name.c_str(), v, spec.lo, spec.hi,
                    spec.unit.c_str());
      throw UsageError(where + ": kernel parameter " + b);
    }
    out[spec.name] = v;
  }
  for (const auto& [name, v] : given)
    if (!known.count(name)) {
      std::string list;
      for (const auto& k : known)
        list += (list.empty() ? "" : ", ") + k;
      throw UsageError(where + ": unknown kernel parameter '" + name + "' (known: " + list + ")");
    }
  return out;
}

std::string kernel_param_property(const std::string& kernel, const std::string& param)
{
  std::string k = kernel;
  for (char& c : k)
    if (c == '-')
      c = '_';
  return "moesim_kernel_" + k + "_" + param;
}

namespace {
int ceil_div(int64_t a, int64_t b) { return static_cast<int>((a + b - 1) / b); }
} // namespace

int deepep_ll_warp_groups(int num_experts, int sm_count) { return std::max(1, ceil_div(num_experts, sm_count)); }

int deepep_ll_dispatch_sms(int num_experts, int sm_count)
{
  return std::max(1, ceil_div(num_experts, deepep_ll_warp_groups(num_experts, sm_count)));
}

int deepep_ll_combine_sms(int num_experts, int64_t tokens, int sm_count)
{
  const int per_sm = tokens <= 0 ? 0 : ceil_div(tokens, sm_count);
  const int by_tokens = per_sm == 0 ? 1 : ceil_div(tokens, per_sm);
  return std::max(deepep_ll_dispatch_sms(num_experts, sm_count), by_tokens);
}

double deepep_dispatch_message_bytes(int hidden, const std::string& dtype)
{
  const double h = hidden;
  return dtype == "bf16" ? 16.0 + 2.0 * h : 16.0 + h + 4.0 * std::ceil(h / 128.0);
}

} // namespace moesim
