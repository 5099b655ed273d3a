#!/usr/bin/env bash
# moesim against SMPI (SimGrid's MPI simulator) on the same platform and traffic (docs/performance.md): one
# DeepSeek-V3 decode step at 256 GPUs (32 x 8 H100, synthetic skewed routing, 64 requests per GPU) simulated by
# moesim (fast and exact all-to-all models); then SMPI replays the dispatch + combine all-to-alls of the first LAYERS
# MoE layers of the same step with MPI_Alltoallv on the same platform XML and network settings. SMPI's wall time is
# reported as measured for those layers and scaled to the step's 58 MoE layers. SMPI is stopped after LIMIT seconds
# (default 3600): the ratio is then a lower bound, SMPI's time for part of the first LAYERS layers against moesim's
# whole step.
# Usage: bash bench/smpi_compare.sh [BUILD_DIR] [GPUS] [LAYERS] [LIMIT]
set -euo pipefail
cd "$(dirname "$0")/.."
BLD=$(realpath "${1:-build}")
G=${2:-256}
LAYERS=${3:-2}
LIMIT=${4:-3600}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
V3=data/models/DeepSeek-V3/config.json
"$BLD/moesim" platform --nodes $(( G / 8 )) -o "$TMP/p.xml"
"$BLD/moesim" trace synth --model $V3 --requests $(( G * 64 )) --prompt 1:2 --decode 2:3 -o "$TMP/t.h5" 2>/dev/null
run() {
  /usr/bin/time -f "%e %M" -o "$TMP/time" "$BLD/moesim" run --platform "$TMP/p.xml" --model $V3 --trace "$TMP/t.h5" \
    --batch-per-gpu 64 --steps 1 "$@" > "$TMP/out" 2>/dev/null
  read -r wall rss < "$TMP/time"
  echo "$wall $(sed -n 's/^TPOT *mean \([0-9.]*\) ms.*/\1/p' "$TMP/out")"
}
read -r fast_wall fast_tpot < <(run --comm fast --matrix-steps 1 --matrix-layers 58 -o "$TMP/r.h5")
echo "moesim --comm fast:  $G GPUs, one step (58 MoE layers): wall ${fast_wall} s, TPOT ${fast_tpot} ms"
/usr/bin/python3 bench/smpi_matrices.py "$TMP/r.h5" "$TMP/m.bin" "$LAYERS"
smpicc -O2 bench/smpi_alltoallv.c -o "$TMP/a2a" 2>/dev/null
for ((r = 0; r < G; r++)); do echo "gpu-$(( r / 8 ))-$(( r % 8 ))"; done > "$TMP/hosts"
# Same network settings as moesim (sim/simgrid/platform_loader.cpp), SMPI's own size factors off.
rc=0
/usr/bin/time -f "%e %M %U %S" -o "$TMP/stime" timeout "$LIMIT" smpirun -np "$G" -platform "$TMP/p.xml" -hostfile "$TMP/hosts" \
  --cfg=network/model:CM02 --cfg=network/optim:Full --cfg=network/crosstraffic:0 --cfg=network/TCP-gamma:0 \
  --cfg=network/weight-S:0 --cfg=smpi/bw-factor:0:1 --cfg=smpi/lat-factor:0:1 --cfg=smpi/host-speed:1e12 \
  --cfg=smpi/display-timing:no --log=root.thresh:critical \
  "$TMP/a2a" "$TMP/m.bin" "$(echo "14336 / 7392" | bc -l)" > "$TMP/sout" 2>&1 || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then cat "$TMP/sout"; exit 1; fi
read -r smpi_wall smpi_rss smpi_user smpi_sys < <(grep -E '^[0-9.]+ [0-9]+ ' "$TMP/stime")
if [ "$rc" -eq 124 ]; then
  printf "SMPI: stopped after %.0f s before finishing %d MoE layers (%d all-to-alls)\n" "$smpi_wall" "$LAYERS" \
    $(( 2 * LAYERS ))
  printf "wall-time ratio SMPI / moesim (fast): > %.0fx (SMPI's part of %d layers against moesim's whole step)\n" \
    "$(echo "$smpi_wall / $fast_wall" | bc -l)" "$LAYERS"
  exit 0
fi
grep simulated "$TMP/sout"
scaled=$(echo "$smpi_wall * 58 / $LAYERS" | bc -l)
printf "SMPI: %d MoE layers (%d all-to-alls): wall %.1f s (CPU %.1f s), peak RSS %.0f MiB; scaled to 58 layers: %.0f s\n" \
  "$LAYERS" $(( 2 * LAYERS )) "$smpi_wall" "$(echo "$smpi_user + $smpi_sys" | bc -l)" "$(echo "$smpi_rss / 1024" | bc -l)" "$scaled"
printf "wall-time ratio SMPI / moesim (fast) for one step: %.0fx\n" "$(echo "$scaled / $fast_wall" | bc -l)"
