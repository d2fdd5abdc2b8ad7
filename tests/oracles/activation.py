"""Activations, elementwise formulas in float64."""

from __future__ import annotations

import itertools
import math

import numpy as np


def leaky_relu(x, negative_slope):
    x = np.asarray(x, dtype=np.float64)
    return np.maximum(x, 0.0) + negative_slope * np.minimum(x, 0.0)


def prelu(x, slope):
    """max(x, 0) + slope[c] * min(x, 0), element by element; one slope is shared."""
    x = np.asarray(x, np.float64)
    y = np.empty_like(x)
    for idx in itertools.product(*map(range, x.shape)):
        a = float(slope[0] if len(slope) == 1 else slope[idx[1]])
        y[idx] = max(x[idx], 0.0) + a * min(x[idx], 0.0)
    return y


def sigmoid(x):
    return np.vectorize(lambda v: 1.0 / (1.0 + math.exp(-v)))(np.asarray(x, np.float64))


def power(x, p, scale, shift):
    """Caffe Power: (shift + scale x)^p; when p * scale == 0 the constant 1 (p == 0) or shift^p."""
    x = np.asarray(x, np.float64)
    if p * scale == 0:
        return np.full(x.shape, 1.0 if p == 0 else shift**p)
    return np.vectorize(lambda v: (shift + scale * v) ** p)(x)


def softmax(x, axis):
    """exp(x - max) / sum over ``axis``, one 1-D slice at a time."""
    x = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    y = np.empty_like(x)
    for idx in itertools.product(*map(range, x.shape[:-1])):
        v = x[idx]
        e = np.exp(v - v.max())
        y[idx] = e / e.sum()
    return np.moveaxis(y, -1, axis)
