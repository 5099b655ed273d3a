#include "run_config.hpp"

#include "core/io/errors.hpp"
#include "core/io/h5.hpp"
#include "core/io/input_guard.hpp"
#include "core/io/json_util.hpp"

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

namespace moesim::cli {

namespace {

/// Keys of result files written before the configuration used the option names (redundant_experts).
const std::map<std::string, std::string>& renamed()
{
  static const std::map<std::string, std::string> r{{"redundant_experts_per_gpu", "redundant-experts"}};
  return r;
}

std::string option_of(const std::string& key)
{
  if (auto it = renamed().find(key); it != renamed().end())
    return it->second;
  std::string o = key;
  for (char& c : o)
    if (c == '_')
      c = '-';
  return o;
}

std::string number_text(double v)
{
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

/// A recorded [first, last] range (last -1: to the end) as the option's FIRST:LAST text.
std::string range_text(const nlohmann::json& v)
{
  const long long first = v.at(0).get<long long>(), last = v.at(1).get<long long>();
  return std::to_string(first) + ":" + (last < 0 ? std::string() : std::to_string(last));
}

using Options = std::vector<std::pair<std::string, std::string>>; // (option name without --, value)

Options from_json(const nlohmann::json& config, const std::string& file)
{
  Options out;
  if (!config.is_object())
    throw InputError(file, "@config", "expected a JSON object of run options");
  for (const auto& [key, v] : config.items()) {
    const std::string opt = option_of(key);
    if (v.is_array() && v.size() == 2 && v[0].is_number_integer())
      out.emplace_back(opt, range_text(v));
    else if (v.is_string())
      out.emplace_back(opt, v.get<std::string>());
    else if (v.is_number_integer())
      out.emplace_back(opt, std::to_string(v.get<long long>()));
    else if (v.is_number())
      out.emplace_back(opt, number_text(v.get<double>()));
    else if (v.is_boolean())
      out.emplace_back(opt, v.get<bool>() ? "true" : "false");
    else
      throw InputError(file, "@config key '" + key + "'", "expected a string, number or [first, last] range");
  }
  return out;
}

Options from_toml(const std::string& file)
{
  if (!std::filesystem::is_regular_file(file))
    throw InputError(file, "", "cannot open the run file");
  note_input_file(file);
  toml::table t;
  try {
    t = toml::parse_file(file);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    throw InputError(file, "line " + std::to_string(where.line) + ", column " + std::to_string(where.column),
                     std::string(e.description()));
  }
  Options out;
  for (const auto& [k, node] : t) {
    const std::string key(k.str());
    const std::string opt = option_of(key);
    if (const auto* s = node.as_string())
      out.emplace_back(opt, s->get());
    else if (const auto* i = node.as_integer())
      out.emplace_back(opt, std::to_string(i->get()));
    else if (const auto* f = node.as_floating_point())
      out.emplace_back(opt, number_text(f->get()));
    else if (const auto* b = node.as_boolean())
      out.emplace_back(opt, b->get() ? "true" : "false");
    else
      throw InputError(file, "key '" + key + "'", "expected a string, number or boolean");
  }
  return out;
}

Options from_result(const std::string& file)
{
  const h5::File f = h5::File::open_read(file);
  const auto root = h5::root(f);
  if (!h5::has_attr(root, "config"))
    throw InputError(file, "@config", "missing: not a moesim run result (moesim run --out)");
  JsonDocument doc = JsonDocument::parse(h5::read_attr_string(root, "config"), file);
  return from_json(doc.root().node(), file);
}

} // namespace

std::vector<std::string> expand_run_config(const std::vector<std::string>& args, const CLI::App& run)
{
  size_t at = 0;
  while (at < args.size() && args[at] != "run")
    ++at;
  if (at == args.size())
    return args;
  // The run's own options, and the files to expand.
  std::set<std::string> given;
  std::vector<std::pair<std::string, std::string>> files; // (--config or --from, path)
  std::vector<std::string> rest;
  for (size_t i = at + 1; i < args.size(); ++i) {
    std::string a = args[i];
    std::string value;
    bool has_value = false;
    if (const auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_value = true;
    }
    if (a == "--config" || a == "--from") {
      if (!has_value) {
        if (i + 1 >= args.size())
          throw UsageError(a + " needs a file");
        value = args[++i];
      }
      files.emplace_back(a, value);
      continue;
    }
    if (a.rfind("--", 0) == 0)
      given.insert(a.substr(2));
    else if (a == "-o")
      given.insert("out");
    rest.push_back(args[i]);
  }
  if (files.empty())
    return args;
  std::vector<std::string> out(args.begin(), args.begin() + static_cast<std::ptrdiff_t>(at) + 1);
  std::set<std::string> from_files;
  for (const auto& [kind, file] : files) {
    const Options opts = kind == "--from" ? from_result(file) : from_toml(file);
    for (const auto& [opt, value] : opts) {
      const CLI::Option* o = run.get_option_no_throw("--" + opt);
      if (o == nullptr || opt == "config" || opt == "from")
        throw InputError(file, "key '" + opt + "'", "not a moesim run option (moesim run --help lists them)");
      if (given.count(opt) || !from_files.insert(opt).second)
        continue; // the command line (or an earlier file) wins
      out.push_back("--" + opt);
      out.push_back(value);
    }
  }
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

} // namespace moesim::cli
