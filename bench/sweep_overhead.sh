#!/usr/bin/env bash
# Overhead of the sweep machinery and parallel speed-up (docs/performance.md, "Sweeps"):
#   the same 8 DeepSeek-V2-Lite 16-GPU points (bundled ESFT trace, $STEPS steps, default 64) run
#   (a) as 8 plain `moesim run` processes, one after the other: the sum of their own "wall time" lines is the
#       simulation time (model, trace, engine; process start excluded),
#   (b) as `moesim sweep -j 1` (a forked process per point, point files, gathering into one HDF5),
#   (c) as 2 shards `--shard I/2` one after the other plus `moesim sweep merge` (the Slurm path),
#   (d) as `moesim sweep -j 2`.
# Overhead = (b or c) / (a) - 1; speed-up = (b) / (d). Usage: bash bench/sweep_overhead.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BLD=$(realpath "${1:-build}")
STEPS=${STEPS:-64}
SRC=$PWD
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
spec() { # out-name
  cat <<TOML
out = "$1"
steps = $STEPS
[axes]
platform = ["$SRC/platforms/h100-2n.xml"]
placement = ["linear", "eplb"]
grouping = ["round_robin", "signature"]
seed = [1, 2]
TOML
}
now() { date +%s.%N; }
# Each configuration 3 times, interleaved; the fastest of each counts (this machine is small and noisy).
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a < b) ? a : b }'; }
sim=1000000 tb=1000000 tc=1000000 td=1000000
for rep in 1 2 3; do
  s=0
  for placement in linear eplb; do
    for grouping in round_robin signature; do
      for seed in 1 2; do
        w=$("$BLD/moesim" run --steps $STEPS --platform "$SRC/platforms/h100-2n.xml" --placement $placement \
              --grouping $grouping --seed $seed -o run.h5 2>/dev/null | sed -n 's/^wall time *\([0-9.]*\) s.*/\1/p')
        s=$(echo "$s + $w" | bc -l)
      done
    done
  done
  sim=$(min "$s" "$sim")
  rm -rf b.h5* c.h5* d.h5*
  spec b.h5 > b.toml
  t0=$(now); "$BLD/moesim" sweep b.toml -j 1 > /dev/null 2>&1; t=$(echo "$(now) - $t0" | bc -l)
  # Time outside the points' processes (scheduling, gathering into one file): total - sum of the points' walls.
  pw=$(/usr/bin/python3 -c "import h5py; print(sum(h5py.File('b.h5')['points/wall_s'][:]))")
  gather=$(min "$(echo "$t - $pw" | bc -l)" "${gather:-1000000}")
  tb=$(min "$t" "$tb")
  spec c.h5 > c.toml
  t0=$(now)
  "$BLD/moesim" sweep c.toml --shard 0/2 -j 1 > /dev/null 2>&1
  "$BLD/moesim" sweep c.toml --shard 1/2 -j 1 > /dev/null 2>&1
  "$BLD/moesim" sweep merge c.toml > /dev/null 2>&1
  tc=$(min "$(echo "$(now) - $t0" | bc -l)" "$tc")
  spec d.h5 > d.toml
  t0=$(now); "$BLD/moesim" sweep d.toml -j 2 > /dev/null 2>&1; td=$(min "$(echo "$(now) - $t0" | bc -l)" "$td")
done
printf "| 8 points of %d steps, sum of the runs' own wall time | %.2f s |\n" "$STEPS" "$sim"
printf "| moesim sweep -j 1 | %.2f s (overhead %+.1f%%, %.0f ms per point) |\n" "$tb" \
  "$(echo "100 * ($tb / $sim - 1)" | bc -l)" "$(echo "1000 * ($tb - $sim) / 8" | bc -l)"
printf "| 2 shards + merge, one after the other | %.2f s (overhead %+.1f%%, %.0f ms per point) |\n" "$tc" \
  "$(echo "100 * ($tc / $sim - 1)" | bc -l)" "$(echo "1000 * ($tc - $sim) / 8" | bc -l)"
printf "| moesim sweep -j 1, outside the points' processes (scheduling, gather) | %.0f ms in all |\n" \
  "$(echo "1000 * $gather" | bc -l)"
printf "| moesim sweep -j 2 | %.2f s (speed-up over -j 1: %.2fx on %d cores) |\n" "$td" "$(echo "$tb / $td" | bc -l)" "$(nproc)"
