"""Caffe's EltwiseLayer::Forward_cpu (SUM, PROD, MAX), one element at a time."""

from __future__ import annotations

import numpy as np


def eltwise_reference(operation, xs, coeff=None):
    """SUM: top = 0, then top += coeff[i] * bottom[i] in order; PROD: top = b0 * b1 * ...;
    MAX: top = b0, replaced by b[i] wherever b[i] > top."""
    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    coeff = list(coeff) if coeff else [1.0] * len(xs)
    out = np.empty(xs[0].shape)
    for idx in np.ndindex(*xs[0].shape):
        if operation == "SUM":
            v = 0.0
            for c, x in zip(coeff, xs):
                v += c * x[idx]
        elif operation == "PROD":
            v = 1.0
            for x in xs:
                v *= x[idx]
        else:
            v = xs[0][idx]
            for x in xs[1:]:
                v = max(v, x[idx])
        out[idx] = v
    return out
