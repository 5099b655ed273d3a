#!/usr/bin/env bash
# moesim calibrate end to end: the bundled H100 measurements -> calibrated platform -> validation in a separate
# process (the platform loaded by SimGrid, the fast model of moesim run) -> the issue's error targets; the
# shipped platforms are what the script regenerates; a run on them; a calib/ JSON file; bad inputs.
source "$(dirname "$0")/common.sh"
cd "$SRC"

# 1. The shipped platforms and record are exactly what experiments/calibrate_h100.sh writes now.
if OUT_DIR="$TMP/platforms" REPORT_DIR="$TMP/reports" bash experiments/calibrate_h100.sh "$(dirname "$MOESIM")" \
    > "$TMP/regen.log" 2>&1; then
  pass "experiments/calibrate_h100.sh"
  for f in h100-calibrated-1n.xml h100-calibrated-2n.xml h100-calibrated-4n.xml h100-calibrated-8n.xml h100-calibrated-10n.xml \
           h100-calibrated.calibration.json; do
    if cmp -s "$TMP/platforms/$f" "platforms/$f"; then pass "platforms/$f is up to date"; else
      fail "platforms/$f differs from experiments/calibrate_h100.sh's output"; fi
  done
else
  fail "experiments/calibrate_h100.sh: $(tail -3 "$TMP/regen.log")"
fi

# 2. Targets (docs/calibration.md): fitted points of 1-node alltoall, all-reduce and 10-node alltoall: median
#    |error| <= 5%, max <= 15%; fitted on every other size: median |error| of the others <= 10%.
$PY - "$TMP/reports/report.csv" "$TMP/reports/holdout.csv" <<'PY' && pass "error targets" || fail "error targets"
import csv, statistics, sys
def rows(path):
    return list(csv.DictReader(open(path)))
ok = True
fit = [r for r in rows(sys.argv[1]) if r["outlier"] == "0" and r["held_out"] == "0"]
for name, sel in [("1-node alltoall", lambda r: r["op"] == "alltoall" and r["nodes"] == "1"),
                  ("all-reduce", lambda r: r["op"] == "all_reduce"),
                  ("10-node alltoall", lambda r: r["op"] == "alltoall" and r["nodes"] == "10")]:
    e = [abs(float(r["error"])) for r in fit if sel(r)]
    med, mx = statistics.median(e), max(e)
    print(f"{name}: {len(e)} fitted points, median {100*med:.2f}%, max {100*mx:.2f}%")
    ok &= len(e) > 20 and med <= 0.05 and mx <= 0.15
held = [r for r in rows(sys.argv[2]) if r["held_out"] == "1" and r["group"].split("/")[0] != "gemm"]
med = statistics.median(abs(float(r["error"])) for r in held)
print(f"held out: {len(held)} points, median {100*med:.2f}%")
ok &= len(held) > 100 and med <= 0.10
sys.exit(0 if ok else 1)
PY

# 2b. DeepEP kernels and the MoE layer (docs/calibration.md): held-out sizes and held-out shapes within median 10%.
$PY - "$TMP/reports/holdout.csv" "$TMP/reports/holdout-shape.csv" <<'PY' && pass "DeepEP and MoE-layer targets" ||
import csv, statistics, sys
ok = True
for path in sys.argv[1:]:
    rows = [r for r in csv.DictReader(open(path)) if r["held_out"] == "1"]
    for op in ("ll_dispatch", "ll_combine", "moe_experts"):
        e = [abs(float(r["error"])) for r in rows if r["op"] == op and (op != "moe_experts" or r["routing"] == "balanced")]
        med = statistics.median(e)
        print(f"{path.rsplit('/', 1)[-1]}: {op}: {len(e)} held-out points, median {100 * med:.1f}%")
        ok &= len(e) >= 20 and med <= 0.10
sys.exit(0 if ok else 1)
PY
  fail "DeepEP and MoE-layer targets"

# 3. calibrate -> simulate -> compare in one call, and validate on the shipped platform agrees with the fit.
D=data/calib/nccl-tests-h100/multi-node/runs/20260129-180219/without-debug/logs
expect_ok "$MOESIM" calibrate "$D/nccl_N10_G8.log" -o "$TMP/n10.xml" --holdout none --report "$TMP/n10"
grep -q '^| alltoall/inter | 10 | 0.0% | 0.0%' "$TMP/n10.md" && pass "10-node alltoall reproduced" ||
  fail "10-node alltoall: $(grep alltoall "$TMP/n10.md" | head -2)"
# A report without --holdout judges sizes the fit did not see (every other one), and says so.
expect_ok "$MOESIM" calibrate "$D/nccl_N10_G8.log" -o "$TMP/n10h.xml" --report "$TMP/n10h"
grep -q "held out: every other size of each series" "$TMP/n10h.md" && pass "a report holds out every other size by default" ||
  fail "default holdout of a report: $(grep -i 'held' "$TMP/n10h.md" | head -2)"
expect_ok "$MOESIM" calibrate validate platforms/h100-calibrated-10n.xml "$D/nccl_N10_G8.log" --report "$TMP/shipped"
$PY - "$TMP/shipped.csv" <<'PY' && pass "shipped platform reproduces the 10-node logs" || fail "shipped platform errors"
import csv, sys
e = [abs(float(r["error"])) for r in csv.DictReader(open(sys.argv[1])) if r["op"] == "alltoall"]
sys.exit(0 if len(e) == 10 and max(e) < 1e-3 else 1)
PY

# 4. A decode run on a calibrated platform: slower than the datasheet platform (NCCL reaches a fraction of the
#    link rate on small messages) and the sizes outside the measured range are reported.
tpot() { sed -n 's/^TPOT *mean \([0-9.]*\) ms.*/\1/p' "$1"; }
"$MOESIM" run --platform platforms/h100-2n.xml --steps 2 -o "$TMP/raw.h5" > "$TMP/raw.txt" 2>&1 &&
  "$MOESIM" run --platform platforms/h100-calibrated-2n.xml --steps 2 -o "$TMP/cal.h5" > "$TMP/cal.txt" 2>&1 &&
  pass "runs on the calibrated platform" || fail "run on the calibrated platform: $(tail -2 "$TMP/cal.txt")"
echo "TPOT datasheet $(tpot "$TMP/raw.txt") ms, calibrated $(tpot "$TMP/cal.txt") ms"
$PY -c "import sys; sys.exit(0 if float('$(tpot "$TMP/cal.txt")') > float('$(tpot "$TMP/raw.txt")') else 1)" &&
  pass "calibrated TPOT > datasheet TPOT" || fail "calibrated TPOT"

# 5. Measurements from the calib/ suite's JSON (p2p, hbm, gemm).
cat > "$TMP/calib.json" <<'EOF'
{"schema": "moesim-calib/1", "benchmark": "gemm", "host": {"name": "n1"}, "gpus": [{"name": "NVIDIA H100 80GB HBM3"}],
 "versions": {"cuda": "12.4", "driver": "550.54"}, "ranks": {"world": 1, "nodes": 1, "gpus_per_node": 1},
 "settings": {"warmup": 5, "iters": 20},
 "measurements": [
  {"op": "hbm", "bytes": 2147483648, "reps": 20, "time_s": {"min": 7.0e-4, "median": 7.1e-4, "max": 7.5e-4}},
  {"op": "hbm", "bytes": 4294967296, "reps": 20, "time_s": {"min": 1.40e-3, "median": 1.41e-3, "max": 1.5e-3}},
  {"op": "gemm", "m": 64, "n": 4096, "k": 7168, "groups": 8, "dtype": "bf16", "reps": 20,
   "time_s": {"min": 1.1e-4, "median": 1.2e-4, "max": 1.3e-4}},
  {"op": "gemm", "m": 512, "n": 4096, "k": 7168, "groups": 8, "dtype": "bf16", "reps": 20,
   "time_s": {"min": 3.0e-4, "median": 3.1e-4, "max": 3.3e-4}}]}
EOF
expect_ok "$MOESIM" calibrate "$TMP/calib.json" -o "$TMP/json.xml" --holdout none --report "$TMP/json"
grep -q "HBM copy bandwidth measured up to 3035 GB/s" "$TMP/json.xml.calibration.json" && pass "HBM copy bandwidth read" ||
  fail "HBM bandwidth: $(grep -o 'HBM copy bandwidth[^"]*' "$TMP/json.xml.calibration.json")"
grep -q 'moesim_hbm_efficiency' "$TMP/json.xml" && grep -q 'moesim_expert_flop_efficiency' "$TMP/json.xml" &&
  pass "compute calibration in the platform" || fail "compute calibration"

# 6. Bad input: clear errors, exit 2, nothing written.
head -c 3000 "$D/nccl_N10_G1.log" > "$TMP/cut.log"
sed -n 1,400p "$D/nccl_N10_G1.log" | sed 's/ 798.52 / 79x.52 /' > "$TMP/garbled.log"
L="$D/nccl_N10_G1.log"
sed '0,/^ *33554432 /s/^ *33554432 .*$/    33554432  4194304 double/' "$L" > "$TMP/short.log"
echo "hello" > "$TMP/hello.txt"
expect_fail 2 "cut.log: line 39: truncated: the all_gat test starting at line 39" "$MOESIM" calibrate "$TMP/cut.log" -o "$TMP/x.xml"
expect_fail 2 "short.log: line 22: truncated or garbled row" "$MOESIM" calibrate "$TMP/short.log" -o "$TMP/x.xml"
expect_fail 2 "hello.txt: unknown format" "$MOESIM" calibrate "$TMP/hello.txt" -o "$TMP/x.xml"
sed 's/"median": 7.1e-4/"median": "fast"/' "$TMP/calib.json" > "$TMP/badjson.json"
expect_fail 2 "badjson.json: key 'measurements[0].time_s.median': expected a number" "$MOESIM" calibrate "$TMP/badjson.json" -o "$TMP/x.xml"
[ ! -e "$TMP/x.xml" ] && pass "no platform written on bad input" || fail "a platform was written on bad input"
sed 's/moesim_overhead_intra_s" value="[^"]*"/moesim_overhead_intra_s" value="soon"/' platforms/h100-calibrated-1n.xml > "$TMP/badprop.xml"
expect_fail 2 "badprop.xml: zone property 'moesim_overhead_intra_s'" "$MOESIM" run --platform "$TMP/badprop.xml" --steps 1 -o "$TMP/y.h5"
# DeepEP / MoE inputs: truncated, garbled, unmodelled tables.
A=data/calib/aiconfigurator-h200
head -c 700 "$A/deepep_ll_1node.csv" > "$TMP/ll-cut.csv"
sed '3s/,8.83,/,fast,/' "$A/deepep_ll_1node.csv" > "$TMP/ll-bad.csv"
sed '3s/,9.015,/,fast,/' "$A/deepep_ll_1node.csv" > "$TMP/ll-bad.csv"
expect_fail 2 "ll-cut.csv: line" "$MOESIM" calibrate "$TMP/ll-cut.csv" -o "$TMP/x.xml"
expect_fail 2 "ll-bad.csv: line 3: column dispatch_avg_t_us: expected a positive number, found 'fast'" \
  "$MOESIM" calibrate "$TMP/ll-bad.csv" -o "$TMP/x.xml"
expect_fail 2 "DeepEP v2 (NCCL Gin backend) tables are not modelled" "$MOESIM" calibrate \
  data/calib/deepep-readme/deepep_v2_readme.csv -o "$TMP/x.xml"
printf '[rank 0] Dispatch bandwidth: 1.00 GB/s, avg_t=10.00 us | Combine bandwidth: 1.00 GB/s, avg_t=10.00 us\n' > "$TMP/deepep.log"
expect_fail 2 "deepep.log: line 1: the run's num_tokens is not known" "$MOESIM" calibrate "$TMP/deepep.log" -o "$TMP/x.xml"
[ ! -e "$TMP/x.xml" ] && pass "no platform written on bad MoE input" || fail "a platform was written on bad MoE input"
expect_fail 2 "none of the measurements fits the platform" "$MOESIM" calibrate validate platforms/h100-calibrated-1n.xml "$D/nccl_N10_G8.log"
finish
