"""InnerProduct as Caffe defines it: explicit sums over rows and features."""

from __future__ import annotations

import math

import numpy as np


def inner_product(x, w, b, axis, transposed=False):
    """Caffe: M = prod(shape[:axis]) rows of K = prod(shape[axis:]) features;
    ``y[m, o] = sum_k x[m, k] * W[o, k] + b[o]`` (``W[k, o]`` when stored transposed)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    m, k = math.prod(x.shape[:axis]), math.prod(x.shape[axis:])
    n_out = w.shape[1] if transposed else w.shape[0]
    rows = x.reshape(m, k)
    y = np.zeros((m, n_out))
    for i in range(m):
        for o in range(n_out):
            col = w[:, o] if transposed else w[o]
            y[i, o] = sum(rows[i, j] * col[j] for j in range(k)) + (0.0 if b is None else b[o])
    return y.reshape(x.shape[:axis] + (n_out,))
