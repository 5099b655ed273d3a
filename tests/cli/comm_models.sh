#!/usr/bin/env bash
# `--comm fast` (default) against `--comm exact` (SimGrid per-pair reference): TPOT within 2% on the bundled
# default (every all-to-all kernel model), with two-micro-batch overlap on 4 nodes, and on a synthetic
# DeepSeek-V3 trace (skewed routing).
source "$(dirname "$0")/common.sh"
cd "$TMP"
tpot() { "$MOESIM" run "$@" 2>/dev/null | sed -n 's/^TPOT *mean \([0-9.]*\) ms.*/\1/p'; }
compare() {
  local name=$1
  shift
  local exact fast
  exact=$(tpot --comm exact "$@")
  fast=$(tpot --comm fast "$@")
  if [ -z "$exact" ] || [ -z "$fast" ]; then fail "$name: a run failed (exact '$exact', fast '$fast')"; return; fi
  if $PY -c "import sys; e, f = $exact, $fast; sys.exit(abs(f - e) / e > 0.02)"; then
    pass "$name: TPOT fast $fast ms vs exact $exact ms (within 2%)"
  else
    fail "$name: TPOT fast $fast ms vs exact $exact ms differ by more than 2%"
  fi
}
compare "default (2 x 8 GPUs, DeepSeek-V2-Lite, ESFT)" --steps 3
compare "default, deepep-normal kernels (node-level RDMA + NVLink forwarding)" --steps 3 --a2a-kernel deepep-normal
compare "default, nccl kernel" --steps 3 --a2a-kernel nccl
compare "calibrated 2 x 8 GPUs, deepep-ll" --steps 3 --platform "$SRC/platforms/h100-calibrated-2n.xml"
compare "4 x 8 GPUs, two micro-batches" --platform "$SRC/platforms/h100-4n.xml" --micro-batches 2 --steps 2
"$MOESIM" trace synth --model "$SRC/data/models/DeepSeek-V3/config.json" --requests 600 --prompt 4:8 --decode 4:8 \
  -o v3.h5 2>/dev/null
compare "DeepSeek-V3, synthetic routing, 2 x 8 GPUs" --platform "$SRC/platforms/h100-2n.xml" \
  --model "$SRC/data/models/DeepSeek-V3/config.json" --trace v3.h5 --batch-per-gpu 16 --steps 1
expect_fail 2 "unknown communication model 'smpi' (expected fast or exact)" "$MOESIM" run --comm smpi
finish
