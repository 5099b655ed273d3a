#!/usr/bin/env bash
# Hugging Face configurations nobody here wrote (tests/data/models, Apache-2.0): every one is described or refused
# with exit 2 naming the file and key; the sizes moesim derives match the published ones.
source "$(dirname "$0")/common.sh"
DATA="$SRC/tests/data/models"
for d in "$DATA"/*/; do
  name=$(basename "$d")
  out=$("$MOESIM" model "$d/config.json" 2>&1)
  rc=$?
  case $rc in
    0) pass "$name described" ;;
    2) [[ "$out" == *"moesim: error: $d"*"config.json: "* ]] && pass "$name refused: ${out: -90}" || fail "$name: $out" ;;
    *) fail "$name: exit $rc: $out" ;;
  esac
done
# describes MODEL TEXT: `moesim model` of MODEL prints TEXT.
describes() {
  local out
  out=$("$MOESIM" model "$DATA/$1/config.json" 2>&1)
  [[ "$out" == *"$2"* ]] && pass "$1: $2" || fail "$1: expected '$2' in: $out"
}
# Published sizes: Kimi-K2 1.04T/32B, GLM-4.7 355B/32B (+ its MTP layer), MiniMax-M2 230B/10B, DeepSeek-V3.2 671B/37B.
describes moonshotai--Kimi-K2-Instruct "1026.41 B in all, 32.86 B active per token (top-8 of 384 routed experts)"
describes moonshotai--Kimi-K2-Instruct "attention: MLA"
describes moonshotai--Kimi-K2.5 "(kimi_k2,"
describes zai-org--GLM-4.7-FP8 "352.80 B in all, 33.63 B active per token"
describes zai-org--GLM-4.7-FP8 "attention: GQA, heads 96, KV heads 8, head dim 128"
describes MiniMaxAI--MiniMax-M2.5 "228.69 B in all, 11.03 B active per token"
describes deepseek-ai--DeepSeek-V3.2 "671.03 B in all, 37.55 B active per token"
# Weights: ModelOpt NVFP4 (hf_quant_config.json: 4 bits + an FP8 scale per 16), block FP8, compressed-tensors.
describes nvidia--DeepSeek-V3.1-NVFP4 "weights: bf16 (experts nvfp4, 0.5625 bytes per parameter)"
describes Qwen--Qwen3-235B-A22B-FP8 "weights: fp8 (experts fp8, 1.00024 bytes per parameter)"
describes zai-org--GLM-5-FP8 "experts fp8"
describes Qwen--Qwen3-Coder-480B-A35B-Instruct "shared experts: 0"
expect_fail 2 "key 'text_config.layer_types': hybrid linear-attention layers (qwen3_5_moe_text) cannot be modelled" \
  "$MOESIM" model "$DATA/Qwen--Qwen3.5-397B-A17B/config.json"
expect_fail 2 "key 'full_attention_interval': hybrid linear-attention layers" \
  "$MOESIM" model "$DATA/Qwen--Qwen3-Next-80B-A3B-Thinking/config.json"
expect_fail 2 "key 'model_type': unsupported architecture 'llama'" "$MOESIM" model "$DATA/meta-llama--Meta-Llama-3.1-8B/config.json"
# compressed-tensors (llm-compressor), as moonshotai/Kimi-K2.5 ships it: int4 experts in groups of 32 (4 bits and a
# BF16 scale per 32), attention, shared experts and dense MLPs kept in BF16 by its ignore list.
$PY - "$DATA/moonshotai--Kimi-K2-Instruct/config.json" "$TMP/ct.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["quantization_config"] = {
    "config_groups": {"group_0": {"targets": ["Linear"], "weights": {"group_size": 32, "num_bits": 4,
                                                                       "strategy": "group", "type": "int"}}},
    "format": "pack-quantized", "quant_method": "compressed-tensors",
    "ignore": ["lm_head", "re:.*self_attn.*", "re:.*shared_experts.*", "re:.*mlp\\.(gate|up|gate_up|down)_proj.*"]}
json.dump(d, open(sys.argv[2], "w"))
PY
out=$("$MOESIM" model "$TMP/ct.json" 2>&1)
[[ "$out" == *"weights: bf16 (experts int4, 0.5625 bytes per parameter)"* ]] && pass "compressed-tensors int4" || fail "compressed-tensors: $out"
# An unknown quantisation is refused by name.
$PY - "$DATA/moonshotai--Kimi-K2-Instruct/config.json" "$TMP/bnb.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["quantization_config"] = {"quant_method": "bitsandbytes"}
json.dump(d, open(sys.argv[2], "w"))
PY
expect_fail 2 "key 'quantization_config.quant_method': unsupported quantization 'bitsandbytes'" "$MOESIM" model "$TMP/bnb.json"
finish
