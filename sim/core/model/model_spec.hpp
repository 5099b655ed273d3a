#pragma once
// The model spec: what moesim needs to know about an MoE transformer, read from a Hugging Face config.json.
#include <cstdint>
#include <string>
#include <vector>

namespace moesim {

enum class AttentionKind { GQA, MLA };

struct ModelSpec {
  std::string name;         ///< e.g. "DeepSeek-V3" (the config's folder name) or model_type
  std::string model_type;   ///< the config's model_type (text model for multimodal configs)
  std::string source_file;  ///< config.json path it was read from
  int num_layers = 0;
  std::vector<int> moe_layers; ///< ids of the MoE layers, ascending
  int num_routed_experts = 0;
  int num_shared_experts = 0; ///< always-active experts, replicated on every GPU
  int top_k = 0;
  int n_group = 1;    ///< expert groups for group-limited routing (DeepSeek-V3); 1 = none
  int topk_group = 1; ///< groups a token may use
  int64_t hidden_size = 0;
  int64_t expert_ffn_size = 0;        ///< routed expert intermediate size
  int64_t shared_expert_ffn_size = 0; ///< intermediate size of one shared expert
  int64_t dense_ffn_size = 0;         ///< intermediate size of the FFN in dense layers
  int64_t vocab_size = 0;
  AttentionKind attention = AttentionKind::GQA;
  int num_attention_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  // MLA (DeepSeek-V2/V3); zero where the model has plain attention.
  int q_lora_rank = 0; ///< 0 = no query compression
  int kv_lora_rank = 0;
  int qk_nope_head_dim = 0;
  int qk_rope_head_dim = 0;
  int v_head_dim = 0;
  std::string param_dtype;          ///< attention/dense weights, e.g. "bf16", "fp8"
  double param_bytes = 2;           ///< bytes per attention/dense parameter
  std::string expert_param_dtype;   ///< routed/shared expert weights
  double expert_param_bytes = 2;    ///< bytes per expert parameter (MXFP4: 4.25 bits)

  bool is_moe_layer(int layer) const;
  int num_moe_layers() const { return static_cast<int>(moe_layers.size()); }
  /// Index of a layer among the MoE layers, or -1.
  int moe_index(int layer) const;
  /// Parameters of one routed expert (gate, up, down projections).
  int64_t expert_params() const { return 3 * hidden_size * expert_ffn_size; }
  /// Parameters of the attention block of one layer.
  int64_t attention_params() const;
  /// Bytes of KV cache per token per layer (MLA: compressed latent + rope key).
  double kv_bytes_per_token() const;
  /// Parameters of the model: attention, routers, routed, shared and dense FFNs, embeddings and LM head.
  int64_t total_params() const;
  /// Of them, those one token uses: the routed experts it is not sent to left out.
  int64_t active_params_per_token() const;
};

/// Reads a Hugging Face config.json (and hf_quant_config.json beside it, as ModelOpt checkpoints have). Throws
/// InputError naming the file and key when a required key is missing, has the wrong type or an impossible value,
/// or the architecture or quantisation is not supported.
ModelSpec load_model_spec(const std::string& path);
/// Same, from JSON text already read (path is used in messages and for the model name; hf_quant_text, when not
/// empty, is the hf_quant_config.json at hf_quant_path).
ModelSpec parse_model_spec(const std::string& json_text, const std::string& path, const std::string& hf_quant_text = "",
                           const std::string& hf_quant_path = "");

/// Model types load_model_spec understands.
std::vector<std::string> supported_model_types();

} // namespace moesim
