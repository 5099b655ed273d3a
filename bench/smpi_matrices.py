#!/usr/bin/python3
"""Writes the dispatch byte matrices a `moesim run --matrix-steps 1 --matrix-layers L` recorded (first step) as the
binary input of bench/smpi_alltoallv.c. Usage: smpi_matrices.py RESULT.h5 OUT.bin LAYERS"""
import sys

import h5py
import numpy as np

res, out, layers = sys.argv[1], sys.argv[2], int(sys.argv[3])
with h5py.File(res, "r") as f:
    m = f["traffic/dispatch_bytes"][:layers].astype(np.int64)  # [samples, G, G]
n = m.shape[1]
with open(out, "wb") as o:
    np.array([len(m), n], dtype=np.int64).tofile(o)
    for d in m:
        d.tofile(o)
        np.ascontiguousarray(d.T).tofile(o)
print(f"{len(m)} layers x {n} ranks, {m.sum() / len(m) / 1e6:.1f} MB dispatched per layer")
