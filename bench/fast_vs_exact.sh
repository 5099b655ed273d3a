#!/usr/bin/env bash
# The fast all-to-all model against the exact one (SimGrid per-pair messages, the reference) on every case both
# run in minutes: simulated TPOT and wall time for every all-to-all kernel (deepep-ll, deepep-normal, nccl), skewed
# (ESFT, trace synth) and uniform routing, 16 to 256 GPUs, on the calibrated H100 platforms (docs/performance.md). At 128 and 256 GPUs the exact model would take hours for
# 58 MoE layers, so those rows use DeepSeek-V3 cut to its first 5 layers (3 dense + 2 MoE: same shapes, same
# all-to-alls, 4 instead of 116 per step).
# Usage: bash bench/fast_vs_exact.sh [BUILD_DIR] [MAX_GPUS] [OUT_CSV] [KERNELS]   (build first: bash .ci/bootstrap.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
BLD=${1:-build}
MAX=${2:-256}
CSV=${3:-/dev/null}
KERNELS=${4:-deepep-ll deepep-normal nccl}
REC=platforms/h100-calibrated.calibration.json
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
V3=data/models/DeepSeek-V3/config.json
/usr/bin/python3 - "$V3" "$TMP/v3-5l.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["num_hidden_layers"] = 5
json.dump(c, open(sys.argv[2], "w"), indent=1)
EOF
echo "case,gpus,kernel,exact_tpot_ms,fast_tpot_ms,diff_pct,exact_wall_s,fast_wall_s" > "$CSV"
echo "| case | GPUs | kernel | exact TPOT ms | fast TPOT ms | difference | exact wall s | fast wall s |"
echo "|---|---|---|---|---|---|---|---|"

run() { # comm args... -> "tpot wall"
  local comm=$1
  shift
  /usr/bin/time -f "%e" -o "$TMP/time" "$BLD/moesim" run --comm "$comm" --matrix-steps 0 "$@" > "$TMP/out" 2>"$TMP/err" \
    || { echo "failed: $(tail -1 "$TMP/err")" >&2; return 1; }
  echo "$(sed -n 's/^TPOT *mean \([0-9.]*\) ms.*/\1/p' "$TMP/out") $(cat "$TMP/time")"
}
case_() { # name gpus args...
  local name=$1 g=$2
  shift 2
  [ "$g" -le "$MAX" ] || return 0
  for kernel in $KERNELS; do
    read -r et ew < <(run exact --a2a-kernel "$kernel" "$@")
    read -r ft fw < <(run fast --a2a-kernel "$kernel" "$@")
    local d
    d=$(/usr/bin/python3 -c "print(f'{100 * ($ft - $et) / $et:+.2f}%')")
    echo "| $name | $g | $kernel | $et | $ft | $d | $ew | $fw |"
    echo "$name,$g,$kernel,$et,$ft,$d,$ew,$fw" >> "$CSV"
  done
}
platform() {
  [ -f "$TMP/p$1.xml" ] || "$BLD/moesim" platform --calibration "$REC" --nodes $(( $1 / 8 )) -o "$TMP/p$1.xml" > /dev/null
  echo "$TMP/p$1.xml"
}
synth() { # model gpus batch -> skewed trace (deepseek-v3 preset)
  local t="$TMP/s-$(basename "$1")-$2-$3.h5"
  [ -f "$t" ] || "$BLD/moesim" trace synth --model "$1" --requests $(( $2 * $3 )) --prompt 1:2 --decode 2:3 -o "$t" \
    2>/dev/null
  echo "$t"
}
uniform() { # model gpus batch -> uniform routing
  local t="$TMP/u-$(basename "$1")-$2-$3.h5"
  [ -f "$t" ] || "$BLD/moesim_uniform_trace" "$1" "$t" $(( $2 * $3 )) 2 1 >/dev/null
  echo "$t"
}

case_ "DeepSeek-V2-Lite, ESFT, 32 req/GPU, 4 steps" 16 --steps 4 --platform "$(platform 16)"
case_ "DeepSeek-V2-Lite, ESFT, 64 req/GPU, 4 steps" 32 --steps 4 --platform "$(platform 32)" --batch-per-gpu 64
for g in 16 32; do
  case_ "DeepSeek-V3, skewed, 64 req/GPU, 1 step" $g --platform "$(platform $g)" --model $V3 \
    --trace "$(synth $V3 $g 64)" --batch-per-gpu 64 --steps 1
  case_ "DeepSeek-V3, uniform, 64 req/GPU, 1 step" $g --platform "$(platform $g)" --model $V3 \
    --trace "$(uniform $V3 $g 64)" --batch-per-gpu 64 --steps 1
done
case_ "DeepSeek-V3, skewed, 16 req/GPU, 1 step" 64 --platform "$(platform 64)" --model $V3 \
  --trace "$(synth $V3 64 16)" --batch-per-gpu 16 --steps 1
case_ "DeepSeek-V3, uniform, 16 req/GPU, 1 step" 64 --platform "$(platform 64)" --model $V3 \
  --trace "$(uniform $V3 64 16)" --batch-per-gpu 16 --steps 1
V5="$TMP/v3-5l.json"
for gb in 128:8 256:4; do
  g=${gb%:*} b=${gb#*:}
  case_ "DeepSeek-V3 (2 MoE layers), skewed, $b req/GPU, 1 step" $g --platform "$(platform $g)" --model "$V5" \
    --trace "$(synth "$V5" $g $b)" --batch-per-gpu $b --steps 1
  case_ "DeepSeek-V3 (2 MoE layers), uniform, $b req/GPU, 1 step" $g --platform "$(platform $g)" --model "$V5" \
    --trace "$(uniform "$V5" $g $b)" --batch-per-gpu $b --steps 1
done
