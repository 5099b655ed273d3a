"""Independent recomputation of `moesim trace stats` from the trace file (numpy, h5py), compared with the HDF5
the C++ wrote. Usage: check_trace_stats.py TRACE.h5 STATS.h5"""
import sys

import h5py
import numpy as np

trace_file, stats_file = sys.argv[1], sys.argv[2]
t = h5py.File(trace_file, "r")
s = h5py.File(stats_file, "r")
E, K = int(t.attrs["num_experts"]), int(t.attrs["top_k"])
ex = t["routing/experts"][:].astype(np.int64)  # [T, L, K]
T, L, _ = ex.shape
req = t["tokens/request"][:]
phase = t["tokens/phase"][:]
label = t["requests/label"][:]
off, cnt = t["requests/token_offset"][:], t["requests/token_count"][:]
NL = len(t["labels"])
tok_label = label[req]
fails = []


def close(name, got, want, tol=1e-9):
    got, want = np.asarray(got, float), np.asarray(want, float)
    if got.shape != want.shape or not np.allclose(got, want, rtol=tol, atol=tol, equal_nan=True):
        fails.append(f"{name}: moesim {got.ravel()[:6]} vs independent {want.ravel()[:6]}")


# Loads and imbalance.
load = np.stack([np.bincount(ex[:, l, :].ravel(), minlength=E) for l in range(L)])
close("load", s["load"][:], load)
mean = load.mean(axis=1)
layers = s["layers"][:]
close("max_mean", layers["max_mean"], load.max(axis=1) / mean)
close("cv", layers["cv"], load.std(axis=1) / mean)


def gini(v):
    v = np.sort(np.asarray(v, float))
    n = len(v)
    return 2 * np.sum(np.arange(1, n + 1) * v) / (n * v.sum()) - (n + 1) / n


close("gini", layers["gini"], [gini(load[l]) for l in range(L)])

# Label popularity: Zipf exponent (top half of ranks), JS divergence, overlap coefficient, top-N overlap.
label_load = np.zeros((NL, L, E))
for a in range(NL):
    sel = ex[tok_label == a]
    for l in range(L):
        label_load[a, l] = np.bincount(sel[:, l, :].ravel(), minlength=E)
close("label_load", s["label_load"][:], label_load)


def zipf(c):
    c = np.sort(c)[::-1][: (len(c) + 1) // 2]
    c = c[: np.argmax(c <= 0)] if (c <= 0).any() else c
    if len(c) < 2:
        return np.nan
    x, y = np.log(np.arange(1, len(c) + 1)), np.log(c)
    return -np.polyfit(x, y, 1)[0]


def js(a, b):
    p, q = a / a.sum(), b / b.sum()
    m = (p + q) / 2
    kl = lambda x: np.sum(x[x > 0] * np.log2(x[x > 0] / m[x > 0]))
    return 0.5 * kl(p) + 0.5 * kl(q)


top_n = int(s.attrs["top_n"])
assert top_n == min(E, max(K, (E + 7) // 8)), top_n
present = [a for a in range(NL) if label_load[a].sum() > 0]
zl, jl, ol, tl = [], [], [], []
for l in range(L):
    zl.append(np.nanmean([zipf(label_load[a, l]) for a in present]))
    pairs = [(a, b) for i, a in enumerate(present) for b in present[i + 1:]]
    if pairs:
        jl.append(np.mean([js(label_load[a, l], label_load[b, l]) for a, b in pairs]))
        ol.append(np.mean([np.minimum(label_load[a, l] / label_load[a, l].sum(),
                                      label_load[b, l] / label_load[b, l].sum()).sum() for a, b in pairs]))
        # Ties broken by expert id, as a stable sort does.
        tops = {a: set(np.argsort(-label_load[a, l], kind="stable")[:top_n]) for a in present}
        tl.append(np.mean([len(tops[a] & tops[b]) / top_n for a, b in pairs]))
    else:
        jl.append(np.nan); ol.append(np.nan); tl.append(np.nan)
close("zipf", layers["zipf"], zl, 1e-6)
close("js", layers["js"], jl, 1e-6)
close("overlap", layers["overlap"], ol, 1e-6)
close("top_overlap", layers["top_overlap"], tl, 1e-6)

# Prefill/decode correlation: Pearson over experts of a request's per-phase counts, mean over requests.
corr = [[] for _ in range(L)]
for r in range(len(off)):
    sl = slice(off[r], off[r] + cnt[r])
    ph = phase[sl]
    if not ((ph == 0).any() and (ph == 1).any()):
        continue
    e = ex[sl]
    for l in range(L):
        a = np.bincount(e[ph == 0, l, :].ravel(), minlength=E)
        b = np.bincount(e[ph == 1, l, :].ravel(), minlength=E)
        if a.std() > 0 and b.std() > 0:
            corr[l].append(np.corrcoef(a, b)[0, 1])
close("pd_correlation", layers["pd_correlation"], [np.mean(c) if c else np.nan for c in corr], 1e-6)
close("pd_requests", layers["pd_requests"], [len(c) for c in corr])

# Co-activation: share of token pairs covered by the top 1% of expert pairs.
co = []
for l in range(L):
    if K < 2:
        co.append(np.nan)
        continue
    e = np.sort(ex[:, l, :], axis=1)
    idx = [e[:, i] * E + e[:, j] for i in range(K) for j in range(i + 1, K)]
    counts = np.bincount(np.concatenate(idx), minlength=E * E)
    ntop = max(1, int(np.ceil(0.01 * E * (E - 1) / 2)))
    co.append(np.sort(counts)[::-1][:ntop].sum() / counts.sum())
close("coactivation_top1pct", layers["coactivation_top1pct"], co, 1e-9)

# Imbalance per window of steps (decode steps when the trace has them, else token index in the request).
W = int(s.attrs["window_steps"])
has_decode = (phase == 1).any()
step = np.full(T, -1)
for r in range(len(off)):
    sl = np.arange(off[r], off[r] + cnt[r])
    sel = sl[phase[sl] == 1] if has_decode else sl
    step[sel] = np.arange(len(sel))
win = np.where(step >= 0, step // W, -1)
nw = win.max() + 1
wmm = np.full((nw, L), np.nan)
for w in range(nw):
    sel = ex[win == w]
    if len(sel) * K < 8 * E:
        continue
    for l in range(L):
        c = np.bincount(sel[:, l, :].ravel(), minlength=E)
        wmm[w, l] = c.max() / c.mean()
close("window_max_mean", s["window_max_mean"][:], wmm)

# Nearest-centroid classification from the first signature tokens, on moesim's held-out split.
n_sig = int(s.attrs["signature_tokens"])
test = s["classify_test"][:]
train = np.setdiff1d(np.arange(len(off)), test)


def feature(r):
    e = ex[off[r]: off[r] + min(cnt[r], n_sig)]
    f = np.stack([np.bincount(e[:, l, :].ravel(), minlength=E).astype(float) for l in range(L)])
    nrm = np.linalg.norm(f, axis=1, keepdims=True)
    return (f / np.where(nrm > 0, nrm, 1)).ravel()


if len(test):
    cent = {a: np.mean([feature(r) for r in train if label[r] == a], axis=0) for a in set(label[train])}
    pred = [min(cent, key=lambda a: (np.sum((feature(r) - cent[a]) ** 2), a)) for r in test]
    close("classify_predicted", s["classify_predicted"][:], pred)
    close("classify_accuracy", s.attrs["classify_accuracy"], np.mean(np.array(pred) == label[test]))

if fails:
    print("\n".join(fails))
    sys.exit(1)
print(f"trace stats agree with the independent computation ({T} tokens, {L} layers, {E} experts, top-{K})")
