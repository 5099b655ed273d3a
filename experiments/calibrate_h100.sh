#!/usr/bin/env bash
# Fits the bundled H100 calibrated platforms from the bundled measurements (data/calib/, SOURCE.md in each) and
# writes their validation reports to docs/calibration/. Usage: bash experiments/calibrate_h100.sh [BUILD_DIR]
# With OUT_DIR set, writes the platforms there instead of platforms/ (the test that checks the shipped files).
#
# Inputs: NCCL on H100 (nccl-tests logs of 1 and 10 nodes, aiconfigurator's 1-node table) for the NCCL factors;
# DeepEP low-latency and normal kernels and the DeepEP-MoE expert layer on one H200 node (aiconfigurator), DeepEP's
# README tables on H800 (1-32 nodes) and DeepGEMM's H800 GEMMs for the kernel and compute models. Measurements on
# H200 and H800 are fitted on those GPUs' presets; the fitted fractions and times carry over to H100.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
OUT=${OUT_DIR:-platforms}
REPORTS=${REPORT_DIR:-docs/calibration}
mkdir -p "$OUT" "$REPORTS"
L1=data/calib/nccl-tests-h100/single-node/runs/20260128-145017/without-debug/logs
LN=data/calib/nccl-tests-h100/multi-node/runs/20260129-180219/without-debug/logs
A=data/calib/aiconfigurator-h200
R=data/calib/deepep-readme
INPUTS=("$L1/nccl_N1_G4_cnode3-002.log" "$L1/nccl_N1_G8_cnode3-002.log"
        "$LN/nccl_N10_G1.log" "$LN/nccl_N10_G2.log" "$LN/nccl_N10_G4.log" "$LN/nccl_N10_G8.log"
        data/calib/nccl-perf-h100-1node/nccl_perf.csv data/calib/deepgemm-h800/deepgemm_h800.csv
        "$A/deepep_ll_1node.csv" "$A/deepep_normal_1node.csv" "$A/moe_generation.csv"
        "$R/deepep_v1_h800_low_latency.csv" "$R/deepep_v1_h800_normal.csv")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# The measured cluster is H100 (the NCCL logs); the platform is written with 32 nodes so that every measured
# operation (DeepEP's README goes to EP256) is validated on it; the report covers every input measurement...
"$B/moesim" calibrate "${INPUTS[@]}" --nodes 32 -o "$TMP/h100-calibrated-32n.xml" \
  --record "$OUT/h100-calibrated.calibration.json" --holdout none --report "$REPORTS/report" > /dev/null
# ...the generalisation checks: fitted on every other size of each series, and on every other shape of each
# DeepEP / MoE-layer table (other expert counts, hidden sizes, top-k, node counts), judged on the others...
"$B/moesim" calibrate "${INPUTS[@]}" --nodes 32 -o "$TMP/holdout.xml" --holdout every-other --report "$REPORTS/holdout" > /dev/null
"$B/moesim" calibrate "${INPUTS[@]}" --nodes 32 -o "$TMP/shape.xml" --holdout every-other-shape \
  --report "$REPORTS/holdout-shape" > /dev/null
# ...and the shipped shapes from the record.
for n in 1 2 4 8 10; do
  "$B/moesim" platform --calibration "$OUT/h100-calibrated.calibration.json" --nodes $n -o "$OUT/h100-calibrated-${n}n.xml"
done
if [ -z "${OUT_DIR:-}" ] && /usr/bin/python3 -c "import matplotlib, h5py" 2>/dev/null; then
  for r in report holdout holdout-shape; do
    /usr/bin/python3 experiments/plot_calibration.py "$REPORTS/$r.h5" -o "$REPORTS/$r.png" > /dev/null
    /usr/bin/python3 experiments/plot_moe_accuracy.py "$REPORTS/$r.csv" -o "$REPORTS/$r-moe" > /dev/null
  done
fi
# The CSV and Markdown reports hold the same rows; the HDF5 files are only needed for the plots.
[ -n "${OUT_DIR:-}" ] || rm -f "$REPORTS"/report.h5 "$REPORTS"/holdout.h5 "$REPORTS"/holdout-shape.h5
