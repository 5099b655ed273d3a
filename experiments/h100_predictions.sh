#!/usr/bin/env bash
# What the calibrated H100 platforms predict for the operations the fidelity targets name (docs/calibration.md,
# "Predictions for H100"): DeepEP low-latency dispatch and combine at EP8-64, 1-1024 tokens per GPU, and the
# DeepEP-MoE layer's expert time at EP4-256, DeepSeek-V3 shape, each simulated by `moesim op` (the run's code).
# Usage: bash experiments/h100_predictions.sh [BUILD_DIR] > docs/calibration/h100-predictions.md
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
M=data/models/DeepSeek-V3/config.json
REC=platforms/h100-calibrated.calibration.json
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$B/moesim" platform --calibration "$REC" --nodes 32 -o "$TMP/32n.xml" > /dev/null
"$B/moesim" platform --calibration "$REC" --nodes 1 --gpus-per-node 4 -o "$TMP/4g.xml" > /dev/null
t_us() { "$B/moesim" op "$@" --model "$M" 2>/dev/null | awk '$1 == "time" { print $2 }'; }
TOKENS=(1 2 4 8 16 32 64 128 256 512 1024)
echo "Simulated on \`moesim platform --calibration $REC\` (H100, calibrated), DeepSeek-V3 shape (hidden 7168,"
echo "256 experts, top-8), us: dispatch and combine the mean over GPUs (as DeepEP's test averages its ranks), experts"
echo "the most loaded GPU. Command: \`bash experiments/h100_predictions.sh\`."
echo
for kind in dispatch combine; do
  echo "DeepEP low-latency $kind (\`moesim op $kind --a2a-kernel deepep-ll --routing deepep-test\`):"
  echo
  printf '| EP |'; printf ' %s |' "${TOKENS[@]}"; echo
  printf '|---|'; printf -- '---|%.0s' "${TOKENS[@]}"; echo
  for nodes in 1 2 4 8; do
    printf '| %d |' $((8 * nodes))
    for t in "${TOKENS[@]}"; do
      printf ' %s |' "$(t_us "$kind" --platform "$TMP/32n.xml" --nodes $nodes --tokens-per-gpu $t --routing deepep-test)"
    done
    echo
  done
  echo
done
echo "DeepEP-MoE expert time (\`moesim op experts --routing balanced\`; power-law routing in aiconfigurator's tables"
echo "loads some GPUs more):"
echo
printf '| EP |'; printf ' %s |' "${TOKENS[@]}"; echo
printf '|---|'; printf -- '---|%.0s' "${TOKENS[@]}"; echo
for ep in 4 8 16 32 64 128 256; do
  printf '| %d |' $ep
  for t in "${TOKENS[@]}"; do
    if [ $ep -eq 4 ]; then
      v=$(t_us experts --platform "$TMP/4g.xml" --tokens-per-gpu $t --routing balanced)
    else
      v=$(t_us experts --platform "$TMP/32n.xml" --nodes $((ep / 8)) --tokens-per-gpu $t --routing balanced)
    fi
    printf ' %s |' "$v"
  done
  echo
done
