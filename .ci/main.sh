#!/usr/bin/env bash
# README command 1: set up (Debian packages + build) and run the main job on the embedded default:
#   1. `moesim run`: 64 decode steps of DeepSeek-V2-Lite on 2 x 8 H100 with the bundled ESFT traces;
#   2. `moesim compare`: what the project is for, on 4 x 8 H100: the linear + round_robin baseline, DeepSeek's EPLB,
#      the activation-pattern placement + signature grouping and the joint placement + locality grouping, without
#      and with one redundant expert per GPU, fitted on half of the requests and judged on the other half, against
#      the oracle bound (--oracle).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/bootstrap.sh
mkdir -p results
./build/moesim run --out results/default.h5 "$@"
echo
./build/moesim compare --steps 4 -j "$(nproc)" --oracle --out results/compare.h5 \
  --rows linear:round_robin:0,eplb:round_robin:0,activation:signature:0,joint:locality:0,eplb:round_robin:1,activation:signature:1,joint:locality:1
