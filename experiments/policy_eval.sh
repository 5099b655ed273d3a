#!/usr/bin/env bash
# The policy targets of docs/policies.md, per trace, cluster size and seed: every row's inter-node bytes, load and
# TPOT against linear + round_robin, and its share of the in-sample oracle's reduction (moesim compare --oracle).
# Traces: the bundled ESFT traces (DeepSeek-V2-Lite) at 2, 4 and 8 nodes x 8 H100; synthetic traces with the
# generator's published-statistics presets (DeepSeek-V3 at EP32, Qwen3-235B at EP32) and a gpt-oss-20b-shaped trace
# with many sparse labels and a request-level signal, and a decode-only one shaped like the public gpt-oss routing
# (trace synth; the bundled gpt-oss sample is too small to judge).
# Usage: bash experiments/policy_eval.sh [BUILD_DIR] [OUT_DIR]   (a few minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
BLD=${1:-build}
OUT=${2:-results/policy_eval}
mkdir -p "$OUT"
M=$BLD/moesim
ROWS=linear:round_robin:0,eplb:round_robin:0,activation:signature:0,joint:locality:0
ROWS=$ROWS,eplb:round_robin:1,activation:signature:1,joint:locality:1
run() { # name platform model trace batch seed
  echo "## $1, seed $6"
  "$M" compare --platform "$2" --model "$3" --trace "$4" --batch-per-gpu "$5" --seed "$6" --steps 8 -j 2 --oracle \
    --rows "$ROWS" -o "$OUT/$1-seed$6.h5" 2>/dev/null | grep -v '^of oracle\|^results:'
  echo
}
V2=data/models/DeepSeek-V2-Lite/config.json
ESFT=$BLD/data/esft-deepseek-v2-lite.h5
for seed in 1 2 3; do
  for n in 2 4 8; do run "esft-${n}n" "platforms/h100-calibrated-${n}n.xml" $V2 "$ESFT" 32 $seed; done
done
GO=data/models/gpt-oss-20b/config.json
[ -f "$OUT/gpt-oss.h5" ] || "$M" trace synth --model $GO --requests 600 --labels $(seq -f "l%g" 1 60) --overlap 0.8 \
  --correlation 0.9 --skew 0.8 --prompt 32:96 --decode 32:96 --seed 5 -o "$OUT/gpt-oss.h5" 2>/dev/null
# Shaped like the public gpt-oss-20b decode routing (GPT-OSS-MoE-ExpertFingerprinting: decode only, about 700
# requests of a few hundred tokens, about 5 requests per dataset label): the in-sample oracle finds about -25%.
[ -f "$OUT/gpt-oss-decode.h5" ] || "$M" trace synth --model $GO --requests 700 --labels $(seq -f "d%g" 1 140) \
  --overlap 0.5 --correlation 0.9 --skew 1.0 --prompt 0 --decode 150:450 --seed 7 -o "$OUT/gpt-oss-decode.h5" 2>/dev/null
V3=data/models/DeepSeek-V3/config.json
[ -f "$OUT/v3.h5" ] || "$M" trace synth --model $V3 --requests 2048 --prompt 32:64 --decode 32:64 -o "$OUT/v3.h5" 2>/dev/null
Q3=data/models/Qwen3-235B-A22B/config.json
[ -f "$OUT/qwen3.h5" ] || "$M" trace synth --model $Q3 --requests 2048 --prompt 32:64 --decode 32:64 -o "$OUT/qwen3.h5" \
  2>/dev/null
for seed in 1 2 3; do
  run gpt-oss-4n platforms/h100-calibrated-4n.xml $GO "$OUT/gpt-oss.h5" 4 $seed
  run gpt-oss-decode-4n platforms/h100-calibrated-4n.xml $GO "$OUT/gpt-oss-decode.h5" 8 $seed
  run deepseek-v3-4n platforms/h100-calibrated-4n.xml $V3 "$OUT/v3.h5" 16 $seed
  run qwen3-4n platforms/h100-calibrated-4n.xml $Q3 "$OUT/qwen3.h5" 16 $seed
done
