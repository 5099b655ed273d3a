#!/usr/bin/env bash
# How wall time and memory of one DeepSeek-V3 decode step grow with GPUs and with batch size (docs/performance.md):
# synthetic skewed routing (trace synth, deepseek-v3 preset), 64 requests per GPU, rail-optimised H100 platforms
# (8 GPUs per node), the fast all-to-all model; the exact one (SimGrid per-pair) where it runs in minutes.
# Usage: bash bench/scale.sh [BUILD_DIR] [MAX_GPUS] [OUT_CSV]   (build first: bash .ci/bootstrap.sh; MAX_GPUS 8192
# takes about 15 minutes and 5 GiB)
set -euo pipefail
cd "$(dirname "$0")/.."
BLD=${1:-build}
MAX=${2:-4096}
CSV=${3:-/dev/null}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
V3=data/models/DeepSeek-V3/config.json
echo "kind,gpus,batch,comm,wall_s,rss_mib,tpot_ms" > "$CSV"

point() { # kind gpus batch comm
  local kind=$1 g=$2 b=$3 comm=$4 nodes=$(( $2 / 8 ))
  [ -f "$TMP/p$g.xml" ] || "$BLD/moesim" platform --nodes "$nodes" -o "$TMP/p$g.xml"
  local trace="$TMP/t$g-$b.h5"
  [ -f "$trace" ] || "$BLD/moesim" trace synth --model $V3 --requests $(( g * b )) --prompt 1:2 --decode 2:3 \
    -o "$trace" 2>/dev/null
  /usr/bin/time -f "%e %M" -o "$TMP/time" "$BLD/moesim" run --platform "$TMP/p$g.xml" --model $V3 --trace "$trace" \
    --batch-per-gpu "$b" --steps 1 --matrix-steps 0 --comm "$comm" > "$TMP/out" 2>"$TMP/err" \
    || { echo "| $g | $b | $comm | failed: $(tail -1 "$TMP/err") |"; return; }
  read -r wall rss < "$TMP/time"
  local tpot
  tpot=$(sed -n 's/^TPOT *mean \([0-9.]*\) ms.*/\1/p' "$TMP/out")
  printf "| %d | %d | %s | %.2f | %.0f | %s |\n" "$g" "$b" "$comm" "$wall" "$(echo "$rss / 1024" | bc -l)" "$tpot"
  printf "%s,%d,%d,%s,%s,%.0f,%s\n" "$kind" "$g" "$b" "$comm" "$wall" "$(echo "$rss / 1024" | bc -l)" "$tpot" >> "$CSV"
}

echo "One decode step, 64 requests per GPU (wall = whole moesim run: load, fit, plan, simulate)"
echo "| GPUs | batch/GPU | comm | wall s | peak RSS MiB | simulated TPOT ms |"
echo "|---|---|---|---|---|---|"
for g in 16 32 64 128 256 512 1024 2048 4096 8192; do  # DeepSeek-V3 needs 16+ H100s for its weights
  [ "$g" -le "$MAX" ] || break
  point gpus "$g" 64 fast
  [ "$g" -le 32 ] && point gpus "$g" 64 exact
done
echo
echo "Batch size at 64 GPUs"
echo "| GPUs | batch/GPU | comm | wall s | peak RSS MiB | simulated TPOT ms |"
echo "|---|---|---|---|---|---|"
for b in 8 16 32 64 128 256; do point batch 64 "$b" fast; done
