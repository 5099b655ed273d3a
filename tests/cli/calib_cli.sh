#!/usr/bin/env bash
# The calib/ GPU benchmarks where no GPU is needed: --help, and bad options refused before any CUDA call.
# Usage: calib_cli.sh CALIB_BIN_DIR
set -uo pipefail
D=$1
FAILS=0
check() { # expected-rc expected-text command...
  local rc_want=$1 text=$2
  shift 2
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -eq "$rc_want" ] && [[ "$out" == *"$text"* ]]; then echo "ok   $*"; else
    echo "FAIL $* -> rc $rc: $out"; FAILS=$((FAILS + 1)); fi
}
for b in moesim-calib-p2p moesim-calib-gemm moesim-calib-nccl; do
  [ -x "$D/$b" ] || continue
  check 0 "--warmup" "$D/$b" --help
  opt=--max; [ "$b" = moesim-calib-gemm ] && opt=--hbm-max
  check 1 "bad size 'huge'" "$D/$b" $opt huge
done
[ -x "$D/moesim-calib-gemm" ] && check 1 "--dtypes: 'fp4'" "$D/moesim-calib-gemm" --dtypes fp4
[ -x "$D/moesim-calib-gemm" ] && check 1 "--layouts: 'masked'" "$D/moesim-calib-gemm" --layouts masked
[ -x "$D/moesim-calib-nccl" ] && check 1 "--ops: unknown operation 'broadcast'" "$D/moesim-calib-nccl" --ops broadcast
[ "$FAILS" -eq 0 ]
