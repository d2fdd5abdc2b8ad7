"""Resize (ONNX) by brute force: the specification's coordinate maps in exact rationals, and
nearest / linear / cubic interpolation one output sample at a time; MaxUnpool by its definition."""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def resize_coordinate(ctm, y, scale, n_in, n_out):
    """The ONNX specification's input coordinate of output sample y, in exact rationals; but
    align_corners divides by the integer output length less one, as onnxruntime and PyTorch
    do (the specification's fractional ``scale * n_in`` differs when that is not an integer)."""
    from fractions import Fraction as F

    width = scale * n_in
    half = F(1, 2)
    if ctm == "align_corners":
        return F(0) if n_out == 1 else F(y * (n_in - 1), n_out - 1)
    if ctm == "asymmetric":
        return F(y) / scale
    if ctm == "tf_half_pixel_for_nn":
        return (y + half) / scale
    if ctm == "pytorch_half_pixel" and width == 1:
        return -half
    x = (y + half) / scale - half
    if ctm == "half_pixel_symmetric":
        x += F(n_in, 2) * (1 - n_out / width)
    return x


def resize_oracle(x, out_shape, scales, mode, ctm, nearest_mode):
    """Brute force over output samples (loops; small sizes). Returns the output and the
    smallest distance of a coordinate to a rounding boundary (ties make float32 math differ)."""
    import itertools
    import math as m
    from fractions import Fraction as F

    taps, closest = [], float("inf")
    for n, o, s in zip(x.shape, out_shape, scales):
        s = s if isinstance(s, F) else F(float(np.float32(s)))  # ONNX scales are float32
        per = []
        for y in range(o):
            if o == n and s == 1:
                per.append([(y, 1.0)])
                continue
            c = resize_coordinate(ctm, y, s, n, o)
            low = m.floor(c)
            frac = c - low

            def clamp(i, n=n):
                return min(max(i, 0), n - 1)

            if mode == "nearest":
                closest = min(
                    closest,
                    float(abs(frac - F(1, 2)))
                    if "round" in nearest_mode
                    else float(min(frac, 1 - frac)),
                )
                up = {
                    "round_prefer_floor": frac > F(1, 2),
                    "round_prefer_ceil": frac >= F(1, 2),
                    "floor": False,
                    "ceil": frac > 0,
                }[nearest_mode]
                per.append([(clamp(low + up), 1.0)])
            else:
                per.append([(clamp(low), float(1 - frac)), (clamp(low + 1), float(frac))])
        taps.append(per)
    out = np.zeros(out_shape, np.float64)
    for idx in itertools.product(*(range(o) for o in out_shape)):
        total = 0.0
        for combo in itertools.product(*(taps[a][i] for a, i in enumerate(idx))):
            weight = np.prod([wt for _, wt in combo])
            total += weight * float(x[tuple(i for i, _ in combo)])
        out[idx] = total
    return out.astype(np.float32), closest


def align_corners_brute_force(x, out_shape, mode, nearest_mode):
    """align_corners written out per output sample (float64 loops): along each axis, output
    index i reads source coordinate c = i (in - 1) / (out - 1) (0 when out == 1), with the
    INTEGER output length; linear blends x[floor c] and x[ceil c] by the fraction of c (one
    factor per axis), nearest rounds c (exact rationals, so ties are exact)."""
    import itertools
    import math
    from fractions import Fraction

    def nearest(c):
        low, frac = math.floor(c), c - math.floor(c)
        up = {
            "round_prefer_floor": frac > Fraction(1, 2),
            "floor": False,
            "ceil": frac > 0,
            "round_prefer_ceil": frac >= Fraction(1, 2),
        }[nearest_mode]
        return low + up

    out = np.zeros(out_shape, np.float64)
    for index in itertools.product(*(range(o) for o in out_shape)):
        coords = [
            Fraction(0) if o == 1 else Fraction(i * (n - 1), o - 1)
            for i, n, o in zip(index, x.shape, out_shape)
        ]
        if mode == "nearest":
            out[index] = x[tuple(nearest(c) for c in coords)]
            continue
        for corner in itertools.product((0, 1), repeat=x.ndim):  # floor (0) or ceil (1) per axis
            weight, source = 1.0, []
            for c, up in zip(coords, corner):
                frac = float(c - math.floor(c))
                weight *= frac if up else 1 - frac
                source.append(math.ceil(c) if up else math.floor(c))
            out[index] += weight * float(x[tuple(source)])
    return out


def onnx_max_unpool(values, indices, out_shape):
    """ONNX MaxUnpool by its definition: zeros, then y.flat[i] = x for each (x, i)."""
    y = np.zeros(int(np.prod(out_shape)), np.float32)
    for v, i in zip(values.reshape(-1), indices.reshape(-1)):
        y[int(i)] = v
    return y.reshape(out_shape)


def kernel_oracle(x, out_shape, scales, ctm, mode, a=-0.75, antialias=False, exclude=False):
    """Linear / cubic Resize by brute force in float64: every input index within the kernel's
    reach of the coordinate, read with edge clamping (or dropped with exclude_outside)."""
    import itertools
    import math as m

    def kernel(d):
        d = abs(d)
        if mode == "linear":
            return max(0.0, 1 - d)
        if d <= 1:
            return (a + 2) * d**3 - (a + 3) * d**2 + 1
        return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a if d < 2 else 0.0

    reach = 1 if mode == "linear" else 2
    taps = []
    for n, o, s in zip(x.shape, out_shape, scales):
        s = float(np.float32(s)) if not isinstance(s, Fraction) else float(s)
        if o == n and s == 1:
            taps.append([[(y, 1.0)] for y in range(o)])
            continue
        k = min(s, 1.0) if antialias else 1.0
        per = []
        for y in range(o):
            c = float(resize_coordinate(ctm, y, Fraction(s), n, o))
            pairs = [
                (i, kernel((i - c) * k))
                for i in range(m.floor(c - reach / k) - 1, m.ceil(c + reach / k) + 2)
            ]
            if exclude:
                pairs = [(i, wt) for i, wt in pairs if 0 <= i < n]
            if antialias or exclude:
                total = sum(wt for _, wt in pairs)
                pairs = [(i, wt / total) for i, wt in pairs]
            per.append([(min(max(i, 0), n - 1), wt) for i, wt in pairs if wt != 0])
        taps.append(per)
    out = np.zeros(out_shape, np.float64)
    for idx in itertools.product(*(range(o) for o in out_shape)):
        for combo in itertools.product(*(taps[ax][i] for ax, i in enumerate(idx))):
            out[idx] += np.prod([wt for _, wt in combo]) * float(x[tuple(i for i, _ in combo)])
    return out


def bilinear_sample(plane, ci, cj):
    i0, j0 = int(np.floor(ci)), int(np.floor(cj))
    fi, fj = ci - i0, cj - j0

    def at(i, j):
        return float(plane[min(i, plane.shape[0] - 1), min(j, plane.shape[1] - 1)])

    return (
        (1 - fi) * (1 - fj) * at(i0, j0)
        + (1 - fi) * fj * at(i0, j0 + 1)
        + fi * (1 - fj) * at(i0 + 1, j0)
        + fi * fj * at(i0 + 1, j0 + 1)
    )


def bicubic_sample(plane, ci, cj, a=-0.75):
    def k(d):
        d = abs(d)
        if d <= 1:
            return (a + 2) * d**3 - (a + 3) * d**2 + 1
        return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a if d < 2 else 0.0

    total = 0.0
    for i in range(int(np.floor(ci)) - 2, int(np.floor(ci)) + 4):
        for j in range(int(np.floor(cj)) - 2, int(np.floor(cj)) + 4):
            v = plane[min(max(i, 0), plane.shape[0] - 1), min(max(j, 0), plane.shape[1] - 1)]
            total += k(i - ci) * k(j - cj) * float(v)
    return total
