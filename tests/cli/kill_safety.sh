#!/usr/bin/env bash
# Results are never lost or half-written: `moesim run`, `trace synth` and `trace stats` are killed with SIGKILL at
# random moments (fixed seed); every file under a final name must open and be complete, and a run that is let
# finish after the kills writes its result.
source "$(dirname "$0")/common.sh"
cd "$TMP"
RANDOM=20261127
check_complete() { # file kind
  $PY - "$1" "$2" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
if sys.argv[2] == "run":
    assert len(f["steps"]) == 6 and f["summary"].attrs["tpot_mean_s"] > 0
elif sys.argv[2] == "trace":
    assert f["routing/experts"].shape[0] == len(f["tokens/request"]) > 0
else:
    assert f.attrs["schema"] == "moesim-trace-stats" and len(f["layers"]) == 26
PY
}
kill_at_random() { # kind out command...
  local kind=$1 out=$2 survived=0 complete=0
  shift 2
  for i in $(seq 1 8); do
    rm -f "$out"
    "$@" > /dev/null 2>&1 &
    local pid=$!
    sleep "0.$(( RANDOM % 10 ))$(( RANDOM % 10 ))"
    kill -9 "$pid" 2>/dev/null && survived=$((survived + 1))
    wait "$pid" 2>/dev/null
    if [ -e "$out" ]; then
      if check_complete "$out" "$kind" 2>/dev/null; then complete=$((complete + 1)); else fail "$kind: $out is incomplete after SIGKILL $i"; return; fi
    fi
  done
  pass "$kind: 8 SIGKILLs ($survived mid-run), every file under the final name complete ($complete present)"
  "$@" > /dev/null 2>&1 && check_complete "$out" "$kind" && pass "$kind: a run after the kills completes" \
    || fail "$kind: run after the kills"
}
kill_at_random run run.h5 "$MOESIM" run --steps 6 --matrix-steps 1 -o run.h5
kill_at_random trace syn.h5 "$MOESIM" trace synth --model "$SRC/data/models/DeepSeek-V2-Lite/config.json" \
  --requests 600 -o syn.h5
kill_at_random stats stats.h5 "$MOESIM" trace stats syn.h5 -o stats.h5
finish
