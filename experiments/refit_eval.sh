#!/usr/bin/env bash
# Does re-balancing pay? `run --refit-every` on a synthetic DeepSeek-V2-Lite trace whose task mix shifts over
# arrival order (trace synth --arrival by-label: code, then math, chat, general) and, as a control, on the same
# requests in mixed order. eplb with one replica per GPU on the calibrated 2 x 8 H100 platform, 640 steps (the
# served mix goes through all four labels). Per row: mean TPOT, mean TPOT without the weight-copy pauses, expert
# load max/mean, re-fits and what they copied. Results in docs/policies.md ("Re-fitting during a run").
# Usage: bash experiments/refit_eval.sh [BUILD_DIR] [OUT_DIR] [SEEDS]   (about two minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
BLD=${1:-build}
OUT=${2:-results/refit_eval}
SEEDS=${3:-1 2 3}
mkdir -p "$OUT"
M=$BLD/moesim
V2=data/models/DeepSeek-V2-Lite/config.json
P=platforms/h100-calibrated-2n.xml
echo "| arrival | seed | re-fit | TPOT ms | TPOT without copies ms | load max/mean | re-fits | copied GB (across nodes) | copy time ms |"
echo "|---|---|---|---|---|---|---|---|---|"
for seed in $SEEDS; do
  for arrival in by-label mixed; do
    T="$OUT/v2lite-$arrival-seed$seed.h5"
    [ -f "$T" ] || "$M" trace synth --model $V2 --requests 4096 --arrival $arrival --seed "$seed" -o "$T" 2>/dev/null
    for opts in "" "--refit-every 160" "--refit-every 32 --refit-window 32" \
                "--refit-every 32 --refit-window 32 --refit-min-load-gain 0.1" \
                "--refit-every 16 --refit-window 16 --refit-min-load-gain 0.1"; do
      R="$OUT/run-$arrival-seed$seed-$(echo "none $opts" | tr -c 'a-z0-9.\n' '_').h5"
      # shellcheck disable=SC2086
      "$M" run --platform $P --model $V2 --trace "$T" --placement eplb --redundant-experts 1 --steps 640 \
        --seed "$seed" $opts --out "$R" > /dev/null 2>&1
      /usr/bin/python3 - "$R" "$arrival" "$seed" "${opts:-none}" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
s, a = f["steps"][:], f["summary"].attrs
print("| %s | %s | `%s` | %.4f | %.4f | %.3f | %d | %.1f (%.1f) | %.1f |" % (
    sys.argv[2], sys.argv[3], sys.argv[4], a["tpot_mean_s"] * 1e3, (s["tpot_s"] - s["weight_move_s"]).mean() * 1e3,
    a["expert_load_max_over_mean"], a["refits"], a["weight_bytes"] / 1e9, a["weight_bytes_inter_node"] / 1e9,
    a["weight_move_s"] * 1e3))
PY
    done
  done
done
