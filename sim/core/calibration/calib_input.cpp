#include "core/calibration/calib_input.hpp"

#include "core/calibration/text.hpp"

#include "core/io/errors.hpp"
#include "core/io/json_util.hpp"
#include "core/io/sha256.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

namespace moesim {

namespace {

using calib_text::at_line;
using calib_text::lines_of;
using calib_text::tokens_of;

/// A finite number > 0 (or >= 0 when zero_ok), or InputError naming the column.
double positive_number(const std::string& s, const std::string& path, int line, const std::string& column,
                       bool zero_ok = false)
{
  const auto v = calib_text::positive_number_of(s, zero_ok);
  if (!v)
    throw InputError(path, at_line(line), "expected a positive number for " + column + ", found '" + s + "'");
  return *v;
}

bool starts_with_digit(const std::string& line)
{
  for (char c : line) {
    if (c == ' ' || c == '\t')
      continue;
    return c >= '0' && c <= '9';
  }
  return false;
}

bool known_op(const std::string& op)
{
  const auto& ops = measurement_ops();
  return std::find(ops.begin(), ops.end(), op) != ops.end();
}

} // namespace

const std::vector<std::string>& measurement_ops()
{
  static const std::vector<std::string> ops = {"alltoall",   "alltoallv",      "sendrecv", "all_reduce",
                                               "all_gather", "reduce_scatter", "p2p",      "gemm",
                                               "hbm",        "ll_dispatch",    "ll_combine", "normal_dispatch",
                                               "normal_combine", "moe_experts"};
  return ops;
}

bool is_moe_op(const std::string& op)
{
  return op == "ll_dispatch" || op == "ll_combine" || op == "normal_dispatch" || op == "normal_combine" ||
         op == "moe_experts";
}

double dtype_bytes(const std::string& dtype)
{
  static const std::map<std::string, double> sizes = {
      {"int8", 1},   {"uint8", 1},    {"char", 1},   {"fp8", 1},     {"f8e4m3", 1},   {"f8e5m2", 1},
      {"half", 2},   {"float16", 2},  {"fp16", 2},   {"bfloat16", 2}, {"bf16", 2},    {"int32", 4},
      {"uint32", 4}, {"int", 4},      {"float", 4},  {"float32", 4}, {"fp32", 4},     {"int64", 8},
      {"uint64", 8}, {"double", 8},   {"float64", 8}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0.0 : it->second;
}

namespace {

/// A log line without what launchers put before it: SkyPilot's "(head, rank=0, pid=1) ", Open MPI's
/// --tag-output "[1,0]<stdout>:", Slurm's srun --label "0: ".
std::string strip_launcher_prefix(const std::string& line)
{
  size_t i = line.find_first_not_of(" \t");
  if (i == std::string::npos)
    return line;
  if (line[i] == '(') {
    const auto close = line.find(") ", i);
    if (close != std::string::npos && close < i + 120 && line.find("rank=", i) < close)
      i = line.find_first_not_of(' ', close + 1);
  }
  if (i != std::string::npos && line[i] == '[') {
    const auto close = line.find("]<", i);
    const auto colon = close == std::string::npos ? std::string::npos : line.find(">:", close);
    if (colon != std::string::npos && colon < i + 40 &&
        line.find_first_not_of("0123456789,", i + 1) == close)
      return line.substr(colon + 2);
  }
  if (i != std::string::npos && std::isdigit(static_cast<unsigned char>(line[i]))) {
    const auto end = line.find_first_not_of("0123456789", i);
    if (end != std::string::npos && end + 1 < line.size() && line[end] == ':' && line[end + 1] == ' ' && end - i <= 5)
      return line.substr(end + 2);
  }
  return line;
}

bool all_digits(const std::string& s)
{
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

/// The collective a file name names (all_reduce_perf.log, allgather-2n.txt, ...), "" when none.
std::string op_of_file_name(const std::string& path)
{
  std::string name = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string squeezed;
  for (char c : name)
    if (c != '_' && c != '-')
      squeezed += c;
  for (const auto& [key, op] : std::vector<std::pair<const char*, const char*>>{{"allreduce", "all_reduce"},
                                                                                {"allgather", "all_gather"},
                                                                                {"reducescatter", "reduce_scatter"},
                                                                                {"alltoall", "alltoall"},
                                                                                {"sendrecv", "sendrecv"}})
    if (squeezed.find(key) != std::string::npos)
      return op;
  return "";
}

} // namespace

CalibInput parse_nccl_tests_log(const std::string& text, const std::string& path)
{
  CalibInput in;
  in.path = path;
  in.format = "nccl-tests";
  const auto lines = lines_of(text);
  // State of the test being read: a test block starts with "# Collective test starting: NAME_perf" (nccl-tests
  // 2.13 on) or, in older logs, with its "# nThread ..." line; it lists its ranks, prints a header and rows, and
  // ends with "# Avg bus bandwidth".
  std::string op, perf_name, gpu_name;
  int test_line = 0, time_col = -1, rows = 0, ranks = 0;
  std::set<std::string> hosts;
  bool skipping = false;
  std::set<std::string> notes;
  size_t first_of_test = 0;       // index into in.measurements of the test's first row
  std::vector<double> bus_over_alg; // the test's busbw / algbw per row (where algbw > 0)
  bool any_sum = false;             // a row of the test has redop "sum"
  auto close_test = [&](int line) {
    if (!perf_name.empty())
      throw InputError(path, at_line(line),
                       "truncated: the " + perf_name + " test starting at line " + std::to_string(test_line) +
                           " has no closing '# Avg bus bandwidth' line");
  };
  // A test without its name: the file name's collective, else all_reduce where the rows' busbw / algbw is its
  // 2 (n - 1) / n and the reduction a sum; else the log cannot be read.
  auto resolve_unnamed = [&](int line) {
    if (!op.empty())
      return;
    std::sort(bus_over_alg.begin(), bus_over_alg.end());
    const double n = std::max(ranks, 1);
    const double ratio = bus_over_alg.empty() ? 0 : bus_over_alg[bus_over_alg.size() / 2];
    if (any_sum && n > 1 && std::abs(ratio - 2 * (n - 1) / n) < 0.02 * 2 * (n - 1) / n) {
      op = "all_reduce";
      notes.insert("test at line " + std::to_string(test_line) + " has no name: read as all_reduce (its busbw / " +
                   "algbw is 2 (n - 1) / n)");
    } else {
      throw InputError(path, at_line(line),
                       "cannot tell which collective the test starting at line " + std::to_string(test_line) +
                           " measured: the log has no '# Collective test starting' line and the file name names "
                           "none (name the file after the test, e.g. all_gather_perf.log)");
    }
    for (size_t j = first_of_test; j < in.measurements.size(); ++j)
      in.measurements[j].op = op;
  };
  auto start_test = [&](const std::string& name, int ln) {
    perf_name = name;
    std::string o = name;
    if (o.size() > 4 && o.compare(o.size() - 4, 4, "_mpi") == 0) // all_reduce_perf_mpi
      o.resize(o.size() - 4);
    if (o.size() > 5 && o.compare(o.size() - 5, 5, "_perf") == 0)
      o.resize(o.size() - 5);
    op = o;
    skipping = !op.empty() && (!known_op(op) || op == "gemm" || op == "hbm" || op == "p2p");
    if (skipping)
      notes.insert("skipped " + perf_name + " (line " + std::to_string(ln) + "): not an operation moesim fits");
    test_line = ln;
    time_col = -1;
    rows = 0;
    ranks = 0;
    hosts.clear();
    first_of_test = in.measurements.size();
    bus_over_alg.clear();
    any_sum = false;
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    const int ln = static_cast<int>(i) + 1;
    const std::string line = strip_launcher_prefix(lines[i]);
    const auto tok = tokens_of(line);
    if (tok.empty())
      continue;
    if (tok[0] == "#") {
      if (line.find("nccl-tests version") != std::string::npos)
        notes.insert(line.substr(line.find("nccl-tests version")));
      const auto cts = line.find("Collective test starting:");
      if (cts != std::string::npos) {
        close_test(ln);
        const auto name = tokens_of(line.substr(cts + 25));
        start_test(name.empty() ? "" : name[0], ln);
        continue;
      }
      if (tok.size() >= 2 && tok[1] == "nThread" && perf_name.empty()) {
        // An older log (or one whose header was cut): the test is named by the file, or by its table.
        const std::string from_name = op_of_file_name(path);
        start_test(from_name.empty() ? "" : from_name + "_perf", ln);
        if (from_name.empty())
          perf_name = "unnamed";
        else
          notes.insert("test at line " + std::to_string(ln) + " has no name: read as " + from_name +
                       " (the file name)");
        continue;
      }
      if (tok.size() >= 8 && tok[1] == "Rank" && line.find(" on ") != std::string::npos) {
        const auto on = std::find(tok.begin(), tok.end(), "on");
        if (on == tok.end() || on + 1 == tok.end())
          throw InputError(path, at_line(ln), "expected '#  Rank R Group G Pid P on HOST device D ...'");
        hosts.insert(*(on + 1));
        ++ranks;
        const auto bracket = line.find(']');
        if (bracket != std::string::npos && bracket + 2 < line.size())
          gpu_name = line.substr(bracket + 2);
        continue;
      }
      if (std::find(tok.begin(), tok.end(), "size") != tok.end() &&
          std::find(tok.begin(), tok.end(), "time") != tok.end()) {
        // Column header: the first "time" is the out-of-place time (us). Older nccl-tests have no root column.
        const auto t = std::find(tok.begin(), tok.end(), "time");
        time_col = static_cast<int>(t - tok.begin()) - 1; // data rows have no leading '#'
        continue;
      }
      if (line.find("Avg bus bandwidth") != std::string::npos) {
        if (!perf_name.empty() && rows == 0 && !skipping)
          throw InputError(path, at_line(ln), "the " + perf_name + " test starting at line " +
                                                  std::to_string(test_line) + " has no table rows");
        if (!perf_name.empty() && rows > 0)
          resolve_unnamed(ln);
        perf_name.clear();
        rows = 0;
      }
      continue;
    }
    // Table rows start with the size in bytes; NCCL INFO/WARN lines ("host:pid:tid [0] NCCL INFO ..."), MPI and
    // launcher output interleave with the table and are skipped.
    if (!all_digits(tok[0]))
      continue;
    if (perf_name.empty())
      throw InputError(path, at_line(ln),
                       "table row outside a test: expected '# Collective test starting: NAME_perf' or '# nThread "
                       "...' before it");
    if (time_col < 0)
      throw InputError(path, at_line(ln), "table row before the column header ('#  size  count  type ... time')");
    if (static_cast<int>(tok.size()) < time_col + 3)
      throw InputError(path, at_line(ln),
                       "truncated or garbled row: expected size, count, type, redop, root, time, algbw, busbw, ... "
                       "(" + std::to_string(time_col + 3) + "+ columns), found " + std::to_string(tok.size()));
    ++rows;
    const double bytes = positive_number(tok[0], path, ln, "size (B)");
    const double time_us = positive_number(tok[static_cast<size_t>(time_col)], path, ln, "time (us)");
    const double algbw = positive_number(tok[static_cast<size_t>(time_col) + 1], path, ln, "algbw (GB/s)", true);
    const double busbw = positive_number(tok[static_cast<size_t>(time_col) + 2], path, ln, "busbw (GB/s)", true);
    if (skipping)
      continue;
    if (algbw > 0.05)
      bus_over_alg.push_back(busbw / algbw);
    any_sum = any_sum || (tok.size() > 3 && tok[3] == "sum");
    if (ranks == 0)
      throw InputError(path, at_line(ln), "no '#  Rank ... on HOST device ...' lines before the table of the " +
                                              perf_name + " test: cannot tell the GPUs and nodes");
    const int nodes = static_cast<int>(hosts.size());
    if (ranks % nodes != 0)
      throw InputError(path, at_line(test_line), std::to_string(ranks) + " ranks on " + std::to_string(nodes) +
                                                     " hosts: moesim needs the same number of GPUs on every node");
    Measurement m;
    m.source = path;
    m.line = ln;
    m.op = op;
    m.nodes = nodes;
    m.gpus_per_node = ranks / nodes;
    m.bytes = bytes;
    m.time_s = time_us * 1e-6;
    m.dtype = tok.size() > 2 ? tok[2] : "";
    m.gpu_name = gpu_name;
    in.measurements.push_back(m);
  }
  close_test(static_cast<int>(lines.size()));
  // Tests whose name was read as an operation moesim does not fit (resolved at their end) leave no rows.
  in.measurements.erase(std::remove_if(in.measurements.begin(), in.measurements.end(),
                                       [](const Measurement& m) { return !known_op(m.op); }),
                        in.measurements.end());
  if (in.measurements.empty())
    throw InputError(path, "", "no nccl-tests measurements found (expected '# Collective test starting:' or "
                               "'# nThread' blocks with their tables)");
  in.notes.assign(notes.begin(), notes.end());
  if (!gpu_name.empty())
    in.notes.push_back("GPU: " + gpu_name);
  return in;
}

CalibInput parse_nccl_perf_csv(const std::string& text, const std::string& path)
{
  CalibInput in;
  in.path = path;
  in.format = "nccl-perf-csv";
  const auto lines = lines_of(text);
  const std::string header = "framework,version,device,op_name,kernel_source,nccl_dtype,num_gpus,message_size,latency";
  if (lines.empty() || lines[0] != header)
    throw InputError(path, at_line(1), "expected the header '" + header + "'");
  std::set<std::string> notes;
  for (size_t i = 1; i < lines.size(); ++i) {
    const int ln = static_cast<int>(i) + 1;
    if (lines[i].empty())
      continue;
    const auto f = tokens_of(lines[i], ',');
    if (f.size() != 9)
      throw InputError(path, at_line(ln), "expected 9 comma-separated fields, found " + std::to_string(f.size()));
    Measurement m;
    m.source = path;
    m.line = ln;
    m.op = f[3];
    if (!known_op(m.op))
      throw InputError(path, at_line(ln), "unknown op_name '" + f[3] + "'");
    m.dtype = f[5];
    const double eb = dtype_bytes(m.dtype);
    if (eb == 0)
      throw InputError(path, at_line(ln), "unknown nccl_dtype '" + f[5] + "'");
    const double gpus = positive_number(f[6], path, ln, "num_gpus");
    if (gpus != std::floor(gpus) || gpus > 1e6)
      throw InputError(path, at_line(ln), "num_gpus must be an integer, found '" + f[6] + "'");
    m.nodes = 1;
    m.gpus_per_node = static_cast<int>(gpus);
    // message_size counts elements of nccl_dtype; latency is in milliseconds (the source's SOURCE.md).
    m.bytes = positive_number(f[7], path, ln, "message_size (elements)") * eb;
    m.time_s = positive_number(f[8], path, ln, "latency (ms)") * 1e-3;
    m.gpu_name = f[2];
    notes.insert(f[0] + " " + f[4] + " " + f[1] + " on " + f[2]);
    in.measurements.push_back(m);
  }
  if (in.measurements.empty())
    throw InputError(path, "", "no rows after the header");
  in.notes.assign(notes.begin(), notes.end());
  return in;
}

CalibInput parse_deepgemm_csv(const std::string& text, const std::string& path)
{
  CalibInput in;
  in.path = path;
  in.format = "deepgemm-csv";
  const auto lines = lines_of(text);
  const std::string header = "layout,groups,m_per_group,n,k,tflops,mem_GBps,speedup";
  bool seen_header = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    const int ln = static_cast<int>(i) + 1;
    if (lines[i].empty())
      continue;
    if (lines[i][0] == '#') {
      in.notes.push_back(lines[i].substr(1));
      continue;
    }
    if (!seen_header) {
      if (lines[i] != header)
        throw InputError(path, at_line(ln), "expected the header '" + header + "'");
      seen_header = true;
      continue;
    }
    const auto f = tokens_of(lines[i], ',');
    if (f.size() != 8)
      throw InputError(path, at_line(ln), "expected 8 comma-separated fields, found " + std::to_string(f.size()));
    Measurement m;
    m.source = path;
    m.line = ln;
    m.op = "gemm";
    m.layout = f[0];
    if (m.layout != "dense" && m.layout != "grouped_contiguous" && m.layout != "grouped_masked")
      throw InputError(path, at_line(ln), "layout must be dense, grouped_contiguous or grouped_masked, found '" +
                                              f[0] + "'");
    const double groups = positive_number(f[1], path, ln, "groups");
    if (groups != std::floor(groups) || groups > 1e6)
      throw InputError(path, at_line(ln), "groups must be an integer, found '" + f[1] + "'");
    m.groups = static_cast<int>(groups);
    m.m = positive_number(f[2], path, ln, "m_per_group");
    m.n = positive_number(f[3], path, ln, "n");
    m.k = positive_number(f[4], path, ln, "k");
    const double tflops = positive_number(f[5], path, ln, "tflops");
    m.time_s = 2.0 * m.m * m.n * m.k * m.groups / (tflops * 1e12);
    m.dtype = "fp8"; // DeepGEMM is an FP8 GEMM library (block-scaled FP8 inputs, BF16 output)
    in.measurements.push_back(m);
  }
  if (!seen_header)
    throw InputError(path, "", "expected the header '" + header + "'");
  if (in.measurements.empty())
    throw InputError(path, "", "no rows after the header");
  return in;
}

CalibInput parse_calib_json(const std::string& text, const std::string& path)
{
  CalibInput in;
  in.path = path;
  in.format = "calib-json";
  const JsonDocument doc = JsonDocument::parse(text, path);
  const JsonView root = doc.root();
  static const std::set<std::string> top_keys = {"schema", "benchmark", "host", "gpus",     "versions",
                                                 "topology", "ranks",   "settings", "measurements"};
  for (const auto& [k, v] : root.node().items())
    if (!top_keys.count(k))
      root.fail(k, "unknown key (expected one of schema, benchmark, host, gpus, versions, topology, ranks, "
                   "settings, measurements)");
  if (root.get_string("schema") != "moesim-calib/1")
    root.fail("schema", "expected \"moesim-calib/1\"");
  const std::string bench = root.get_string("benchmark");
  if (bench != "p2p" && bench != "nccl" && bench != "gemm")
    root.fail("benchmark", "expected p2p, nccl or gemm");
  const JsonView ranks = root.child("ranks");
  const int nodes = ranks.get_int("nodes", 1);
  const int gpn = ranks.get_int("gpus_per_node", 1);
  if (root.has("versions"))
    for (const auto& [k, v] : root.child("versions").node().items())
      in.notes.push_back(k + " " + (v.is_string() ? v.get<std::string>() : v.dump()));
  std::string gpu_name;
  if (root.has("gpus") && root.node()["gpus"].is_array() && !root.node()["gpus"].empty() &&
      root.node()["gpus"][0].is_object() && root.node()["gpus"][0].contains("name") &&
      root.node()["gpus"][0]["name"].is_string())
    gpu_name = root.node()["gpus"][0]["name"].get<std::string>();
  if (!root.has("measurements") || !root.node()["measurements"].is_array())
    root.fail("measurements", "expected an array of measurements");
  const auto& list = root.node()["measurements"];
  static const std::set<std::string> keys = {"op", "bytes", "reps",   "time_s", "src",   "dst",           "dtype",
                                             "layout", "m", "n", "k", "groups", "nodes", "gpus_per_node", "skew"};
  for (size_t i = 0; i < list.size(); ++i) {
    const JsonView r(&list[i], path, "measurements[" + std::to_string(i) + "]");
    if (!list[i].is_object())
      root.fail("measurements[" + std::to_string(i) + "]", "expected an object");
    for (const auto& [k, v] : list[i].items())
      if (!keys.count(k))
        r.fail(k, "unknown key");
    Measurement m;
    m.source = path;
    m.line = static_cast<int>(i) + 1;
    m.op = r.get_string("op");
    if (!known_op(m.op))
      r.fail("op", "unknown operation '" + m.op + "'");
    m.nodes = r.has("nodes") ? r.get_int("nodes", 1) : nodes;
    m.gpus_per_node = r.has("gpus_per_node") ? r.get_int("gpus_per_node", 1) : gpn;
    r.get_int("reps", 1);
    const JsonView t = r.child("time_s");
    const double tmin = t.get_double("min"), tmed = t.get_double("median"), tmax = t.get_double("max");
    if (!(tmin > 0 && tmin <= tmed && tmed <= tmax) || !std::isfinite(tmax))
      r.fail("time_s", "expected 0 < min <= median <= max");
    m.time_s = tmed;
    m.gpu_name = gpu_name;
    if (m.op == "gemm") {
      m.m = r.get_double("m");
      m.n = r.get_double("n");
      m.k = r.get_double("k");
      m.groups = r.get_int("groups", 1);
      m.dtype = r.get_string("dtype");
      m.layout = r.has("layout") ? r.get_string("layout") : "grouped_masked";
      if (!(m.m > 0 && m.n > 0 && m.k > 0))
        r.fail("m", "m, n and k must be positive");
    } else {
      m.bytes = r.get_double("bytes");
      if (!(m.bytes > 0) || !std::isfinite(m.bytes))
        r.fail("bytes", "expected a positive number of bytes");
      if (r.has("dtype"))
        m.dtype = r.get_string("dtype");
      const int ranks = m.nodes * m.gpus_per_node;
      if (m.op == "p2p") {
        m.src = r.has("src") ? r.get_int("src", 0) : 0;
        m.dst = r.has("dst") ? r.get_int("dst", 0) : 1;
        if (m.src >= ranks || m.dst >= ranks || m.src == m.dst)
          r.fail("dst", "src and dst must be two different ranks below " + std::to_string(ranks));
      }
      if (m.op == "alltoallv") {
        m.skew = r.get_double("skew");
        if (!(m.skew >= 0 && m.skew <= 16))
          r.fail("skew", "expected a number in [0, 16]");
      }
    }
    in.measurements.push_back(m);
  }
  if (in.measurements.empty())
    root.fail("measurements", "no measurements");
  if (!gpu_name.empty())
    in.notes.push_back("GPU: " + gpu_name);
  return in;
}

CalibInput read_calib_input(const std::string& path)
{
  const std::string text = read_text_file(path);
  size_t first = text.find_first_not_of(" \t\r\n");
  CalibInput in;
  if (first == std::string::npos)
    throw InputError(path, "", "empty file: expected a nccl-tests log, a calib JSON file or a calibration CSV");
  if (text[first] == '{')
    in = parse_calib_json(text, path);
  else if (text.compare(first, 10, "framework,") == 0) {
    const std::string header = text.substr(first, text.find('\n', first) - first);
    const std::string kind = aiconfigurator_csv_kind(header);
    if (kind == "aiconfigurator-deepep-csv")
      in = parse_aiconfigurator_deepep_csv(text, path);
    else if (kind == "aiconfigurator-moe-csv")
      in = parse_aiconfigurator_moe_csv(text, path);
    else
      in = parse_nccl_perf_csv(text, path);
  } else if (text.find("Dispatch bandwidth:") != std::string::npos ||
             text.find("[tuning] Best dispatch") != std::string::npos ||
             text.find("[tuning] Best combine") != std::string::npos)
    in = parse_deepep_test_log(text, path);
  else if (text.find("\nep,dispatch_latency_us") != std::string::npos || text.rfind("ep,dispatch_latency_us", first) == first ||
           text.find("type,ep,dispatch_bottleneck_GBps") != std::string::npos ||
           text.find("arch,nic,topo,dispatch_GBps") != std::string::npos)
    in = parse_deepep_readme_csv(text, path);
  else if (text.find("layout,groups,m_per_group") != std::string::npos)
    in = parse_deepgemm_csv(text, path);
  else if (text.find("nccl-tests") != std::string::npos || text.find("Collective test starting") != std::string::npos ||
           (text.find("# nThread") != std::string::npos && text.find("# Using devices") != std::string::npos))
    in = parse_nccl_tests_log(text, path);
  else
    throw InputError(path, "", "unknown format: expected a nccl-tests log ('# nccl-tests version ...'), a calib "
                               "JSON file (schema moesim-calib/1), an aiconfigurator CSV (NCCL, DeepEP, MoE), a "
                               "DeepGEMM or DeepEP README CSV, or DeepEP test output (docs/calibration.md)");
  in.sha256 = sha256_file(path);
  return in;
}

} // namespace moesim
