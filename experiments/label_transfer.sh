#!/usr/bin/env bash
# Does a fit carry over to another task family? Leave-one-label-out on the bundled ESFT traces (DeepSeek-V2-Lite,
# 4 domains): the policies are fitted on three domains and judged on the fourth (compare --fit-labels), next to the
# usual random half split of every domain (--train-fraction 0.5) and the in-sample oracle on the judged requests.
# Usage: bash experiments/label_transfer.sh [BUILD_DIR] [OUT_DIR] [NODES]   (a few minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
BLD=${1:-build}
OUT=${2:-results/label_transfer}
NODES=${3:-4}
mkdir -p "$OUT"
M=$BLD/moesim
P=platforms/h100-calibrated-${NODES}n.xml
ROWS=linear:round_robin:0,eplb:round_robin:0,activation:signature:0,joint:locality:0
ROWS=$ROWS,eplb:round_robin:1,activation:signature:1,joint:locality:1
LABELS=(intent law summary translation)
compare() { # name, split options...
  local name=$1
  shift
  echo "## $name"
  "$M" compare --platform "$P" --steps 8 -j 2 --oracle --rows "$ROWS" "$@" -o "$OUT/$name.h5" 2>/dev/null \
    | grep -v '^of oracle\|^results:'
  echo
}
compare "random-half" --train-fraction 0.5
for held in "${LABELS[@]}"; do
  fit=$(printf '%s\n' "${LABELS[@]}" | grep -vx "$held" | paste -sd, -)
  compare "held-out-$held" --fit-labels "$fit"
done
