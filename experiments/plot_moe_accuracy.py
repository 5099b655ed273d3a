#!/usr/bin/python3
"""DeepEP kernel and MoE-layer accuracy from a `moesim calibrate --report REPORT` (REPORT.csv): a Markdown table and a plot.

Usage: /usr/bin/python3 experiments/plot_moe_accuracy.py REPORT.csv [-o OUT]   (writes OUT.md and OUT.png)
Table: per input table and operation, per expert-parallel size (nodes x GPUs) and per token band, the median and
largest |error| of the measurements the fit did not see (held-out ones; all of them when nothing was held out).
Plot: one panel per operation, |error| over tokens per GPU, one colour per EP size; dots are fitted points, hollow
circles held-out ones. Uses Debian's python3-matplotlib (/usr/bin/python3).
"""
import argparse
import collections
import csv
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OPS = ("ll_dispatch", "ll_combine", "moe_experts", "normal_dispatch", "normal_combine")
BANDS = ((1, 8, "1-8"), (9, 128, "9-128"), (129, 1024, "129-1024"), (1025, 1 << 30, ">1024"))


def band(t):
    for lo, hi, name in BANDS:
        if lo <= t <= hi:
            return name
    return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", help="REPORT.csv written by moesim calibrate --report / calibrate validate --report")
    ap.add_argument("-o", "--out", help="output prefix (default: REPORT-moe)")
    a = ap.parse_args()
    try:
        rows = [r for r in csv.DictReader(open(a.report)) if r["op"] in OPS]
    except (OSError, KeyError) as e:
        sys.exit(f"plot_moe_accuracy: {a.report}: not a calibration report ({e})")
    if not rows:
        sys.exit(f"plot_moe_accuracy: {a.report}: no DeepEP or MoE-layer measurements")
    out = a.out or a.report.rsplit(".", 1)[0] + "-moe"
    held_any = any(r["held_out"] == "1" for r in rows)
    judged = [r for r in rows if r["held_out"] == "1"] if held_any else rows
    cells = collections.defaultdict(list)
    eps = set()
    for r in judged:
        ep = int(r["nodes"]) * int(r["gpus_per_node"])
        eps.add(ep)
        op = r["op"]
        if op == "moe_experts" and r.get("routing", ""):
            op += " (" + ("power law" if r["routing"].startswith("power_law") else r["routing"]) + ")"
        key = (os.path.basename(r["source"]), op)
        cells[key, ep, band(int(float(r["size"])))].append(abs(float(r["error"])))
    eps = sorted(eps)
    lines = [f"{'Held-out' if held_any else 'All'} measurements: median / max |error| (count) by EP and tokens per GPU.",
             "", "| table | operation | tokens | " + " | ".join(f"EP{e}" for e in eps) + " |",
             "|---|---|---|" + "---|" * len(eps)]
    for key in sorted({k[0] for k in cells}):
        for _, _, name in BANDS:
            vals = [cells.get((key, e, name)) for e in eps]
            if not any(vals):
                continue
            txt = [f"{100 * statistics.median(v):.1f}% / {100 * max(v):.0f}% ({len(v)})" if v else "-" for v in vals]
            lines.append(f"| {key[0]} | {key[1]} | {name} | " + " | ".join(txt) + " |")
    open(out + ".md", "w").write("\n".join(lines) + "\n")
    ops = [op for op in OPS if any(r["op"] == op for r in rows)]
    fig, axes = plt.subplots(1, len(ops), figsize=(3.4 * len(ops), 3.2), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, op in zip(axes[0], ops):
        sel = [r for r in rows if r["op"] == op]
        for n, ep in enumerate(sorted({int(r["nodes"]) * int(r["gpus_per_node"]) for r in sel})):
            c = colours[n % len(colours)]
            for held in ("0", "1"):
                pts = [r for r in sel if int(r["nodes"]) * int(r["gpus_per_node"]) == ep and r["held_out"] == held]
                if pts:
                    ax.plot([float(r["size"]) for r in pts], [100 * abs(float(r["error"])) for r in pts], "o",
                            ms=3, color=c, mfc=c if held == "0" else "none",
                            label=f"EP{ep}" if held == "0" or not any(r["held_out"] == "0" for r in sel) else None)
        ax.set_xscale("log", base=2)
        ax.set_title(op, fontsize=9)
        ax.set_xlabel("tokens per GPU", fontsize=8)
        ax.set_ylabel("|error| (%)", fontsize=8)
        ax.set_ylim(0, 60)
        ax.axhline(10, color="grey", lw=0.5, ls="--")
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, ncol=2)
    fig.suptitle("DeepEP kernels and MoE layers: |simulated / measured - 1| (dots fitted, hollow held out; "
                 "dashed: 10%)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(out + ".png", dpi=90)
    print(out + ".md", out + ".png")


if __name__ == "__main__":
    main()
