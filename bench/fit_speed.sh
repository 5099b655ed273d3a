#!/usr/bin/env bash
# Fitting time of every fitted policy on 100k requests x 16 tokens of a DeepSeek-V3-shaped trace (58 MoE layers,
# 256 experts, top-8) on 8 x 8 GPUs (docs/policies.md). Usage: bash bench/fit_speed.sh [BUILD_DIR] [REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
BLD=${1:-build}
/usr/bin/time -f "wall %e s, peak RSS %M KB" "$BLD/moesim_fit_speed" "${2:-100000}" 16
