#!/usr/bin/env bash
# calib/deepep/run_deepep_tests.sh without a GPU: its option checks, --dry-run, and a real run against a stand-in
# DeepEP checkout whose test prints DeepEP's lines, handed to `moesim calibrate validate`.
# Usage: deepep_runner.sh MOESIM SOURCE_DIR BUILD_DIR
source "$(dirname "$0")/common.sh"
cd "$SRC"
R=calib/deepep/run_deepep_tests.sh
# expect_out "stdout substring" -- command...: exit 0 and the text on standard output.
expect_out() {
  local text=$1 out
  shift
  if out=$("$@" 2>/dev/null) && [[ "$out" == *"$text"* ]]; then pass "$*"; else fail "$* -> '$out'"; fi
}
expect_out "--dry-run" bash $R --help
expect_fail 2 "-o LOG is required" bash $R --deepep "$TMP"
expect_fail 2 "--test: 'fast'" bash $R --deepep "$TMP" --test fast -o "$TMP/x.log"
expect_fail 2 "--tokens: 'many'" bash $R --deepep "$TMP" --tokens 1,many --dry-run -o "$TMP/x.log"
expect_fail 2 "not a multiple of the 16 ranks" bash $R --deepep "$TMP" --experts 24 --nodes 2 --dry-run -o "$TMP/x.log"
expect_fail 2 "no tests/test_low_latency.py" bash $R --deepep "$TMP" --gpus-per-node 8 --gpu H100 -o "$TMP/x.log"
expect_out "# moesim-deepep: test=ll num_tokens=128 hidden=7168 num_topk=8 num_experts=256 nodes=2 gpus_per_node=8 gpu=NVIDIA_H100_80GB_HBM3" \
  bash $R --deepep "$TMP" --tokens 1,128 --nodes 2 --gpu "NVIDIA H100 80GB HBM3" --dry-run -o "$TMP/x.log"

# A stand-in for DeepEP's tests/legacy/test_low_latency.py: every rank prints the line the real test prints.
mkdir -p "$TMP/deepep/tests/legacy"
cat >"$TMP/deepep/tests/legacy/test_low_latency.py" <<'PY'
import sys
a = dict(zip(sys.argv[1::2], sys.argv[2::2]))
t = int(a['--num-tokens'])
for r in range(int(a['--num-processes'])):
    print(f'[rank {r}] Dispatch bandwidth: 1.00 GB/s, avg_t={10 + 0.1 * t + r * 0.01:.2f} us | '
          f'Combine bandwidth: 1.00 GB/s, avg_t={12 + 0.2 * t:.2f} us', flush=True)
PY
expect_out "ll.log" bash $R --deepep "$TMP/deepep" --tokens 8,64 --gpus-per-node 8 --gpu "NVIDIA H100 80GB HBM3" \
  -o "$TMP/ll.log"
expect_fail 2 "exists" bash $R --deepep "$TMP/deepep" --tokens 8 --gpus-per-node 8 --gpu H100 -o "$TMP/ll.log"
expect_out "2" grep -c '^# moesim-deepep:' "$TMP/ll.log"
expect_ok "$MOESIM" calibrate validate platforms/h100-calibrated-1n.xml "$TMP/ll.log" --report "$TMP/v"
# One measurement per phase and token count, the ranks' times averaged.
expect_out "4" awk -F, '$0 ~ /ll_dispatch|ll_combine/ { n++ } END { print n }' "$TMP/v.csv"
expect_out "ll_dispatch" grep -m1 ',8,' "$TMP/v.csv"
# A failing test leaves no log behind.
printf 'import sys; sys.exit(3)\n' >"$TMP/deepep/tests/legacy/test_low_latency.py"
expect_fail 2 "failed at 8 tokens" bash $R --deepep "$TMP/deepep" --tokens 8 --gpus-per-node 8 --gpu H100 -o "$TMP/bad.log"
[ ! -e "$TMP/bad.log" ] && pass "no log after a failed test" || fail "a failed test left $TMP/bad.log"
finish
