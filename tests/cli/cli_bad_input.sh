#!/usr/bin/env bash
# Bad input through the real binary: exit code 2, a message naming the file/place, no crash, no result file.
source "$(dirname "$0")/common.sh"
cd "$TMP"
M="$SRC/data/models/DeepSeek-V2-Lite/config.json"
T="$BLD/data/esft-deepseek-v2-lite.h5"
P="$SRC/platforms/h100-1n.xml"
expect_fail 2 "nope.json: cannot open file" "$MOESIM" run --model nope.json --out r.h5
echo '{"model_type": "deepseek_v2",' > broken.json
expect_fail 2 "broken.json: line 2, column 1: invalid JSON (syntax error while parsing object key" "$MOESIM" model broken.json
expect_fail 2 "unknown placement policy 'magic'" "$MOESIM" run --placement magic --platform "$P" --out r.h5
expect_fail 2 "unknown grouping policy 'magic'" "$MOESIM" run --grouping magic --platform "$P" --out r.h5
expect_fail 2 "--batch-per-gpu must be between 1 and 65536" "$MOESIM" run --batch-per-gpu 0 --out r.h5
expect_fail 2 "--gpu-balance must be between 1 and 100" "$MOESIM" run --gpu-balance 0.9 --out r.h5
expect_fail 2 "--gpu-balance must be between 1 and 100" "$MOESIM" compare --gpu-balance nan --out c.h5
expect_fail 2 "--refit-every must be between 0 (never) and 10000000 steps" "$MOESIM" run --refit-every -1 --out r.h5
expect_fail 2 "--refit-window and --refit-min-load-gain need --refit-every" "$MOESIM" run --refit-window 4 --out r.h5
expect_fail 2 "re-fitted placements would take about" "$MOESIM" run --placement eplb --refit-every 1 --steps 100000 --out r.h5
expect_fail 2 "--refit-min-load-gain must be in [0, 1)" "$MOESIM" run --refit-every 2 --refit-min-load-gain 1 --out r.h5
expect_fail 2 "--refit-window must be between 0 (every step served so far) and 10000000 steps" "$MOESIM" run --refit-every 2 --refit-window -3 --out r.h5
expect_fail 2 "--skip-signature-tokens must be between 0 and 1000000" "$MOESIM" run --skip-signature-tokens -1 --out r.h5
expect_fail 2 "--fit-labels and --train-fraction are exclusive" "$MOESIM" run --fit-labels law --train-fraction 0.5 --out r.h5
expect_fail 2 "--dispatch-dtype must be fp8 or bf16" "$MOESIM" run --dispatch-dtype int4 --out r.h5
expect_fail 2 "unknown replay phase 'x'" "$MOESIM" run --replay x --out r.h5
expect_fail 2 "--replay decode: the trace has no decode-phase tokens" "$MOESIM" run --replay decode --platform "$P" --steps 1 --out r.h5
expect_fail 2 "trace does not match model gpt-oss-20b" "$MOESIM" run --model "$SRC/data/models/gpt-oss-20b/config.json" --out r.h5
echo "not hdf5" > fake.h5
expect_fail 2 "fake.h5: cannot open as HDF5" "$MOESIM" run --trace fake.h5 --out r.h5
head -c 100000 "$T" > trunc.h5
expect_fail 2 "trunc.h5: " "$MOESIM" trace info trunc.h5
echo "<platform" > bad.xml
expect_fail 2 "bad.xml: SimGrid cannot load the platform" "$MOESIM" platform --check bad.xml
expect_fail 2 "missing.xml: platform file not found" "$MOESIM" run --platform missing.xml --out r.h5
expect_fail 2 "cannot write: directory 'nodir' does not exist" "$MOESIM" platform --nodes 1 -o nodir/p.xml
"$MOESIM" platform --nodes 3 --hbm-bytes 1e6 -o p3.xml
expect_fail 2 "of weights on GPU 0 (gpu-0-0), more than its HBM capacity of 0.0 GB" "$MOESIM" run --platform p3.xml --out r.h5
expect_fail 2 "esft-missing: not a directory" "$MOESIM" trace import --format esft --model "$M" -o x.h5 esft-missing
expect_fail 2 "--nodes: Value 0 not in range" "$MOESIM" platform --nodes 0
expect_fail 2 "recording this run would need about" "$MOESIM" run --timeline t.json --steps 100000 --out r.h5
expect_fail 2 "record fewer steps or layers (--matrix-steps, --matrix-layers), drop --timeline" \
  "$MOESIM" run --matrix-steps 64 --matrix-layers 26 --max-record-bytes 1e6 --out r.h5
[ ! -e r.h5 ] && pass "no result file written by failed runs" || fail "a failed run left r.h5"
ls -a | grep -q '\.tmp\.' && fail "temporary files left behind" || pass "no temporary files left"
finish
