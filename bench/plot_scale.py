#!/usr/bin/python3
"""Log-log plot of bench/scale.sh's CSV: wall time (left axis, s) and peak memory (right axis, GiB) of one
DeepSeek-V3 decode step against GPUs (fast and exact all-to-all models) and against requests per GPU.
Usage: plot_scale.py SCALE.csv OUT.png"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = list(csv.DictReader(open(sys.argv[1])))
fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.2))


def panel(ax, xs_of, sets, xlabel, title):
    """Seconds on the left axis, GiB on a second axis: two units never share one scale."""
    mem = ax.twinx()
    handles = []
    for label, pts, style, with_mem in sets:
        if not pts:
            continue
        xs = [xs_of(r) for r in pts]
        handles += ax.loglog(xs, [float(r["wall_s"]) for r in pts], style, label=f"wall time, {label}")
        if with_mem:
            handles += mem.loglog(xs, [float(r["rss_mib"]) / 1024 for r in pts], "^:", color="tab:red",
                                  label=f"peak RSS, {label}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("wall time per step (s)")
    mem.set_ylabel("peak RSS (GiB)", color="tab:red")
    mem.tick_params(axis="y", colors="tab:red")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(handles=handles, fontsize=8, loc="upper left")


panel(a, lambda r: int(r["gpus"]),
      [(f"--comm {comm}", [r for r in rows if r["kind"] == "gpus" and r["comm"] == comm], style, comm == "fast")
       for comm, style in (("fast", "o-"), ("exact", "s--"))],
      "GPUs (8 per node)", "one DeepSeek-V3 decode step, 64 requests/GPU")
panel(b, lambda r: int(r["batch"]), [("--comm fast", [r for r in rows if r["kind"] == "batch"], "o-", True)],
      "requests per GPU", "64 GPUs, --comm fast")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
print("wrote", sys.argv[2])
