#include "core/model/model_spec.hpp"

#include "core/io/errors.hpp"
#include "core/io/json_util.hpp"

#include <algorithm>
#include <filesystem>
#include <optional>

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
  return {"deepseek_v2", "deepseek_v3", "deepseek_v32",      "kimi_k2",     "glm4_moe", "glm_moe_dsa",
          "qwen2_moe",   "qwen3_moe",   "qwen3_vl_moe_text", "llama4",      "llama4_text", "gpt_oss",
          "mixtral",     "minimax_m2"};
}

namespace {

struct Dtype {
  std::string name;
  double bytes;
};

Dtype torch_dtype(const JsonView& cfg)
{
  // transformers writes "torch_dtype"; versions from 4.56 on write "dtype".
  const char* key = cfg.has("torch_dtype") && !cfg.is_null("torch_dtype") ? "torch_dtype" : "dtype";
  const std::string t = cfg.has(key) && !cfg.is_null(key) ? cfg.get_string(key) : std::string("bfloat16");
  if (t == "bfloat16")
    return {"bf16", 2};
  if (t == "float16")
    return {"fp16", 2};
  if (t == "float32")
    return {"fp32", 4};
  cfg.fail(key, "unsupported dtype '" + t + "' (expected bfloat16, float16 or float32)");
}

/// A weight format: its name and bytes per parameter, scales included.
struct WeightFormat {
  std::string name;
  double bytes = 2;
};

/// NVFP4: 4-bit elements, one FP8 scale per 16 (and a negligible FP32 scale per tensor).
WeightFormat nvfp4() { return {"nvfp4", (4.0 + 8.0 / 16.0) / 8.0}; }

/// Whether an exclusion list (ModelOpt exclude_modules, compressed-tensors ignore, modules_to_not_convert) keeps
/// the attention blocks unquantised.
bool excludes_attention(const JsonView& q, const char* key)
{
  if (!q.has(key) || q.is_null(key))
    return false;
  const auto& list = q.node()[key];
  if (!list.is_array())
    q.fail(key, "expected a list of module names");
  for (const auto& v : list)
    if (v.is_string() && (v.get<std::string>().find("self_attn") != std::string::npos ||
                          v.get<std::string>().find("attention") != std::string::npos))
      return true;
  return false;
}

/// ModelOpt's quant_algo (hf_quant_config.json "quantization", or quantization_config with quant_method modelopt).
void apply_modelopt(ModelSpec& m, const JsonView& q, const Dtype& base)
{
  const std::string algo = q.get_string("quant_algo");
  WeightFormat f;
  if (algo == "FP8" || algo == "FP8_BLOCK" || algo == "FP8_PB_WO")
    f = {"fp8", 1.0};
  else if (algo == "NVFP4" || algo == "NVFP4_AWQ" || algo == "W4A8_NVFP4_FP8")
    f = nvfp4();
  else if (algo == "MXFP4" || algo == "W4A8_MXFP4_FP8")
    f = {"mxfp4", (4.0 + 8.0 / 32.0) / 8.0};
  else
    q.fail("quant_algo", "unsupported ModelOpt quantization '" + algo + "' (expected FP8, FP8_BLOCK, NVFP4 or MXFP4)");
  m.expert_param_dtype = f.name;
  m.expert_param_bytes = f.bytes;
  // hf_quant_config.json lists exclude_modules; ModelOpt's quantization_config in config.json lists ignore.
  const bool attention_kept = excludes_attention(q, "exclude_modules") || excludes_attention(q, "ignore");
  m.param_dtype = attention_kept ? base.name : f.name;
  m.param_bytes = attention_kept ? base.bytes : f.bytes;
}

/// compressed-tensors (llm-compressor): the weights of the first config group.
void apply_compressed_tensors(ModelSpec& m, const JsonView& q, const Dtype& base)
{
  const JsonView groups = q.child("config_groups");
  if (groups.node().empty())
    q.fail("config_groups", "expected at least one quantisation group");
  const std::string first = groups.node().begin().key();
  const JsonView w = groups.child(first).child("weights");
  const int bits = w.get_int("num_bits", 1);
  const std::string type = w.has("type") ? w.get_string("type") : std::string("int");
  const std::string format = q.has("format") && !q.is_null("format") ? q.get_string("format") : std::string();
  WeightFormat f;
  if (format.find("nvfp4") != std::string::npos) {
    f = nvfp4();
  } else if (bits == 8 && type == "float") {
    f = {"fp8", 1.0};
  } else if ((bits == 4 || bits == 8) && (type == "int" || type == "float")) {
    // One BF16 scale per group (per channel or tensor: negligible).
    const int group = w.has("group_size") && !w.is_null("group_size") ? w.get_int("group_size", 1) : 0;
    f = {(type == "int" ? "int" : "fp") + std::to_string(bits), bits / 8.0 + (group > 0 ? 2.0 / group : 0.0)};
  } else {
    w.fail("num_bits", "unsupported compressed-tensors weights: " + std::to_string(bits) + "-bit " + type +
                           " (expected 4- or 8-bit int or float, or nvfp4)");
  }
  m.expert_param_dtype = f.name;
  m.expert_param_bytes = f.bytes;
  const bool attention_kept = excludes_attention(q, "ignore");
  m.param_dtype = attention_kept ? base.name : f.name;
  m.param_bytes = attention_kept ? base.bytes : f.bytes;
}

void set_dtypes(ModelSpec& m, const JsonView& cfg, const JsonView& top, const JsonView& hf_quant)
{
  Dtype base = torch_dtype(top.has("torch_dtype") || top.has("dtype") ? top : cfg);
  m.param_dtype = base.name;
  m.param_bytes = base.bytes;
  m.expert_param_dtype = base.name;
  m.expert_param_bytes = base.bytes;
  if (hf_quant.valid()) {
    // ModelOpt checkpoints (nvidia/*-FP4, *-FP8) describe their weights in hf_quant_config.json.
    apply_modelopt(m, hf_quant.child("quantization"), base);
    return;
  }
  const JsonView q = top.has("quantization_config") ? top.child("quantization_config") : cfg.child_or_null("quantization_config");
  if (!q.valid())
    return;
  const std::string method = q.get_string("quant_method");
  if (method == "fp8") {
    // DeepSeek-V3-style block FP8: one FP32 scale per weight_block_size block (128 x 128: 0.02% more).
    double scale = 0;
    if (q.has("weight_block_size") && !q.is_null("weight_block_size")) {
      const auto b = q.get_int_list("weight_block_size");
      double block = 1;
      for (int v : b)
        block *= std::max(v, 1);
      scale = 4.0 / block;
    }
    m.param_dtype = m.expert_param_dtype = "fp8";
    m.param_bytes = m.expert_param_bytes = 1.0 + scale;
  } else if (method == "mxfp4") {
    // MXFP4: 4-bit elements plus one 8-bit scale per 32 elements; attention stays in the base dtype.
    m.expert_param_dtype = "mxfp4";
    m.expert_param_bytes = (4.0 + 8.0 / 32.0) / 8.0;
  } else if (method == "modelopt") {
    apply_modelopt(m, q, base);
  } else if (method == "compressed-tensors") {
    apply_compressed_tensors(m, q, base);
  } else if (method == "awq" || method == "gptq") {
    const char* bits_key = q.has("bits") ? "bits" : "w_bit";
    const char* group_key = q.has("group_size") ? "group_size" : "q_group_size";
    const int bits = q.get_int(bits_key, 1);
    if (bits != 4 && bits != 8)
      q.fail(bits_key, "unsupported " + method + " width " + std::to_string(bits) + " (expected 4 or 8)");
    const int group = q.has(group_key) && !q.is_null(group_key) ? q.get_int(group_key, -1) : 128;
    // Per group: a BF16 scale and a packed zero point.
    m.expert_param_dtype = m.param_dtype = "int" + std::to_string(bits);
    m.expert_param_bytes = m.param_bytes = bits / 8.0 + (group > 0 ? (2.0 + bits / 8.0) / group : 0.0);
  } else {
    q.fail("quant_method", "unsupported quantization '" + method +
                               "' (expected fp8, mxfp4, modelopt, compressed-tensors, awq or gptq)");
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

/// GLM-4.5/4.6/4.7 (glm4_moe): DeepSeek-V3's MoE layout (first_k_dense_replace, shared experts, grouped routing
/// keys) with grouped-query attention.
void read_glm4_moe(ModelSpec& m, const JsonView& cfg)
{
  m.num_routed_experts = cfg.get_int("n_routed_experts", 1);
  m.top_k = cfg.get_int("num_experts_per_tok", 1);
  m.num_shared_experts = cfg.has("n_shared_experts") && !cfg.is_null("n_shared_experts") ? cfg.get_int("n_shared_experts", 0) : 0;
  const int first_dense = cfg.has("first_k_dense_replace") ? cfg.get_int("first_k_dense_replace", 0) : 0;
  m.n_group = cfg.has("n_group") && !cfg.is_null("n_group") ? cfg.get_int("n_group", 1) : 1;
  m.topk_group = cfg.has("topk_group") && !cfg.is_null("topk_group") ? cfg.get_int("topk_group", 1) : 1;
  m.expert_ffn_size = cfg.get_int("moe_intermediate_size", 1);
  m.shared_expert_ffn_size = m.expert_ffn_size;
  m.dense_ffn_size = cfg.get_int("intermediate_size", 1);
  for (int l = first_dense; l < m.num_layers; ++l)
    m.moe_layers.push_back(l);
  read_gqa(m, cfg);
  if (m.n_group < 1 || m.num_routed_experts % m.n_group != 0)
    cfg.fail("n_group", "must divide n_routed_experts (" + std::to_string(m.num_routed_experts) + ")");
  if (m.topk_group < 1 || m.topk_group > m.n_group)
    cfg.fail("topk_group", "must be between 1 and n_group (" + std::to_string(m.n_group) + ")");
}

void read_qwen3(ModelSpec& m, const JsonView& cfg)
{
  // qwen2_moe (Qwen1.5-MoE, Qwen2-57B-A14B) adds one gated shared expert of its own size.
  if (cfg.has("shared_expert_intermediate_size") && !cfg.is_null("shared_expert_intermediate_size") &&
      cfg.get_int("shared_expert_intermediate_size", 0) > 0) {
    m.num_shared_experts = 1;
    m.shared_expert_ffn_size = cfg.get_int("shared_expert_intermediate_size", 1);
  }
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


/// The architecture family a config belongs to: by model_type, else by its architectures list (models that reuse
/// DeepSeek-V3's code under their own model_type, e.g. Kimi-K2). "" when none.
std::string family_of(const JsonView& cfg, const std::string& model_type)
{
  if (model_type == "deepseek_v2" || model_type == "deepseek_v3" || model_type == "deepseek_v32" ||
      model_type == "kimi_k2" || model_type == "glm_moe_dsa")
    return "deepseek";
  if (model_type == "glm4_moe")
    return "glm4_moe";
  if (model_type == "qwen2_moe" || model_type == "qwen3_moe" || model_type == "qwen3_vl_moe_text")
    return "qwen";
  if (model_type == "llama4_text" || model_type == "gpt_oss")
    return model_type;
  // MiniMax-M2: Mixtral's keys (num_local_experts, intermediate_size per expert), full attention in every layer.
  if (model_type == "mixtral" || model_type == "minimax_m2")
    return "mixtral";
  if (cfg.has("architectures") && cfg.node()["architectures"].is_array())
    for (const auto& a : cfg.node()["architectures"]) {
      const std::string arch = a.is_string() ? a.get<std::string>() : "";
      if (arch == "DeepseekV2ForCausalLM" || arch == "DeepseekV3ForCausalLM" || arch == "DeepseekV32ForCausalLM")
        return "deepseek";
      if (arch == "Glm4MoeForCausalLM")
        return "glm4_moe";
      if (arch == "Qwen3MoeForCausalLM" || arch == "Qwen2MoeForCausalLM")
        return "qwen";
      if (arch == "MixtralForCausalLM")
        return "mixtral";
    }
  return "";
}

} // namespace

ModelSpec parse_model_spec(const std::string& json_text, const std::string& path, const std::string& hf_quant_text,
                           const std::string& hf_quant_path)
{
  JsonDocument doc = JsonDocument::parse(json_text, path);
  JsonView top = doc.root();
  JsonView cfg = top;
  std::string model_type = top.get_string("model_type");
  // Multimodal configs (Llama 4, Kimi-K2.5, Qwen3.5) keep the language model under text_config.
  if (model_type == "llama4")
    top.child("text_config"); // required: names the key when it is missing
  if (const JsonView text = top.child_or_null("text_config"); text.valid()) {
    cfg = text;
    model_type = cfg.has("model_type") ? cfg.get_string("model_type")
                                       : (model_type == "llama4" ? std::string("llama4_text") : model_type);
  }
  // Hybrid linear-attention models: their Gated DeltaNet layers keep a fixed state instead of a KV cache, which
  // moesim's attention model does not describe.
  // (gpt-oss's layer_types list sliding and full attention: both keep a KV cache.)
  bool linear_layers = cfg.has("full_attention_interval") && !cfg.is_null("full_attention_interval");
  const char* hybrid_key = "full_attention_interval";
  if (cfg.has("layer_types") && cfg.node()["layer_types"].is_array())
    for (const auto& t : cfg.node()["layer_types"])
      if (t.is_string() && t.get<std::string>().find("linear") != std::string::npos) {
        linear_layers = true;
        hybrid_key = "layer_types";
      }
  if (linear_layers)
    cfg.fail(hybrid_key, "hybrid linear-attention layers (" + model_type +
                             ") cannot be modelled: moesim's attention model has full-attention layers with a KV "
                             "cache only");

  const std::string family = family_of(cfg, model_type);
  if (family.empty()) {
    std::string list;
    for (const auto& t : supported_model_types())
      list += (list.empty() ? "" : ", ") + t;
    (cfg.has("model_type") ? cfg : top)
        .fail("model_type", "unsupported architecture '" + model_type + "' (supported: " + list +
                                ", and DeepSeek-V3-shaped models by their architectures)");
  }

  ModelSpec m;
  m.model_type = model_type;
  m.source_file = path;
  const std::filesystem::path p(path);
  m.name = p.has_parent_path() && !p.parent_path().filename().empty() ? p.parent_path().filename().string() : model_type;
  m.num_layers = cfg.get_int("num_hidden_layers", 1);
  m.hidden_size = cfg.get_int("hidden_size", 1);
  m.vocab_size = cfg.has("vocab_size") ? cfg.get_int("vocab_size", 1) : 0;

  if (family == "deepseek")
    read_deepseek(m, cfg);
  else if (family == "glm4_moe")
    read_glm4_moe(m, cfg);
  else if (family == "qwen")
    read_qwen3(m, cfg);
  else if (family == "llama4_text")
    read_llama4(m, cfg);
  else if (family == "gpt_oss")
    read_mixtral_like(m, cfg, cfg.has("experts_per_token") ? "experts_per_token" : "num_experts_per_tok");
  else
    read_mixtral_like(m, cfg, "num_experts_per_tok");
  std::optional<JsonDocument> quant_doc;
  JsonView hf_quant;
  if (!hf_quant_text.empty()) {
    quant_doc.emplace(JsonDocument::parse(hf_quant_text, hf_quant_path));
    hf_quant = quant_doc->root();
  }
  set_dtypes(m, cfg, top, hf_quant);

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

ModelSpec load_model_spec(const std::string& path)
{
  const std::string text = read_text_file(path);
  // ModelOpt checkpoints put their quantisation beside config.json.
  const std::filesystem::path quant = std::filesystem::path(path).parent_path() / "hf_quant_config.json";
  if (std::filesystem::is_regular_file(quant))
    return parse_model_spec(text, path, read_text_file(quant.string()), quant.string());
  return parse_model_spec(text, path);
}

int64_t ModelSpec::total_params() const
{
  int64_t n = 0;
  for (int l = 0; l < num_layers; ++l) {
    n += attention_params();
    if (is_moe_layer(l))
      n += hidden_size * num_routed_experts + num_routed_experts * expert_params() +
           3 * hidden_size * shared_expert_ffn_size * num_shared_experts;
    else
      n += 3 * hidden_size * dense_ffn_size;
  }
  return n + 2 * hidden_size * vocab_size;
}

int64_t ModelSpec::active_params_per_token() const
{
  return total_params() - static_cast<int64_t>(num_moe_layers()) * (num_routed_experts - top_k) * expert_params();
}

} // namespace moesim
