#!/usr/bin/env bash
# Could a layer's all-to-all solution be reused for the next layer (docs/performance.md, "Reusing a layer's
# solution")? One DeepSeek-V3 run as bench/scale.sh sets it up (synthetic skewed routing, 64 requests per GPU,
# datasheet rail H100 platform, the fast model), 2 steps, every MoE layer's GPU x GPU dispatch matrix recorded;
# prints how far consecutive layers' matrices are apart and what reusing the previous layer's phase times would
# change.
# Usage: bash bench/layer_reuse.sh [BUILD_DIR] [GPUS]   (512 GPUs: about 15 s and 0.3 GiB)
set -euo pipefail
cd "$(dirname "$0")/.."
BLD=${1:-build}
G=${2:-512}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
V3=data/models/DeepSeek-V3/config.json
"$BLD/moesim" platform --nodes $(( G / 8 )) -o "$TMP/p.xml"
"$BLD/moesim" trace synth --model $V3 --requests $(( G * 64 )) --prompt 1:2 --decode 2:3 -o "$TMP/t.h5" 2>/dev/null
"$BLD/moesim" run --platform "$TMP/p.xml" --model $V3 --trace "$TMP/t.h5" --batch-per-gpu 64 --steps 2 \
  --matrix-steps 1 --matrix-layers 58 -o "$TMP/r.h5" > /dev/null 2> "$TMP/err" || { cat "$TMP/err"; exit 1; }
/usr/bin/python3 - "$TMP/r.h5" "$G" <<'PY'
import sys
import h5py
import numpy as np

f = h5py.File(sys.argv[1], "r")
m = f["traffic/dispatch_bytes"][:]  # [moe layer][src][dst] bytes, step 0
l1 = np.array([np.abs(m[i + 1] - m[i]).sum() / m[i].sum() for i in range(len(m) - 1)])
moe = [i for i, r in enumerate(f["layers"][:]) if r["is_moe"]]
print(f"{sys.argv[2]} GPUs, {len(m)} MoE layers")
print(f"consecutive layers' dispatch matrices, L1 distance / bytes: min {l1.min():.3f}, median {np.median(l1):.3f}, "
      f"max {l1.max():.3f}")
for s in range(f["layer_step/dispatch_s"].shape[0]):
    d = f["layer_step/dispatch_s"][s, moe]
    c = f["layer_step/combine_s"][s, moe]
    rel = np.abs(np.diff(d)) / d[1:]
    reuse = d[:-1].sum() + d[0] + c[:-1].sum() + c[0]  # every layer takes its predecessor's times
    print(f"step {s}: dispatch per layer {d.mean() * 1e6:.1f} us, consecutive layers differ by median "
          f"{np.median(rel) * 100:.1f}% (max {rel.max() * 100:.1f}%); all-to-all time of the step "
          f"{(d.sum() + c.sum()) * 1e3:.3f} ms, with every layer reusing its predecessor's {reuse * 1e3:.3f} ms")
d = f["layer_step/dispatch_s"][:, moe]
rel = np.abs(d[1] - d[0]) / d[0]
print(f"same layer, steps 0 and 1: dispatch differs by median {np.median(rel) * 100:.1f}% (max {rel.max() * 100:.1f}%)")
PY
