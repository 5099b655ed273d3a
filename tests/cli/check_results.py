#!/usr/bin/python3
"""Checks moesim result files with h5py (Debian's python3-h5py), the way users open them.

  check_results.py golden RESULT.h5 GOLDEN.json [--update]  summary metrics equal the golden values (rel 1e-9)
  check_results.py same A.h5 B.h5                           every dataset and attribute identical
  check_results.py timeline FILE.json GPUS                  valid Chrome trace with spans for every GPU
"""
import json
import sys

import h5py
import numpy as np
import pandas as pd


def fail(msg):
    print("FAIL", msg)
    sys.exit(1)


def golden(path, golden_path, update):
    with h5py.File(path, "r") as f:
        for name in ("steps", "layers", "layer_step", "traffic", "summary"):
            if name not in f:
                fail(f"{path}: missing /{name}")
        for attr in ("moesim_version", "config", "sha256_platform", "sha256_model", "sha256_trace"):
            if attr not in f.attrs:
                fail(f"{path}: missing attribute {attr}")
        config = json.loads(f.attrs["config"])
        steps = f["steps"][:]
        frame = pd.DataFrame(steps)  # the compound tables open in pandas as they are
        if list(frame.columns[:3]) != ["step", "tpot_s", "end_s"]:
            fail(f"steps table columns: {list(frame.columns)}")
        if len(pd.DataFrame(f["layers"][:])) != 27 or len(pd.DataFrame(f["moe_layer_traffic"][:])) != 26:
            fail("layers / moe_layer_traffic tables have the wrong length")
        if len(steps) != config["steps"]:
            fail(f"steps table has {len(steps)} rows, config says {config['steps']}")
        if not np.allclose(np.diff(steps["end_s"]), steps["tpot_s"][1:]):
            fail("tpot_s is not the difference of step end times")
        d = f["traffic/dispatch_bytes"]
        if d.ndim != 3 or d.shape[1] != d.shape[2]:
            fail(f"traffic/dispatch_bytes has shape {d.shape}")
        summary = {k: float(v) for k, v in f["summary"].attrs.items()}
    if update:
        with open(golden_path, "w") as g:
            json.dump(summary, g, indent=2, sort_keys=True)
            g.write("\n")
        print("updated", golden_path)
        return
    with open(golden_path) as g:
        want = json.load(g)
    bad = []
    for k, v in want.items():
        got = summary.get(k)
        if got is None or not np.isclose(got, v, rtol=1e-9, atol=0):
            bad.append(f"{k}: got {got}, golden {v}")
    if bad:
        fail("summary differs from the golden run:\n  " + "\n  ".join(bad))
    print(f"ok   {len(want)} summary metrics equal the golden run")


def same(a, b):
    diffs = []

    def visit(name, obj_a):
        obj_b = fb.get(name)
        if obj_b is None:
            diffs.append(f"/{name} missing in {b}")
            return
        if isinstance(obj_a, h5py.Dataset):
            if obj_a[()].tobytes() != obj_b[()].tobytes():
                diffs.append(f"/{name} differs")
        for k, v in obj_a.attrs.items():
            if k not in obj_b.attrs or str(obj_b.attrs[k]) != str(v):
                diffs.append(f"/{name}@{k} differs")

    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        for k, v in fa.attrs.items():
            if str(fb.attrs.get(k)) != str(v):
                diffs.append(f"@{k} differs")
        fa.visititems(visit)
        n = [0]
        fa.visititems(lambda name, o: n.__setitem__(0, n[0] + isinstance(o, h5py.Dataset)))
    if diffs:
        fail("results differ:\n  " + "\n  ".join(diffs))
    print(f"ok   {n[0]} datasets and all attributes identical")


def timeline(path, gpus):
    with open(path) as f:
        t = json.load(f)
    spans = [e for e in t["traceEvents"] if e.get("ph") == "X"]
    tids = {e["tid"] for e in spans}
    if len(tids) != int(gpus):
        fail(f"timeline has spans for {len(tids)} GPUs, expected {gpus}")
    kinds = {e["cat"] for e in spans}
    for k in ("attention", "dispatch", "expert", "combine"):
        if k not in kinds:
            fail(f"timeline has no {k} span")
    print(f"ok   timeline: {len(spans)} spans over {len(tids)} GPUs")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "golden":
        golden(sys.argv[2], sys.argv[3], "--update" in sys.argv)
    elif cmd == "same":
        same(sys.argv[2], sys.argv[3])
    elif cmd == "timeline":
        timeline(sys.argv[2], sys.argv[3])
    else:
        fail(f"unknown command {cmd}")
