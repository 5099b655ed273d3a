#include "core/io/errors.hpp"
#include "core/io/h5.hpp"
#include "core/model/model_spec.hpp"
#include "core/trace/trace.hpp"
#include "core/trace/trace_import.hpp"
#include "test_helpers.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace moesim;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

ModelSpec v2lite() { return load_model_spec(test::source_path("data/models/DeepSeek-V2-Lite/config.json")); }
ModelSpec gptoss() { return load_model_spec(test::source_path("data/models/gpt-oss-20b/config.json")); }

// An ESFT-shaped model with 2 MoE layers (1, 2), 8 experts, top-2, for hand-made files.
ModelSpec esft_tiny()
{
  ModelSpec m = test::tiny_model(3, 8, 2);
  m.moe_layers = {1, 2};
  return m;
}

std::string esft_line(const std::vector<int>& ids)
{
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i)
    s += (i ? "\t" : "") + std::to_string(ids[i]);
  s += "\t\t";
  for (size_t i = 0; i < ids.size(); ++i)
    s += (i ? "\t" : "") + std::string("0.5");
  return s + "\n";
}

} // namespace

TEST_CASE("Importing the bundled ESFT traces: 4 domains, 213 sequences, 33,279 tokens, 26 MoE layers x top-6")
{
  const Trace t = import_esft(test::source_path("data/traces/deepseek-v2-lite-esft"), v2lite());
  CHECK(t.labels == std::vector<std::string>{"intent", "law", "summary", "translation"});
  CHECK(t.requests.size() == 213);
  CHECK(t.num_tokens() == 33279);
  CHECK(t.num_layers() == 26);
  CHECK(t.top_k == 6);
  CHECK(t.num_experts == 64);
  CHECK(t.count_phase(Phase::Prefill) == 33279);
  CHECK(t.weights.size() == t.num_expert_ids());
  int64_t law = 0;
  for (const auto& r : t.requests)
    law += t.labels[r.label] == "law" ? r.token_count : 0;
  CHECK(law == 8327);
  // First token of the first intent sequence at MoE layer 1, from the raw file.
  const ExpertIds e = t.experts_of(0, 0);
  CHECK(e.first(6) == std::vector<int>{8, 26, 56, 57, 60, 11});
}

TEST_CASE("Importing the gpt-oss sample: decode-phase tokens with dataset and category labels")
{
  const std::string dir = test::source_path("data/traces/gpt-oss-20b-sample/");
  const Trace t = import_gptoss_json({dir + "mmlu_pro_test-math.json", dir + "mmlu_test-college_computer_science.json",
                                      dir + "sorry_bench_base-harassment.json"},
                                     gptoss());
  CHECK(t.requests.size() == 3);
  CHECK(t.num_tokens() == t.count_phase(Phase::Decode));
  CHECK(t.num_tokens() == 49 + 101 + 65);
  CHECK(t.datasets == std::vector<std::string>{"mmlu_pro_test", "mmlu_test", "sorry_bench_base"});
  CHECK(t.labels[t.requests[0].label] == "math");
  CHECK(t.labels[t.requests[1].label] == "college_computer_science");
  CHECK(t.requests[0].prompt_len == 151); // first generated position
  CHECK(t.requests[0].id == 7597);
  const ExpertIds e = t.experts_of(0, 0);
  CHECK(e.first(4) == std::vector<int>{31, 21, 22, 6});
}

TEST_CASE("HDF5 trace round trip keeps every field")
{
  test::TempDir tmp;
  const ModelSpec m = test::tiny_model(2, 8, 2);
  Trace t = test::make_trace(m, {3, 2}, [](int r, int i, int l, int j) { return (r + i + l + 3 * j) % 8; }, {0, 1});
  t.weights.assign(t.experts.size(), 0.25f);
  write_trace(t, tmp.file("t.h5"));
  const Trace u = read_trace(tmp.file("t.h5"));
  CHECK(u.expert_ids() == t.experts);
  CHECK(u.experts8.size() == t.experts.size()); // 8 experts: one byte each in memory
  CHECK(read_trace(tmp.file("t.h5"), false).weights.empty()); // a run does not read the gate weights
  CHECK(u.weights == t.weights);
  CHECK(u.token_request == t.token_request);
  CHECK(u.token_position == t.token_position);
  CHECK(u.token_phase == t.token_phase);
  CHECK(u.labels == t.labels);
  CHECK(u.moe_layers == t.moe_layers);
  REQUIRE(u.requests.size() == 2);
  CHECK(u.requests[1].token_offset == 3);
  CHECK(u.requests[1].label == 1);
  CHECK(u.requests[0].prompt_len == 10);
  CHECK_NOTHROW(check_trace_matches_model(u, "t.h5", m));
  CHECK_THROWS_WITH(check_trace_matches_model(u, "t.h5", test::tiny_model(2, 16, 2)),
                    "t.h5: trace does not match model tiny (): trace has 8 experts, model has 16");
  CHECK_THROWS_WITH(check_trace_matches_model(u, "t.h5", test::tiny_model(3, 8, 2)),
                    "t.h5: trace does not match model tiny (): trace has 2 MoE layers, model has 3 (or their layer "
                    "ids differ)");
}

TEST_CASE("ESFT import errors name the file and line")
{
  test::TempDir tmp;
  const ModelSpec m = esft_tiny();
  const std::string d = tmp.path() + "/esft";
  auto layer = [&](int l) { return d + "/dom/expert_weights_" + std::to_string(l) + ".txt.gz"; };
  test::write_gzip(layer(1), esft_line({1, 2, 3, 4}) + esft_line({5, 6}));
  test::write_gzip(layer(2), esft_line({1, 2, 3, 4}) + esft_line({5, 6}));
  SECTION("valid files import")
  {
    Trace t = import_esft(d, m);
    CHECK(t.num_tokens() == 3);
    CHECK(t.requests.size() == 2);
  }
  SECTION("expert id out of range")
  {
    test::write_gzip(layer(2), esft_line({1, 2, 3, 4}) + esft_line({5, 8}));
    CHECK_THROWS_WITH(import_esft(d, m), layer(2) + ": line 2, token 0: expert id 8 out of range 0..7");
  }
  SECTION("ids not a multiple of top-k (ragged record)")
  {
    test::write_gzip(layer(1), esft_line({1, 2, 3}) + esft_line({5, 6}));
    CHECK_THROWS_WITH(import_esft(d, m),
                      layer(1) + ": line 1: 3 expert ids is not a positive multiple of top-k 2 (ragged or truncated record)");
  }
  SECTION("ids and weights differ in count")
  {
    test::write_gzip(layer(1), "1\t2\t\t0.5\n" + esft_line({5, 6}));
    CHECK_THROWS_WITH(import_esft(d, m), layer(1) + ": line 1: 2 expert ids but 1 gate weights (ragged or truncated record)");
  }
  SECTION("non-numeric id")
  {
    test::write_gzip(layer(1), "1\tx\t\t0.5\t0.5\n");
    CHECK_THROWS_WITH(import_esft(d, m), layer(1) + ": line 1: bad expert id 'x' (expected a non-negative integer)");
  }
  SECTION("missing double tab")
  {
    test::write_gzip(layer(1), "1\t2\n");
    CHECK_THROWS_WITH(import_esft(d, m), layer(1) + ": line 1: expected expert ids, a double tab, then gate weights");
  }
  SECTION("layers disagree on a sequence's token count")
  {
    test::write_gzip(layer(2), esft_line({1, 2, 3, 4}) + esft_line({5, 6, 7, 1}));
    CHECK_THROWS_WITH(import_esft(d, m), layer(2) + ": line 2: 2 tokens, but layer 1 has 1 for this sequence (ragged "
                                                    "or truncated record)");
  }
  SECTION("layers disagree on the number of sequences")
  {
    test::write_gzip(layer(2), esft_line({1, 2, 3, 4}));
    CHECK_THROWS_WITH(import_esft(d, m), layer(2) + ": has 1 sequences, layer 1 has 2");
  }
  SECTION("missing layer file")
  {
    fs::remove(layer(2));
    CHECK_THROWS_WITH(import_esft(d, m), layer(2) + ": missing (every MoE layer of tiny needs a file)");
  }
  SECTION("file for a layer the model does not route")
  {
    test::write_gzip(d + "/dom/expert_weights_7.txt.gz", esft_line({1, 2}));
    CHECK_THROWS_WITH(import_esft(d, m), d + "/dom/expert_weights_7.txt.gz: file name names layer '7', which is not an "
                                             "MoE layer of tiny");
  }
  SECTION("truncated gzip")
  {
    std::string whole;
    {
      test::write_gzip(tmp.file("big.gz"), std::string(200000, '1'));
      std::ifstream in(tmp.file("big.gz"), std::ios::binary);
      whole.assign(std::istreambuf_iterator<char>(in), {});
    }
    test::write_file(layer(1), whole.substr(0, whole.size() / 2));
    CHECK_THROWS_WITH(import_esft(d, m), Contains(layer(1) + ": gzip error"));
  }
  SECTION("not gzip at all is read as text and rejected")
  {
    test::write_file(layer(1), "garbage\n");
    CHECK_THROWS_WITH(import_esft(d, m), layer(1) + ": line 1: expected expert ids, a double tab, then gate weights");
  }
  SECTION("empty file")
  {
    test::write_gzip(layer(1), "");
    CHECK_THROWS_WITH(import_esft(d, m), layer(1) + ": no sequences (empty file)");
  }
  SECTION("not a directory")
  {
    CHECK_THROWS_WITH(import_esft(d + "/nope", m), Contains(d + "/nope: not a directory"));
  }
}

TEST_CASE("gpt-oss JSON import errors name the file and key path")
{
  test::TempDir tmp;
  ModelSpec m = test::tiny_model(2, 8, 2);
  const std::string f = tmp.file("p.json");
  auto tok = [](const std::string& l0, const std::string& l1) {
    return R"({"token_5":{"layer_0":{"selected_experts":)" + l0 + R"(,"selected_probs":[0.5,0.5]},"layer_1":{"selected_experts":)" +
           l1 + R"(,"selected_probs":[0.5,0.5]}}})";
  };
  auto doc = [](const std::string& rd) {
    return R"({"row_index":3,"dataset":"d","category":"c","router_data":[)" + rd + "]}";
  };
  SECTION("valid")
  {
    test::write_file(f, doc(tok("[1,2]", "[3,4]")));
    Trace t = import_gptoss_json({f}, m);
    CHECK(t.num_tokens() == 1);
    CHECK(t.requests[0].prompt_len == 5);
  }
  SECTION("expert id out of range")
  {
    test::write_file(f, doc(tok("[1,2]", "[3,9]")));
    CHECK_THROWS_WITH(import_gptoss_json({f}, m), f + ": key 'router_data[0].token_5.layer_1.selected_experts': expert id 9 "
                                                      "out of range 0..7");
  }
  SECTION("wrong k")
  {
    test::write_file(f, doc(tok("[1,2,3]", "[3,4]")));
    CHECK_THROWS_WITH(import_gptoss_json({f}, m), f + ": key 'router_data[0].token_5.layer_0.selected_experts': expected 2 "
                                                      "expert ids, got 3");
  }
  SECTION("missing layer")
  {
    test::write_file(f, doc(R"({"token_5":{"layer_0":{"selected_experts":[1,2]}}})"));
    CHECK_THROWS_WITH(import_gptoss_json({f}, m), f + ": key 'router_data[0].token_5.layer_1': missing (expected an object)");
  }
  SECTION("missing dataset")
  {
    test::write_file(f, R"({"category":"c","row_index":1,"router_data":[]})");
    CHECK_THROWS_WITH(import_gptoss_json({f}, m), f + ": key 'dataset': missing (expected a string)");
  }
  SECTION("bad token key")
  {
    test::write_file(f, doc(R"({"tok_5":{}})"));
    CHECK_THROWS_WITH(import_gptoss_json({f}, m), f + ": key 'router_data[0].tok_5': expected \"token_<position>\"");
  }
  SECTION("truncated JSON")
  {
    test::write_file(f, doc(tok("[1,2]", "[3,4]")).substr(0, 60));
    CHECK_THROWS_WITH(import_gptoss_json({f}, m), Contains(f + ": line 1, column"));
  }
}

TEST_CASE("HDF5 trace reader rejects bad files with the file and object named")
{
  test::TempDir tmp;
  const ModelSpec m = test::tiny_model(2, 8, 2);
  Trace t = test::make_trace(m, {3, 2}, [](int, int i, int l, int j) { return (i + l + 3 * j) % 8; });
  const std::string f = tmp.file("t.h5");
  write_trace(t, f);
  SECTION("missing file")
  {
    CHECK_THROWS_WITH(read_trace(tmp.file("none.h5")),
                      tmp.file("none.h5") + ": cannot open as HDF5 (missing, truncated or not an HDF5 file)");
  }
  SECTION("truncated file")
  {
    std::string bytes;
    {
      std::ifstream in(f, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    test::write_file(f, bytes.substr(0, bytes.size() / 2));
    CHECK_THROWS_WITH(read_trace(f), Contains(f + ": "));
  }
  SECTION("not a moesim trace")
  {
    {
      h5::File g = h5::File::create(f);
      h5::write_attr(h5::root(g), "schema", std::string("other"));
    }
    CHECK_THROWS_WITH(read_trace(f), Contains(f + ": @schema: not a moesim trace"));
  }
  SECTION("expert id out of range caught by validation")
  {
    t.experts[5] = 8;
    CHECK_THROWS_WITH(write_trace(t, f), f + ": token 1, MoE layer 0: expert id 8 out of range 0..7");
  }
  SECTION("ragged request table")
  {
    t.requests[1].token_count = 5;
    CHECK_THROWS_WITH(t.validate("x.h5"),
                      "x.h5: request 1 (id 1): token range [3, +5) is not the next contiguous non-empty range "
                      "(expected offset 3)");
  }
}
