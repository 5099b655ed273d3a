#!/usr/bin/env bash
# run --refit-every: the placement is re-fitted on served tokens, the weight copies are simulated and recorded, a
# placement that does not change copies nothing, and the options round-trip through a result file.
source "$(dirname "$0")/common.sh"
cd "$TMP"
"$MOESIM" run --placement eplb --redundant-experts 1 --refit-every 3 --refit-window 2 --steps 7 --out r.h5 > r.txt 2>&1 \
  && pass "eplb re-fitted every 3 steps" || fail "refit run: $(cat r.txt)"
grep -q "^re-fits       2, expert weights copied" r.txt && pass "console reports 2 re-fits" || fail "no re-fit line: $(cat r.txt)"
$PY - r.h5 <<'PY' && pass "per-step re-fit columns and summary" || fail "re-fit columns"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
s = f["steps"][:]
assert list(s["refit"]) == [0, 0, 0, 1, 0, 0, 1], s["refit"]
moved = s["weight_move_s"]
assert (moved[[3, 6]] > 0).all() and (np.delete(moved, [3, 6]) == 0).all(), moved
assert (s["weight_bytes"][[3, 6]] >= s["weight_bytes_inter_node"][[3, 6]]).all()
# The copies are in the step's TPOT: a re-fit step is longer than the others by about the copy time.
others = np.delete(s["tpot_s"] - moved, [3, 6])
assert abs((s["tpot_s"][3] - moved[3]) - others.mean()) < 0.1 * others.mean(), (s["tpot_s"], moved)
a = f["summary"].attrs
assert a["refits"] == 2 and abs(a["weight_move_s"] - moved.sum()) < 1e-12
assert abs(a["weight_bytes"] - s["weight_bytes"].sum()) < 1.0
cfg = __import__("json").loads(f.attrs["config"])
assert cfg["refit_every"] == 3 and cfg["refit_window"] == 2
PY
# Re-running the result reproduces it.
"$MOESIM" run --from r.h5 --out again.h5 > again.txt 2>&1 && grep "^TPOT" r.txt > a && grep "^TPOT" again.txt > b \
  && cmp -s a b && pass "run --from reproduces a re-fit run" || fail "--from of a re-fit run differs"
# linear does not depend on the tokens: its re-fit copies nothing and costs no time.
"$MOESIM" run --refit-every 2 --steps 4 > lin.txt 2>&1 && "$MOESIM" run --steps 4 > base.txt 2>&1 || fail "linear runs"
grep -q "expert weights copied 0.00 B (0.00 B across nodes), 0.0 us simulated" lin.txt && pass "linear re-fit copies nothing" \
  || fail "linear re-fit: $(grep re-fits lin.txt)"
grep "^TPOT" lin.txt > a; grep "^TPOT" base.txt > b
cmp -s a b && pass "a re-fit that moves nothing leaves TPOT unchanged" || fail "TPOT changed: $(cat a b)"
# A re-fit the policy refuses (too few requests in the window) stops the run with the policy's message, no crash
# and no result file.
expect_fail 2 "re-fit before step 1 on the 16 requests served (16 tokens): activation clustering: 16 fitting requests for k = 100 clusters" \
  "$MOESIM" run --placement activation --clusters 100 --refit-every 1 --refit-window 1 --batch-per-gpu 1 --steps 3 --out bad.h5
[ ! -e bad.h5 ] && pass "no result file from a refused re-fit" || fail "bad.h5 written"
# A synthetic trace whose task mix shifts over arrival order.
expect_ok "$MOESIM" trace synth --model "$SRC/data/models/DeepSeek-V2-Lite/config.json" --requests 64 --arrival by-label -o d.h5
$PY - d.h5 <<'PY' && pass "by-label arrival: requests in label order" || fail "by-label order"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
lab = f["requests/label"][:]
assert (np.diff(lab) >= 0).all() and len(set(lab)) > 1, lab
PY
expect_fail 2 "--arrival must be mixed or by-label" "$MOESIM" trace synth --model "$SRC/data/models/DeepSeek-V2-Lite/config.json" --arrival sorted -o x.h5
finish
