#!/usr/bin/env bash
# moesim trace stats / trace synth end to end: statistics checked against an independent numpy computation on
# real (bundled ESFT, gpt-oss) and synthetic traces, synthetic targets reached, plots drawn, bad options refused.
source "$(dirname "$0")/common.sh"
cd "$TMP"
ESFT="$BLD/data/esft-deepseek-v2-lite.h5"
expect_ok "$MOESIM" trace stats "$ESFT" -o esft-stats.h5
"$MOESIM" trace stats "$ESFT" > esft.txt 2>/dev/null
grep -q "intent.*law.*summary.*translation" esft.txt && pass "ESFT stats list the four labels' divergence" \
  || fail "ESFT divergence table: $(cat esft.txt)"
$PY "$SRC/tests/cli/check_trace_stats.py" "$ESFT" esft-stats.h5 && pass "ESFT stats match numpy" || fail "ESFT stats"
expect_ok "$MOESIM" trace import --format gptoss-json --model "$SRC/data/models/gpt-oss-20b/config.json" -o g.h5 \
  "$SRC"/data/traces/gpt-oss-20b-sample/*.json
expect_ok "$MOESIM" trace stats g.h5 -o g-stats.h5
$PY "$SRC/tests/cli/check_trace_stats.py" g.h5 g-stats.h5 && pass "gpt-oss stats match numpy" || fail "gpt-oss stats"

# A synthetic trace with both phases and drift: statistics match numpy and the requested targets.
expect_ok "$MOESIM" trace synth --model "$SRC/data/models/DeepSeek-V2-Lite/config.json" --requests 150 \
  --prompt 24:64 --decode 16:48 --skew 0.7 --overlap 0.5 --correlation 0.7 --drift 0.1 --seed 3 -o syn.h5
expect_ok "$MOESIM" trace stats syn.h5 -o syn-stats.h5
$PY "$SRC/tests/cli/check_trace_stats.py" syn.h5 syn-stats.h5 && pass "synthetic stats match numpy" || fail "synthetic stats"
$PY - <<'PY' && pass "synthetic trace reaches skew, overlap and correlation within 0.05" || fail "synthetic targets"
import h5py
s = h5py.File("syn-stats.h5")
got = {k: float(s.attrs[k]) for k in ("zipf", "overlap", "pd_correlation")}
want = {"zipf": 0.7, "overlap": 0.5, "pd_correlation": 0.7}
bad = {k: (got[k], want[k]) for k in got if abs(got[k] - want[k]) > 0.05}
assert not bad, bad
PY
# Same seed, same file.
expect_ok "$MOESIM" trace synth --model "$SRC/data/models/DeepSeek-V2-Lite/config.json" --requests 150 \
  --prompt 24:64 --decode 16:48 --skew 0.7 --overlap 0.5 --correlation 0.7 --drift 0.1 --seed 3 -o syn2.h5
cmp -s syn.h5 syn2.h5 && pass "trace synth is byte-identical for a seed" || fail "trace synth differs between runs"

# Plots.
$PY "$SRC/experiments/plot_trace_stats.py" esft-stats.h5 plots > /dev/null && [ -s plots/load_heatmap.png ] \
  && [ -s plots/label_popularity.png ] && [ -s plots/per_layer.png ] && pass "plots drawn" || fail "plots"
expect_fail 1 "not a \`moesim trace stats\` file" $PY "$SRC/experiments/plot_trace_stats.py" syn.h5 plots

# Bad input.
V2="$SRC/data/models/DeepSeek-V2-Lite/config.json"
expect_fail 2 "missing.h5" "$MOESIM" trace stats missing.h5
expect_fail 2 "not a moesim trace" "$MOESIM" trace stats esft-stats.h5
expect_fail 2 "--mix needs one weight per label (4), got 2" "$MOESIM" trace synth --model "$V2" --mix 1,2 -o x.h5
expect_fail 2 "--prompt: expected N or MIN:MAX (integers), got 'abc'" "$MOESIM" trace synth --model "$V2" --prompt abc -o x.h5
expect_fail 2 "give --requests or --tokens, not both" "$MOESIM" trace synth --model "$V2" --requests 3 --tokens 9 -o x.h5
expect_fail 2 "--skew must be in [0, 4]" "$MOESIM" trace synth --model "$V2" --skew 9 -o x.h5
expect_fail 2 "--preset" "$MOESIM" trace synth --model "$V2" --preset gpt5 -o x.h5
[ ! -e x.h5 ] && pass "no output after refused options" || fail "x.h5 written despite errors"
finish
