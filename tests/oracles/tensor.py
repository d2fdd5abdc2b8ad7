"""Tensor layers as Caffe's forward passes compute them, one element at a time: Concat, Slice,
Crop, Reshape, Permute, ShuffleChannel, ArgMax."""

from __future__ import annotations

import itertools
import math

import numpy as np


def concat_ref(xs, axis):
    axis %= xs[0].ndim
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    out = np.empty(shape, dtype=np.float32)
    for idx in np.ndindex(*shape):
        pos, k = idx[axis], 0
        while pos >= xs[k].shape[axis]:
            pos -= xs[k].shape[axis]
            k += 1
        out[idx] = xs[k][idx[:axis] + (pos,) + idx[axis + 1 :]]
    return out


def slice_ref(x, axis, points, n):
    axis %= x.ndim
    size = x.shape[axis]
    cuts = [0, *points, size] if points else [size // n * i for i in range(n + 1)]
    parts = []
    for b, e in itertools.pairwise(cuts):
        shape = x.shape[:axis] + (e - b,) + x.shape[axis + 1 :]
        part = np.empty(shape, dtype=np.float32)
        for idx in np.ndindex(*shape):
            part[idx] = x[idx[:axis] + (idx[axis] + b,) + idx[axis + 1 :]]
        parts.append(part)
    return parts


def crop_ref(x, ref_shape, axis, offsets):
    """BVLC crop: axes from ``axis`` take the reference size, starting at their offset."""
    rank = x.ndim
    axis %= rank
    offs = []
    for i in range(rank):
        if i < axis or not offsets:
            offs.append(0)
        elif len(offsets) == 1:
            offs.append(offsets[0])
        else:
            offs.append(offsets[i - axis])
    shape = tuple(x.shape[:axis]) + tuple(ref_shape[axis:])
    out = np.empty(shape, dtype=np.float32)
    for idx in np.ndindex(*shape):
        out[idx] = x[tuple(i + o for i, o in zip(idx, offs))]
    return out


def row_major_refill(x, shape):
    """A Caffe blob viewed with another shape: the same values in the same memory order."""
    out = np.empty(shape, dtype=np.float32)
    flat = list(x.ravel(order="C"))
    for lin, idx in enumerate(np.ndindex(*shape)):
        out[idx] = flat[lin]
    assert lin == len(flat) - 1
    return out


def permute_ref(x, order):
    full = list(order) + [i for i in range(x.ndim) if i not in order]
    shape = tuple(x.shape[o] for o in full)
    out = np.empty(shape, dtype=np.float32)
    for idx in np.ndindex(*shape):
        src = [0] * x.ndim
        for k, o in enumerate(full):
            src[o] = idx[k]
        out[idx] = x[tuple(src)]
    return out


def shuffle_ref(x, group):
    """ShuffleNet fork: input channel i * (C/g) + j is copied to output channel j * g + i."""
    out = np.empty_like(x)
    cols = x.shape[1] // group
    for n in range(x.shape[0]):
        for i in range(group):
            for j in range(cols):
                out[n, j * group + i] = x[n, i * cols + j]
    return out


def argmax_ref(x, out_max_val, top_k, axis):
    """ArgMaxLayer::Reshape + Forward_cpu: (value, index) pairs sorted by std::greater."""
    shape = x.shape
    if axis is not None:
        axis %= x.ndim
        dim, axis_dist = shape[axis], math.prod(shape[axis + 1 :])
        out_shape = shape[:axis] + (top_k,) + shape[axis + 1 :]
    else:
        dim, axis_dist = math.prod(shape[1:]), 1
        out_shape = [1] * max(x.ndim, 3)
        out_shape[0], out_shape[2] = shape[0], top_k
        if out_max_val:
            out_shape[1] = 2
    flat = [float(v) for v in x.ravel()]
    top = [None] * math.prod(out_shape)
    for i in range(x.size // dim):
        pairs = [
            (flat[(i // axis_dist * dim + j) * axis_dist + i % axis_dist], j) for j in range(dim)
        ]
        pairs.sort(reverse=True)
        for j in range(top_k):
            at = (i // axis_dist * top_k + j) * axis_dist + i % axis_dist
            if out_max_val and axis is not None:
                top[at] = pairs[j][0]
            elif out_max_val:
                top[2 * i * top_k + j] = pairs[j][1]
                top[2 * i * top_k + top_k + j] = pairs[j][0]
            else:
                top[at] = pairs[j][1]
    return np.array(top, dtype=np.float32).reshape(tuple(out_shape))


def caffe_reshape_shape(shape, new, axis, num_axes):
    """ReshapeLayer::Reshape's top shape, transcribed (None where Caffe would fail a CHECK)."""
    rank = len(shape)
    start = axis if axis >= 0 else rank + axis + 1
    if start < 0 or start > rank:
        return None
    end = rank if num_axes == -1 else start + num_axes
    if end > rank:
        return None
    top = list(shape[:start]) + list(new) + list(shape[end:])
    inferred, constant = None, 1
    for i, d in enumerate(new):
        if d == 0:
            if start + i >= rank:
                return None
            top[start + i] = shape[start + i]
        elif d == -1:
            inferred = i
        else:
            constant *= d
    if inferred is not None:
        explicit = constant * math.prod(shape[:start]) * math.prod(shape[end:])
        explicit *= math.prod(top[start + i] for i, d in enumerate(new) if d == 0)
        if math.prod(shape) % explicit:
            return None
        top[start + inferred] = math.prod(shape) // explicit
    return tuple(top) if math.prod(top) == math.prod(shape) else None


def depth_to_space_ref(x, b, mode="DCR"):
    """ONNX DepthToSpace, one output element at a time from the operator's definition."""
    n, c, h, w = x.shape
    co = c // (b * b)
    out = np.empty((n, co, h * b, w * b), dtype=x.dtype)
    for ni, ci, hi, wi in np.ndindex(*out.shape):
        i, j = hi % b, wi % b
        depth = (i * b + j) * co + ci if mode == "DCR" else ci * b * b + i * b + j
        out[ni, ci, hi, wi] = x[ni, depth, hi // b, wi // b]
    return out
