#!/usr/bin/env bash
# Golden end-to-end run of the README's main job (moesim run with no arguments: bundled 2 x 8 H100 platform,
# DeepSeek-V2-Lite, ESFT traces). Regenerate after an intended model change with:
#   bash tests/cli/golden_default.sh build/moesim . build --update
source "$(dirname "$0")/common.sh"
cd "$TMP"
if "$MOESIM" run --out default.h5 --timeline tl.json > out.txt 2> err.txt; then pass "default run"; else fail "default run: $(cat err.txt)"; fi
grep -q "^TPOT" out.txt && pass "console summary printed" || fail "no TPOT line: $(cat out.txt)"
grep -q "per-layer breakdown" out.txt && pass "per-layer breakdown printed" || fail "no breakdown"
$PY "$SRC/tests/cli/check_results.py" golden default.h5 "$SRC/tests/golden/default-run.json" ${4:-} && pass "golden" || fail "golden"
$PY "$SRC/tests/cli/check_results.py" timeline tl.json 16 && pass "timeline" || fail "timeline"
# Two micro-batches (one track each), filtered to steps 1-2 and the second node, written compressed.
"$MOESIM" run --steps 3 --micro-batches 2 --timeline tl2.json.gz --timeline-steps 1:2 --timeline-gpus 8: > /dev/null 2>&1 \
  && $PY "$SRC/tests/cli/check_results.py" timeline tl2.json.gz 16 && pass "timeline: micro-batches, filters, gzip" \
  || fail "timeline with two micro-batches"
expect_fail 2 "--timeline-steps: expected FIRST:LAST" "$MOESIM" run --timeline t.json --timeline-steps 2:x
finish
