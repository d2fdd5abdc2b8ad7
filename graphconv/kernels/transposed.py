"""Transposed-convolution kernels, never through a zero-inserted tensor: by output phases (the
sub-pixel form) without dilation, by one GEMM and col2im strided slice-adds with dilation.

Speed only: ``graphconv.layers.conv.Deconvolution`` is the spec. ``a`` is a DeconvAttrs.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .. import geometry
from . import conv
from .conv import _im2col_view, _pad, _spread
from .epilogue import Epilogue, finish, view_as
from .threads import chunks, scratch, threads

# Below this many multiply-adds a transposed convolution runs as one piece (splitting costs more
# than it saves).
SERIAL_MACS = 1 << 21
# A transposed convolution writes its phases by one strided copy each up to this many phases;
# beyond (stride 8 in 2-D), by one interleaving copy (see _deconv_phases).
MAX_PHASE_COPIES = 64


def _spatial_slices(start: tuple[int, ...], step: tuple[int, ...], count: tuple[int, ...]):
    return (slice(None), slice(None)) + tuple(
        slice(b, b + geometry.zero_insert_length(n, s), s) for b, s, n in zip(start, step, count)
    )


def deconv_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, a, epilogue: Epilogue | None = None
) -> np.ndarray:
    """Transposed convolution, never through a zero-inserted tensor.

    Without dilation: by output phases (see _deconv_phases). With dilation: one GEMM per block
    of output channels, then col2im as one strided slice-add per tap."""
    if all(d == 1 for d in a.dilation):
        return _deconv_phases(x, w, b, a, epilogue)
    n, g = a.rank, a.group
    N, C = x.shape[:2]
    S = x.shape[2:]
    cg, og = C // g, w.shape[1]
    O, Sp, K = og * g, math.prod(S), math.prod(a.kernel)
    out_sp = _deconv_out(a, S)
    full = tuple(
        max(
            geometry.deconv_full_size(S[i], a.kernel[i], a.stride[i], a.dilation[i]),
            a.pads_begin[i] + out_sp[i],
        )
        for i in range(n)
    )
    # (g, og*K, cg): row (o, taps) of group gi multiplies that group's (cg, Sp) input
    wt = np.ascontiguousarray(w.reshape(g, cg, og * K).transpose(0, 2, 1))
    y = np.empty((N, O) + out_sp, dtype=np.float32)
    crop = (slice(None),) + tuple(slice(pb, pb + o) for pb, o in zip(a.pads_begin, out_sp))
    items = _channel_blocks(g, og, K * Sp, N * C * og * K * Sp)
    for i in range(N):
        xg = x[i].reshape(g, cg, Sp)

        def part(item, xg=xg, yi=y[i]) -> None:
            gi, o0, o1 = item
            m = o1 - o0
            cols = scratch(m * K * Sp).reshape(m * K, Sp)
            np.matmul(wt[gi, o0 * K : o1 * K], xg[gi], out=cols)
            c = cols.reshape((m,) + a.kernel + S)
            buf = np.zeros((m,) + full, dtype=np.float32)
            for t in itertools.product(*(range(k) for k in a.kernel)):
                start = tuple(ti * d for ti, d in zip(t, a.dilation))
                buf[(slice(None),) + _spatial_slices(start, a.stride, S)[2:]] += c[
                    (slice(None),) + t
                ]
            finish(yi[gi * og + o0 : gi * og + o1], buf[crop], b, epilogue, gi * og + o0)

        _spread(part, items, cg * og * K, Sp)
    return y


def _deconv_phases(x: np.ndarray, w: np.ndarray, b, a, epilogue) -> np.ndarray:
    """Transposed convolution (dilation 1) by output phases: the sub-pixel form, exact.

    Per axis let q = ceil(k/s) (geometry.taps_per_phase), the kernel padded with zero taps to
    q*s. Output sample s*m + r (before cropping) is sum_j x[m - j] * w[j*s + r] over j < q (the
    taps of geometry.phase_taps(k, s, 1, 0, r), zero taps added): an ordinary q-tap
    convolution of the input (padded by q-1) whose weights depend on the phase r. So one
    im2col of q taps and one GEMM give every phase of every output channel, and each output
    sample is written once (no zero fill, no overlap-adds): by prod(s) strided copies, or by
    one interleaving copy when the stride is large. Blocks of output channels spread over
    the threads."""
    n, g = a.rank, a.group
    N, C = x.shape[:2]
    S = x.shape[2:]
    cg, og = C // g, w.shape[1]
    O = og * g
    s = a.stride
    q = tuple(geometry.taps_per_phase(k, si) for k, si in zip(a.kernel, s))
    Q, R = math.prod(q), math.prod(s)
    out_sp = _deconv_out(a, S)
    # phase-grid samples per axis: S + q - 1 carry taps; output padding may reach beyond
    # (those samples are zero: the input is padded further)
    M = tuple(
        max(si + qi - 1, geometry.phase_count(pb + o, st))
        for si, qi, pb, o, st in zip(S, q, a.pads_begin, out_sp, s)
    )
    Mp = math.prod(M)
    if tuple(qi * si for qi, si in zip(q, s)) != a.kernel:
        w = np.pad(w, [(0, 0), (0, 0)] + [(0, qi * si - k) for qi, si, k in zip(q, s, a.kernel)])
    # w (C, og, q0*s0, ...) -> (g, cg, og, q0, s0, q1, s1, ...); tap j of window position u is
    # j = q-1-u, so flip the q axes; rows (o, r0, r1, ...), columns (c, u0, u1, ...)
    wv = w.reshape((g, cg, og) + sum(((qi, si) for qi, si in zip(q, s)), ()))
    wv = np.flip(wv, axis=tuple(3 + 2 * j for j in range(n)))
    order = (0, 2) + tuple(4 + 2 * j for j in range(n)) + (1,) + tuple(3 + 2 * j for j in range(n))
    wall = np.ascontiguousarray(wv.transpose(order)).reshape(g, og * R, cg * Q)
    y = np.empty((N, O) + out_sp, dtype=np.float32)
    grid = tuple(mi * si for mi, si in zip(M, s))  # the uncropped output
    direct = grid == out_sp and not any(a.pads_begin)
    crop = (slice(None),) + tuple(slice(pb, pb + o) for pb, o in zip(a.pads_begin, out_sp))
    # (o, M0, s0, M1, s1, ...) from (o, s0, s1, ..., M0, M1, ...)
    interleave = (0,) + sum(((1 + n + j, 1 + j) for j in range(n)), ())
    phases = list(itertools.product(*(range(si) for si in s)))
    items = _channel_blocks(g, og, R * Mp, N * C * og * R * Mp * Q)
    for i in range(N):
        if Q == 1 and M == S:  # k <= s: the input itself is the column matrix
            cols = x[i].reshape(g, cg, Mp)
        else:
            xp = _pad(
                x[i : i + 1], tuple(qi - 1 for qi in q), tuple(mi - si for mi, si in zip(M, S))
            )[0]
            view = _im2col_view(xp, g, q, (1,) * len(q), (1,) * len(q), M)
            cols = np.ascontiguousarray(view).reshape(g, cg * Q, Mp)

        def part(item, cols=cols, yi=y[i]) -> None:
            gi, o0, o1 = item
            m = o1 - o0
            ph = scratch(m * R * Mp).reshape(m * R, Mp)
            np.matmul(wall[gi, o0 * R : o1 * R], cols[gi], out=ph)
            ph = ph.reshape((m,) + s + M)
            out = yi[gi * og + o0 : gi * og + o1]
            dst = out if direct else np.empty((m,) + grid, dtype=np.float32)
            if R <= MAX_PHASE_COPIES:  # strided copies with long inner loops
                for r in phases:
                    dst[(slice(None),) + tuple(slice(rj, None, sj) for rj, sj in zip(r, s))] = ph[
                        (slice(None),) + r
                    ]
            else:  # one copy whose inner loop runs over the (long) stride
                np.copyto(
                    view_as(dst, (m,) + sum(((mi, si) for mi, si in zip(M, s)), ())),
                    ph.transpose(interleave),
                )
            finish(out, None if direct else dst[crop], b, epilogue, gi * og + o0)

        _spread(part, items, cg * og * Q * R, Mp)
    return y


def _deconv_out(a, S) -> tuple[int, ...]:
    return tuple(
        geometry.deconv_output_size(
            S[i],
            a.kernel[i],
            a.stride[i],
            a.dilation[i],
            a.pads_begin[i],
            a.pads_end[i],
            a.output_padding[i],
        )
        for i in range(a.rank)
    )


def _channel_blocks(g: int, og: int, per_channel_elems: int, macs: int):
    """(group, o0, o1) blocks of output channels, never straddling a group: about
    CHUNK_ELEMENTS work elements each, at least two per thread when the layer is big."""
    per = max(1, conv.CHUNK_ELEMENTS // max(1, per_channel_elems))
    if macs >= SERIAL_MACS and g < 2 * threads():
        per = min(per, max(1, -(-og // (2 * threads()))))
    return [(gi, o0, o1) for gi in range(g) for o0, o1 in chunks(og, per)]
