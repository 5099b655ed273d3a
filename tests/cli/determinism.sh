#!/usr/bin/env bash
# Same inputs and seed give identical HDF5 datasets; another seed changes them.
source "$(dirname "$0")/common.sh"
cd "$TMP"
ARGS=(run --platform "$SRC/platforms/h100-2n.xml" --steps 6 --batch-per-gpu 8 --grouping random --seed 3 --micro-batches 2)
expect_ok "$MOESIM" "${ARGS[@]}" --out a.h5
expect_ok "$MOESIM" "${ARGS[@]}" --out b.h5
$PY "$SRC/tests/cli/check_results.py" same a.h5 b.h5 && pass "identical results" || fail "results differ"
expect_ok "$MOESIM" run --platform "$SRC/platforms/h100-2n.xml" --steps 6 --batch-per-gpu 8 --grouping random --seed 4 --micro-batches 2 --out c.h5
$PY "$SRC/tests/cli/check_results.py" same a.h5 c.h5 >/dev/null && fail "seed has no effect" || pass "another seed differs"
finish
