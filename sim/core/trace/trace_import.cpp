#include "core/trace/trace_import.hpp"

#include "core/io/errors.hpp"
#include "core/io/json_util.hpp"
#include "core/model/model_spec.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <zlib.h>

namespace fs = std::filesystem;

namespace moesim {

std::string read_gzip_file(const std::string& path)
{
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f)
    throw InputError(path, "", "cannot open file");
  gzbuffer(f, 1 << 17);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int err = 0;
      std::string msg = gzerror(f, &err);
      gzclose(f);
      throw InputError(path, "", "gzip error: " + msg);
    }
    if (n == 0)
      break;
    out.append(buf, static_cast<size_t>(n));
  }
  int err = 0;
  const char* msg = gzerror(f, &err);
  std::string m = msg ? msg : "";
  const int rc = gzclose(f);
  if ((err != Z_OK && err != Z_STREAM_END) || rc != Z_OK)
    throw InputError(path, "", "gzip error: " + (m.empty() ? std::string("truncated or corrupt stream") : m));
  return out;
}

namespace {

struct EsftLine {
  std::vector<uint16_t> ids;
  std::vector<float> weights;
};

// Parses tab-separated numbers in [b, e); returns false on a malformed field.
template <typename T> bool parse_fields(const char* b, const char* e, std::vector<T>& out, std::string& bad)
{
  out.clear();
  const char* p = b;
  while (p < e) {
    const char* q = std::find(p, e, '\t');
    if (q == p) { // empty field
      bad = "empty field";
      return false;
    }
    T v{};
    auto [ptr, ec] = std::from_chars(p, q, v);
    if (ec != std::errc() || ptr != q) {
      bad = "'" + std::string(p, std::min<const char*>(q, p + 24)) + "'";
      return false;
    }
    out.push_back(v);
    p = (q == e) ? e : q + 1;
  }
  return true;
}

std::vector<EsftLine> parse_esft_file(const std::string& path, const ModelSpec& model)
{
  const std::string text = read_gzip_file(path);
  std::vector<EsftLine> lines;
  size_t pos = 0;
  int line_no = 0;
  std::vector<int> ids_tmp;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos)
      nl = text.size();
    ++line_no;
    const char* b = text.data() + pos;
    const char* e = text.data() + nl;
    pos = nl + 1;
    if (b == e)
      continue;
    const std::string place = "line " + std::to_string(line_no);
    const char* sep = nullptr;
    for (const char* p = b; p + 1 < e; ++p)
      if (p[0] == '\t' && p[1] == '\t') {
        sep = p;
        break;
      }
    if (!sep)
      throw InputError(path, place, "expected expert ids, a double tab, then gate weights");
    EsftLine l;
    std::string bad;
    if (!parse_fields(b, sep, ids_tmp, bad))
      throw InputError(path, place, "bad expert id " + bad + " (expected a non-negative integer)");
    std::vector<double> w;
    if (!parse_fields(sep + 2, e, w, bad))
      throw InputError(path, place, "bad gate weight " + bad + " (expected a number)");
    if (ids_tmp.empty() || ids_tmp.size() % model.top_k != 0)
      throw InputError(path, place, std::to_string(ids_tmp.size()) + " expert ids is not a positive multiple of top-k " +
                                        std::to_string(model.top_k) + " (ragged or truncated record)");
    if (w.size() != ids_tmp.size())
      throw InputError(path, place, std::to_string(ids_tmp.size()) + " expert ids but " + std::to_string(w.size()) +
                                        " gate weights (ragged or truncated record)");
    for (size_t i = 0; i < ids_tmp.size(); ++i) {
      if (ids_tmp[i] < 0 || ids_tmp[i] >= model.num_routed_experts)
        throw InputError(path, place + ", token " + std::to_string(i / model.top_k),
                         "expert id " + std::to_string(ids_tmp[i]) + " out of range 0.." +
                             std::to_string(model.num_routed_experts - 1));
      l.ids.push_back(static_cast<uint16_t>(ids_tmp[i]));
      l.weights.push_back(static_cast<float>(w[i]));
    }
    lines.push_back(std::move(l));
  }
  if (lines.empty())
    throw InputError(path, "", "no sequences (empty file)");
  return lines;
}

} // namespace

Trace import_esft(const std::string& dir, const ModelSpec& model)
{
  if (!fs::is_directory(dir))
    throw InputError(dir, "", "not a directory (expected ESFT expert_scores/<domain>/expert_weights_<layer>.txt.gz)");
  std::vector<std::string> domains;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory())
      domains.push_back(e.path().filename().string());
  std::sort(domains.begin(), domains.end());
  Trace t;
  t.model_name = model.name;
  t.source = "ESFT expert_scores";
  t.num_experts = model.num_routed_experts;
  t.top_k = model.top_k;
  t.moe_layers = model.moe_layers;
  const int L = model.num_moe_layers(), k = model.top_k;
  for (const auto& dom : domains) {
    const fs::path ddir = fs::path(dir) / dom;
    // Files present must be exactly the model's MoE layers.
    std::vector<int> present;
    for (const auto& e : fs::directory_iterator(ddir)) {
      const std::string n = e.path().filename().string();
      const std::string pre = "expert_weights_", suf = ".txt.gz";
      if (n.rfind(pre, 0) == 0 && n.size() > pre.size() + suf.size() && n.substr(n.size() - suf.size()) == suf) {
        int layer = -1;
        const std::string mid = n.substr(pre.size(), n.size() - pre.size() - suf.size());
        auto [p, ec] = std::from_chars(mid.data(), mid.data() + mid.size(), layer);
        if (ec != std::errc() || p != mid.data() + mid.size() || !model.is_moe_layer(layer))
          throw InputError(e.path().string(), "", "file name names layer '" + mid + "', which is not an MoE layer of " +
                                                      model.name);
        present.push_back(layer);
      }
    }
    if (present.empty())
      continue; // not a domain folder
    for (int layer : model.moe_layers)
      if (std::find(present.begin(), present.end(), layer) == present.end())
        throw InputError((ddir / ("expert_weights_" + std::to_string(layer) + ".txt.gz")).string(), "",
                         "missing (every MoE layer of " + model.name + " needs a file)");

    const int32_t label = static_cast<int32_t>(t.labels.size());
    t.labels.push_back(dom);
    t.datasets.push_back("esft/" + dom);
    const int64_t base = t.num_tokens();
    std::vector<int32_t> seq_tokens;
    for (int li = 0; li < L; ++li) {
      const std::string file = (ddir / ("expert_weights_" + std::to_string(model.moe_layers[li]) + ".txt.gz")).string();
      auto lines = parse_esft_file(file, model);
      if (li == 0) {
        int64_t off = base;
        for (size_t s = 0; s < lines.size(); ++s) {
          const int32_t n = static_cast<int32_t>(lines[s].ids.size() / k);
          seq_tokens.push_back(n);
          t.requests.push_back(TraceRequest{static_cast<int64_t>(s), label, label, 0, off, n});
          for (int32_t i = 0; i < n; ++i) {
            t.token_request.push_back(static_cast<int32_t>(t.requests.size() - 1));
            t.token_position.push_back(i);
            // Teacher-forced pass over prompt and answer: prefill-like (see SOURCE.md).
            t.token_phase.push_back(static_cast<uint8_t>(Phase::Prefill));
          }
          off += n;
        }
        t.experts.resize(t.token_request.size() * L * k);
        t.weights.resize(t.experts.size());
      } else if (lines.size() != seq_tokens.size()) {
        throw InputError(file, "", "has " + std::to_string(lines.size()) + " sequences, layer " +
                                       std::to_string(model.moe_layers[0]) + " has " + std::to_string(seq_tokens.size()));
      }
      int64_t tok = base;
      for (size_t s = 0; s < lines.size(); ++s) {
        const int32_t n = static_cast<int32_t>(lines[s].ids.size() / k);
        if (n != seq_tokens[s])
          throw InputError(file, "line " + std::to_string(s + 1),
                           std::to_string(n) + " tokens, but layer " + std::to_string(model.moe_layers[0]) + " has " +
                               std::to_string(seq_tokens[s]) + " for this sequence (ragged or truncated record)");
        for (int32_t i = 0; i < n; ++i, ++tok) {
          const size_t dst = (static_cast<size_t>(tok) * L + li) * k;
          std::copy_n(lines[s].ids.begin() + i * k, k, t.experts.begin() + dst);
          std::copy_n(lines[s].weights.begin() + i * k, k, t.weights.begin() + dst);
        }
      }
    }
  }
  if (t.requests.empty())
    throw InputError(dir, "", "no domain folder with expert_weights_<layer>.txt.gz files found");
  t.validate(dir);
  return t;
}

Trace import_gptoss_json(const std::vector<std::string>& files, const ModelSpec& model)
{
  Trace t;
  t.model_name = model.name;
  t.source = "gpt-oss expert fingerprinting JSON";
  t.num_experts = model.num_routed_experts;
  t.top_k = model.top_k;
  t.moe_layers = model.moe_layers;
  const int L = model.num_moe_layers(), k = model.top_k;
  std::map<std::string, int32_t> label_ids, dataset_ids;
  auto intern = [](std::map<std::string, int32_t>& ids, std::vector<std::string>& names, const std::string& s) {
    auto it = ids.find(s);
    if (it != ids.end())
      return it->second;
    const int32_t id = static_cast<int32_t>(names.size());
    names.push_back(s);
    ids.emplace(s, id);
    return id;
  };
  for (const auto& file : files) {
    JsonDocument doc = JsonDocument::parse(read_text_file(file), file);
    const auto& rootj = doc.root().node();
    std::vector<const nlohmann::json*> prompts;
    if (rootj.is_array())
      for (const auto& p : rootj)
        prompts.push_back(&p);
    else
      prompts.push_back(&rootj);
    for (size_t pi = 0; pi < prompts.size(); ++pi) {
      const std::string ppath = rootj.is_array() ? "[" + std::to_string(pi) + "]" : "";
      JsonView p(prompts[pi], file, ppath);
      if (!prompts[pi]->is_object())
        throw InputError(file, ppath.empty() ? "top level" : ppath, "expected a prompt object");
      const std::string dataset = p.get_string("dataset");
      const std::string category = p.get_string("category");
      const int64_t row = p.get_int64("row_index", 0);
      const auto& rd = p.node().contains("router_data") ? p.node()["router_data"] : nlohmann::json();
      if (!rd.is_array() || rd.empty())
        p.fail("router_data", "expected a non-empty list with one entry per generated token");
      struct Tok {
        int32_t pos;
        std::vector<uint16_t> ids;
        std::vector<float> w;
      };
      std::vector<Tok> toks;
      for (size_t i = 0; i < rd.size(); ++i) {
        const std::string ipath = p.key_path("router_data") + "[" + std::to_string(i) + "]";
        const auto& entry = rd[i];
        if (!entry.is_object() || entry.size() != 1)
          throw InputError(file, "key '" + ipath + "'", "expected an object with one key \"token_<position>\"");
        const std::string key = entry.begin().key();
        int32_t pos = -1;
        if (key.rfind("token_", 0) != 0 ||
            std::from_chars(key.data() + 6, key.data() + key.size(), pos).ec != std::errc() || pos < 0)
          throw InputError(file, "key '" + ipath + "." + key + "'", "expected \"token_<position>\"");
        JsonView layers(&entry.begin().value(), file, ipath + "." + key);
        if (!entry.begin().value().is_object())
          throw InputError(file, "key '" + ipath + "." + key + "'", "expected an object of layers");
        Tok tk{pos, {}, {}};
        for (int li = 0; li < L; ++li) {
          JsonView lay = layers.child("layer_" + std::to_string(model.moe_layers[li]));
          auto ids = lay.get_int_list("selected_experts");
          if (static_cast<int>(ids.size()) != k)
            lay.fail("selected_experts", "expected " + std::to_string(k) + " expert ids, got " + std::to_string(ids.size()));
          for (int id : ids) {
            if (id < 0 || id >= model.num_routed_experts)
              lay.fail("selected_experts", "expert id " + std::to_string(id) + " out of range 0.." +
                                               std::to_string(model.num_routed_experts - 1));
            tk.ids.push_back(static_cast<uint16_t>(id));
          }
          if (lay.has("selected_probs")) {
            const auto& pr = lay.node()["selected_probs"];
            if (!pr.is_array() || static_cast<int>(pr.size()) != k)
              lay.fail("selected_probs", "expected " + std::to_string(k) + " numbers");
            for (const auto& x : pr) {
              if (!x.is_number())
                lay.fail("selected_probs", "expected numbers, found " + x.dump());
              tk.w.push_back(x.get<float>());
            }
          } else {
            tk.w.assign(k, 0.0f);
          }
        }
        toks.push_back(std::move(tk));
      }
      std::sort(toks.begin(), toks.end(), [](const Tok& a, const Tok& b) { return a.pos < b.pos; });
      for (size_t i = 1; i < toks.size(); ++i)
        if (toks[i].pos == toks[i - 1].pos)
          p.fail("router_data", "token_" + std::to_string(toks[i].pos) + " appears twice");
      const int32_t req = static_cast<int32_t>(t.requests.size());
      t.requests.push_back(TraceRequest{row, intern(label_ids, t.labels, category), intern(dataset_ids, t.datasets, dataset),
                                        toks.front().pos, t.num_tokens(), static_cast<int32_t>(toks.size())});
      for (const auto& tk : toks) {
        t.token_request.push_back(req);
        t.token_position.push_back(tk.pos);
        t.token_phase.push_back(static_cast<uint8_t>(Phase::Decode));
        t.experts.insert(t.experts.end(), tk.ids.begin(), tk.ids.end());
        t.weights.insert(t.weights.end(), tk.w.begin(), tk.w.end());
      }
    }
  }
  if (t.requests.empty())
    throw InputError(files.empty() ? std::string("(no files)") : files.front(), "", "no prompts found");
  t.validate(files.front());
  return t;
}

} // namespace moesim
