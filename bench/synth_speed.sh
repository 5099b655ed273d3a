#!/usr/bin/env bash
# Time and memory of `moesim trace synth` for one million DeepSeek-V3 tokens (58 MoE layers, top-8, group-limited
# routing), calibration and HDF5 writing included, then of `trace stats` on the result (docs/traces.md).
# Usage: bash bench/synth_speed.sh [BUILD_DIR] [TOKENS]
set -euo pipefail
cd "$(dirname "$0")/.."
BLD=${1:-build}
TOKENS=${2:-1000000}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "trace synth, DeepSeek-V3, $TOKENS tokens:"
/usr/bin/time -f "  wall %e s, peak RSS %M KB" "$BLD/moesim" --log-level debug trace synth \
  --model data/models/DeepSeek-V3/config.json --tokens "$TOKENS" -o "$OUT/v3.h5" 2>&1 | grep -E "took|wall|wrote"
echo "trace stats on it:"
/usr/bin/time -f "  wall %e s, peak RSS %M KB" "$BLD/moesim" trace stats "$OUT/v3.h5" 2>&1 | grep -E "wall|Zipf|Pearson"
