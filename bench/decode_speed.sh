#!/usr/bin/env bash
# Wall time and peak memory per simulated decode step (docs/performance.md):
#   - DeepSeek-V2-Lite, 16 GPUs (2 x 8 H100), bundled ESFT traces, 32 requests per GPU
#   - DeepSeek-V3, 64 GPUs (8 x 8 H100), synthetic uniform routing, 64 requests per GPU
# Usage: bash bench/decode_speed.sh [BUILD_DIR]   (build first: bash .ci/bootstrap.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
BLD=${1:-build}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$BLD/moesim_uniform_trace" data/models/DeepSeek-V3/config.json "$TMP/v3-uniform.h5" 512 64 1

bench() { # name steps args...
  local name=$1 steps=$2
  shift 2
  /usr/bin/time -f "%e %M" -o "$TMP/time" "$BLD/moesim" run --steps "$steps" "$@" > "$TMP/out" 2>/dev/null
  read -r wall rss < "$TMP/time"
  local tpot
  tpot=$(grep -m1 '^TPOT' "$TMP/out" | awk '{print $3, $4}')
  printf "| %s | %d | %.2f | %.3f | %.0f | %s |\n" "$name" "$steps" "$wall" "$(echo "$wall / $steps" | bc -l)" \
    "$(echo "$rss / 1024" | bc -l)" "$tpot"
}
echo "| case | steps | wall s | wall s per step | peak RSS MiB | simulated TPOT |"
echo "|---|---|---|---|---|---|"
bench "DeepSeek-V2-Lite, 16 GPUs, ESFT, batch 32/GPU" 16 --platform platforms/h100-2n.xml
bench "DeepSeek-V2-Lite, 16 GPUs, ESFT, batch 32/GPU, 2 micro-batches" 16 --platform platforms/h100-2n.xml --micro-batches 2
bench "DeepSeek-V3, 64 GPUs, uniform routing, batch 64/GPU" 1 --platform platforms/h100-8n.xml \
  --model data/models/DeepSeek-V3/config.json --trace "$TMP/v3-uniform.h5" --batch-per-gpu 64
