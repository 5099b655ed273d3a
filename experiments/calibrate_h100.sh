#!/usr/bin/env bash
# Fits the bundled H100 calibrated platforms from the bundled measurements (data/calib/, SOURCE.md in each) and
# writes their validation reports to docs/calibration/. Usage: bash experiments/calibrate_h100.sh [BUILD_DIR]
# With OUT_DIR set, writes the platforms there instead of platforms/ (the test that checks the shipped files).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
OUT=${OUT_DIR:-platforms}
REPORTS=${REPORT_DIR:-docs/calibration}
mkdir -p "$OUT" "$REPORTS"
L1=data/calib/nccl-tests-h100/single-node/runs/20260128-145017/without-debug/logs
LN=data/calib/nccl-tests-h100/multi-node/runs/20260129-180219/without-debug/logs
INPUTS=("$L1/nccl_N1_G4_cnode3-002.log" "$L1/nccl_N1_G8_cnode3-002.log"
        "$LN/nccl_N10_G1.log" "$LN/nccl_N10_G2.log" "$LN/nccl_N10_G4.log" "$LN/nccl_N10_G8.log"
        data/calib/nccl-perf-h100-1node/nccl_perf.csv data/calib/deepgemm-h800/deepgemm_h800.csv)
# The measured cluster (10 nodes x 8 GPUs) with the report of every input measurement...
"$B/moesim" calibrate "${INPUTS[@]}" -o "$OUT/h100-calibrated-10n.xml" \
  --record "$OUT/h100-calibrated.calibration.json" --report "$REPORTS/report" > /dev/null
# ...the generalisation check: fitted on every other size, judged on the others...
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$B/moesim" calibrate "${INPUTS[@]}" -o "$TMP/holdout.xml" --holdout every-other --report "$REPORTS/holdout" > /dev/null
# ...and the other shapes from the same record.
for n in 1 2 8; do
  "$B/moesim" platform --calibration "$OUT/h100-calibrated.calibration.json" --nodes $n -o "$OUT/h100-calibrated-${n}n.xml"
done
if [ -z "${OUT_DIR:-}" ] && /usr/bin/python3 -c "import matplotlib, h5py" 2>/dev/null; then
  /usr/bin/python3 experiments/plot_calibration.py "$REPORTS/report.h5" -o "$REPORTS/report.png" > /dev/null
  /usr/bin/python3 experiments/plot_calibration.py "$REPORTS/holdout.h5" -o "$REPORTS/holdout.png" > /dev/null
fi
# The CSV and Markdown reports hold the same rows; the HDF5 files are only needed for the plots.
[ -n "${OUT_DIR:-}" ] || rm -f "$REPORTS/report.h5" "$REPORTS/holdout.h5"
