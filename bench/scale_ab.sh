#!/usr/bin/env bash
# Two builds on the same inputs in one run (docs/performance.md, "Faster flow solver"): one DeepSeek-V3 decode step
# per cluster size as bench/scale.sh runs it (synthetic skewed routing, 64 requests per GPU, datasheet rail H100
# platforms, the fast model), alternating the builds so both see the same machine state. The simulated TPOT must
# be the same; the wall-time ratio is what the change bought.
# Usage: bash bench/scale_ab.sh OLD_BUILD NEW_BUILD [MAX_GPUS] [OUT_CSV] [REPS]
#   REPS (default 1): runs of each build per size, alternating old, new, old, new, ...; the table gives the median
#   wall time of each (and the range when REPS > 1) and the ratio of the medians.
#   e.g. git worktree add /tmp/old <commit> && cmake -S /tmp/old -B /tmp/old/build && cmake --build /tmp/old/build
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=${1:?old build dir}
NEW=${2:?new build dir}
MAX=${3:-1024}
CSV=${4:-/dev/null}
REPS=${5:-1}
[[ "$REPS" =~ ^[1-9][0-9]*$ ]] || { echo "scale_ab.sh: REPS must be a positive integer, got '$REPS'" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
V3=data/models/DeepSeek-V3/config.json
echo "gpus,old_wall_s,new_wall_s,ratio,old_rss_mib,new_rss_mib,old_tpot_ms,new_tpot_ms" > "$CSV"
echo "| GPUs | old wall s | new wall s | old / new (medians) | old RSS MiB | new RSS MiB | TPOT ms (old, new) |"
echo "|---|---|---|---|---|---|---|"
for g in 64 128 256 512 1024 2048 4096 8192; do
  [ "$g" -le "$MAX" ] || break
  "$NEW/moesim" platform --nodes $(( g / 8 )) -o "$TMP/p.xml"
  "$NEW/moesim" trace synth --model $V3 --requests $(( g * 64 )) --prompt 1:2 --decode 2:3 -o "$TMP/t.h5" 2>/dev/null
  declare -A walls rss tpot
  walls[old]=""; walls[new]=""
  for rep in $(seq "$REPS"); do
    for which in old new; do
      bld=$OLD; [ "$which" = new ] && bld=$NEW
      /usr/bin/time -f "%e %M" -o "$TMP/time" "$bld/moesim" run --platform "$TMP/p.xml" --model $V3 --trace "$TMP/t.h5" \
        --batch-per-gpu 64 --steps 1 --matrix-steps 0 > "$TMP/out" 2>"$TMP/err" || { echo "$which failed at $g: $(tail -1 "$TMP/err")"; exit 1; }
      read -r w rss[$which] < "$TMP/time"
      walls[$which]="${walls[$which]} $w"
      tpot[$which]=$(sed -n 's/^TPOT *mean \([0-9.]*\) ms.*/\1/p' "$TMP/out")
    done
  done
  # median, min and max of a list of numbers
  stats() { tr ' ' '\n' <<< "$1" | sed '/^$/d' | sort -g | awk '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; print m, v[1], v[NR]}'; }
  read -r med_old min_old max_old <<< "$(stats "${walls[old]}")"
  read -r med_new min_new max_new <<< "$(stats "${walls[new]}")"
  ratio=$(echo "$med_old / $med_new" | bc -l)
  range() { [ "$REPS" -gt 1 ] && printf " (%.2f-%.2f)" "$1" "$2"; true; }
  printf "| %d | %.2f%s | %.2f%s | %.2fx | %.0f | %.0f | %s, %s |\n" "$g" "$med_old" "$(range "$min_old" "$max_old")" \
    "$med_new" "$(range "$min_new" "$max_new")" "$ratio" \
    "$(echo "${rss[old]} / 1024" | bc -l)" "$(echo "${rss[new]} / 1024" | bc -l)" "${tpot[old]}" "${tpot[new]}"
  printf "%d,%s,%s,%.3f,%.0f,%.0f,%s,%s\n" "$g" "$med_old" "$med_new" "$ratio" "$(echo "${rss[old]} / 1024" | bc -l)" \
    "$(echo "${rss[new]} / 1024" | bc -l)" "${tpot[old]}" "${tpot[new]}" >> "$CSV"
done
