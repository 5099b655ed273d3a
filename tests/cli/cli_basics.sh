#!/usr/bin/env bash
# The CLI's basic commands: version, help, list, model, platform generation/check, trace import/info.
source "$(dirname "$0")/common.sh"
cd "$TMP"
expect_ok "$MOESIM" --version
"$MOESIM" --version | grep -q "^moesim [0-9]" && pass "--version prints the version" || fail "--version"
for cmd in run platform model trace list; do expect_ok "$MOESIM" $cmd --help; done
"$MOESIM" list | grep -q "linear" && pass "list shows placements" || fail "list"
"$MOESIM" list | grep -q "round_robin" && pass "list shows groupings" || fail "list"
"$MOESIM" model "$SRC/data/models/DeepSeek-V3/config.json" | grep -q "MoE layers: 58" && pass "model DeepSeek-V3" || fail "model"
# Generated platforms load in SimGrid and pass the property checks.
expect_ok "$MOESIM" platform --nodes 4 -o p4.xml
"$MOESIM" platform --check p4.xml | grep -q "4 nodes x 8 GPUs (32 GPUs)" && pass "generated 4-node platform round-trips" || fail "4-node check"
for topo in rail fat-tree single-switch; do
  expect_ok "$MOESIM" platform --nodes 3 --gpus-per-node 4 --topology $topo -o t.xml
  expect_ok "$MOESIM" platform --check t.xml
done
# Every bundled platform loads.
for f in "$SRC"/platforms/*.xml; do expect_ok "$MOESIM" platform --check "$f"; done
# The bundled platforms are exactly what the generator writes (they are documented as generated).
for n in 1 2 4 8 64; do
  "$MOESIM" platform --nodes $n -o gen.xml && cmp -s gen.xml "$SRC/platforms/h100-${n}n.xml" \
    && pass "platforms/h100-${n}n.xml is up to date" || fail "platforms/h100-${n}n.xml differs from the generator"
done
# Trace import and info.
expect_ok "$MOESIM" trace import --format gptoss-json --model "$SRC/data/models/gpt-oss-20b/config.json" -o g.h5 \
  "$SRC"/data/traces/gpt-oss-20b-sample/*.json
"$MOESIM" trace info g.h5 | grep -q "decode 215" && pass "gpt-oss trace info" || fail "gpt-oss trace info"
"$MOESIM" trace info "$BLD/data/esft-deepseek-v2-lite.h5" | grep -q "requests: 213, tokens: 33279" \
  && pass "bundled ESFT trace info" || fail "bundled ESFT trace info"
# compare: a short table against the baseline, written to HDF5 readable by h5py.
if "$MOESIM" compare --steps 2 --rows linear:round_robin:0,activation:signature:0,magic:round_robin:0 -j 2 -o c.h5 \
    > cmp.txt 2> cmp.err; then pass "compare runs"; else fail "compare: $(cat cmp.err)"; fi
grep -q "^activation    signature" cmp.txt && pass "compare table has the activation row" || fail "compare table: $(cat cmp.txt)"
grep -q "magic.*failed: moesim: error: unknown placement policy 'magic'" cmp.txt && pass "a failing row is reported" \
  || fail "failing row not reported: $(cat cmp.txt)"
$PY -c "
import h5py, pandas
f = h5py.File('c.h5'); rows = pandas.DataFrame(f['rows'][:])
assert list(f['placement'].asstr()[:]) == ['linear', 'activation', 'magic'], f['placement'][:]
assert rows.ok.tolist() == [1, 1, 0] and rows.inter_change_vs_baseline[0] == 0
assert f['layer_dispatch_inter_bytes'].shape == (3, 26)
" 2>/dev/null && pass "compare HDF5 opens with h5py/pandas" || fail "compare HDF5"
expect_fail 2 "--rows: 'linear:round_robin' is not placement:grouping:redundant_experts" "$MOESIM" compare --rows linear:round_robin
finish
