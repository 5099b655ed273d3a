#!/usr/bin/python3
"""Checks moesim result files with h5py (Debian's python3-h5py), the way users open them.

  check_results.py golden RESULT.h5 GOLDEN.json [--update]  summary metrics equal the golden values (rel 1e-9)
  check_results.py same A.h5 B.h5                           every dataset and attribute identical
  check_results.py timeline FILE.json[.gz] TRACKS          imports as Perfetto does: no dropped slice, TRACKS tracks
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


def timeline(path, tracks):
    """Imports the timeline the way Perfetto's JSON importer does: ts/dur in microseconds to integer nanoseconds
    (llround), complete events per (pid, tid) sorted by ts (longer first at equal ts), nested on a stack; a slice
    that starts inside an open one and ends after it is what Perfetto drops (slice_drop_overlapping_complete_event).
    """
    import gzip
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        t = json.load(f)
    if "displayTimeUnit" in t and t["displayTimeUnit"] != "us":
        fail(f"displayTimeUnit {t['displayTimeUnit']}: Perfetto would read ts in that unit")
    events = t["traceEvents"]
    spans = [e for e in events if e.get("ph") == "X"]
    named_threads = {(e["pid"], e["tid"]) for e in events if e.get("ph") == "M" and e["name"] == "thread_name"}
    named_procs = {e["pid"] for e in events if e.get("ph") == "M" and e["name"] == "process_name"}
    by_track = {}
    for i, e in enumerate(spans):
        for key in ("ts", "dur"):
            ns = e[key] * 1000.0
            if abs(ns - round(ns)) > 1e-3:
                fail(f"{e['name']}: {key} {e[key]} is not a whole number of nanoseconds")
        ts, dur = round(e["ts"] * 1000.0), round(e["dur"] * 1000.0)
        if dur < 0:
            fail(f"{e['name']}: negative duration")
        by_track.setdefault((e["pid"], e["tid"]), []).append((ts, -dur, i, e))
    if len(by_track) != int(tracks):
        fail(f"timeline has {len(by_track)} tracks, expected {tracks}")
    dropped, depth1 = 0, 0
    for track, items in by_track.items():
        if track not in named_threads or track[0] not in named_procs:
            fail(f"track {track} has no thread_name or process_name")
        items.sort(key=lambda x: (x[0], x[1], x[2]))
        stack = []
        for ts, neg, _, e in items:
            end = ts - neg
            while stack and stack[-1][0] <= ts:
                stack.pop()
            if stack and end > stack[-1][0]:
                dropped += 1
                continue
            if stack:
                depth1 += 1
                if stack[-1][1] != "step":
                    fail(f"{e['name']} nested in {stack[-1][1]} slice, expected a step slice")
            elif e["cat"] != "step":
                fail(f"{e['name']} at depth 0 on {track}: every phase belongs to a step slice")
            stack.append((end, e["cat"]))
    if dropped:
        fail(f"{dropped} of {len(spans)} slices overlap their track's previous slice (Perfetto drops them)")
    kinds = {e["cat"] for e in spans}
    for k in ("attention_block", "dispatch", "expert", "combine", "step"):
        if k not in kinds:
            fail(f"timeline has no {k} slice")
    for e in spans:
        if e["cat"] in ("dispatch", "combine") and not ("bytes_sent" in e["args"] and "layer" in e["args"]):
            fail(f"{e['name']}: no bytes_sent/layer in args")
    print(f"ok   timeline: {len(spans)} slices on {len(by_track)} tracks, {depth1} nested in steps, none dropped")


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
