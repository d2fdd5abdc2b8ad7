"""What PyTorch's exporters write for current CNNs: Clip, HardSigmoid, HardSwish, Erf, Gelu,
Mish (elementwise, from Python's math module in float64), reductions and arg-extremes (loops
over every output position), Instance/Group/LayerNorm (statistics by explicit loops)."""

from __future__ import annotations

import itertools
import math

import numpy as np


def elementwise(fn, x):
    x = np.asarray(x, np.float64)
    return np.vectorize(fn, otypes=[np.float64])(x)


def clip(v, lo, hi):
    if lo is not None and v < lo:
        v = lo
    if hi is not None and v > hi:
        v = hi
    return v


def hard_sigmoid(v, alpha=0.2, beta=0.5):
    return max(0.0, min(1.0, alpha * v + beta))


def hard_swish(v):
    return v * max(0.0, min(1.0, v / 6.0 + 0.5))


def gelu(v):
    return 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0)))


def gelu_tanh(v):
    return 0.5 * v * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (v + 0.044715 * v**3)))


def mish(v):
    softplus = v + math.log1p(math.exp(-v)) if v > 0 else math.log1p(math.exp(v))
    return v * math.tanh(softplus)


REDUCERS = {
    "mean": lambda v: sum(v) / len(v),
    "sum": sum,
    "max": max,
    "min": min,
    "l2": lambda v: math.sqrt(sum(e * e for e in v)),
    "l1": lambda v: sum(abs(e) for e in v),
    "sum_square": lambda v: sum(e * e for e in v),
    "log_sum_exp": lambda v: math.log(sum(math.exp(e) for e in v)),
}


def reduce(x, op, axes, keepdims):
    """Each output entry from the list of input entries that map to it."""
    x = np.asarray(x, np.float64)
    axes = sorted(a % x.ndim for a in axes) if axes else list(range(x.ndim))
    kept = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    out = np.empty(kept)
    for pos in itertools.product(*(range(d) for d in kept)):
        ranges = [range(x.shape[i]) if i in axes else [pos[i]] for i in range(x.ndim)]
        out[pos] = REDUCERS[op]([float(x[q]) for q in itertools.product(*ranges)])
    if keepdims:
        return out
    return out.reshape([d for i, d in enumerate(x.shape) if i not in axes])


def arg_extreme(x, mode, axis, keepdims, last):
    """Scan each slice in order; a strict comparison keeps the first extreme, a non-strict one
    the last."""
    x = np.asarray(x, np.float64)
    moved = np.moveaxis(x, axis, -1)
    out = np.empty(moved.shape[:-1])
    better = (lambda a, b: a > b) if mode == "max" else (lambda a, b: a < b)
    for pos in itertools.product(*(range(d) for d in out.shape)):
        row = moved[pos]
        best = 0
        for i in range(1, len(row)):
            if better(row[i], row[best]) or (last and row[i] == row[best]):
                best = i
        out[pos] = best
    return np.expand_dims(out, axis) if keepdims else out


def group_norm(x, groups, scale, bias, eps):
    """Per sample and group of consecutive channels: mean and biased variance by loops."""
    x = np.asarray(x, np.float64)
    n, c = x.shape[:2]
    per = c // groups
    y = np.empty_like(x)
    for i in range(n):
        for g in range(groups):
            block = x[i, g * per : (g + 1) * per]
            vals = block.ravel().tolist()
            m = sum(vals) / len(vals)
            v = sum((e - m) ** 2 for e in vals) / len(vals)
            y[i, g * per : (g + 1) * per] = (block - m) / math.sqrt(v + eps)
    shape = (-1,) + (1,) * (x.ndim - 2)
    return y * np.asarray(scale, np.float64).reshape(shape) + np.asarray(bias).reshape(shape)


def layer_norm(x, axis, scale, bias, eps):
    x = np.asarray(x, np.float64)
    lead = x.shape[:axis]
    y = np.empty_like(x)
    for pos in itertools.product(*(range(d) for d in lead)):
        vals = x[pos].ravel().tolist()
        m = sum(vals) / len(vals)
        v = sum((e - m) ** 2 for e in vals) / len(vals)
        y[pos] = (x[pos] - m) / math.sqrt(v + eps)
    return y * np.asarray(scale, np.float64) + np.asarray(bias, np.float64)
