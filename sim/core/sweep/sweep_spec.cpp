#include "core/sweep/sweep_spec.hpp"


#include "core/cluster/platform_gen.hpp"
#include "core/decode/decode_plan.hpp"
#include "core/decode/run_spec.hpp"
#include "core/io/errors.hpp"
#include "core/io/input_guard.hpp"
#include "core/trace/trace_synth.hpp"

#include <cstdio>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace moesim {

namespace {

struct AxisInfo {
  const char* name;
  const char* option; ///< the option of moesim run, or of moesim platform for the generator's knobs
  bool is_string;
  bool is_integer;
  const char* default_text; ///< "" = left to the command's default (string axes); "0" = not set (generator knobs)
  bool generator = false;   ///< a knob of the platform generator (moesim platform), not of moesim run
};

/// Every option of moesim run that a study varies (outputs, recording limits and the timeline are not axes), then
/// the platform generator's knobs.
const std::vector<AxisInfo>& axis_table()
{
  static const std::vector<AxisInfo> t{
      {"platform", "--platform", true, false, ""},
      {"model", "--model", true, false, ""},
      {"trace", "--trace", true, false, ""},
      {"placement", "--placement", true, false, "linear"},
      {"grouping", "--grouping", true, false, "round_robin"},
      {"redundant_experts", "--redundant-experts", false, true, "0"},
      {"redundant_experts_total", "--redundant-experts-total", false, true, "-1"},
      {"batch_per_gpu", "--batch-per-gpu", false, true, "32"},
      {"dispatch_dtype", "--dispatch-dtype", true, false, "fp8"},
      {"a2a_kernel", "--a2a-kernel", true, false, "deepep-ll"},
      {"a2a_sms", "--a2a-sms", false, true, "24"},
      {"micro_batches", "--micro-batches", false, true, "1"},
      {"comm", "--comm", true, false, "fast"},
      {"replay", "--replay", true, false, "auto"},
      {"train_fraction", "--train-fraction", false, false, "0"},
      {"fit_labels", "--fit-labels", true, false, ""},
      {"gpu_balance", "--gpu-balance", false, false, "1.5"},
      {"clusters", "--clusters", false, true, "0"},
      {"signature_tokens", "--signature-tokens", false, true, "32"},
      {"skip_signature_tokens", "--skip-signature-tokens", false, true, "0"},
      {"refit_every", "--refit-every", false, true, "0"},
      {"refit_window", "--refit-window", false, true, "0"},
      {"refit_min_load_gain", "--refit-min-load-gain", false, false, "0"},
      {"kernel_overhead_s", "--kernel-overhead-s", false, false, "4e-06"},
      {"seed", "--seed", false, true, "1"},
      {"nodes", "--nodes", false, true, "0", true},
      {"gpus_per_node", "--gpus-per-node", false, true, "0", true},
      {"nics_per_node", "--nics-per-node", false, true, "0", true},
      {"gpu", "--gpu", true, false, "", true},
      {"topology", "--topology", true, false, "", true},
      {"nic_Gbps", "--nic-Gbps", false, false, "0", true},
      {"nvlink_GBps", "--nvlink-GBps", false, false, "0", true},
      {"calibration", "--calibration", true, false, "", true},
  };
  return t;
}

bool is_set(const AxisInfo& a, const AxisValue& v) { return a.is_string ? !v.text.empty() : v.number != 0; }

const AxisInfo* find_axis(const std::string& name)
{
  for (const auto& a : axis_table())
    if (name == a.name)
      return &a;
  return nullptr;
}

std::string number_text(double v)
{
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

AxisValue value_of(const toml::node& n, const AxisInfo& axis, const std::string& file, const std::string& place)
{
  AxisValue v;
  if (axis.is_string) {
    const auto* s = n.as_string();
    if (!s)
      throw InputError(file, place, "expected a string");
    v.text = s->get();
    return v;
  }
  if (const auto* i = n.as_integer()) {
    v.number = static_cast<double>(i->get());
  } else if (const auto* f = n.as_floating_point(); f && !axis.is_integer) {
    v.number = f->get();
  } else {
    throw InputError(file, place, axis.is_integer ? "expected an integer" : "expected a number");
  }
  if (!std::isfinite(v.number))
    throw InputError(file, place, "expected a finite number");
  if (axis.is_integer && std::abs(v.number) > 1e9)
    throw InputError(file, place, "expected an integer between -1000000000 and 1000000000");
  v.text = number_text(v.number);
  return v;
}

[[noreturn]] void unknown_key(const std::string& file, const std::string& place, const std::string& allowed)
{
  throw InputError(file, place, "unknown key (expected one of: " + allowed + ")");
}

std::string axis_list()
{
  std::string s;
  for (const auto& a : axis_table())
    s += (s.empty() ? "" : ", ") + std::string(a.name);
  return s;
}

/// The platform generator's knobs of a point, checked as moesim platform would (UsageError).
void check_generator_knobs(const SweepPoint& p)
{
  if (!p.values.at("platform").text.empty())
    throw UsageError("a point names a platform file and sets platform generator knobs (nodes, gpus_per_node, "
                     "nics_per_node, gpu, topology, nic_Gbps, nvlink_GBps, calibration): use one or the other");
  PlatformParams params;
  const auto number = [&](const char* axis) { return p.values.at(axis).number; };
  const auto& text = [&](const char* axis) -> const std::string& { return p.values.at(axis).text; };
  if (number("nodes") != 0)
    params.nodes = static_cast<int>(number("nodes"));
  if (number("gpus_per_node") != 0)
    params.gpus_per_node = static_cast<int>(number("gpus_per_node"));
  params.nics_per_node = static_cast<int>(number("nics_per_node"));
  if (!text("gpu").empty())
    params.gpu = gpu_preset(text("gpu")).gpu;
  if (!text("topology").empty())
    params.topology = parse_topology(text("topology"));
  if (number("nic_Gbps") != 0)
    params.nic_Bps = number("nic_Gbps") * 1e9 / 8;
  if (number("nvlink_GBps") != 0)
    params.nvlink_Bps = number("nvlink_GBps") * 1e9;
  params.validate();
  const std::string& record = text("calibration");
  if (!record.empty() && record != "none" && !std::filesystem::is_regular_file(record))
    throw UsageError("calibration record '" + record + "' not found");
}

} // namespace

const std::vector<std::string>& sweep_axis_names()
{
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& a : axis_table())
      v.push_back(a.name);
    return v;
  }();
  return names;
}

bool sweep_axis_is_string(const std::string& axis)
{
  const AxisInfo* a = find_axis(axis);
  return a && a->is_string;
}

std::string SweepPoint::key() const
{
  std::string k;
  for (const auto& name : sweep_axis_names())
    k += name + "=" + values.at(name).text + ";";
  return k;
}

bool SweepPoint::generates_platform() const
{
  for (const auto& a : axis_table())
    if (a.generator && is_set(a, values.at(a.name)))
      return true;
  return false;
}

std::vector<std::string> SweepPoint::platform_args() const
{
  if (!generates_platform())
    return {};
  std::vector<std::string> args{"platform"};
  bool calibrated = true;
  for (const auto& a : axis_table()) {
    const AxisValue& v = values.at(a.name);
    if (!a.generator || !is_set(a, v))
      continue;
    if (std::string(a.name) == "calibration") {
      calibrated = v.text != "none";
      if (!calibrated)
        continue;
    }
    args.push_back(a.option);
    args.push_back(a.is_integer ? std::to_string(static_cast<int64_t>(v.number)) : v.text);
  }
  if (calibrated && values.at("calibration").text.empty()) {
    args.push_back("--calibration");
    args.push_back(default_calibration_record());
  }
  return args;
}

std::vector<std::string> SweepPoint::run_args(int steps) const
{
  std::vector<std::string> args{"run", "--steps", std::to_string(steps), "--matrix-steps", "0"};
  for (const auto& a : axis_table()) {
    const AxisValue& v = values.at(a.name);
    if (a.generator || (a.is_string && v.text.empty()))
      continue;
    // Left at its default, an option that would clash with another (the total with the per-GPU count) stays out.
    if (std::string(a.name) == "redundant_experts_total" && v.number < 0)
      continue;
    args.push_back(a.option);
    args.push_back(a.is_integer ? std::to_string(static_cast<int64_t>(v.number)) : v.text);
  }
  return args;
}

SynthTraceRequest parse_synth_trace(const std::string& value)
{
  SynthTraceRequest r;
  const std::string rest = value.substr(std::string("synth:").size());
  const size_t colon = rest.find(':');
  r.preset = rest.substr(0, colon);
  const auto names = synth_preset_names();
  if (std::find(names.begin(), names.end(), r.preset) == names.end()) {
    std::string list;
    for (const auto& n : names)
      list += (list.empty() ? "" : ", ") + n;
    throw UsageError("trace '" + value + "': unknown synthetic preset '" + r.preset + "' (expected " + list + ")");
  }
  if (colon != std::string::npos) {
    const std::string n = rest.substr(colon + 1);
    size_t used = 0;
    long v = 0;
    try {
      v = std::stol(n, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != n.size() || n.empty() || v < 1 || v > 1000000)
      throw UsageError("trace '" + value + "': expected synth:PRESET or synth:PRESET:REQUESTS (1..1000000)");
    r.requests = static_cast<int>(v);
  }
  return r;
}

SweepSpec parse_sweep_spec(const std::string& text, const std::string& file)
{
  toml::table root;
  try {
    root = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw InputError(file, "line " + std::to_string(b.line) + ", column " + std::to_string(b.column),
                     "invalid TOML (" + std::string(e.description()) + ")");
  }
  SweepSpec spec;
  spec.file = file;
  // Axis -> its values; a zip group makes several axes advance together.
  std::map<std::string, std::vector<AxisValue>> axes;
  std::vector<std::vector<std::string>> zips;
  std::vector<std::map<std::string, AxisValue>> excludes;
  for (const auto& [k, node] : root) {
    const std::string key(k.str());
    if (key == "out") {
      const auto* s = node.as_string();
      if (!s || s->get().empty())
        throw InputError(file, "out", "expected the result file name (a non-empty string)");
      spec.out = s->get();
    } else if (key == "steps") {
      const auto* i = node.as_integer();
      if (!i || i->get() < 1 || i->get() > 1000000)
        throw InputError(file, "steps", "expected an integer between 1 and 1000000");
      spec.steps = static_cast<int>(i->get());
    } else if (key == "axes") {
      const auto* t = node.as_table();
      if (!t)
        throw InputError(file, "axes", "expected a table of axis = [values]");
      for (const auto& [ak, an] : *t) {
        const std::string name(ak.str());
        const AxisInfo* axis = find_axis(name);
        if (!axis)
          unknown_key(file, "axes." + name, axis_list());
        std::vector<AxisValue> vals;
        if (const auto* arr = an.as_array()) {
          if (arr->empty())
            throw InputError(file, "axes." + name, "expected at least one value");
          for (size_t i = 0; i < arr->size(); ++i)
            vals.push_back(value_of(*arr->get(i), *axis, file, "axes." + name + "[" + std::to_string(i) + "]"));
        } else {
          vals.push_back(value_of(an, *axis, file, "axes." + name));
        }
        axes[name] = vals;
      }
    } else if (key == "zip" || key == "exclude") {
      const auto* arr = node.as_array();
      if (!arr || !arr->is_array_of_tables())
        throw InputError(file, key, "expected [[" + key + "]] tables");
      for (size_t i = 0; i < arr->size(); ++i) {
        const std::string place = key + "[" + std::to_string(i) + "]";
        const toml::table& t = *arr->get(i)->as_table();
        if (key == "zip") {
          std::vector<std::string> names;
          for (const auto& [zk, zn] : t) {
            if (zk.str() != "axes")
              unknown_key(file, place + "." + std::string(zk.str()), "axes");
            const auto* za = zn.as_array();
            if (!za || za->size() < 2)
              throw InputError(file, place + ".axes", "expected a list of at least two axis names");
            for (size_t j = 0; j < za->size(); ++j) {
              const auto* s = za->get(j)->as_string();
              if (!s || !find_axis(s->get()))
                throw InputError(file, place + ".axes[" + std::to_string(j) + "]", "expected an axis name (" + axis_list() + ")");
              names.push_back(s->get());
            }
          }
          if (names.empty())
            throw InputError(file, place, "missing key 'axes'");
          zips.push_back(names);
        } else {
          std::map<std::string, AxisValue> rule;
          for (const auto& [ek, en] : t) {
            const std::string name(ek.str());
            const AxisInfo* axis = find_axis(name);
            if (!axis)
              unknown_key(file, place + "." + name, axis_list());
            rule[name] = value_of(en, *axis, file, place + "." + name);
          }
          if (rule.empty())
            throw InputError(file, place, "an exclusion needs at least one axis = value");
          excludes.push_back(rule);
        }
      }
    } else {
      unknown_key(file, key, "out, steps, axes, zip, exclude");
    }
  }
  if (spec.out.empty())
    throw InputError(file, "out", "missing key: the result file name");

  // Groups: each zip group is one dimension, every other axis its own.
  std::set<std::string> zipped;
  for (size_t z = 0; z < zips.size(); ++z)
    for (const auto& name : zips[z]) {
      const std::string place = "zip[" + std::to_string(z) + "]";
      if (!axes.count(name))
        throw InputError(file, place, "axis '" + name + "' is not in [axes]");
      if (!zipped.insert(name).second)
        throw InputError(file, place, "axis '" + name + "' is in more than one zip group");
      if (axes[name].size() != axes[zips[z][0]].size())
        throw InputError(file, place, "zipped axes need equal lengths: " + zips[z][0] + " has " +
                                          std::to_string(axes[zips[z][0]].size()) + " values, " + name + " has " +
                                          std::to_string(axes[name].size()));
    }
  // A value twice is a mistake on an axis of its own (the same points twice); in a zip group it pairs values.
  for (const auto& [name, vals] : axes) {
    if (zipped.count(name))
      continue;
    std::set<std::string> seen;
    for (const auto& v : vals)
      if (!seen.insert(v.text).second)
        throw InputError(file, "axes." + name, "value '" + v.text + "' is listed twice");
  }
  std::vector<std::vector<std::string>> groups = zips;
  for (const auto& name : sweep_axis_names())
    if (!zipped.count(name)) {
      if (!axes.count(name)) {
        const AxisInfo* a = find_axis(name);
        AxisValue v;
        v.text = a->default_text;
        v.number = a->is_string ? 0 : std::stod(a->default_text);
        axes[name] = {v};
      }
      groups.push_back({name});
    }
  // The size of the product first: enumerating 10^10 points would run out of memory before any check.
  constexpr double max_points = 1e6;
  double product = 1;
  std::string sizes;
  for (const auto& grp : groups)
    if (const size_t n = axes[grp[0]].size(); n > 1) {
      product *= static_cast<double>(n);
      sizes += (sizes.empty() ? "" : " x ") + std::to_string(n) + " (" + grp[0] + ")";
    }
  if (product > max_points) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.3g", product);
    throw InputError(file, "axes", std::string("the axes span ") + buf + " points (" + sizes +
                                       "), more than the limit of a million: split the sweep or use fewer values");
  }
  // Cartesian product over the groups, in the order of the axis table (the first varies slowest).
  std::vector<size_t> idx(groups.size(), 0);
  while (true) {
    SweepPoint p;
    for (size_t g = 0; g < groups.size(); ++g)
      for (const auto& name : groups[g])
        p.values[name] = axes[name][idx[g]];
    bool excluded = false;
    for (const auto& rule : excludes) {
      bool all = true;
      for (const auto& [name, v] : rule)
        all = all && p.values[name] == v;
      excluded = excluded || all;
    }
    if (!excluded)
      spec.points.push_back(p);
    int g = static_cast<int>(groups.size()) - 1; // odometer: the last group varies fastest
    while (g >= 0) {
      if (++idx[g] < axes[groups[g][0]].size())
        break;
      idx[g] = 0;
      --g;
    }
    if (g < 0)
      break;
  }
  if (spec.points.empty())
    throw InputError(file, "exclude", "every point is excluded");
  std::map<std::string, size_t> first_of;
  for (size_t i = 0; i < spec.points.size(); ++i)
    if (const auto [it, added] = first_of.emplace(spec.points[i].key(), i); !added)
      throw InputError(file, "zip", "points " + std::to_string(it->second) + " and " + std::to_string(i) +
                                        " are the same (a zip group repeats a combination of values)");

  // Impossible combinations are errors before anything runs.
  for (size_t i = 0; i < spec.points.size(); ++i) {
    const SweepPoint& p = spec.points[i];
    const std::string place = "point " + std::to_string(i) + " (" + p.key() + ")";
    for (const char* f : {"platform", "model", "trace"}) {
      const std::string& path = p.values.at(f).text;
      if (std::string(f) == "trace" && path.rfind("synth:", 0) == 0) {
        try {
          parse_synth_trace(path);
        } catch (const UsageError& e) {
          throw InputError(file, place, e.what());
        }
        continue;
      }
      if (!path.empty() && !std::filesystem::is_regular_file(path))
        throw InputError(file, place, std::string(f) + " file '" + path + "' not found");
    }
    const auto number = [&](const char* axis) { return p.values.at(axis).number; };
    const auto whole = [&](const char* axis) { return static_cast<int>(number(axis)); };
    const auto& text = [&](const char* axis) -> const std::string& { return p.values.at(axis).text; };
    RunSpec rs;
    rs.redundant_experts_per_gpu = whole("redundant_experts");
    rs.redundant_experts_total = whole("redundant_experts_total");
    rs.batch_per_gpu = whole("batch_per_gpu");
    rs.micro_batches = whole("micro_batches");
    rs.train_fraction = number("train_fraction");
    rs.gpu_balance = number("gpu_balance");
    rs.clusters = whole("clusters");
    rs.signature_tokens = whole("signature_tokens");
    rs.a2a_sms = whole("a2a_sms");
    rs.kernel_overhead_s = number("kernel_overhead_s");
    rs.dispatch_dtype = text("dispatch_dtype");
    rs.steps = spec.steps;
    try {
      rs.comm = parse_comm_model(text("comm"));
      rs.replay = parse_replay_phase(text("replay"));
      rs.a2a_kernel = text("a2a_kernel");
      if (number("seed") < 0)
        throw UsageError("--seed must be >= 0");
      rs.validate();
      if (p.generates_platform())
        check_generator_knobs(p);
    } catch (const UsageError& e) {
      throw InputError(file, place, e.what());
    }
  }
  return spec;
}

SweepSpec load_sweep_spec(const std::string& file)
{
  note_input_file(file);
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw InputError(file, "", "cannot open the sweep spec");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_sweep_spec(ss.str(), file);
}

} // namespace moesim
