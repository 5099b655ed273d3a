#!/usr/bin/env bash
# Platforms nobody here wrote: SimGrid's own example platforms (tests/data/simgrid-platforms, LGPL-2.1). Each one,
# as published and with moesim's two GPU properties added to its outermost zone or cluster, loads or is refused
# with exit 2 naming the file: never a signal, never a hang. The <cluster> topologies run end to end.
source "$(dirname "$0")/common.sh"
DATA="$SRC/tests/data/simgrid-platforms"
cp -r "$DATA"/. "$TMP"/
cd "$TMP"
# check_one FILE: exit 0, or exit 2 with a message naming FILE; within 60 s.
check_one() {
  local f=$1 out rc
  out=$(timeout 60 "$MOESIM" platform --check "$f" 2>&1)
  rc=$?
  case $rc in
    0) pass "$f loads" ;;
    2) case "$out" in
         *"moesim: error: $f"*) pass "$f refused: ${out:15:110}" ;;
         *) fail "$f: exit 2 without naming the file: $out" ;;
       esac ;;
    124) fail "$f: hung (over 60 s)" ;;
    *) fail "$f: exit $rc: $out" ;;
  esac
}
# with_gpus FILE GPUS_PER_NODE: FILE with moesim_gpus_per_node and moesim_gpu on its outermost zone or cluster.
with_gpus() {
  $PY - "$1" "$2" <<'PY'
import re, sys
src, gpn = sys.argv[1], sys.argv[2]
text = open(src).read()
props = f'<prop id="moesim_gpus_per_node" value="{gpn}"/><prop id="moesim_gpu" value="h100"/>'
m = re.search(r"<(zone|cluster)\b[^>]*?(/?)>", text)
if m.group(2) == "/":
    repl = m.group(0)[:-2] + ">" + props + "</" + m.group(1) + ">"
else:
    repl = m.group(0) + props
open("gpu-" + src, "w").write(text[:m.start()] + repl + text[m.end():])
PY
}
for f in *.xml; do
  check_one "$f"
  with_gpus "$f" 1
  check_one "gpu-$f"
done
# The SimGrid cluster topologies as GPU clusters, end to end (DeepSeek-V2-Lite: 64 experts; 16, 12 and 120 GPUs).
for spec in cluster_fat_tree.xml:4 cluster_torus.xml:4 cluster_dragonfly.xml:8; do
  f=${spec%%:*}
  with_gpus "$f" "${spec##*:}"
  expect_ok "$MOESIM" platform --check "gpu-$f"
  for placement in linear eplb; do
    out=$("$MOESIM" run --platform "gpu-$f" --placement "$placement" --steps 1 --batch-per-gpu 4 -o "r-$f.h5" 2>&1)
    if [ $? -eq 0 ] && [[ "$out" == *"TPOT"* ]]; then pass "run on gpu-$f, $placement"; else fail "run on gpu-$f: $out"; fi
  done
done
gpus=$("$MOESIM" platform --check gpu-cluster_dragonfly.xml | head -1)
[[ "$gpus" == *"15 nodes x 8 GPUs (120 GPUs)"* ]] && pass "dragonfly: 120 hosts as 15 nodes x 8 GPUs" || fail "dragonfly: $gpus"
# nccl-tests logs as published (tests/data/nccl-tests): launcher prefixes, no test name.
LOGS="$SRC/tests/data/nccl-tests"
expect_fail 2 "cannot tell which collective the test starting at line 3 measured" \
  "$MOESIM" calibrate "$LOGS/skypilot-gke-h200-2x8.log" -o cal.xml
out=$("$MOESIM" calibrate "$LOGS/skypilot-gke-h200-2x8-all_gather.log" -o cal.xml 2>&1)
[[ $? -eq 0 && "$out" == *"NIC 40."*" GB/s per GPU and direction: the best multi-node ring bus bandwidth"* &&
   "$out" == *"2 x 8 h200 platform"* ]] && pass "published all_gather log calibrates the NIC" || fail "all_gather log: $out"
finish
