#!/usr/bin/env bash
# moesim sweep on a real Slurm: starts munged, slurmctld and slurmd on this machine (a one-node cluster configured
# here, in a scratch directory, on unused ports), submits the array script `moesim sweep --emit-slurm` writes,
# waits, merges the shards and checks the merged file equals a local run of the same spec; stops the daemons.
# Needs root and the Debian packages slurm-wlm and munge (.ci/bootstrap.sh installs them): exit 77 (ctest:
# skipped) without them.
source "$(dirname "$0")/common.sh"
for b in munged mungekey slurmctld slurmd sbatch scontrol; do
  command -v "$b" > /dev/null || { echo "SKIP: $b not installed (apt-get install slurm-wlm munge)"; exit 77; }
done
[ "$(id -u)" -eq 0 ] || { echo "SKIP: starting slurmd needs root"; exit 77; }
D="$TMP/slurm"
mkdir -p "$D"/{state,spool,log}
chmod 700 "$D"
H=$(hostname -s)
PORT=$((20000 + RANDOM % 20000))
mungekey --create --keyfile="$D/munge.key" 2> /dev/null || dd if=/dev/urandom of="$D/munge.key" bs=1024 count=1 2> /dev/null
chmod 600 "$D/munge.key"
stop() {
  for p in slurmd slurmctld munged; do
    [ -f "$D/$p.pid" ] && kill "$(cat "$D/$p.pid")" 2> /dev/null
  done
  sleep 1
  rm -rf "$TMP"
}
trap stop EXIT
munged --force --key-file="$D/munge.key" --socket="$D/munge.sock" --pid-file="$D/munged.pid" \
  --log-file="$D/munged.log" --seed-file="$D/munge.seed" || { fail "munged did not start"; finish; exit 1; }
cat > "$D/slurm.conf" <<EOF
ClusterName=moesimtest
SlurmctldHost=$H(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
AuthInfo=socket=$D/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
NodeName=$H NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=moesim Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$D/slurm.conf"
slurmctld -f "$SLURM_CONF" && slurmd -f "$SLURM_CONF" || { fail "slurm daemons did not start: $(tail -3 "$D"/log/*.log)"; finish; exit 1; }
for _ in $(seq 1 60); do
  scontrol ping 2> /dev/null | grep -q UP && sinfo -h -o %T 2> /dev/null | grep -qE "idle|mix" && break
  sleep 1
done
sinfo -h -o %T 2> /dev/null | grep -qE "idle|mix" && pass "one-node Slurm cluster up ($H)" ||
  { fail "Slurm node not idle: $(sinfo 2>&1; tail -5 "$D"/log/*.log)"; finish; exit 1; }

cd "$TMP"
cat > spec.toml <<TOML
out = "slurm.h5"
steps = 2
[axes]
platform = ["$SRC/platforms/h100-2n.xml"]
placement = ["linear", "eplb", "activation"]
batch_per_gpu = [16, 32]
TOML
sed 's/out = "slurm.h5"/out = "local.h5"/' spec.toml > local.toml
expect_ok "$MOESIM" sweep spec.toml --emit-slurm job.sh --shards 3 --cpus-per-task 1 --time 00:20:00 --partition moesim
grep -q '^#SBATCH --array=0-2$' job.sh && pass "array of 3 tasks" || fail "job script: $(cat job.sh)"
if out=$(timeout 900 sbatch --wait job.sh 2>&1); then pass "sbatch --wait: $out"; else
  fail "sbatch: $out; $(tail -5 "$D"/log/*.log slurm.h5.slurm/*.log 2>/dev/null)"; fi
ls slurm.h5.shard-*-of-3.h5 > /dev/null 2>&1 && pass "3 shard files" || fail "shard files: $(ls)"
expect_ok "$MOESIM" sweep merge spec.toml
expect_ok "$MOESIM" sweep local.toml -j 2
$PY - <<'PY' && pass "merged Slurm sweep == local sweep" || fail "merged Slurm sweep differs from the local one"
import h5py, numpy as np
a, b = h5py.File("slurm.h5"), h5py.File("local.h5")
pa, pb = a["points"], b["points"]
assert set(pa) == set(pb), (set(pa) ^ set(pb))
for k in pa:
    if k == "wall_s":
        continue
    x, y = pa[k][:], pb[k][:]
    assert (x == y).all() if x.dtype.kind in "OS" else np.allclose(x, y, rtol=0, atol=0, equal_nan=True), k
for i in range(len(pa["status"])):
    la, lb = a[f"point_{i}/layers"][:], b[f"point_{i}/layers"][:]
    assert la.tobytes() == lb.tobytes(), i
print(len(pa["status"]), "points identical")
PY
# Merge refuses incomplete or foreign sets of shards.
mkdir -p partial && cp slurm.h5.shard-0-of-3.h5 slurm.h5.shard-1-of-3.h5 partial/
expect_fail 2 "2 of 6 points are in no shard file (2, 5)" "$MOESIM" sweep merge spec.toml partial/slurm.h5.shard-0-of-3.h5 partial/slurm.h5.shard-1-of-3.h5
expect_fail 2 "is given twice" "$MOESIM" sweep merge spec.toml slurm.h5.shard-0-of-3.h5 slurm.h5.shard-0-of-3.h5
finish
