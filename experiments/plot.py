#!/usr/bin/python3
"""Plots of a `moesim sweep` result file (docs/sweeps.md).

Usage: /usr/bin/python3 experiments/plot.py SWEEP.h5 [-o DIR] [--baseline linear]
Writes into DIR (default: beside SWEEP.h5, named SWEEP-*.png):
  tpot.png        TPOT (ms) vs cluster size (GPUs), one line per placement / grouping;
  inter_bytes.png inter-node dispatch data per step relative to the baseline placement with every other axis
                  equal (%, one bar per placement / grouping and cluster size);
  layers.png      per-layer decode time per step (attention block, dispatch, experts, combine, wait; stacked, us)
                  of each placement / grouping at the largest cluster;
  load.png        expert-load heatmaps (token-expert pairs per GPU and MoE layer over the layer's mean), one
                  colour scale for all panels, at the largest cluster.
The first two draw one panel per combination of the other axes the sweep varies (model, batch, kernel, NIC, ...),
in a grid; only the seed is averaged over, and the titles say so. The last two draw the first such combination,
named in the figure's title. Cluster sizes come from the points table (the `gpus` column). Failed points are
skipped. Uses Debian's python3-matplotlib and python3-h5py (/usr/bin/python3).
"""
import argparse
import math
import os
import sys
import xml.etree.ElementTree as ET

import h5py
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Axes that set the x axis (cluster size) or the lines (the policy), and the seed (averaged over, said so).
SIZE_AXES = ("platform", "nodes", "gpus_per_node")
POLICY_AXES = ("placement", "grouping", "redundant_experts", "redundant_experts_total")
MAX_PANELS = 24


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


def gpus_from_platform(platform, sweep_dir):
    """Older sweep files have no `gpus` column: count the GPU hosts of the platform (relative to the sweep)."""
    for p in (platform, os.path.join(sweep_dir, platform)):
        try:
            return sum(1 for _ in ET.parse(p).getroot().iter("host"))
        except (OSError, ET.ParseError):
            continue
    return float("nan")


def short(value):
    text = str(value)
    if "/" not in text:
        return text
    base = os.path.basename(text)
    return os.path.basename(os.path.dirname(text)) if base == "config.json" else os.path.splitext(base)[0]


def fmt(value):
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return short(value)


def grid(n, width=4.6, height=3.4, sharey=False):
    cols = min(n, 3 if n > 4 else 2 if n > 1 else 1)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows + 0.6), squeeze=False, sharey=sharey)
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep", help="result file of moesim sweep")
    ap.add_argument("-o", "--out-dir", help="directory for the PNGs (default: beside the sweep file)")
    ap.add_argument("--baseline", default="linear", help="placement the inter-node data is relative to")
    a = ap.parse_args()
    f, c = load_sweep(a.sweep)
    ok = np.asarray(c["status"]) == 1
    if not ok.any():
        sys.exit(f"plot.py: {a.sweep}: no successful point")
    n = len(ok)
    sweep_dir = os.path.dirname(os.path.abspath(a.sweep))
    if "gpus" in c:
        gpus = np.asarray(c["gpus"], dtype=float)
    else:
        gpus = np.array([gpus_from_platform(p, sweep_dir) for p in c["platform"]], dtype=float)
    policy = np.array([f"{p} / {g}" + (f", {int(r)} red." if r else "")
                       for p, g, r in zip(c["placement"], c["grouping"], c.get("redundant_experts", [0] * n))])
    # The sweep's axes: named by points/@axes; files written before it: every column that is not a result.
    results = {"point_index", "status", "error", "point_id", "wall_s", "gpus", "requests", "distinct_requests",
               "config", "sha256_platform", "sha256_model", "sha256_trace", "working_directory",
               "tpot_mean_s", "tpot_p99_s", "tokens_per_s", "dispatch_inter_bytes_per_step",
               "dispatch_intra_bytes_per_step", "locality_node", "locality_gpu", "expert_load_max_over_mean",
               "max_message_bytes"}
    listed = f["points"].attrs.get("axes")
    if listed is not None:
        listed = listed.decode() if isinstance(listed, bytes) else str(listed)
        axis_names = [k for k in listed.split(",") if k in c]
    else:
        axis_names = [k for k in c if k not in results]
    varying = [k for k in axis_names if len(set(np.asarray(c[k])[ok])) > 1]
    facet_axes = [k for k in varying if k not in SIZE_AXES + POLICY_AXES + ("seed",)]
    seeds = len(set(np.asarray(c["seed"])[ok])) if "seed" in c else 1
    averaged = f" (mean over {seeds} seeds)" if seeds > 1 else ""
    facet = [tuple(c[k][i] for k in facet_axes) for i in range(n)]
    facets = sorted({facet[i] for i in range(n) if ok[i]})
    if len(facets) > MAX_PANELS:
        averaged = f" (mean over {', '.join(facet_axes)}" + (" and seeds)" if seeds > 1 else ")")
        facet_axes, facets, facet = [], [()], [()] * n

    def facet_title(values):
        return ", ".join(f"{k} {fmt(v)}" for k, v in zip(facet_axes, values)) or "all points"

    in_facet = [np.array([ok[i] and facet[i] == v for i in range(n)]) for v in facets]
    prefix = os.path.join(a.out_dir or sweep_dir, os.path.splitext(os.path.basename(a.sweep))[0])
    if a.out_dir:
        os.makedirs(a.out_dir, exist_ok=True)
    written = []
    policies = sorted(set(policy[ok]))
    colour = {p: plt.cm.tab10(i % 10) for i, p in enumerate(policies)}

    # 1. TPOT vs cluster size, one line per policy, one panel per combination of the other varying axes.
    tpot = np.asarray(c["tpot_mean_s"]) * 1e3
    fig, axes = grid(len(facets))
    for ax, v, sel_f in zip(axes, facets, in_facet):
        for pol in policies:
            sel = sel_f & (policy == pol)
            xs = sorted(set(gpus[sel]))
            if xs:
                ax.plot(xs, [np.mean(tpot[sel & (gpus == x)]) for x in xs], "o-", label=pol, color=colour[pol])
        sizes = sorted(set(gpus[sel_f]))
        if len(sizes) > 1:
            ax.set_xscale("log", base=2)
        ax.set_xticks(sizes)
        ax.set_xticklabels([fmt(x) for x in sizes])
        ax.minorticks_off()
        ax.set_xlabel("cluster size (GPUs)")
        ax.set_ylabel("TPOT (ms)")
        ax.set_title(facet_title(v), fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, title="placement / grouping", title_fontsize=7)
    fig.suptitle("time per output token" + averaged, fontsize=10)
    fig.tight_layout()
    fig.savefig(prefix + "-tpot.png", dpi=110)
    written.append(prefix + "-tpot.png")
    plt.close(fig)

    # 2. Inter-node dispatch data relative to the baseline placement with every other axis equal.
    # The baseline is the baseline placement without redundant experts (as in moesim compare); the policy's axes
    # (placement, grouping, redundant experts) differ, every other axis is equal.
    others = [k for k in axis_names if k not in POLICY_AXES]
    key = [tuple(c[k][i] for k in others) + (c["grouping"][i],) for i in range(n)]
    no_replicas = [not c.get("redundant_experts", np.zeros(n))[i] and c.get("redundant_experts_total", -np.ones(n))[i] <= 0
                   for i in range(n)]
    base = {key[i]: c["dispatch_inter_bytes_per_step"][i] for i in range(n)
            if ok[i] and c["placement"][i] == a.baseline and no_replicas[i]}
    # Without a baseline of the same grouping, the baseline placement with round_robin grouping.
    key_rr = [tuple(c[k][i] for k in others) + ("round_robin",) for i in range(n)]
    change = np.full(n, np.nan)
    for i in range(n):
        b = base.get(key[i]) or base.get(key_rr[i])
        if ok[i] and b and not (c["placement"][i] == a.baseline and no_replicas[i]):
            change[i] = 100 * (c["dispatch_inter_bytes_per_step"][i] / b - 1)
    if np.isfinite(change).any():
        fig, axes = grid(len(facets))
        shown = [p for p in policies if np.isfinite(change[policy == p]).any()]
        width = 0.8 / max(1, len(shown))
        for ax, v, sel_f in zip(axes, facets, in_facet):
            sizes = sorted(set(gpus[sel_f & np.isfinite(change)]))
            for j, pol in enumerate(shown):
                ys = [np.nanmean(change[sel_f & (policy == pol) & (gpus == s)])
                      if np.isfinite(change[sel_f & (policy == pol) & (gpus == s)]).any() else np.nan for s in sizes]
                ax.bar(np.arange(len(sizes)) + j * width, ys, width, label=pol, color=colour[pol])
            ax.axhline(0.0, color="grey", lw=0.8)
            ax.set_xticks(np.arange(len(sizes)) + width * (len(shown) - 1) / 2)
            ax.set_xticklabels([fmt(s) for s in sizes])
            ax.set_xlabel("cluster size (GPUs)")
            ax.set_ylabel(f"inter-node dispatch data vs {a.baseline} (%)")
            ax.set_title(facet_title(v), fontsize=9)
            ax.grid(alpha=0.3, axis="y")
        axes[0].legend(fontsize=7)
        fig.suptitle(f"inter-node all-to-all data per step relative to {a.baseline}, every other axis equal" + averaged,
                     fontsize=10)
        fig.tight_layout()
        fig.savefig(prefix + "-inter_bytes.png", dpi=110)
        written.append(prefix + "-inter_bytes.png")
        plt.close(fig)

    # 3 and 4. Per-layer breakdown and expert-load heatmap: the first combination, largest cluster, first seed.
    first = in_facet[0]
    largest = np.nanmax(gpus[first])
    chosen = {}
    for i in range(n):
        if first[i] and gpus[i] == largest and policy[i] not in chosen and f"point_{i}" in f:
            chosen[policy[i]] = i
    where = f"{facet_title(facets[0])}, {fmt(largest)} GPUs" + (", first seed" if seeds > 1 else "")
    if chosen:
        fig, axes = grid(len(chosen), 4.4, 3.2, sharey=True)  # one time scale: panels compare
        for ax, (pol, i) in zip(axes, sorted(chosen.items())):
            lay = f[f"point_{i}/layers"][:]
            names = lay.dtype.names
            block = "attention_block_s" if "attention_block_s" in names else "attention_s"
            kinds = [(block, "attention block"), ("dispatch_s", "dispatch"), ("expert_s", "experts"),
                     ("combine_s", "combine"), ("wait_s", "wait")]
            bottom = np.zeros(len(lay))
            for k, label in kinds:
                if k in names:
                    ax.bar(lay["layer"], lay[k] * 1e6, bottom=bottom, width=1.0, label=label)
                    bottom += lay[k] * 1e6
            ax.set_title(pol, fontsize=9)
            ax.set_xlabel("layer")
            ax.set_ylabel("time per step (us)")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.suptitle("per-layer decode time, " + where, fontsize=10)
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
        fig.savefig(prefix + "-layers.png", dpi=110)
        written.append(prefix + "-layers.png")
        plt.close(fig)
        with_load = {p: i for p, i in chosen.items() if f"point_{i}/gpu_load" in f}
        if with_load:
            rel = {}
            for pol, i in with_load.items():
                load = f[f"point_{i}/gpu_load"][:]
                rel[pol] = load / np.maximum(load.mean(axis=1, keepdims=True), 1e-12)
            vmax = max(2.0, max(r.max() for r in rel.values()))  # one scale for every panel
            fig, axes = grid(len(rel), 4.2, 3.4)
            for ax, (pol, r) in zip(axes, sorted(rel.items())):
                im = ax.imshow(r, aspect="auto", cmap="viridis", vmin=0, vmax=vmax, interpolation="nearest")
                ax.set_title(f"{pol}: max/mean {r.max(axis=1).mean():.2f}", fontsize=9)
                ax.set_xlabel("GPU (rank)")
                ax.set_ylabel("MoE layer (index)")
            fig.suptitle("expert load per GPU over the layer's mean (token-expert pairs), " + where, fontsize=10)
            fig.tight_layout(rect=(0, 0, 0.9, 1))
            cax = fig.add_axes((0.92, 0.12, 0.02, 0.74))
            fig.colorbar(im, cax=cax, label="load / layer mean (1 = balanced)")
            fig.savefig(prefix + "-load.png", dpi=110)
            written.append(prefix + "-load.png")
            plt.close(fig)
    print("\n".join(written))


if __name__ == "__main__":
    main()
