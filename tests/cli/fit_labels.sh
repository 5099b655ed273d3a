#!/usr/bin/env bash
# --fit-labels: policies fitted on some task families and judged on the others (run and compare), with clear errors.
source "$(dirname "$0")/common.sh"
cd "$TMP"
"$MOESIM" run --placement eplb --fit-labels intent,law,summary --steps 2 --out r.h5 > r.txt 2>&1 \
  && pass "run fitted on three ESFT domains" || fail "fit-labels run: $(cat r.txt)"
grep -q "policies fitted on the 173 requests of labels intent,law,summary, the 40 requests of the other labels served" r.txt \
  && pass "the split is reported" || fail "split line: $(grep split r.txt)"
$PY - r.h5 <<'PY' && pass "only the held-out label's requests are served" || fail "served requests"
import sys, json, h5py
f = h5py.File(sys.argv[1], "r")
assert json.loads(f.attrs["config"])["fit_labels"] == "intent,law,summary"
assert f["summary"].attrs["distinct_requests"] <= 40, f["summary"].attrs["distinct_requests"]
PY
"$MOESIM" run --from r.h5 > again.txt 2>&1 && grep "^TPOT" r.txt > a && grep "^TPOT" again.txt > b && cmp -s a b \
  && pass "run --from keeps the label split" || fail "--from with --fit-labels"
"$MOESIM" compare --rows eplb:round_robin:0 --fit-labels translation --steps 2 -o c.h5 > c.txt 2>&1 \
  && pass "compare --fit-labels" || fail "compare --fit-labels: $(cat c.txt)"
$PY -c "import h5py; f = h5py.File('c.h5'); assert f.attrs['fit_labels'] == 'translation'" \
  && pass "compare records the label split" || fail "compare fit_labels attribute"
expect_fail 2 "--fit-labels: no label 'poetry' in the trace (its labels: intent, law, summary, translation)" \
  "$MOESIM" run --fit-labels intent,poetry --steps 1 --out x.h5
expect_fail 2 "--fit-labels leaves no request to serve" "$MOESIM" run --fit-labels intent,law,summary,translation --steps 1 --out x.h5
expect_fail 2 "--fit-labels: label 'law' is given twice" "$MOESIM" run --fit-labels law,law --steps 1 --out x.h5
expect_fail 2 "--fit-labels and --train-fraction are exclusive" "$MOESIM" run --fit-labels law --train-fraction 0.5 --out x.h5
expect_fail 2 "--fit-labels: expected comma-separated label names" "$MOESIM" compare --fit-labels law, --out x.h5
expect_fail 2 "--train-fraction excludes --fit-labels" "$MOESIM" compare --fit-labels law --train-fraction 0.3 --out x.h5
[ ! -e x.h5 ] && pass "no result file from refused runs" || fail "x.h5 written"
finish
