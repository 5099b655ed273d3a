#include "core/trace/trace.hpp"

#include "core/io/atomic_file.hpp"
#include "core/io/errors.hpp"
#include "core/io/h5.hpp"
#include "core/model/model_spec.hpp"

#include <algorithm>
#include <map>
#include <sstream>

namespace moesim {

int64_t Trace::count_phase(Phase p) const
{
  return std::count(token_phase.begin(), token_phase.end(), static_cast<uint8_t>(p));
}

void Trace::validate(const std::string& file) const
{
  auto bad = [&](const std::string& place, const std::string& what) { throw InputError(file, place, what); };
  if (num_experts < 1 || num_experts > 65535)
    bad("@num_experts", "expected 1..65535, got " + std::to_string(num_experts));
  if (top_k < 1 || top_k > num_experts)
    bad("@top_k", "expected 1..num_experts (" + std::to_string(num_experts) + "), got " + std::to_string(top_k));
  if (moe_layers.empty())
    bad("@moe_layers", "expected at least one MoE layer");
  for (size_t i = 1; i < moe_layers.size(); ++i)
    if (moe_layers[i] <= moe_layers[i - 1])
      bad("@moe_layers", "layer ids must be strictly ascending");
  const size_t T = token_request.size();
  if (token_position.size() != T || token_phase.size() != T)
    bad("/tokens", "request, position and phase columns have different lengths (" + std::to_string(T) + ", " +
                       std::to_string(token_position.size()) + ", " + std::to_string(token_phase.size()) + ")");
  const size_t per_token = moe_layers.size() * static_cast<size_t>(top_k);
  const size_t ids = num_expert_ids();
  if (!experts.empty() && !experts8.empty())
    bad("/routing/experts", "ids held in both one- and two-byte form");
  if (!experts8.empty() && num_experts > 256)
    bad("/routing/experts", "one-byte ids for " + std::to_string(num_experts) + " experts");
  if (ids != T * per_token)
    bad("/routing/experts", "expected " + std::to_string(T) + " x " + std::to_string(moe_layers.size()) + " x " +
                                std::to_string(top_k) + " ids, got " + std::to_string(ids));
  if (!weights.empty() && weights.size() != ids)
    bad("/routing/weights", "shape differs from /routing/experts");
  int64_t next = 0;
  for (size_t r = 0; r < requests.size(); ++r) {
    const auto& q = requests[r];
    const std::string place = "request " + std::to_string(r) + " (id " + std::to_string(q.id) + ")";
    if (q.label < 0 || q.label >= static_cast<int32_t>(labels.size()))
      bad(place, "label index " + std::to_string(q.label) + " outside 0.." + std::to_string(int(labels.size()) - 1));
    if (q.dataset < 0 || q.dataset >= static_cast<int32_t>(datasets.size()))
      bad(place, "dataset index " + std::to_string(q.dataset) + " outside 0.." + std::to_string(int(datasets.size()) - 1));
    if (q.prompt_len < 0)
      bad(place, "negative prompt length");
    if (q.token_offset != next || q.token_count < 1 || q.token_offset + q.token_count > static_cast<int64_t>(T))
      bad(place, "token range [" + std::to_string(q.token_offset) + ", +" + std::to_string(q.token_count) +
                     ") is not the next contiguous non-empty range (expected offset " + std::to_string(next) + ")");
    for (int64_t t = q.token_offset; t < q.token_offset + q.token_count; ++t) {
      if (token_request[t] != static_cast<int32_t>(r))
        bad("token " + std::to_string(t), "belongs to request " + std::to_string(r) + " but is marked " +
                                              std::to_string(token_request[t]));
      if (token_phase[t] > 1)
        bad("token " + std::to_string(t), "phase must be 0 (prefill) or 1 (decode)");
      if (t > q.token_offset && token_position[t] <= token_position[t - 1])
        bad("token " + std::to_string(t), "positions of a request must be strictly ascending");
      if (token_position[t] < 0)
        bad("token " + std::to_string(t), "negative position");
    }
    next = q.token_offset + q.token_count;
  }
  if (static_cast<size_t>(next) != T)
    bad("/requests", "requests cover " + std::to_string(next) + " tokens, the trace has " + std::to_string(T));
  // The largest id first (a loop the compiler vectorises); only a trace with an id out of range is scanned again
  // for the first one.
  const auto first_out_of_range = [&](const auto& v) -> size_t {
    int largest = 0;
    for (const auto x : v)
      largest = std::max<int>(largest, x);
    if (largest < num_experts)
      return v.size();
    for (size_t i = 0; i < v.size(); ++i)
      if (v[i] >= num_experts)
        return i;
    return v.size();
  };
  const size_t i = experts8.empty() ? first_out_of_range(experts) : first_out_of_range(experts8);
  if (i < ids) {
    const size_t t = i / per_token, l = (i % per_token) / top_k;
    bad("token " + std::to_string(t) + ", MoE layer " + std::to_string(moe_layers[l]),
        "expert id " + std::to_string(expert_id(i)) + " out of range 0.." + std::to_string(num_experts - 1));
  }
}

void Trace::compact()
{
  if (num_experts > 256 || experts.empty())
    return;
  experts8.assign(experts.begin(), experts.end());
  std::vector<uint16_t>().swap(experts);
}

void write_trace(const Trace& trace, const std::string& path)
{
  trace.validate(path);
  AtomicFile out(path);
  {
    h5::File f = h5::File::create(out.temp_path());
    auto root = h5::root(f);
    h5::write_attr(root, "schema", std::string("moesim-trace"));
    h5::write_attr(root, "schema_version", int64_t{Trace::kSchemaVersion});
    h5::write_attr(root, "model_name", trace.model_name);
    h5::write_attr(root, "source", trace.source);
    h5::write_attr(root, "num_experts", int64_t{trace.num_experts});
    h5::write_attr(root, "top_k", int64_t{trace.top_k});
    h5::write_attr(root, "moe_layers", trace.moe_layers);
    h5::write_strings(root, "labels", trace.labels);
    h5::write_strings(root, "datasets", trace.datasets);

    auto req = h5::create_group(root, "requests");
    std::vector<int64_t> id, off;
    std::vector<int32_t> label, dataset, prompt, count;
    for (const auto& q : trace.requests) {
      id.push_back(q.id);
      label.push_back(q.label);
      dataset.push_back(q.dataset);
      prompt.push_back(q.prompt_len);
      off.push_back(q.token_offset);
      count.push_back(q.token_count);
    }
    h5::write_vector(req, "id", id);
    h5::write_vector(req, "label", label);
    h5::write_vector(req, "dataset", dataset);
    h5::write_vector(req, "prompt_len", prompt);
    h5::write_vector(req, "token_offset", off);
    h5::write_vector(req, "token_count", count);

    const hsize_t T = static_cast<hsize_t>(trace.num_tokens());
    const hsize_t chunk = 8192;
    auto tok = h5::create_group(root, "tokens");
    h5::write_dataset(tok, "request", trace.token_request, {T}, chunk);
    h5::write_dataset(tok, "position", trace.token_position, {T}, chunk);
    h5::write_dataset(tok, "phase", trace.token_phase, {T}, chunk);

    auto rt = h5::create_group(root, "routing");
    const std::vector<hsize_t> dims{T, static_cast<hsize_t>(trace.num_layers()), static_cast<hsize_t>(trace.top_k)};
    // Ids fit one byte for up to 256 experts (every bundled model): half the bytes. They are not compressed:
    // routing ids are close to random bytes (deflate saved under 1% of a one-byte layout at 25 MB/s).
    if (!trace.experts8.empty())
      h5::write_dataset(rt, "experts", trace.experts8, dims, 2048, 0);
    else if (trace.num_experts <= 256)
      h5::write_dataset(rt, "experts", std::vector<uint8_t>(trace.experts.begin(), trace.experts.end()), dims, 2048, 0);
    else
      h5::write_dataset(rt, "experts", trace.experts, dims, 2048, 0);
    if (!trace.weights.empty())
      h5::write_dataset(rt, "weights", trace.weights, dims, 2048);
  }
  out.commit();
}

void require_tokens(const Trace& trace, const std::string& file)
{
  if (trace.num_tokens() == 0)
    throw InputError(file, "", "the trace has " + std::to_string(trace.requests.size()) +
                                   " requests and no token: nothing to replay or characterise");
}

Trace read_trace(const std::string& path, bool with_weights)
{
  h5::File f = h5::File::open_read(path);
  auto root = h5::root(f);
  Trace t;
  if (!h5::has_attr(root, "schema") || h5::read_attr_string(root, "schema") != "moesim-trace")
    throw InputError(path, "@schema", "not a moesim trace (expected attribute schema = \"moesim-trace\"; "
                                      "convert raw traces with `moesim trace import`)");
  const int64_t version = h5::read_attr_int(root, "schema_version");
  if (version != Trace::kSchemaVersion)
    throw InputError(path, "@schema_version", "unsupported version " + std::to_string(version) + " (expected " +
                                                  std::to_string(Trace::kSchemaVersion) + ")");
  t.model_name = h5::read_attr_string(root, "model_name");
  t.source = h5::has_attr(root, "source") ? h5::read_attr_string(root, "source") : "";
  const int64_t ne = h5::read_attr_int(root, "num_experts"), k = h5::read_attr_int(root, "top_k");
  if (ne < 1 || ne > 65535)
    throw InputError(path, "@num_experts", "expected 1..65535, got " + std::to_string(ne));
  if (k < 1 || k > ne)
    throw InputError(path, "@top_k", "expected 1..num_experts, got " + std::to_string(k));
  t.num_experts = static_cast<int>(ne);
  t.top_k = static_cast<int>(k);
  t.moe_layers = h5::read_attr_ints(root, "moe_layers");
  t.labels = h5::read_strings(root, "labels");
  t.datasets = h5::read_strings(root, "datasets");

  auto req = h5::open_group(root, "requests");
  auto id = h5::read_vector<int64_t>(req, "id");
  auto label = h5::read_vector<int32_t>(req, "label");
  auto dataset = h5::read_vector<int32_t>(req, "dataset");
  auto prompt = h5::read_vector<int32_t>(req, "prompt_len");
  auto off = h5::read_vector<int64_t>(req, "token_offset");
  auto count = h5::read_vector<int32_t>(req, "token_count");
  const size_t R = id.size();
  if (label.size() != R || dataset.size() != R || prompt.size() != R || off.size() != R || count.size() != R)
    throw InputError(path, "/requests", "columns have different lengths (ragged table)");
  for (size_t r = 0; r < R; ++r)
    t.requests.push_back(TraceRequest{id[r], label[r], dataset[r], prompt[r], off[r], count[r]});

  auto tok = h5::open_group(root, "tokens");
  t.token_request = h5::read_vector<int32_t>(tok, "request");
  t.token_position = h5::read_vector<int32_t>(tok, "position");
  t.token_phase = h5::read_vector<uint8_t>(tok, "phase");

  auto rt = h5::open_group(root, "routing");
  std::vector<hsize_t> dims;
  // One-byte ids on disk are read as such; wider ones are read wide and validated before they are narrowed (a
  // narrowing read would clip out-of-range ids into valid ones).
  if (h5::stored_element_bytes(rt, "experts") == 1)
    t.experts8 = h5::read_dataset<uint8_t>(rt, "experts", dims);
  else
    t.experts = h5::read_dataset<uint16_t>(rt, "experts", dims);
  if (dims.size() != 3 || dims[0] != t.token_request.size() || dims[1] != t.moe_layers.size() ||
      dims[2] != static_cast<hsize_t>(t.top_k))
    throw InputError(path, "/routing/experts", "expected shape [tokens=" + std::to_string(t.token_request.size()) +
                                                   ", layers=" + std::to_string(t.moe_layers.size()) +
                                                   ", top_k=" + std::to_string(t.top_k) + "]");
  if (with_weights && h5::exists(rt, "weights")) {
    std::vector<hsize_t> wdims;
    t.weights = h5::read_dataset<float>(rt, "weights", wdims);
    if (wdims != dims)
      throw InputError(path, "/routing/weights", "shape differs from /routing/experts");
  }
  t.validate(path);
  t.compact();
  return t;
}

void check_trace_matches_model(const Trace& trace, const std::string& trace_file, const ModelSpec& model)
{
  auto mismatch = [&](const std::string& what) {
    throw InputError(trace_file, "", "trace does not match model " + model.name + " (" + model.source_file + "): " + what);
  };
  if (trace.num_experts != model.num_routed_experts)
    mismatch("trace has " + std::to_string(trace.num_experts) + " experts, model has " +
             std::to_string(model.num_routed_experts));
  if (trace.top_k != model.top_k)
    mismatch("trace has top-" + std::to_string(trace.top_k) + ", model has top-" + std::to_string(model.top_k));
  if (trace.moe_layers != model.moe_layers)
    mismatch("trace has " + std::to_string(trace.num_layers()) + " MoE layers, model has " +
             std::to_string(model.num_moe_layers()) + " (or their layer ids differ)");
}

std::string describe_trace(const Trace& t)
{
  std::ostringstream os;
  os << "model: " << t.model_name << "\nsource: " << t.source << "\nexperts: " << t.num_experts << ", top-" << t.top_k
     << ", MoE layers: " << t.num_layers();
  if (!t.moe_layers.empty())
    os << " (" << t.moe_layers.front() << ".." << t.moe_layers.back() << ")";
  os << "\nrequests: " << t.requests.size() << ", tokens: " << t.num_tokens() << " (prefill "
     << t.count_phase(Phase::Prefill) << ", decode " << t.count_phase(Phase::Decode) << ")"
     << "\ngate weights: " << (t.weights.empty() ? "no" : "yes") << "\n";
  std::map<int, std::pair<int64_t, int64_t>> per_label;
  for (const auto& q : t.requests) {
    per_label[q.label].first += 1;
    per_label[q.label].second += q.token_count;
  }
  os << "labels (" << t.labels.size() << "):\n";
  for (const auto& [l, rc] : per_label)
    os << "  " << t.labels[l] << ": " << rc.first << " requests, " << rc.second << " tokens\n";
  os << "datasets: ";
  for (size_t i = 0; i < t.datasets.size(); ++i)
    os << (i ? ", " : "") << t.datasets[i];
  os << "\n";
  return os.str();
}

} // namespace moesim
