"""Convolution and Deconvolution: shape formulas, direct sums, scatter-adds.

Everything here works in float64 and follows the textbook definition as literally as possible
(direct sums over kernel taps, scatter-adds, index maps), trading speed for obviousness. Nothing
is imported from graphconv. Arrays are ``(N, C, *spatial)`` with 1, 2 or 3 spatial axes.
"""

from __future__ import annotations

import itertools

import numpy as np


def _tup(v, n):
    if isinstance(v, (int, np.integer)):
        return (int(v),) * n
    t = tuple(int(e) for e in v)
    assert len(t) == n, (t, n)
    return t


# ---- shape formulas ------------------------------------------------------------------------------


def conv_out_len(h, k, s, d, pb, pe):
    """floor((H + pb + pe - (d(k-1)+1)) / s) + 1 (may be < 1 for invalid configs)."""
    ext = d * (k - 1) + 1
    return (h + pb + pe - ext) // s + 1


def deconv_out_len(h, k, s, d, pb, pe, op=0):
    """s(H-1) + op + d(k-1)+1 - pb - pe."""
    return s * (h - 1) + op + d * (k - 1) + 1 - pb - pe


def caffe_deconv_out_len(h, k, s, p, d=1):
    """Caffe's DeconvolutionLayer::compute_output_shape: stride*(in-1) + kernel_extent - 2*pad."""
    kernel_extent = d * (k - 1) + 1
    return s * (h - 1) + kernel_extent - 2 * p


# ---- convolution ---------------------------------------------------------------------------------


def conv_direct(x, w, b, stride, dilation, pads_begin, pads_end, group):
    """Grouped, dilated, strided, asymmetrically zero-padded N-D cross-correlation (float64).

    ``y[n, o, p] = b[o] + sum_{c in group(o), t} w[o, c', t] * xpad[n, c, p*s + t*d]``
    with ``w`` of shape ``[O, C/g, *k]``. Implemented as one explicit loop over output channels,
    input channels of the group and kernel taps; each tap adds a strided view of the padded input.
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    N, C = x.shape[:2]
    sp = x.shape[2:]
    n = len(sp)
    n_out, cg = w.shape[:2]
    k = w.shape[2:]
    assert len(k) == n
    s, d = _tup(stride, n), _tup(dilation, n)
    pb, pe = _tup(pads_begin, n), _tup(pads_end, n)
    assert C % group == 0 and n_out % group == 0 and cg == C // group
    og = n_out // group
    out = tuple(conv_out_len(sp[i], k[i], s[i], d[i], pb[i], pe[i]) for i in range(n))
    if any(o < 1 for o in out):
        raise ValueError(f"empty conv output {out}")
    xp = np.zeros((N, C) + tuple(sp[i] + pb[i] + pe[i] for i in range(n)))
    xp[(slice(None), slice(None)) + tuple(slice(pb[i], pb[i] + sp[i]) for i in range(n))] = x
    y = np.zeros((N, n_out) + out)
    for o in range(n_out):
        gi = o // og
        for cl in range(cg):
            c = gi * cg + cl
            for t in itertools.product(*(range(kk) for kk in k)):
                # output position p reads xp at p*s + t*d
                view = xp[
                    (slice(None), c)
                    + tuple(
                        slice(t[i] * d[i], t[i] * d[i] + s[i] * (out[i] - 1) + 1, s[i])
                        for i in range(n)
                    )
                ]
                assert view.shape == (N,) + out
                y[:, o] += w[(o, cl) + t] * view
    if b is not None:
        y += np.asarray(b, dtype=np.float64).reshape((1, n_out) + (1,) * n)
    return y


def conv_pointwise_loops(x, w, b, stride, dilation, pads_begin, pads_end, group):
    """Same as :func:`conv_direct` but looping over every output element (for self-checks)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    N, C = x.shape[:2]
    sp = x.shape[2:]
    n = len(sp)
    n_out, cg = w.shape[:2]
    k = w.shape[2:]
    s, d = _tup(stride, n), _tup(dilation, n)
    pb, pe = _tup(pads_begin, n), _tup(pads_end, n)
    og = n_out // group
    out = tuple(conv_out_len(sp[i], k[i], s[i], d[i], pb[i], pe[i]) for i in range(n))
    y = np.zeros((N, n_out) + out)
    for nn in range(N):
        for o in range(n_out):
            gi = o // og
            for p in itertools.product(*(range(q) for q in out)):
                acc = 0.0 if b is None else float(b[o])
                for cl in range(cg):
                    c = gi * cg + cl
                    for t in itertools.product(*(range(kk) for kk in k)):
                        src = tuple(p[i] * s[i] + t[i] * d[i] - pb[i] for i in range(n))
                        if all(0 <= src[i] < sp[i] for i in range(n)):
                            acc += w[(o, cl) + t] * x[(nn, c) + src]
                y[(nn, o) + p] = acc
    return y


# ---- transposed convolution ----------------------------------------------------------------------


def _deconv_setup(x, w, stride, dilation, pads_begin, pads_end, output_padding, group):
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    C = x.shape[1]
    n = x.ndim - 2
    assert w.shape[0] == C and C % group == 0 and w.ndim == n + 2
    return (
        x,
        w,
        n,
        _tup(stride, n),
        _tup(dilation, n),
        _tup(pads_begin, n),
        _tup(pads_end, n),
        _tup(output_padding, n),
    )


def _deconv_crop(buf, b, pb, pe, n):
    full = buf.shape[2:]
    out = tuple(full[a] - pb[a] - pe[a] for a in range(n))
    if any(q < 1 for q in out):
        raise ValueError(f"empty deconv output {out}")
    y = buf[(slice(None), slice(None)) + tuple(slice(pb[a], pb[a] + out[a]) for a in range(n))]
    y = y.copy()
    if b is not None:
        y += np.asarray(b, dtype=np.float64).reshape((1, y.shape[1]) + (1,) * n)
    return y


def deconv_scatter(x, w, b, stride, dilation, pads_begin, pads_end, output_padding, group):
    """Transposed convolution by its scatter definition (float64).

    Every input sample ``x[n, c, i]`` times the kernel ``w[c, :, t]`` is added into a full output
    at positions ``i*s + t*d``. The full output has ``s(H-1) + d(k-1) + 1`` samples plus
    ``output_padding`` extra (zero) samples at the end; then ``pads_begin`` samples are cropped at
    the start and ``pads_end`` at the end; then the bias is added. ``w`` is ``[C, O/g, *k]``.

    Loops over input positions and groups; each step adds one input sample's (dilated) kernel
    footprint, summed over the group's input channels.
    """
    x, w, n, s, d, pb, pe, op = _deconv_setup(
        x, w, stride, dilation, pads_begin, pads_end, output_padding, group
    )
    N, C = x.shape[:2]
    sp = x.shape[2:]
    og, k = w.shape[1], w.shape[2:]
    cg = C // group
    full = tuple(s[a] * (sp[a] - 1) + d[a] * (k[a] - 1) + 1 + op[a] for a in range(n))
    buf = np.zeros((N, og * group) + full)
    for i in itertools.product(*(range(h) for h in sp)):
        foot = tuple(
            slice(i[a] * s[a], i[a] * s[a] + d[a] * (k[a] - 1) + 1, d[a]) for a in range(n)
        )
        for gi in range(group):
            cs, os_ = slice(gi * cg, (gi + 1) * cg), slice(gi * og, (gi + 1) * og)
            xi = x[(slice(None), cs) + i]  # (N, cg)
            contrib = np.tensordot(xi, w[cs], axes=([1], [0]))  # (N, og, *k)
            buf[(slice(None), os_) + foot] += contrib
    return _deconv_crop(buf, b, pb, pe, n)


def deconv_scatter_loops(x, w, b, stride, dilation, pads_begin, pads_end, output_padding, group):
    """Same as :func:`deconv_scatter`, one scalar multiply-add at a time (for self-checks)."""
    x, w, n, s, d, pb, pe, op = _deconv_setup(
        x, w, stride, dilation, pads_begin, pads_end, output_padding, group
    )
    N, C = x.shape[:2]
    sp = x.shape[2:]
    og, k = w.shape[1], w.shape[2:]
    cg = C // group
    full = tuple(s[a] * (sp[a] - 1) + d[a] * (k[a] - 1) + 1 + op[a] for a in range(n))
    buf = np.zeros((N, og * group) + full)
    for nn in range(N):
        for c in range(C):
            for ol in range(og):
                o = (c // cg) * og + ol
                for i in itertools.product(*(range(h) for h in sp)):
                    for t in itertools.product(*(range(kk) for kk in k)):
                        pos = tuple(i[a] * s[a] + t[a] * d[a] for a in range(n))
                        buf[(nn, o) + pos] += x[(nn, c) + i] * w[(c, ol) + t]
    return _deconv_crop(buf, b, pb, pe, n)
