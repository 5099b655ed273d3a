#!/usr/bin/python3
"""Plots of `moesim trace stats --out STATS.h5`: expert-load heatmap (layer x expert), per-label expert popularity,
prefill/decode correlation and load imbalance per layer.

Usage: /usr/bin/python3 experiments/plot_trace_stats.py STATS.h5 [OUT_DIR]
Needs Debian's python3-matplotlib and python3-h5py (they live under /usr/bin/python3). Writes
OUT_DIR/load_heatmap.png, label_popularity.png and per_layer.png (OUT_DIR defaults to the stats file's folder).
"""
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    path = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) == 3 else os.path.dirname(os.path.abspath(path))
    os.makedirs(out, exist_ok=True)
    with h5py.File(path, "r") as f:
        if f.attrs.get("schema") != "moesim-trace-stats":
            sys.exit(f"{path}: not a `moesim trace stats` file (attribute schema != moesim-trace-stats)")
        model = f.attrs["model_name"]
        load = f["load"][:].astype(float)  # [L, E]
        label_load = f["label_load"][:].astype(float)  # [NL, L, E]
        labels = list(f["labels"].asstr()[:])
        layers = f["layers"][:]
    L, E = load.shape
    layer_ids = layers["layer"]

    # 1. Heatmap: tokens per expert relative to the layer mean.
    fig, ax = plt.subplots(figsize=(min(16, 4 + E / 20), 2 + L / 8))
    rel = load / load.mean(axis=1, keepdims=True)
    im = ax.imshow(rel, aspect="auto", cmap="magma", interpolation="nearest",
                   extent=(-0.5, E - 0.5, layer_ids[-1] + 0.5, layer_ids[0] - 0.5))
    fig.colorbar(im, ax=ax, label="tokens / layer mean")
    ax.set_xlabel("expert id")
    ax.set_ylabel("MoE layer")
    ax.set_title(f"{model}: expert load per layer (max/mean {np.nanmean(layers['max_mean']):.2f} on average)")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "load_heatmap.png"), dpi=110)
    plt.close(fig)

    # 2. Per-label popularity at the first MoE layer and the middle one, experts ordered by overall load.
    picks = sorted({0, L // 2})
    fig, axes = plt.subplots(1, len(picks), figsize=(6 * len(picks), 4), squeeze=False)
    for ax, l in zip(axes[0], picks):
        order = np.argsort(-load[l])
        for a, name in enumerate(labels):
            tot = label_load[a, l].sum()
            if tot > 0:
                ax.plot(np.arange(E), 100 * label_load[a, l, order] / tot, label=name, lw=1.2)
        ax.set_xlabel("expert (ordered by load over all labels)")
        ax.set_ylabel("share of the label's token-expert pairs (%)")
        ax.set_title(f"MoE layer {layer_ids[l]}: popularity per label")
        ax.legend(fontsize=8)
    fig.suptitle(f"{model}: JS divergence between labels {np.nanmean(layers['js']):.3f}, "
                 f"overlap {np.nanmean(layers['overlap']):.3f}")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "label_popularity.png"), dpi=110)
    plt.close(fig)

    # 3. Per layer: prefill/decode correlation and load imbalance.
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(layer_ids, layers["max_mean"], "o-", label="max/mean load (all tokens)")
    ax.plot(layer_ids, layers["window_max_mean_mean"], "s-", label="max/mean per step window (mean)")
    ax.set_xlabel("MoE layer")
    ax.set_ylabel("max / mean tokens per expert")
    ax2 = ax.twinx()
    if np.isfinite(layers["pd_correlation"]).any():
        ax2.plot(layer_ids, layers["pd_correlation"], "^-", color="tab:green", label="prefill/decode Pearson")
    ax2.plot(layer_ids, layers["coactivation_top1pct"], "v-", color="tab:red",
             label="token pairs in top 1% expert pairs")
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("correlation / share")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="upper left")
    ax.set_title(f"{model}: per-layer statistics")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "per_layer.png"), dpi=110)
    plt.close(fig)
    print(f"wrote {out}/load_heatmap.png, label_popularity.png, per_layer.png")


if __name__ == "__main__":
    main()
