#!/usr/bin/env bash
# Runs the calib/ benchmarks on this machine's GPUs (one node) and calibrates a platform from their JSON files:
# the check to run where a GPU is available. Usage: bash calib/device_check.sh [BUILD_DIR] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
OUT=${2:-calib-out}
mkdir -p "$OUT"
G=$(nvidia-smi -L | wc -l)
nvidia-smi -L
"$B/calib/moesim-calib-gemm" --iters 10 -o "$OUT/gemm.json"
if [ "$G" -ge 2 ]; then
  "$B/calib/moesim-calib-p2p" --max 256M --pairs 4 -o "$OUT/p2p.json"
  # One process per GPU, launched here with Open MPI's variables (no mpirun needed on one node).
  RDV=$(mktemp -d)
  for r in $(seq 0 $((G - 1))); do
    OMPI_COMM_WORLD_RANK=$r OMPI_COMM_WORLD_SIZE=$G OMPI_COMM_WORLD_LOCAL_RANK=$r \
      "$B/calib/moesim-calib-nccl" --rendezvous "$RDV" --max 256M -o "$OUT/nccl.json" &
  done
  wait
fi
logs=()
if [ -n "${DEEPEP_DIR:-}" ] && [ "$G" -ge 2 ]; then
  # DeepEP's low-latency test on this node's GPUs (experts: a multiple of the GPU count).
  # A log is a measurement and is never overwritten: each check writes a new one.
  ll="$OUT/deepep-ll-$(date +%Y%m%d-%H%M%S).log"
  bash calib/deepep/run_deepep_tests.sh --deepep "$DEEPEP_DIR" --test ll --experts $((32 * G)) \
    --tokens 1,8,32,128,512 --gpus-per-node "$G" -o "$ll"
  logs+=("$ll")
fi
"$B/moesim" calibrate "$OUT"/*.json "${logs[@]}" -o "$OUT/platform.xml" --report "$OUT/report"
