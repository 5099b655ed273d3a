#include "commands.hpp"
#include "core/model/model_spec.hpp"

#include <cstdio>
#include <iostream>
#include <sstream>

namespace moesim::cli {

std::string describe_model(const ModelSpec& m)
{
  std::ostringstream os;
  os << m.name << " (" << m.model_type << ", " << m.source_file << ")\n"
     << "  layers: " << m.num_layers << ", MoE layers: " << m.num_moe_layers() << " (first " << m.moe_layers.front()
     << ", last " << m.moe_layers.back() << ")\n"
     << "  routed experts: " << m.num_routed_experts << ", top-" << m.top_k << ", shared experts: " << m.num_shared_experts;
  if (m.n_group > 1)
    os << ", group-limited routing: " << m.n_group << " groups, top-" << m.topk_group << " groups";
  os << "\n  hidden: " << m.hidden_size << ", expert FFN: " << m.expert_ffn_size << ", dense FFN: " << m.dense_ffn_size
     << "\n  attention: " << (m.attention == AttentionKind::MLA ? "MLA" : "GQA") << ", heads " << m.num_attention_heads
     << ", KV heads " << m.num_kv_heads << ", head dim " << m.head_dim;
  if (m.attention == AttentionKind::MLA)
    os << ", q_lora " << m.q_lora_rank << ", kv_lora " << m.kv_lora_rank << ", rope " << m.qk_rope_head_dim << ", v "
       << m.v_head_dim;
  os << "\n  weights: " << m.param_dtype << " (experts " << m.expert_param_dtype << ", "
     << m.expert_param_bytes << " bytes per parameter)"
     << ", expert params " << m.expert_params() << ", attention params/layer " << m.attention_params() << "\n";
  char buf[160];
  std::snprintf(buf, sizeof buf, "  parameters: %.2f B in all, %.2f B active per token (top-%d of %d routed experts)\n",
                m.total_params() / 1e9, m.active_params_per_token() / 1e9, m.top_k, m.num_routed_experts);
  os << buf;
  return os.str();
}

void add_model(CLI::App& app, Action& action)
{
  auto* cmd = app.add_subcommand("model", "Read a Hugging Face config.json and print the model spec moesim derives");
  auto file = std::make_shared<std::string>();
  cmd->add_option("config", *file, "config.json")->required();
  cmd->callback([&action, file] {
    action = [file] {
      std::cout << describe_model(load_model_spec(*file));
      return 0;
    };
  });
}

} // namespace moesim::cli
