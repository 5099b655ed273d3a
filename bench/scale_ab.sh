#!/usr/bin/env bash
# Two builds on the same inputs in one run (docs/performance.md, "Faster flow solver"): one DeepSeek-V3 decode step
# per cluster size as bench/scale.sh runs it (synthetic skewed routing, 64 requests per GPU, datasheet rail H100
# platforms, the fast model), alternating the builds so both see the same machine state. The simulated TPOT must
# be the same; the wall-time ratio is what the change bought.
# Usage: bash bench/scale_ab.sh OLD_BUILD NEW_BUILD [MAX_GPUS] [OUT_CSV]
#   e.g. git worktree add /tmp/old <commit> && cmake -S /tmp/old -B /tmp/old/build && cmake --build /tmp/old/build
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=${1:?old build dir}
NEW=${2:?new build dir}
MAX=${3:-1024}
CSV=${4:-/dev/null}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
V3=data/models/DeepSeek-V3/config.json
echo "gpus,old_wall_s,new_wall_s,ratio,old_rss_mib,new_rss_mib,old_tpot_ms,new_tpot_ms" > "$CSV"
echo "| GPUs | old wall s | new wall s | old / new | old RSS MiB | new RSS MiB | TPOT ms (old, new) |"
echo "|---|---|---|---|---|---|---|"
for g in 64 128 256 512 1024 2048 4096 8192; do
  [ "$g" -le "$MAX" ] || break
  "$NEW/moesim" platform --nodes $(( g / 8 )) -o "$TMP/p.xml"
  "$NEW/moesim" trace synth --model $V3 --requests $(( g * 64 )) --prompt 1:2 --decode 2:3 -o "$TMP/t.h5" 2>/dev/null
  declare -A wall rss tpot
  for which in old new; do
    bld=$OLD; [ "$which" = new ] && bld=$NEW
    /usr/bin/time -f "%e %M" -o "$TMP/time" "$bld/moesim" run --platform "$TMP/p.xml" --model $V3 --trace "$TMP/t.h5" \
      --batch-per-gpu 64 --steps 1 --matrix-steps 0 > "$TMP/out" 2>"$TMP/err" || { echo "$which failed at $g: $(tail -1 "$TMP/err")"; exit 1; }
    read -r wall[$which] rss[$which] < "$TMP/time"
    tpot[$which]=$(sed -n 's/^TPOT *mean \([0-9.]*\) ms.*/\1/p' "$TMP/out")
  done
  ratio=$(echo "${wall[old]} / ${wall[new]}" | bc -l)
  printf "| %d | %.2f | %.2f | %.2fx | %.0f | %.0f | %s, %s |\n" "$g" "${wall[old]}" "${wall[new]}" "$ratio" \
    "$(echo "${rss[old]} / 1024" | bc -l)" "$(echo "${rss[new]} / 1024" | bc -l)" "${tpot[old]}" "${tpot[new]}"
  printf "%d,%s,%s,%.3f,%.0f,%.0f,%s,%s\n" "$g" "${wall[old]}" "${wall[new]}" "$ratio" "$(echo "${rss[old]} / 1024" | bc -l)" \
    "$(echo "${rss[new]} / 1024" | bc -l)" "${tpot[old]}" "${tpot[new]}" >> "$CSV"
done
