#!/usr/bin/env bash
# Reproduces the published study: synthetic traces with the published statistics for DeepSeek-V3, Qwen3-235B-A22B
# and Llama 4 Maverick (moesim trace synth presets, docs/traces.md), the real ESFT traces for DeepSeek-V2-Lite,
# the 96-point sweep (spec.toml), the plots and the comparison table (README.md).
# Usage: bash experiments/paper/run.sh [BUILD_DIR] [JOBS]   (resumable: re-running skips finished points)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}
J=${2:-$(nproc)}
mkdir -p build/paper
synth() { # model-dir out
  [ -f "build/paper/$2.h5" ] || "$B/moesim" trace synth --model "data/models/$1/config.json" --requests 4096 \
    --prompt 64 --decode 16 --seed 1 -o "build/paper/$2.h5"
}
synth DeepSeek-V3 deepseek-v3
synth Qwen3-235B-A22B qwen3
synth Llama-4-Maverick-17B-128E maverick
"$B/moesim" sweep experiments/paper/spec.toml -j "$J"
/usr/bin/python3 experiments/plot.py build/paper/paper.h5 -o experiments/paper/figures
/usr/bin/python3 experiments/paper/table.py build/paper/paper.h5 > experiments/paper/results.md
cat experiments/paper/results.md
