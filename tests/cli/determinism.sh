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
# The order and parallelism of a comparison's rows do not change its results.
ROWS=linear:round_robin:0,activation:signature:0,eplb:random:1
expect_ok "$MOESIM" compare --steps 2 --rows "$ROWS" -j 1 -o j1.h5
expect_ok "$MOESIM" compare --steps 2 --rows "$ROWS" -j 3 -o j3.h5
$PY - <<'PY' && pass "compare -j 1 and -j 3 give identical tables" || fail "compare results depend on -j"
import h5py, numpy as np
a, b = h5py.File("j1.h5")["rows"][:], h5py.File("j3.h5")["rows"][:]
skip = {n for n in a.dtype.names if "wall" in n}
for n in a.dtype.names:
    if n not in skip:
        assert np.array_equal(a[n], b[n], equal_nan=True), n
PY
finish
