#!/usr/bin/env bash
# moesim sweep: spec expansion (axes, zip, exclude), parallel points into one HDF5 (pandas one-liner), resume,
# SIGKILL safety, a failing point recorded without stopping the others, -j independence, and bad specs refused.
source "$(dirname "$0")/common.sh"
cd "$TMP"
cat > spec.toml <<TOML
out = "sweep.h5"
steps = 2
[axes]
platform = ["$SRC/platforms/h100-2n.xml", "$SRC/platforms/h100-4n.xml"]
placement = ["linear", "eplb"]
batch_per_gpu = [16, 32]
redundant_experts = [0, 1]
[[zip]]
axes = ["placement", "redundant_experts"]
[[exclude]]
platform = "$SRC/platforms/h100-4n.xml"
batch_per_gpu = 16
TOML
"$MOESIM" sweep spec.toml --dry-run > dry.txt 2>&1
grep -q "^6 points (2 steps each)" dry.txt && pass "dry run: 2 x 2 x 2 minus 2 excluded = 6 points" || fail "dry run: $(cat dry.txt)"
expect_ok "$MOESIM" sweep spec.toml -j 2
$PY - <<'PY' && pass "points table opens with pandas, every point ok, zip and exclusion applied" || fail "points table"
import h5py, pandas as pd
f = h5py.File("sweep.h5")
df = pd.DataFrame({k: (v.asstr()[:] if v.dtype.kind == "O" else v[:]) for k, v in f["points"].items()})
assert len(df) == 6 and (df.status == 1).all(), df
assert set(zip(df.placement, df.redundant_experts)) == {("linear", 0.0), ("eplb", 1.0)}
assert not ((df.platform.str.endswith("4n.xml")) & (df.batch_per_gpu == 16)).any()
assert (df.tpot_mean_s > 0).all() and (df.wall_s > 0).all()
assert all(f"point_{i}" in f for i in range(6)) and "layers" in f["point_0"]
PY
"$MOESIM" sweep spec.toml -j 2 2> again.txt >/dev/null
grep -q "6 already done, 0 to run" again.txt && pass "re-running skips finished points" || fail "resume: $(cat again.txt)"
# Same points with -j 1 from scratch: identical metrics.
sed 's/out = "sweep.h5"/out = "sweep1.h5"/' spec.toml > spec1.toml
expect_ok "$MOESIM" sweep spec1.toml -j 1
$PY - <<'PY' && pass "-j 1 and -j 2 give identical points" || fail "results depend on -j"
import h5py, numpy as np
a, b = h5py.File("sweep.h5")["points"], h5py.File("sweep1.h5")["points"]
for k in ("tpot_mean_s", "tokens_per_s", "dispatch_inter_bytes_per_step", "expert_load_max_over_mean"):
    assert np.array_equal(a[k][:], b[k][:]), k
PY
# SIGKILL at random moments, then resume: never a partial file under the final name, every point exactly once.
sed 's/out = "sweep.h5"/out = "k.h5"/' spec.toml > k.toml
RANDOM=7
for i in 1 2 3 4; do
  "$MOESIM" sweep k.toml -j 2 > /dev/null 2>&1 &
  pid=$!
  sleep "0.$(( RANDOM % 10 ))"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  if [ -e k.h5 ]; then
    $PY -c "import h5py; assert len(h5py.File('k.h5')['points/status']) == 6" 2>/dev/null || { fail "k.h5 incomplete after SIGKILL $i"; break; }
  fi
done
sleep 2 # children of a killed sweep finish their point on their own
expect_ok "$MOESIM" sweep k.toml -j 2
$PY -c "
import h5py; f = h5py.File('k.h5')
assert list(f['points/status'][:]) == [1] * 6 and len(set(f['points/point_id'].asstr()[:])) == 6
" && pass "after SIGKILLs a resumed sweep has every point exactly once" || fail "resume after SIGKILL"
# A point that fails is recorded with its error; the others finish; exit status 3.
cat > fail.toml <<TOML
out = "fail.h5"
steps = 1
[axes]
platform = ["$SRC/platforms/h100-2n.xml", "p3.xml"]
TOML
"$MOESIM" platform --nodes 3 --hbm-bytes 1e6 -o p3.xml # the weights cannot fit: the point fails when it runs
"$MOESIM" sweep fail.toml -j 2 > fail.txt 2>&1
rc=$?
[ $rc -eq 3 ] && grep -q "1 of 2 points succeeded" fail.txt && pass "a failing point does not stop the others (exit 3)" \
  || fail "failing point: rc $rc, $(cat fail.txt)"
$PY -c "
import h5py; f = h5py.File('fail.h5'); e = f['points/error'].asstr()[:]
assert list(f['points/status'][:]) == [1, 0] and 'more than its HBM capacity' in e[1], e
" && pass "the failure is in the points table" || fail "failure not recorded"
# Shards (what Slurm array tasks run; tests/cli/slurm.sh submits them to a real Slurm): every point in exactly one
# shard, and the merge of the shards equals the single run (the points are already done: the shards only gather).
expect_ok "$MOESIM" sweep spec.toml --shard 0/2
expect_ok "$MOESIM" sweep spec.toml --shard 1/2
mv sweep.h5 single.h5
expect_ok "$MOESIM" sweep merge spec.toml
$PY - <<'PY' && pass "merged shards == single run" || fail "merged shards differ"
import h5py, numpy as np
a, b = h5py.File("sweep.h5")["points"], h5py.File("single.h5")["points"]
s0, s1 = h5py.File("sweep.h5.shard-0-of-2.h5")["points"], h5py.File("sweep.h5.shard-1-of-2.h5")["points"]
assert list(s0["point_index"][:]) == [0, 2, 4] and list(s1["point_index"][:]) == [1, 3, 5]
for k in a:
    x, y = a[k][:], b[k][:]
    assert (x == y).all() if x.dtype.kind in "OS" else np.array_equal(x, y, equal_nan=True), k
PY
expect_fail 2 "--shard: expected I/N with 0 <= I < N (e.g. 3/8), got '2/2'" "$MOESIM" sweep spec.toml --shard 2/2
expect_fail 2 "written for another version of spec1.toml" "$MOESIM" sweep merge spec1.toml sweep.h5.shard-0-of-2.h5
expect_ok "$MOESIM" sweep spec.toml --emit-slurm job.sh --shards 2 --partition gpu --mem 8G
grep -q '^#SBATCH --array=0-1$' job.sh && grep -q -- '--shard "${SLURM_ARRAY_TASK_ID}/2"' job.sh &&
  grep -q '^#SBATCH --partition=gpu$' job.sh && bash -n job.sh && pass "sbatch script" || fail "sbatch script: $(cat job.sh)"
expect_fail 2 "--partition: 'a b' contains a space" "$MOESIM" sweep spec.toml --emit-slurm job2.sh --partition "a b"
# A synthetic-trace axis value: generated once into OUT.traces/, replayed by the points.
cat > synth.toml <<TOML
out = "synth.h5"
steps = 2
[axes]
platform = ["$SRC/platforms/h100-2n.xml"]
trace = ["synth:generic:300"]
placement = ["linear", "eplb"]
batch_per_gpu = [16]
TOML
expect_ok "$MOESIM" sweep synth.toml -j 2
[ "$(ls synth.h5.traces/synth-*.h5 | wc -l)" -eq 1 ] && $PY -c "
import h5py; f = h5py.File('synth.h5'); p = f['points']
assert list(p['status'][:]) == [1, 1] and set(p['trace'].asstr()[:]) == {'synth:generic:300'}
" && pass "synth:generic:300 generated once, both points replay it" || fail "synthetic trace axis: $(ls synth.h5.traces)"
# Hardware what-ifs without hand-made XML: the platform generator's knobs as axes (on the bundled calibration record
# unless calibration says otherwise), any run option as an axis, and what each point ran on in the points table.
cat > hw.toml <<TOML
out = "hw.h5"
steps = 2
[axes]
nodes = [1, 2]
nic_Gbps = [400, 800]
nics_per_node = [4]
placement = ["linear", "eplb"]
kernel_overhead_s = [4e-6]
signature_tokens = [16]
skip_signature_tokens = [8]
clusters = [2]
[[exclude]]
nodes = 1
nic_Gbps = 800
TOML
expect_ok "$MOESIM" sweep hw.toml -j 2
[ "$(ls hw.h5.platforms/platform-*.xml | wc -l)" -eq 3 ] && pass "one generated platform per knob set (3)" \
  || fail "generated platforms: $(ls hw.h5.platforms)"
grep -q "nics_per_node=4" hw.h5.platforms/*.xml && grep -q "NIC: 800 Gb/s" hw.h5.platforms/*.xml \
  && pass "generated platforms carry the knobs" || fail "generated platform knobs"
$PY - <<'PY' && pass "points: gpus, nodes, requests and each point's configuration and input digests" || fail "points columns"
import h5py, json, os
f = h5py.File("hw.h5"); p = f["points"]
assert list(p["status"][:]) == [1] * 6
assert list(p["gpus"][:]) == [8, 16, 16] * 2 and list(p["nodes"][:]) == [1, 2, 2] * 2, p["gpus"][:]
assert (p["requests"][:] == 213).all() and (p["distinct_requests"][:] == 213).all()
tpot = dict(zip(zip(p["nodes"][:], p["nic_Gbps"][:], p["placement"].asstr()[:]), p["tpot_mean_s"][:]))
assert tpot[(2, 800, "linear")] < tpot[(2, 400, "linear")], tpot   # a faster NIC helps at 2 nodes
cfg = [json.loads(c) for c in p["config"].asstr()[:]]
assert cfg[2]["kernel_overhead_s"] == 4e-6 and cfg[2]["signature_tokens"] == 16 and cfg[2]["clusters"] == 2
assert cfg[2]["skip_signature_tokens"] == 8
assert os.path.isabs(cfg[2]["platform"]) and "hw.h5.platforms" in cfg[2]["platform"], cfg[2]["platform"]
assert all(len(h) == 64 for h in p["sha256_platform"].asstr()[:])
assert f.attrs["working_directory"] == os.getcwd() and f.attrs["moesim_revision"]
assert f["point_2"].attrs["config"] == p["config"].asstr()[2]
axes = p.attrs["axes"].split(",")
assert axes[0] == "platform" and "nic_Gbps" in axes and "tpot_mean_s" not in axes and "gpus" not in axes, axes
PY
# A point's recorded configuration re-runs as it is (run --from on the point's result).
pid=$($PY -c "import h5py; print(h5py.File('hw.h5')['points/point_id'].asstr()[3])")
expect_ok "$MOESIM" run --from "hw.h5.points/$pid.h5" -o again.h5
$PY -c "
import h5py
a, b = h5py.File('hw.h5.points/$pid.h5'), h5py.File('again.h5')
assert a['summary'].attrs['tpot_mean_s'] == b['summary'].attrs['tpot_mean_s']
" && pass "run --from a sweep point gives its TPOT" || fail "run --from a sweep point"
# Plots of a sweep file.
if $PY "$SRC/experiments/plot.py" sweep.h5 -o plots > plots.txt 2>&1 && [ "$(ls plots/*.png | wc -l)" -eq 4 ]; then
  pass "experiments/plot.py: tpot, inter_bytes, layers, load"; else fail "plot.py: $(cat plots.txt)"; fi
# Bad specs: errors before anything runs, naming the file and key.
bad() { # expected-message toml-text
  printf '%s\n' "$2" > bad.toml
  expect_fail 2 "$1" "$MOESIM" sweep bad.toml
}
bad "bad.toml: colour: unknown key (expected one of: out, steps, axes, zip, exclude)" $'out = "x.h5"\ncolour = 1'
bad "bad.toml: axes.placemnt: unknown key" $'out = "x.h5"\n[axes]\nplacemnt = ["linear"]'
bad "bad.toml: axes.batch_per_gpu[1]: expected an integer" $'out = "x.h5"\n[axes]\nbatch_per_gpu = [8, "16"]'
bad "bad.toml: axes.seed: expected at least one value" $'out = "x.h5"\n[axes]\nseed = []'
bad "bad.toml: out: missing key" $'steps = 3'
bad "zipped axes need equal lengths: seed has 2 values, batch_per_gpu has 1" $'out = "x.h5"\n[axes]\nseed = [1, 2]\nbatch_per_gpu = [8]\n[[zip]]\naxes = ["seed", "batch_per_gpu"]'
bad "bad.toml: exclude: every point is excluded" $'out = "x.h5"\n[[exclude]]\nseed = 1'
bad "platform file 'nope.xml' not found" $'out = "x.h5"\n[axes]\nplatform = ["nope.xml"]'
bad "--micro-batches must be 1 or 2" $'out = "x.h5"\n[axes]\nmicro_batches = [3]'
bad "bad.toml: point 0: unknown placement policy 'magic'" $'out = "x.h5"\n[axes]\nplacement = ["magic"]'
bad "bad.toml: line 2, column" $'out = "x.h5"\n[axes\nseed = [1]'
bad "unknown synthetic preset 'llama' (expected generic, deepseek-v3, qwen3, maverick)" $'out = "x.h5"\n[axes]\ntrace = ["synth:llama"]'
bad "expected synth:PRESET or synth:PRESET:REQUESTS" $'out = "x.h5"\n[axes]\ntrace = ["synth:qwen3:lots"]'
bad "names a platform file and sets platform generator knobs" $'out = "x.h5"\n[axes]\nplatform = ["'"$SRC"$'/platforms/h100-2n.xml"]\nnodes = [2]'
bad "NICs per node must divide the GPUs per node (8)" $'out = "x.h5"\n[axes]\nnics_per_node = [3]'
bad "unknown GPU preset" $'out = "x.h5"\n[axes]\ngpu = ["b200"]'
bad "calibration record 'nope.json' not found" $'out = "x.h5"\n[axes]\nnodes = [2]\ncalibration = ["nope.json"]'
bad "axes.nodes[0]: expected an integer" $'out = "x.h5"\n[axes]\nnodes = [1.5]'
bad "axes.batch_per_gpu: expected an integer between" $'out = "x.h5"\n[axes]\nbatch_per_gpu = 99999999999'

[ ! -e x.h5 ] && [ ! -e x.h5.points ] && pass "nothing written for refused specs" || fail "refused spec wrote output"
finish
