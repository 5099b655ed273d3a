#include "core/io/errors.hpp"
#include "core/model/model_spec.hpp"
#include "test_helpers.hpp"

#include <catch2/catch.hpp>

using namespace moesim;
using Catch::Matchers::Contains;

static ModelSpec bundled(const std::string& name)
{
  return load_model_spec(test::source_path("data/models/" + name + "/config.json"));
}

TEST_CASE("DeepSeek-V3 config: 58 MoE layers of 61, 256 routed + 1 shared, top-8, group-limited")
{
  auto m = bundled("DeepSeek-V3");
  CHECK(m.num_layers == 61);
  CHECK(m.num_moe_layers() == 58);
  CHECK(m.moe_layers.front() == 3);
  CHECK(m.moe_layers.back() == 60);
  CHECK(m.num_routed_experts == 256);
  CHECK(m.num_shared_experts == 1);
  CHECK(m.top_k == 8);
  CHECK(m.n_group == 8);
  CHECK(m.topk_group == 4);
  CHECK(m.hidden_size == 7168);
  CHECK(m.expert_ffn_size == 2048);
  CHECK(m.attention == AttentionKind::MLA);
  CHECK(m.q_lora_rank == 1536);
  CHECK(m.kv_lora_rank == 512);
  CHECK(m.param_dtype == "fp8");
  CHECK(m.param_bytes == Approx(1.0 + 4.0 / (128 * 128))); // FP8 with an FP32 scale per 128 x 128 block
  // MLA KV cache: (512 + 64) BF16 values per token per layer.
  CHECK(m.kv_bytes_per_token() == 1152.0);
}

TEST_CASE("DeepSeek-V2-Lite config: 26 MoE layers of 27, 64 routed + 2 shared, top-6, no q compression")
{
  auto m = bundled("DeepSeek-V2-Lite");
  CHECK(m.num_layers == 27);
  CHECK(m.num_moe_layers() == 26);
  CHECK(m.moe_layers.front() == 1);
  CHECK(m.num_routed_experts == 64);
  CHECK(m.num_shared_experts == 2);
  CHECK(m.top_k == 6);
  CHECK(m.q_lora_rank == 0);
  CHECK(m.n_group == 1);
  CHECK(m.param_dtype == "bf16");
  CHECK(m.expert_params() == 3LL * 2048 * 1408);
}

TEST_CASE("Llama 4 Maverick config: 24 MoE layers of 48 (every 2nd), top-1, one shared expert")
{
  auto m = bundled("Llama-4-Maverick-17B-128E");
  CHECK(m.model_type == "llama4_text");
  CHECK(m.num_layers == 48);
  CHECK(m.num_moe_layers() == 24);
  CHECK(m.moe_layers.front() == 1);
  CHECK(m.moe_layers[1] == 3);
  CHECK(m.top_k == 1);
  CHECK(m.num_routed_experts == 128);
  CHECK(m.num_shared_experts == 1);
  CHECK(m.expert_ffn_size == 8192);
  CHECK(m.dense_ffn_size == 16384);
  CHECK(m.attention == AttentionKind::GQA);
  CHECK(m.num_kv_heads == 8);
  CHECK(m.head_dim == 128);
}

TEST_CASE("Qwen3-235B-A22B config: 94 MoE layers, 128 experts, top-8")
{
  auto m = bundled("Qwen3-235B-A22B");
  CHECK(m.num_layers == 94);
  CHECK(m.num_moe_layers() == 94);
  CHECK(m.num_routed_experts == 128);
  CHECK(m.top_k == 8);
  CHECK(m.num_shared_experts == 0);
  CHECK(m.expert_ffn_size == 1536);
  CHECK(m.num_kv_heads == 4);
}

TEST_CASE("gpt-oss-20b config: 24 MoE layers, 32 experts, top-4, MXFP4 experts")
{
  auto m = bundled("gpt-oss-20b");
  CHECK(m.num_moe_layers() == 24);
  CHECK(m.num_routed_experts == 32);
  CHECK(m.top_k == 4);
  CHECK(m.expert_param_dtype == "mxfp4");
  CHECK(m.expert_param_bytes == Approx(4.25 / 8));
  CHECK(m.param_dtype == "bf16");
}

TEST_CASE("Mixtral-8x7B config: 32 MoE layers, 8 experts, top-2")
{
  auto m = bundled("Mixtral-8x7B-v0.1");
  CHECK(m.num_moe_layers() == 32);
  CHECK(m.num_routed_experts == 8);
  CHECK(m.top_k == 2);
  CHECK(m.head_dim == 128);
}

TEST_CASE("Qwen3 mlp_only_layers and decoder_sparse_step select the MoE layers")
{
  const std::string j = R"({"model_type":"qwen3_moe","num_hidden_layers":8,"hidden_size":64,"num_experts":8,
    "num_experts_per_tok":2,"decoder_sparse_step":2,"mlp_only_layers":[3],"moe_intermediate_size":32,
    "intermediate_size":128,"num_attention_heads":4,"num_key_value_heads":2,"head_dim":16})";
  auto m = parse_model_spec(j, "x/config.json");
  CHECK(m.moe_layers == std::vector<int>{1, 5, 7});
}

TEST_CASE("Model config errors name the file and the key")
{
  const std::string base = R"({"model_type":"deepseek_v3","num_hidden_layers":4,"hidden_size":64,)"
                           R"("n_routed_experts":8,"num_experts_per_tok":2,"moe_intermediate_size":32,)"
                           R"("intermediate_size":128,"num_attention_heads":4,"kv_lora_rank":16,"q_lora_rank":null,)"
                           R"("qk_nope_head_dim":8,"qk_rope_head_dim":8,"v_head_dim":8,"first_k_dense_replace":0,"moe_layer_freq":1)";
  SECTION("a complete config parses")
  {
    auto m = parse_model_spec(base + "}", "ok.json");
    CHECK(m.num_moe_layers() == 4);
  }
  SECTION("missing key")
  {
    std::string j = base + "}";
    j.replace(j.find("\"n_routed_experts\":8,"), std::string("\"n_routed_experts\":8,").size(), "");
    CHECK_THROWS_WITH(parse_model_spec(j, "m/config.json"),
                      "m/config.json: key 'n_routed_experts': missing (expected an integer)");
  }
  SECTION("wrong type")
  {
    std::string j = base + "}";
    j.replace(j.find("\"num_experts_per_tok\":2"), std::string("\"num_experts_per_tok\":2").size(),
              "\"num_experts_per_tok\":\"two\"");
    CHECK_THROWS_WITH(parse_model_spec(j, "m/config.json"),
                      "m/config.json: key 'num_experts_per_tok': expected an integer, got \"two\"");
  }
  SECTION("negative value")
  {
    std::string j = base + "}";
    j.replace(j.find("\"hidden_size\":64"), std::string("\"hidden_size\":64").size(), "\"hidden_size\":-5");
    CHECK_THROWS_WITH(parse_model_spec(j, "m/config.json"),
                      "m/config.json: key 'hidden_size': expected an integer >= 1, got -5");
  }
  SECTION("top-k larger than experts")
  {
    std::string j = base + "}";
    j.replace(j.find("\"num_experts_per_tok\":2"), std::string("\"num_experts_per_tok\":2").size(),
              "\"num_experts_per_tok\":9");
    CHECK_THROWS_WITH(parse_model_spec(j, "m/config.json"),
                      "m/config.json: key 'num_experts_per_tok': top-k 9 exceeds the number of routed experts 8");
  }
  SECTION("unsupported architecture")
  {
    CHECK_THROWS_WITH(parse_model_spec(R"({"model_type":"bert"})", "b.json"),
                      Contains("b.json: key 'model_type': unsupported architecture 'bert' (supported: deepseek_v2"));
  }
  SECTION("no model_type")
  {
    CHECK_THROWS_WITH(parse_model_spec(R"({"hidden_size":3})", "b.json"),
                      "b.json: key 'model_type': missing (expected a string)");
  }
  SECTION("invalid JSON reports line and column")
  {
    CHECK_THROWS_WITH(parse_model_spec("{\n  \"model_type\": \"mixtral\",\n  oops\n}", "bad.json"),
                      Contains("bad.json: line 3, column 3: invalid JSON"));
  }
  SECTION("empty file")
  {
    CHECK_THROWS_WITH(parse_model_spec("", "empty.json"), Contains("empty.json: line 1, column 1: invalid JSON"));
  }
  SECTION("llama4 without text_config")
  {
    CHECK_THROWS_WITH(parse_model_spec(R"({"model_type":"llama4"})", "l.json"),
                      "l.json: key 'text_config': missing (expected an object)");
  }
  SECTION("missing file")
  {
    CHECK_THROWS_WITH(load_model_spec("/nonexistent/config.json"), "/nonexistent/config.json: cannot open file");
  }
}

TEST_CASE("A JSON number beyond double range is bad input, not a crash (found by fuzzing)")
{
  CHECK_THROWS_AS(parse_model_spec("{\"hidden_size\": 10E944}", "big.json"), InputError);
  CHECK_THROWS_WITH(parse_model_spec("{\"hidden_size\": 10E944}", "big.json"),
                    Catch::Contains("big.json: invalid JSON (number overflow parsing '10E944')"));
}
