#!/usr/bin/env bash
# Reproducible runs: `run --from RESULT.h5` re-runs what a result recorded (byte for byte, from any directory),
# `run --config FILE.toml` takes run options from a file with the command line overriding them.
source "$(dirname "$0")/common.sh"
cd "$TMP"
"$MOESIM" run --steps 3 --batch-per-gpu 16 --placement eplb --redundant-experts 1 --seed 5 --micro-batches 2 \
  -o a.h5 > a.txt 2> a.err && pass "first run" || fail "first run: $(cat a.err)"
mkdir -p elsewhere && (cd elsewhere && "$MOESIM" run --from ../a.h5 -o b.h5 > ../b.txt 2> ../b.err) \
  && pass "run --from from another directory" || fail "run --from: $(cat b.err)"
$PY - a.h5 elsewhere/b.h5 <<'PY' && pass "--from: same configuration, tables and summary" || fail "--from differs"
import sys, h5py
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
assert a.attrs["config"] == b.attrs["config"], "config"
def same(name, obj):
    if isinstance(obj, h5py.Dataset):
        assert obj[()].tobytes() == b[name][()].tobytes(), name
a.visititems(same)
assert dict(a["summary"].attrs) == dict(b["summary"].attrs), "summary"
PY
diff <(grep -v "^wall time\|^results" a.txt) <(grep -v "^wall time\|^results" b.txt) > /dev/null \
  && pass "--from: same console output (stdout)" || fail "--from: console output differs"
printf 'batch_per_gpu = 8\nplacement = "eplb"\nsteps = 3\nseed = 5\n' > run.toml
out=$("$MOESIM" run --config run.toml --steps 1 2>&1)
[[ "$out" == *"batch 8/GPU"* && "$out" == *"(1 steps,"* ]] && pass "--config, command line overriding it" || fail "--config: $out"
"$MOESIM" run --from a.h5 --steps 1 -o c.h5 > /dev/null 2>&1
$PY -c "import h5py,json; c=json.loads(h5py.File('c.h5').attrs['config']); assert c['steps']==1 and c['batch_per_gpu']==16" \
  && pass "--from with an override" || fail "--from override"
printf 'bogus = 1\n' > bad.toml
expect_fail 2 "bad.toml: key 'bogus': not a moesim run option" "$MOESIM" run --config bad.toml
printf 'steps = \n' > broken.toml
expect_fail 2 "broken.toml: line 1" "$MOESIM" run --config broken.toml
"$MOESIM" trace stats "$BLD/data/esft-deepseek-v2-lite.h5" -o stats.h5 > /dev/null 2>&1
expect_fail 2 "stats.h5: @config: missing: not a moesim run result" "$MOESIM" run --from stats.h5
$PY -c "import h5py; r=h5py.File('a.h5').attrs['moesim_revision']; assert r" && pass "result records the source revision" \
  || fail "no moesim_revision"
"$MOESIM" --version | grep -q "moesim 0" && pass "--version" || fail "--version"
# A synthetic trace named like a sweep's, generated with the run's seed; --from regenerates it identically.
"$MOESIM" run --trace synth:generic:64 --steps 1 --batch-per-gpu 4 -o s.h5 > s.txt 2>&1 \
  && "$MOESIM" run --from s.h5 -o s2.h5 > s2.txt 2>&1 \
  && $PY -c "import h5py; a,b=h5py.File('s.h5'),h5py.File('s2.h5'); assert dict(a['summary'].attrs)==dict(b['summary'].attrs)" \
  && pass "run --trace synth:PRESET:REQUESTS, and again --from" || fail "synthetic trace run: $(cat s.txt s2.txt)"
expect_fail 2 "unknown synthetic preset 'nope'" "$MOESIM" run --trace synth:nope
# compare.h5 keeps every row's configuration and the inputs' digests.
"$MOESIM" compare --steps 1 --rows linear:round_robin:0,eplb:round_robin:1 -o cmp.h5 > /dev/null 2>&1 && $PY - <<'PY' \
  && pass "compare.h5: per-row configuration and input digests" || fail "compare.h5 configuration"
import h5py, json
f = h5py.File("cmp.h5")
rows = [json.loads(c) for c in f["config"].asstr()[:]]
assert rows[1]["placement"] == "eplb" and rows[1]["redundant_experts"] == 1, rows[1]
assert all(len(f.attrs[k]) == 64 for k in ("sha256_platform", "sha256_model", "sha256_trace"))
PY
# SimGrid's own options reach its engines (after moesim's configuration); a key SimGrid does not know is refused.
err=$("$MOESIM" run --steps 1 --log=xbt_cfg.thresh:info --cfg=maxmin/precision:1e-8 2>&1 >/dev/null)
[[ "$err" == *"Configuration change: Set 'maxmin/precision' to '1e-8'"* ]] && pass "--cfg and --log forwarded to SimGrid" \
  || fail "--cfg/--log: $err"
expect_fail 2 "--cfg=bogus/key:1: SimGrid refuses it: Bad config key: bogus/key" "$MOESIM" run --steps 1 --cfg=bogus/key:1
"$MOESIM" --help-cfg > help-cfg.txt && grep -q "network/model" help-cfg.txt && pass "--help-cfg lists SimGrid's keys" || fail "--help-cfg"
"$MOESIM" run --steps 1 --log-level warn > /dev/null 2> warn.txt && ! grep -q "^\[info\]" warn.txt \
  && pass "--log-level after the subcommand" || fail "--log-level after the subcommand: $(cat warn.txt)"
finish
