#include "core/model/model_spec.hpp"

#include "core/io/errors.hpp"
#include "core/io/json_util.hpp"

#include <algorithm>
#include <filesystem>

namespace moesim {

bool ModelSpec::is_moe_layer(int layer) const { return moe_index(layer) >= 0; }

int ModelSpec::moe_index(int layer) const
{
  auto it = std::lower_bound(moe_layers.begin(), moe_layers.end(), layer);
  return (it != moe_layers.end() && *it == layer) ? static_cast<int>(it - moe_layers.begin()) : -1;
}

int64_t ModelSpec::attention_params() const
{
  const int64_t h = hidden_size;
  if (attention == AttentionKind::MLA) {
    const int64_t qk = qk_nope_head_dim + qk_rope_head_dim;
    const int64_t q = q_lora_rank > 0 ? h * q_lora_rank + int64_t(q_lora_rank) * num_attention_heads * qk
                                      : h * num_attention_heads * qk;
    const int64_t kv_a = h * (kv_lora_rank + qk_rope_head_dim);
    const int64_t kv_b = int64_t(kv_lora_rank) * num_attention_heads * (qk_nope_head_dim + v_head_dim);
    const int64_t o = int64_t(num_attention_heads) * v_head_dim * h;
    return q + kv_a + kv_b + o;
  }
  const int64_t q = h * num_attention_heads * head_dim;
  const int64_t kv = 2 * h * num_kv_heads * head_dim;
  const int64_t o = int64_t(num_attention_heads) * head_dim * h;
  return q + kv + o;
}

double ModelSpec::kv_bytes_per_token() const
{
  // The KV cache is kept in the activation dtype (BF16) in both cases.
  if (attention == AttentionKind::MLA)
    return 2.0 * (kv_lora_rank + qk_rope_head_dim);
  return 2.0 * 2.0 * num_kv_heads * head_dim;
}

std::vector<std::string> supported_model_types()
{
  return {"deepseek_v2", "deepseek_v3", "qwen3_moe", "llama4", "llama4_text", "gpt_oss", "mixtral"};
}

namespace {

struct Dtype {
  std::string name;
  double bytes;
};

Dtype torch_dtype(const JsonView& cfg)
{
  const std::string t = cfg.has("torch_dtype") ? cfg.get_string("torch_dtype") : std::string("bfloat16");
  if (t == "bfloat16")
    return {"bf16", 2};
  if (t == "float16")
    return {"fp16", 2};
  if (t == "float32")
    return {"fp32", 4};
  cfg.fail("torch_dtype", "unsupported dtype '" + t + "' (expected bfloat16, float16 or float32)");
}

void set_dtypes(ModelSpec& m, const JsonView& cfg, const JsonView& top)
{
  Dtype base = torch_dtype(top.has("torch_dtype") ? top : cfg);
  m.param_dtype = base.name;
  m.param_bytes = base.bytes;
  m.expert_param_dtype = base.name;
  m.expert_param_bytes = base.bytes;
  const JsonView* q = nullptr;
  JsonView qv = top.has("quantization_config") ? top.child("quantization_config") : cfg.child_or_null("quantization_config");
  if (qv.valid())
    q = &qv;
  if (q) {
    const std::string method = q->get_string("quant_method");
    if (method == "fp8") {
      m.param_dtype = m.expert_param_dtype = "fp8";
      m.param_bytes = m.expert_param_bytes = 1;
    } else if (method == "mxfp4") {
      // MXFP4: 4-bit elements plus one 8-bit scale per 32 elements; attention stays in the base dtype.
      m.expert_param_dtype = "mxfp4";
      m.expert_param_bytes = (4.0 + 8.0 / 32.0) / 8.0;
    } else {
      q->fail("quant_method", "unsupported quantization '" + method + "' (expected fp8 or mxfp4)");
    }
  }
}

void read_gqa(ModelSpec& m, const JsonView& cfg)
{
  m.attention = AttentionKind::GQA;
  m.num_attention_heads = cfg.get_int("num_attention_heads", 1);
  m.num_kv_heads = cfg.has("num_key_value_heads") ? cfg.get_int("num_key_value_heads", 1) : m.num_attention_heads;
  if (cfg.has("head_dim") && !cfg.is_null("head_dim"))
    m.head_dim = cfg.get_int("head_dim", 1);
  else {
    if (m.hidden_size % m.num_attention_heads != 0)
      cfg.fail("num_attention_heads", "does not divide hidden_size and no head_dim is given");
    m.head_dim = static_cast<int>(m.hidden_size / m.num_attention_heads);
  }
}

void read_deepseek(ModelSpec& m, const JsonView& cfg)
{
  m.num_routed_experts = cfg.get_int("n_routed_experts", 1);
  m.top_k = cfg.get_int("num_experts_per_tok", 1);
  m.num_shared_experts = cfg.has("n_shared_experts") && !cfg.is_null("n_shared_experts") ? cfg.get_int("n_shared_experts", 0) : 0;
  const int first_dense = cfg.get_int("first_k_dense_replace", 0);
  const int freq = cfg.get_int("moe_layer_freq", 1);
  m.n_group = cfg.has("n_group") && !cfg.is_null("n_group") ? cfg.get_int("n_group", 1) : 1;
  m.topk_group = cfg.has("topk_group") && !cfg.is_null("topk_group") ? cfg.get_int("topk_group", 1) : 1;
  m.expert_ffn_size = cfg.get_int("moe_intermediate_size", 1);
  m.shared_expert_ffn_size = m.expert_ffn_size;
  m.dense_ffn_size = cfg.get_int("intermediate_size", 1);
  for (int l = 0; l < m.num_layers; ++l)
    if (l >= first_dense && l % freq == 0)
      m.moe_layers.push_back(l);
  m.attention = AttentionKind::MLA;
  m.num_attention_heads = cfg.get_int("num_attention_heads", 1);
  m.num_kv_heads = cfg.has("num_key_value_heads") ? cfg.get_int("num_key_value_heads", 1) : m.num_attention_heads;
  m.q_lora_rank = cfg.is_null("q_lora_rank") ? 0 : cfg.get_int("q_lora_rank", 1);
  m.kv_lora_rank = cfg.get_int("kv_lora_rank", 1);
  m.qk_nope_head_dim = cfg.get_int("qk_nope_head_dim", 1);
  m.qk_rope_head_dim = cfg.get_int("qk_rope_head_dim", 1);
  m.v_head_dim = cfg.get_int("v_head_dim", 1);
  m.head_dim = m.qk_nope_head_dim + m.qk_rope_head_dim;
  if (m.n_group < 1 || m.num_routed_experts % m.n_group != 0)
    cfg.fail("n_group", "must divide n_routed_experts (" + std::to_string(m.num_routed_experts) + ")");
  if (m.topk_group < 1 || m.topk_group > m.n_group)
    cfg.fail("topk_group", "must be between 1 and n_group (" + std::to_string(m.n_group) + ")");
}

void read_qwen3(ModelSpec& m, const JsonView& cfg)
{
  m.num_routed_experts = cfg.get_int("num_experts", 1);
  m.top_k = cfg.get_int("num_experts_per_tok", 1);
  const int step = cfg.get_int("decoder_sparse_step", 1);
  std::vector<int> mlp_only = cfg.has("mlp_only_layers") ? cfg.get_int_list("mlp_only_layers") : std::vector<int>{};
  m.expert_ffn_size = cfg.get_int("moe_intermediate_size", 1);
  m.dense_ffn_size = cfg.get_int("intermediate_size", 1);
  // Same rule as transformers' Qwen3MoeDecoderLayer.
  for (int l = 0; l < m.num_layers; ++l)
    if (std::find(mlp_only.begin(), mlp_only.end(), l) == mlp_only.end() && (l + 1) % step == 0)
      m.moe_layers.push_back(l);
  read_gqa(m, cfg);
}

void read_llama4(ModelSpec& m, const JsonView& cfg)
{
  m.num_routed_experts = cfg.get_int("num_local_experts", 1);
  m.top_k = cfg.get_int("num_experts_per_tok", 1);
  m.num_shared_experts = 1; // Llama 4 MoE layers add one always-on shared expert of the same size
  m.expert_ffn_size = cfg.get_int("intermediate_size", 1);
  m.shared_expert_ffn_size = m.expert_ffn_size;
  m.dense_ffn_size = cfg.get_int("intermediate_size_mlp", 1);
  if (cfg.has("moe_layers") && !cfg.is_null("moe_layers")) {
    m.moe_layers = cfg.get_int_list("moe_layers");
    std::sort(m.moe_layers.begin(), m.moe_layers.end());
  } else {
    const int step = cfg.get_int("interleave_moe_layer_step", 1);
    // Same rule as transformers' Llama4TextConfig.
    for (int l = step - 1; l < m.num_layers; l += step)
      m.moe_layers.push_back(l);
  }
  read_gqa(m, cfg);
}

void read_mixtral_like(ModelSpec& m, const JsonView& cfg, const char* topk_key)
{
  m.num_routed_experts = cfg.get_int("num_local_experts", 1);
  m.top_k = cfg.get_int(topk_key, 1);
  m.expert_ffn_size = cfg.get_int("intermediate_size", 1);
  m.dense_ffn_size = 0;
  for (int l = 0; l < m.num_layers; ++l)
    m.moe_layers.push_back(l);
  read_gqa(m, cfg);
}

} // namespace

ModelSpec parse_model_spec(const std::string& json_text, const std::string& path)
{
  JsonDocument doc = JsonDocument::parse(json_text, path);
  JsonView top = doc.root();
  JsonView cfg = top;
  std::string model_type = top.get_string("model_type");
  if (model_type == "llama4") {
    cfg = top.child("text_config");
    model_type = cfg.has("model_type") ? cfg.get_string("model_type") : std::string("llama4_text");
  }

  const auto supported = supported_model_types();
  if (std::find(supported.begin(), supported.end(), model_type) == supported.end()) {
    std::string list;
    for (const auto& t : supported)
      list += (list.empty() ? "" : ", ") + t;
    top.fail("model_type", "unsupported architecture '" + model_type + "' (supported: " + list + ")");
  }

  ModelSpec m;
  m.model_type = model_type;
  m.source_file = path;
  const std::filesystem::path p(path);
  m.name = p.has_parent_path() && !p.parent_path().filename().empty() ? p.parent_path().filename().string() : model_type;
  m.num_layers = cfg.get_int("num_hidden_layers", 1);
  m.hidden_size = cfg.get_int("hidden_size", 1);
  m.vocab_size = cfg.has("vocab_size") ? cfg.get_int("vocab_size", 1) : 0;

  if (model_type == "deepseek_v2" || model_type == "deepseek_v3")
    read_deepseek(m, cfg);
  else if (model_type == "qwen3_moe")
    read_qwen3(m, cfg);
  else if (model_type == "llama4_text")
    read_llama4(m, cfg);
  else if (model_type == "gpt_oss")
    read_mixtral_like(m, cfg, cfg.has("experts_per_token") ? "experts_per_token" : "num_experts_per_tok");
  else
    read_mixtral_like(m, cfg, "num_experts_per_tok");
  set_dtypes(m, cfg, top);

  if (m.top_k > m.num_routed_experts)
    cfg.fail("num_experts_per_tok", "top-k " + std::to_string(m.top_k) + " exceeds the number of routed experts " +
                                        std::to_string(m.num_routed_experts));
  for (int l : m.moe_layers)
    if (l < 0 || l >= m.num_layers)
      cfg.fail("moe_layers", "layer " + std::to_string(l) + " outside 0.." + std::to_string(m.num_layers - 1));
  if (m.moe_layers.empty())
    cfg.fail("num_hidden_layers", "the configuration has no MoE layer");
  return m;
}

ModelSpec load_model_spec(const std::string& path) { return parse_model_spec(read_text_file(path), path); }

} // namespace moesim
