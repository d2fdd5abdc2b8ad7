"""Resampling and padding: nearest upsampling, zero insertion, constant padding, unpooling,
interpolation (index maps and textbook formulas)."""

from __future__ import annotations

import itertools

import numpy as np

from .conv import _tup


def upsample_nearest(x, factors):
    """Nearest upsampling by integer factors per spatial axis via np.repeat."""
    y = np.asarray(x)
    for a, f in enumerate(factors):
        y = np.repeat(y, int(f), axis=2 + a)
    return y


def zero_insert(x, stride):
    """``s-1`` zeros between neighbouring samples on each spatial axis: out = s(H-1)+1."""
    x = np.asarray(x)
    sp = x.shape[2:]
    n = len(sp)
    s = _tup(stride, n)
    y = np.zeros(x.shape[:2] + tuple(s[a] * (sp[a] - 1) + 1 for a in range(n)), dtype=x.dtype)
    for i in itertools.product(*(range(h) for h in sp)):
        y[(slice(None), slice(None)) + tuple(i[a] * s[a] for a in range(n))] = x[
            (slice(None), slice(None)) + i
        ]
    return y


def pad_crop(x, pads_begin, pads_end, value=0.0):
    """Constant padding over spatial axes by the index map ``y[i] = x[i - pb]`` where that index
    exists and ``value`` elsewhere; output length ``H + pb + pe`` (negative amounts crop)."""
    x = np.asarray(x)
    sp = x.shape[2:]
    n = len(sp)
    pb, pe = _tup(pads_begin, n), _tup(pads_end, n)
    out = tuple(sp[a] + pb[a] + pe[a] for a in range(n))
    if any(q < 1 for q in out):
        raise ValueError(f"empty pad output {out}")
    y = np.full(x.shape[:2] + out, value, dtype=x.dtype)
    for p in itertools.product(*(range(q) for q in out)):
        src = tuple(p[a] - pb[a] for a in range(n))
        if all(0 <= src[a] < sp[a] for a in range(n)):
            y[(slice(None), slice(None)) + p] = x[(slice(None), slice(None)) + src]
    return y


def caffe_unpool(x, mask, out_hw):
    N, C, H, W = x.shape
    top = np.zeros((N, C) + tuple(out_hw), dtype=np.float32)
    plane = out_hw[0] * out_hw[1]
    for n, c in itertools.product(range(N), range(C)):
        flat = top[n, c].reshape(-1)
        for i in range(H * W):
            idx = int(mask[n, c].reshape(-1)[i])
            assert 0 <= idx < plane, idx
            flat[idx] = x[n, c].reshape(-1)[i]
    return top


def caffe_interp(x, out_hw):
    x = np.asarray(x, dtype=np.float32)
    N, C, h1, w1 = x.shape
    h2, w2 = out_hw
    if (h1, w1) == (h2, w2):
        return x.copy()
    f32 = np.float32
    rh = f32(h1 - 1) / f32(h2 - 1) if h2 > 1 else f32(0)
    rw = f32(w1 - 1) / f32(w2 - 1) if w2 > 1 else f32(0)
    top = np.zeros((N, C, h2, w2), dtype=np.float32)
    for y in range(h2):
        hr = f32(rh * f32(y))
        hi = int(hr)
        hp = 1 if hi < h1 - 1 else 0
        l1 = f32(hr - f32(hi))
        l0 = f32(f32(1) - l1)
        for x_ in range(w2):
            wr = f32(rw * f32(x_))
            wi = int(wr)
            wp = 1 if wi < w1 - 1 else 0
            m1 = f32(wr - f32(wi))
            m0 = f32(f32(1) - m1)
            a, b = x[:, :, hi, wi], x[:, :, hi, wi + wp]
            c, d = x[:, :, hi + hp, wi], x[:, :, hi + hp, wi + wp]
            top[:, :, y, x_] = l0 * (m0 * a + m1 * b) + l1 * (m0 * c + m1 * d)
    return top


def textbook_bilinear(x, out_hw):
    """float64 bilinear sampling at y (H-1)/(Ho-1), x (W-1)/(Wo-1), clamped at the border."""
    x = np.asarray(x, dtype=np.float64)
    H, W = x.shape[2:]
    out = np.zeros(x.shape[:2] + tuple(out_hw))
    for oy, ox in itertools.product(*(range(o) for o in out_hw)):
        sy = oy * (H - 1) / (out_hw[0] - 1) if out_hw[0] > 1 else 0.0
        sx = ox * (W - 1) / (out_hw[1] - 1) if out_hw[1] > 1 else 0.0
        y0, x0 = min(int(np.floor(sy)), H - 1), min(int(np.floor(sx)), W - 1)
        y1, x1 = min(y0 + 1, H - 1), min(x0 + 1, W - 1)
        fy, fx = sy - y0, sx - x0
        out[:, :, oy, ox] = (1 - fy) * ((1 - fx) * x[:, :, y0, x0] + fx * x[:, :, y0, x1]) + fy * (
            (1 - fx) * x[:, :, y1, x0] + fx * x[:, :, y1, x1]
        )
    return out


def pad_reference(x, pb, pe, value):
    """Crop the negative amounts by slicing, then grow the positive ones with np.pad. Only valid
    when the crops leave at least one input sample on every axis."""
    crop = tuple(slice(max(0, -b), h - max(0, -e)) for b, e, h in zip(pb, pe, x.shape[2:]))
    assert all(c.stop - c.start >= 1 for c in crop)
    y = x[(slice(None), slice(None)) + crop]
    return np.pad(
        y,
        [(0, 0), (0, 0)] + [(max(0, b), max(0, e)) for b, e in zip(pb, pe)],
        constant_values=value,
    )
