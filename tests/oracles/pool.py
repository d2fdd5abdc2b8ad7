"""Pooling as Caffe computes it: output lengths, and the forward pass one window at a time."""

from __future__ import annotations

import itertools
import math

import numpy as np

FLT_MAX = np.float32(3.4028234663852886e38)


def caffe_pooled_len(h, k, s, p, round_mode="CEIL", d=1):
    k = d * (k - 1) + 1  # a dilated kernel's extent
    q = np.float32(h + 2 * p - k) / np.float32(s)  # Caffe: static_cast<float>(...) / stride
    out = int(math.floor(q) if round_mode == "FLOOR" else math.ceil(q)) + 1
    if round_mode == "CAFFE_YOLOV3" and math.fmod(k - s, 2) == 1:  # C++'s (k - s) % 2 == 1
        out += 1  # ChenYingpeng/caffe-yolov3's PoolingLayer::Reshape
    if p > 0 and (out - 1) * s >= h + p:
        out -= 1
    return out


def caffe_pool(x, kernel, stride, pad, method="MAX", round_mode="CEIL", dilation=1):
    """Caffe's pooling forward pass, N-D, one output position at a time. Returns (top, mask).

    ``dilation`` (not Caffe's; ONNX's ``dilations``) spaces a window's taps: window ``o`` reads
    ``o s - p + j d`` for ``j < k``; MAX scans those inside the input in row-major tap order,
    AVE sums them and divides by the count of taps inside ``[-p, H + p)``."""
    x = np.asarray(x, dtype=np.float32)
    N, C = x.shape[:2]
    sp = x.shape[2:]
    n = len(sp)
    k, s, p, d = (
        tuple(v) if isinstance(v, tuple) else (v,) * n for v in (kernel, stride, pad, dilation)
    )
    out = tuple(caffe_pooled_len(sp[i], k[i], s[i], p[i], round_mode, d[i]) for i in range(n))
    assert all(o >= 1 for o in out), out
    top = np.zeros((N, C) + out, dtype=np.float32)
    mask = np.full((N, C) + out, -1.0, dtype=np.float32)
    for nn, c in itertools.product(range(N), range(C)):
        plane = x[nn, c]
        for o in itertools.product(*(range(q) for q in out)):
            start = [o[i] * s[i] - p[i] for i in range(n)]
            if any(v != 1 for v in d):
                taps = [[start[i] + j * d[i] for j in range(k[i])] for i in range(n)]
                if method == "MAX":
                    best, where = -FLT_MAX, -1
                    for pos in itertools.product(
                        *([t for t in taps[i] if 0 <= t < sp[i]] for i in range(n))
                    ):
                        if plane[pos] > best:
                            best = plane[pos]
                            where = int(np.ravel_multi_index(pos, sp))
                    top[(nn, c) + o], mask[(nn, c) + o] = best, where
                else:
                    pool_size = math.prod(sum(t < sp[i] + p[i] for t in taps[i]) for i in range(n))
                    acc = np.float32(0)
                    for pos in itertools.product(
                        *([t for t in taps[i] if 0 <= t < sp[i]] for i in range(n))
                    ):
                        acc = np.float32(acc + plane[pos])
                    top[(nn, c) + o] = acc / np.float32(pool_size)
                continue
            if method == "MAX":
                end = [min(start[i] + k[i], sp[i]) for i in range(n)]
                lo = [max(v, 0) for v in start]
                best, where = -FLT_MAX, -1
                for pos in itertools.product(*(range(lo[i], end[i]) for i in range(n))):
                    if plane[pos] > best:
                        best = plane[pos]
                        where = int(np.ravel_multi_index(pos, sp))
                top[(nn, c) + o], mask[(nn, c) + o] = best, where
            else:
                end = [min(start[i] + k[i], sp[i] + p[i]) for i in range(n)]
                pool_size = math.prod(end[i] - start[i] for i in range(n))
                lo = [max(v, 0) for v in start]
                hi = [min(v, sp[i]) for i, v in enumerate(end)]
                acc = np.float32(0)
                for pos in itertools.product(*(range(lo[i], hi[i]) for i in range(n))):
                    acc = np.float32(acc + plane[pos])
                top[(nn, c) + o] = acc / np.float32(pool_size)
    return top, mask
