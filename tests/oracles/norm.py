"""Normalisation layers: BatchNorm (stored and batch statistics, Caffe's blobs), Scale and
affine channel maps, LRN across and within channels."""

from __future__ import annotations

import itertools
import math

import numpy as np


def bn_stored(x, mean, var, eps):
    """Caffe BatchNorm with global stats: per channel (x - mean) / sqrt(var + eps)."""
    x = np.asarray(x, np.float64)
    y = np.empty_like(x)
    for c in range(x.shape[1]):
        y[:, c] = (x[:, c] - float(mean[c])) / math.sqrt(float(var[c]) + eps)
    return y


def bn_caffe_blobs(x, mean_blob, var_blob, sf, eps):
    """The same from Caffe's three blobs: statistics are blob / sf, or 0 when sf == 0."""
    f = 0.0 if sf == 0 else 1.0 / float(sf)
    return bn_stored(
        x, np.asarray(mean_blob, np.float64) * f, np.asarray(var_blob, np.float64) * f, eps
    )


def bn_batch(x, eps):
    """Per channel, mean and biased variance over every other axis of this batch."""
    x = np.asarray(x, np.float64)
    y = np.empty_like(x)
    for c in range(x.shape[1]):
        xc = x[:, c]
        m = xc.sum() / xc.size
        v = ((xc - m) ** 2).sum() / xc.size
        y[:, c] = (xc - m) / math.sqrt(v + eps)
    return y


def segnet_learn(x, scale, shift):
    """caffe-segnet BN, LEARN mode: var = E(x^2) - E(x)^2 over N, H, W, var_eps 1e-9."""
    x = np.asarray(x, np.float64)
    y = np.empty_like(x)
    for c in range(x.shape[1]):
        xc = x[:, c]
        m = xc.mean()
        v = (xc**2).mean() - m * m
        y[:, c] = (xc - m) / math.sqrt(v + 1e-9) * float(scale[c]) + float(shift[c])
    return y


def channel_affine(y, scale, bias):
    y = np.array(y, np.float64)
    for c in range(y.shape[1]):
        y[:, c] = y[:, c] * float(scale[c]) + float(bias[c])
    return y


def caffe_scale(x, scale, bias, axis):
    """ScaleLayer::Forward_cpu: for each outer index and scale entry, scale an inner run."""
    x = np.asarray(x, np.float64)
    scale = np.asarray(scale, np.float64)
    if scale.ndim == 0:
        axis = 0
    outer = math.prod(x.shape[:axis])
    inner = math.prod(x.shape[axis + scale.ndim :])
    src, dst = x.reshape(-1), np.empty(x.size)
    sflat = scale.reshape(-1)
    bflat = None if bias is None else np.asarray(bias, np.float64).reshape(-1)
    i = 0
    for _ in range(outer):
        for d in range(sflat.size):
            dst[i : i + inner] = src[i : i + inner] * sflat[d]
            if bflat is not None:
                dst[i : i + inner] += bflat[d]
            i += inner
    return dst.reshape(x.shape)


def lrn_across(x, size, alpha, beta, k):
    x = np.asarray(x, np.float64)
    N, C = x.shape[:2]
    half = (size - 1) // 2
    y = np.empty_like(x)
    for n, c in itertools.product(range(N), range(C)):
        lo, hi = max(0, c - half), min(C - 1, c + half)
        s = (x[n, lo : hi + 1] ** 2).sum(axis=0)
        y[n, c] = x[n, c] * (k + alpha / size * s) ** -beta
    return y


def lrn_within(x, size, alpha, beta):
    """Caffe's WITHIN_CHANNEL: (1 + alpha * avg of x^2 over the zero-padded size x size window)
    ^ -beta times x (k is not used)."""
    x = np.asarray(x, np.float64)
    N, C, H, W = x.shape
    half = (size - 1) // 2
    y = np.empty_like(x)
    for n, c, h, w in itertools.product(range(N), range(C), range(H), range(W)):
        win = x[n, c, max(0, h - half) : h + half + 1, max(0, w - half) : w + half + 1]
        avg = (win**2).sum() / (size * size)
        y[n, c, h, w] = x[n, c, h, w] * (1 + alpha * avg) ** -beta
    return y


def bn_reference(z, mean, var, eps, scale=None, shift=None, gamma=None, beta=None):
    shape = (1, -1) + (1,) * (z.ndim - 2)
    y = (z - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if scale is not None:
        y = y * scale.reshape(shape) + shift.reshape(shape)
    if gamma is not None:
        y = y * gamma.reshape(shape) + (beta.reshape(shape) if beta is not None else 0)
    return y
