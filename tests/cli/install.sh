#!/usr/bin/env bash
# Deployable: `cmake --install` gives a relocatable tree (moved after installing, run with no build or source tree
# in its paths), its example sweep and plots work from there, the example run file works from the repository, and
# the container recipes pass their lint (tests/cli/check_containers.py).
source "$(dirname "$0")/common.sh"
cd "$TMP"
if cmake --install "$BLD" --prefix "$TMP/prefix" > install.log 2>&1; then pass "cmake --install"; else fail "cmake --install: $(tail -5 install.log)"; fi
mv "$TMP/prefix" "$TMP/moved" # relocated: nothing may point at the prefix it was installed to
M="$TMP/moved/bin/moesim"
mkdir work && cd work
if env -u MOESIM_DATA_DIR "$M" run --steps 2 -o r.h5 > run.txt 2>&1; then pass "installed moesim run (defaults)"; else fail "installed run: $(tail -3 run.txt)"; fi
$PY - "$TMP/moved" "$SRC" "$BLD" <<'PY' && pass "the run's inputs are the installed copies" || fail "installed run read other files"
import h5py, json, sys
moved, src, bld = sys.argv[1:]
cfg = json.loads(h5py.File("r.h5").attrs["config"])
for k in ("platform", "model", "trace"):
    assert cfg[k].startswith(moved + "/share/moesim/"), (k, cfg[k])
    assert not cfg[k].startswith(src + "/") and not cfg[k].startswith(bld + "/"), (k, cfg[k])
PY
if "$M" sweep "$TMP/moved/share/moesim/examples/sweep.toml" -j 2 > sweep.txt 2>&1 &&
   grep -q "12 of 12 points succeeded" sweep.txt; then pass "installed example sweep: 12 points"; else fail "example sweep: $(tail -3 sweep.txt)"; fi
if $PY "$TMP/moved/share/moesim/experiments/plot.py" results/example-sweep.h5 -o plots > plots.txt 2>&1 &&
   [ "$(ls plots/*.png | wc -l)" -eq 4 ]; then pass "installed plot.py: 4 plots of the example sweep"; else fail "plots: $(cat plots.txt)"; fi
expect_fail 2 "nowhere: not a moesim data directory" env MOESIM_DATA_DIR="$TMP/nowhere" "$M" run --steps 1
# The example run file, from the repository root as its comment says (outputs redirected here).
if (cd "$SRC" && "$MOESIM" run --config experiments/examples/run.toml --steps 2 -o "$TMP/ex.h5" \
      --timeline "$TMP/ex.json.gz" > "$TMP/ex.txt" 2>&1); then pass "experiments/examples/run.toml"; else fail "run.toml: $(tail -3 "$TMP/ex.txt")"; fi
$PY "$SRC/tests/cli/check_results.py" timeline "$TMP/ex.json.gz" 32 > tl.txt 2>&1 && pass "its timeline imports" || fail "timeline: $(cat tl.txt)"
if out=$($PY "$SRC/tests/cli/check_containers.py" "$SRC" 2>&1); then pass "${out#ok   }"; else fail "container recipes: $out"; fi
finish
