#!/usr/bin/python3
"""Measured vs simulated collective times over message size, from a `moesim calibrate --report REPORT` (REPORT.h5).

Usage: /usr/bin/python3 experiments/plot_calibration.py REPORT.h5 [-o REPORT.png]
One panel per operation and cluster shape (nodes x GPUs): measured points (circles; held-out points hollow,
rejected outliers as crosses) and the simulated curve, both in microseconds on log-log axes; below each, the
error in percent. Uses Debian's python3-matplotlib and python3-h5py (/usr/bin/python3).
"""
import argparse
import collections
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", help="REPORT.h5 written by moesim calibrate --report / calibrate validate --report")
    ap.add_argument("-o", "--out", help="PNG to write (default: REPORT.png)")
    a = ap.parse_args()
    try:
        f = h5py.File(a.report, "r")
        g = f["validation"]
        cols = {k: g[k][()] for k in ("op", "nodes", "gpus_per_node", "size", "measured", "simulated", "error",
                                      "held_out", "outlier", "dtype", "metric")}
    except (OSError, KeyError) as e:
        sys.exit(f"plot_calibration: {a.report}: not a calibration report ({e})")
    dec = lambda v: v.decode() if isinstance(v, bytes) else str(v)
    series = collections.defaultdict(list)
    for i in range(len(cols["op"])):
        op = dec(cols["op"][i])
        if op in ("gemm", "hbm") or dec(cols["metric"][i]) != "time_s":
            continue
        key = f"{op} {cols['nodes'][i]}x{cols['gpus_per_node'][i]}"
        series[key].append(i)
    # DeepEP kernels and MoE layers are plotted by experiments/plot_moe_accuracy.py (tokens per GPU, not bytes).
    series = {k: v for k, v in series.items() if not k.split()[0].startswith(("ll_", "normal_", "moe_"))}
    if not series:
        sys.exit(f"plot_calibration: {a.report}: no collective measurements")
    keys = sorted(series, key=lambda k: (k.split()[0], int(k.split()[1].split("x")[0]), int(k.split()[1].split("x")[1])))
    ncol = min(6, len(keys))
    nrow = (len(keys) + ncol - 1) // ncol
    fig, axes = plt.subplots(2 * nrow, ncol, figsize=(3.2 * ncol, 4.2 * nrow), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1] * nrow})
    for n, key in enumerate(keys):
        ax, ex = axes[2 * (n // ncol)][n % ncol], axes[2 * (n // ncol) + 1][n % ncol]
        idx = sorted(series[key], key=lambda i: cols["size"][i])
        by_dtype = collections.defaultdict(list)
        for i in idx:
            by_dtype[dec(cols["dtype"][i])].append(i)
        for dt, ids in sorted(by_dtype.items()):
            x = [cols["size"][i] for i in ids]
            line, = ax.plot(x, [cols["simulated"][i] * 1e6 for i in ids], "-", lw=1.2, label=f"simulated ({dt})")
            c = line.get_color()
            for i in ids:
                style = dict(color=c, ms=4)
                if cols["outlier"][i]:
                    ax.plot(cols["size"][i], cols["measured"][i] * 1e6, "x", **style)
                elif cols["held_out"][i]:
                    ax.plot(cols["size"][i], cols["measured"][i] * 1e6, "o", mfc="none", **style)
                else:
                    ax.plot(cols["size"][i], cols["measured"][i] * 1e6, "o", **style)
            ex.plot(x, [100 * cols["error"][i] for i in ids], ".", color=c, ms=3)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ex.set_xscale("log", base=2)
        ax.set_title(key + " GPUs", fontsize=9)
        ax.set_ylabel("time (us)", fontsize=8)
        ex.set_ylabel("error (%)", fontsize=8)
        ex.set_xlabel("size per rank (bytes)", fontsize=8)
        ex.axhline(0, color="grey", lw=0.5)
        ex.set_ylim(-30, 30)
        for axis in (ax, ex):
            axis.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="upper left")
    for n in range(len(keys), nrow * ncol):
        axes[2 * (n // ncol)][n % ncol].axis("off")
        axes[2 * (n // ncol) + 1][n % ncol].axis("off")
    fig.suptitle("moesim calibrate: measured (dots; hollow = held out, x = rejected outlier) vs simulated (lines)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    out = a.out or a.report.rsplit(".", 1)[0] + ".png"
    fig.savefig(out, dpi=90)
    print(out)


if __name__ == "__main__":
    main()
