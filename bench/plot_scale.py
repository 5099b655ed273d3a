#!/usr/bin/python3
"""Log-log plot of bench/scale.sh's CSV: wall time and peak memory of one DeepSeek-V3 decode step against GPUs
(fast and exact all-to-all models) and against requests per GPU. Usage: plot_scale.py SCALE.csv OUT.png"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = list(csv.DictReader(open(sys.argv[1])))
fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
for comm, style in (("fast", "o-"), ("exact", "s--")):
    pts = [r for r in rows if r["kind"] == "gpus" and r["comm"] == comm]
    if pts:
        g = [int(r["gpus"]) for r in pts]
        a.loglog(g, [float(r["wall_s"]) for r in pts], style, label=f"wall time, --comm {comm}")
        if comm == "fast":
            a.loglog(g, [float(r["rss_mib"]) / 1024 for r in pts], "^:", label="peak RSS (GiB), --comm fast")
a.set_xlabel("GPUs (8 per node)")
a.set_ylabel("seconds per step / GiB")
a.set_title("one DeepSeek-V3 decode step, 64 requests/GPU")
a.grid(True, which="both", alpha=0.3)
a.legend(fontsize=8)
pts = [r for r in rows if r["kind"] == "batch"]
if pts:
    bs = [int(r["batch"]) for r in pts]
    b.loglog(bs, [float(r["wall_s"]) for r in pts], "o-", label="wall time (s)")
    b.loglog(bs, [float(r["rss_mib"]) / 1024 for r in pts], "^:", label="peak RSS (GiB)")
b.set_xlabel("requests per GPU")
b.set_title("64 GPUs, --comm fast")
b.grid(True, which="both", alpha=0.3)
b.legend(fontsize=8)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
print("wrote", sys.argv[2])
