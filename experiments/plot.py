#!/usr/bin/python3
"""Plots of a `moesim sweep` result file (docs/sweeps.md).

Usage: /usr/bin/python3 experiments/plot.py SWEEP.h5 [-o DIR] [--baseline linear]
Writes into DIR (default: beside SWEEP.h5, named SWEEP-*.png):
  tpot.png        TPOT (ms) vs cluster size (GPUs), one line per placement x grouping, one panel per model;
  inter_bytes.png inter-node dispatch bytes per step relative to the baseline placement (same model, cluster,
                  grouping and other axes), one group of bars per model;
  layers.png      per-layer decode time (attention, dispatch, experts, combine, wait; stacked, ms) of the first
                  point of each placement x grouping at the largest cluster;
  load.png        expert-load heatmap (token-expert pairs per GPU and MoE layer, relative to the mean) of the
                  same points.
Uses Debian's python3-matplotlib and python3-h5py (/usr/bin/python3). Failed points are skipped.
"""
import argparse
import collections
import os
import sys
import xml.etree.ElementTree as ET

import h5py
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def load_sweep(path):
    try:
        f = h5py.File(path, "r")
        if f.attrs.get("schema") not in ("moesim-sweep", b"moesim-sweep"):
            sys.exit(f"plot.py: {path}: not a moesim sweep result (@schema)")
        pts = f["points"]
        cols = {k: (pts[k].asstr()[:] if pts[k].dtype.kind == "O" else pts[k][:]) for k in pts}
    except OSError as e:
        sys.exit(f"plot.py: {path}: cannot open as HDF5 ({e})")
    return f, cols


_gpus = {}


def gpus_of(platform):
    """Number of GPU hosts of a platform file (counted once per file)."""
    if platform not in _gpus:
        try:
            root = ET.parse(platform).getroot()
            _gpus[platform] = sum(1 for h in root.iter("host"))
        except (OSError, ET.ParseError):
            _gpus[platform] = float("nan")
    return _gpus[platform]


def short(path):
    base = os.path.basename(path)
    return os.path.basename(os.path.dirname(path)) if base == "config.json" else os.path.splitext(base)[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep", help="result file of moesim sweep")
    ap.add_argument("-o", "--out-dir", help="directory for the PNGs (default: beside the sweep file)")
    ap.add_argument("--baseline", default="linear", help="placement the inter-node bytes are relative to")
    a = ap.parse_args()
    f, c = load_sweep(a.sweep)
    ok = np.asarray(c["status"]) == 1
    if not ok.any():
        sys.exit(f"plot.py: {a.sweep}: no successful point")
    n = len(ok)
    gpus = np.array([gpus_of(p) for p in c["platform"]], dtype=float)
    model = np.array([short(m) for m in c["model"]])
    policy = np.array([f"{p} / {g}" for p, g in zip(c["placement"], c["grouping"])])
    prefix = os.path.join(a.out_dir or os.path.dirname(os.path.abspath(a.sweep)),
                          os.path.splitext(os.path.basename(a.sweep))[0])
    if a.out_dir:
        os.makedirs(a.out_dir, exist_ok=True)
    written = []

    # 1. TPOT vs cluster size per policy (mean over the other axes), one panel per model.
    models = sorted(set(model[ok]))
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.8), squeeze=False)
    for ax, m in zip(axes[0], models):
        for pol in sorted(set(policy[ok & (model == m)])):
            sel = ok & (model == m) & (policy == pol)
            xs = sorted(set(gpus[sel]))
            ys = [np.mean(np.asarray(c["tpot_mean_s"])[sel & (gpus == x)]) * 1e3 for x in xs]
            ax.plot(xs, ys, "o-", label=pol)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("cluster size (GPUs)")
        ax.set_ylabel("TPOT (ms)")
        ax.set_title(m)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, title="placement / grouping", title_fontsize=7)
    fig.tight_layout()
    fig.savefig(prefix + "-tpot.png", dpi=110)
    written.append(prefix + "-tpot.png")
    plt.close(fig)

    # 2. Inter-node dispatch bytes relative to the baseline placement with everything else equal.
    others = [k for k in ("platform", "model", "trace", "grouping", "redundant_experts", "batch_per_gpu",
                          "dispatch_dtype", "a2a_kernel", "micro_batches", "comm", "train_fraction", "seed")
              if k in c]
    base = {}
    for i in range(n):
        if ok[i] and c["placement"][i] == a.baseline:
            base[tuple(c[k][i] for k in others)] = c["dispatch_inter_bytes_per_step"][i]
    rel = collections.defaultdict(list)
    for i in range(n):
        b = base.get(tuple(c[k][i] for k in others))
        if ok[i] and b:
            rel[(model[i], c["placement"][i])].append(c["dispatch_inter_bytes_per_step"][i] / b)
    if rel:
        placements = sorted({p for _, p in rel})
        fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(models) * len(placements) / 2, 3.8))
        width = 0.8 / len(placements)
        for j, p in enumerate(placements):
            ys = [np.mean(rel[(m, p)]) if rel[(m, p)] else np.nan for m in models]
            ax.bar(np.arange(len(models)) + j * width, ys, width, label=p)
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_xticks(np.arange(len(models)) + width * (len(placements) - 1) / 2)
        ax.set_xticklabels(models)
        ax.set_ylabel(f"inter-node dispatch bytes / {a.baseline}")
        ax.set_title("inter-node all-to-all data relative to the baseline (mean over the other axes)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(prefix + "-inter_bytes.png", dpi=110)
        written.append(prefix + "-inter_bytes.png")
        plt.close(fig)

    # 3 and 4. Per-layer breakdown and expert-load heatmap: first point of each policy at the largest cluster.
    largest = np.nanmax(gpus[ok])
    chosen = {}
    for i in range(n):
        if ok[i] and gpus[i] == largest and policy[i] not in chosen and f"point_{i}" in f:
            chosen[policy[i]] = i
    if chosen:
        kinds = ["attention_s", "dispatch_s", "expert_s", "combine_s", "wait_s"]
        fig, axes = plt.subplots(1, len(chosen), figsize=(4.2 * len(chosen), 3.6), squeeze=False, sharey=True)
        for ax, (pol, i) in zip(axes[0], sorted(chosen.items())):
            lay = f[f"point_{i}/layers"][:]
            bottom = np.zeros(len(lay))
            for k in kinds:
                ax.bar(lay["layer"], lay[k] * 1e3, bottom=bottom, width=1.0, label=k[:-2])
                bottom += lay[k] * 1e3
            ax.set_title(f"{pol}\n{model[i]}, {int(largest)} GPUs", fontsize=8)
            ax.set_xlabel("layer")
        axes[0][0].set_ylabel("time per step (ms)")
        axes[0][-1].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(prefix + "-layers.png", dpi=110)
        written.append(prefix + "-layers.png")
        plt.close(fig)
        with_load = {p: i for p, i in chosen.items() if f"point_{i}/gpu_load" in f}
        if with_load:
            fig, axes = plt.subplots(1, len(with_load), figsize=(4.2 * len(with_load), 3.8), squeeze=False)
            for ax, (pol, i) in zip(axes[0], sorted(with_load.items())):
                load = f[f"point_{i}/gpu_load"][:]
                rel_load = load / np.maximum(load.mean(axis=1, keepdims=True), 1e-12)
                im = ax.imshow(rel_load, aspect="auto", cmap="viridis", vmin=0, vmax=max(2.0, rel_load.max()))
                ax.set_title(f"{pol}\nmax/mean {rel_load.max(axis=1).mean():.2f}", fontsize=8)
                ax.set_xlabel("GPU")
                ax.set_ylabel("MoE layer")
                fig.colorbar(im, ax=ax, label="expert load / layer mean")
            fig.tight_layout()
            fig.savefig(prefix + "-load.png", dpi=110)
            written.append(prefix + "-load.png")
            plt.close(fig)
    print("\n".join(written))


if __name__ == "__main__":
    main()
