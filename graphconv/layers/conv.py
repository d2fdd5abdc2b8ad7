"""Convolution and Deconvolution (transposed convolution), N-D, grouped, dilated, asymmetric pads.

Shapes (``ext = d(k-1)+1``):
  Convolution    out = floor((H + pb + pe - ext) / s) + 1
  Deconvolution  out = s(H-1) + op + ext - pb - pe        (Caffe: pb = pe = p, op = 0)
Weights: Convolution ``[O, C/g, k...]``; Deconvolution ``[C, O/g, k...]`` (Caffe and ONNX layout).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from ..ir import TensorSpec
from ..parallel import blas_threads_for, chunks, parallel_map, scratch, serial_map, threads
from . import winograd
from .base import Epilogue, LayerType, as_tuple, register, spatial_rank_check, view_as


@dataclass(frozen=True)
class ConvAttrs:
    """Attributes of a convolution. Ints broadcast to every spatial axis.

    ``pads`` is a shorthand that sets both ``pads_begin`` and ``pads_end``.
    """

    num_output: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...] | int = 1
    dilation: tuple[int, ...] | int = 1
    pads_begin: tuple[int, ...] | int = 0
    pads_end: tuple[int, ...] | int = 0
    group: int = 1
    bias: bool = True
    pads: tuple[int, ...] | int | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        kernel = as_tuple(self.kernel, what="kernel")
        n = len(kernel)
        if not 1 <= n <= 3:
            raise ValueError(f"kernel must be 1-D, 2-D or 3-D, got {n}-D")
        pb, pe = self.pads_begin, self.pads_end
        if self.pads is not None:
            pb = pe = self.pads
        fix = object.__setattr__
        fix(self, "kernel", kernel)
        fix(self, "stride", as_tuple(self.stride, n, "stride"))
        fix(self, "dilation", as_tuple(self.dilation, n, "dilation"))
        fix(self, "pads_begin", as_tuple(pb, n, "pads_begin"))
        fix(self, "pads_end", as_tuple(pe, n, "pads_end"))
        fix(self, "pads", None)
        fix(self, "num_output", int(self.num_output))
        fix(self, "group", int(self.group))
        fix(self, "bias", bool(self.bias))
        if self.num_output < 1:
            raise ValueError(f"num_output must be >= 1, got {self.num_output}")
        if self.group < 1:
            raise ValueError(f"group must be >= 1, got {self.group}")
        if self.num_output % self.group:
            raise ValueError(f"group {self.group} does not divide num_output {self.num_output}")
        for what, vals, lo in (("kernel", self.kernel, 1), ("stride", self.stride, 1),
                               ("dilation", self.dilation, 1), ("pads_begin", self.pads_begin, 0),
                               ("pads_end", self.pads_end, 0)):
            if any(v < lo for v in vals):
                raise ValueError(f"{what} must be >= {lo}, got {vals}")

    @property
    def rank(self) -> int:
        return len(self.kernel)

    @property
    def extent(self) -> tuple[int, ...]:
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))


@dataclass(frozen=True)
class DeconvAttrs(ConvAttrs):
    """Transposed-convolution attributes: ConvAttrs plus per-axis ``output_padding``
    (extra samples at the end of each axis, ``0 <= op < max(stride, dilation)`` as in ONNX)."""

    output_padding: tuple[int, ...] | int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        op = as_tuple(self.output_padding, self.rank, "output_padding")
        object.__setattr__(self, "output_padding", op)
        for o, s, d in zip(op, self.stride, self.dilation):
            if o < 0 or o >= max(s, d):
                raise ValueError(f"output_padding {op} must be >= 0 and < max(stride, dilation)")


def conv_output_size(h: int, k: int, s: int, d: int, pb: int, pe: int) -> int:
    return (h + pb + pe - (d * (k - 1) + 1)) // s + 1


def deconv_output_size(h: int, k: int, s: int, d: int, pb: int, pe: int, op: int = 0) -> int:
    return s * (h - 1) + op + d * (k - 1) + 1 - pb - pe


def _check_channels(a: ConvAttrs, x: TensorSpec, what: str) -> int:
    spatial_rank_check(x, a.rank, f"the {a.rank}-D kernel")
    c = x.shape[1]
    if c % a.group:
        raise ValueError(f"group {a.group} does not divide {c} input channels")
    return c


def _spatial_slices(start: tuple[int, ...], step: tuple[int, ...], count: tuple[int, ...]):
    return (slice(None), slice(None)) + tuple(
        slice(b, b + s * (n - 1) + 1, s) for b, s, n in zip(start, step, count))


def _pad(x: np.ndarray, pb, pe) -> np.ndarray:
    """``x`` zero-padded on its spatial axes (np.pad's generality costs ~0.1 ms a call)."""
    if not any(pb) and not any(pe):
        return x
    out = np.zeros(x.shape[:2] + tuple(d + b + e for d, b, e in zip(x.shape[2:], pb, pe)),
                   dtype=np.float32)
    out[(slice(None), slice(None)) + tuple(slice(b, b + d) for b, d in zip(pb, x.shape[2:]))] = x
    return out


# Chunked kernels size their work buffer around this many float32 elements (a few MB: it stays
# in cache between the copy that fills it and the matrix product that reads it).
CHUNK_ELEMENTS = 1 << 18
# im2col chunks copy about this many column elements (4 MB: more than a core's L2, but fewer,
# longer products and copies: measured on a 2-core Xeon VM, 3x3 64->64 at 350x350 took 119 ms
# on one thread and 95 on two at 1 << 18, 113 and 69 at 1 << 20, 122 and 80 at 1 << 22).
IM2COL_CHUNK = 1 << 20
# Below this many multiply-adds a transposed convolution runs as one piece (splitting costs more
# than it saves).
SERIAL_MACS = 1 << 21
# Below this many multiply-adds a convolution runs as one im2col and one product on OpenBLAS's own
# threads (twice this for 1x1, which needs no copy): measured on 2 cores in whole networks, that
# is a few percent faster than chunks on the pool (SqueezeNet 10.8 -> 9.9 ms, MobileNet 20.0 ->
# 18.8 ms), and chunks win above (3x3 64->64 at 224x224: 25 ms against 43 ms in one piece).
ONE_PIECE_MACS = 1 << 25
MIN_COLUMNS = 256
# A depthwise stride-1 convolution computes over the whole padded width and crops (see
# _depthwise) when that wastes at most this factor of its work.
FLAT_WASTE = 2
# Chunks run on several threads only when each output column of a group costs at least this many
# multiply-adds (og * cg * k); thinner products (depthwise) are memory-bound and run on one.
PARALLEL_MIN_WORK = 256
# A transposed convolution writes its phases by one strided copy each up to this many phases;
# beyond (stride 8 in 2-D), by one interleaving copy (see _deconv_phases).
MAX_PHASE_COPIES = 64


def _im2col_view(xpi: np.ndarray, g: int, kernel, dilation, stride, out_sp) -> np.ndarray:
    """Every output position's taps of one padded image ``xpi`` (C, *spatial) as a read-only
    (g, C/g, *kernel, *out_sp) view."""
    st = xpi.strides
    cg = xpi.shape[0] // g
    return np.lib.stride_tricks.as_strided(
        xpi, shape=(g, cg) + tuple(kernel) + tuple(out_sp),
        strides=(cg * st[0], st[0]) + tuple(s * d for s, d in zip(st[1:], dilation))
        + tuple(s * k for s, k in zip(st[1:], stride)), writeable=False)


def _row_chunks(rows: int, row_len: int, row_elements: int, macs: int) -> list[tuple[int, int]]:
    """Split ``rows`` output rows (of ``row_len`` outputs, ``row_elements`` column elements) into
    chunks of about IM2COL_CHUNK column elements, into at least two per thread when the layer
    is big enough to be worth spreading, but of at least MIN_COLUMNS outputs (a product with
    fewer columns runs far below the BLAS's speed)."""
    if macs < ONE_PIECE_MACS:
        return [(0, rows)]
    per = max(1, IM2COL_CHUNK // max(1, row_elements))
    per = min(per, max(1, -(-rows // (2 * threads()))))
    per = max(per, -(-MIN_COLUMNS // max(1, row_len)))
    return chunks(rows, per)


def conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, a: ConvAttrs,
                 epilogue: Epilogue | None = None) -> np.ndarray:
    """Direct N-D grouped convolution into one preallocated output.

    1x1 stride-1 unpadded: one matrix product per group. Otherwise (depthwise included: there the
    product is a batch of one-row matrices) im2col in chunks of output rows: each chunk
    copies its (C/g * k..., rows * W) columns out of a strided view of the padded input into a
    per-thread buffer and multiplies them straight into its slice of the output, so the column
    matrix is never whole in memory (peak: input + output + a few MB per thread).
    ``epilogue`` (a fused per-channel map, see LayerType.epilogue) runs on each finished chunk.
    """
    n, g = a.rank, a.group
    N, C = x.shape[:2]
    O = w.shape[0]
    cg, og = C // g, O // g
    out_sp = tuple(conv_output_size(x.shape[2 + i], a.kernel[i], a.stride[i], a.dilation[i],
                                    a.pads_begin[i], a.pads_end[i]) for i in range(n))
    P, K = math.prod(out_sp), math.prod(a.kernel)
    bias = None if b is None else b.reshape(O, 1)
    if winograd.applies(a.kernel, a.stride, cg, og, out_sp):
        def finish(out: np.ndarray) -> None:
            if bias is not None:
                out += bias.reshape((O,) + (1,) * (out.ndim - 1))
            if epilogue is not None:
                epilogue(view_as(out, (O, -1)), slice(None))
        return winograd.forward(x, w, b, a, out_sp, finish)
    y = np.empty((N, O) + out_sp, dtype=np.float32)
    wg = np.ascontiguousarray(w.reshape(g, og, cg * K))
    if K == 1 and not any(a.pads_begin) and not any(a.pads_end) and all(s == 1 for s in a.stride):
        # no copy at all: column chunks of the input multiply straight into the output
        col_chunks = [(0, P)] if N * O * P * cg < 2 * ONE_PIECE_MACS else chunks(
            P, max(MIN_COLUMNS, min(CHUNK_ELEMENTS // max(1, C), -(-P // (2 * threads())))))
        for i in range(N):
            xi, yi = x[i].reshape(g, cg, P), y[i].reshape(g, og, P)

            def cols(r, xi=xi, yi=yi) -> None:
                out = yi[:, :, r[0]:r[1]]
                np.matmul(wg, xi[:, :, r[0]:r[1]], out=out)
                if bias is not None:
                    out += bias.reshape(g, og, 1)
                if epilogue is not None:
                    epilogue(view_as(out, (O, -1)), slice(None))

            _spread(cols, col_chunks, og * cg, P)
        return y
    if cg == 1 and K > 1:
        return _depthwise(x, wg, b, a, out_sp, epilogue)
    xp = _pad(x, a.pads_begin, a.pads_end)
    rest = out_sp[1:]
    row_len = math.prod(rest)
    chunk_rows = _row_chunks(out_sp[0], row_len, C * K * row_len, N * O * P * cg * K)

    for i in range(N):
        yi = y[i].reshape(g, og, P)
        # every output row's taps, as one view (sliced per chunk: as_strided itself is slow
        # Python, and on the pool it holds the GIL)
        taps = _im2col_view(xp[i], g, a.kernel, a.dilation, a.stride, out_sp)

        def part(r: tuple[int, int], taps=taps, yi=yi) -> None:
            r0, r1 = r
            view = taps[(Ellipsis, slice(r0, r1)) + (slice(None),) * (n - 1)]
            cols = scratch(view.size)
            np.copyto(cols.reshape(view.shape), view)
            out = yi[:, :, r0 * row_len:r1 * row_len]
            np.matmul(wg, cols.reshape(g, cg * K, -1), out=out)
            if bias is not None:
                out += bias.reshape(g, og, 1)
            if epilogue is not None:
                epilogue(view_as(out, (O, -1)), slice(None))

        _spread(part, chunk_rows, og * cg * K, P)
    return y


def _depthwise(x: np.ndarray, wg: np.ndarray, b, a: ConvAttrs, out_sp, epilogue) -> np.ndarray:
    """A convolution with one input channel per group (depthwise, any multiplier) by blocks of
    channels sized to stay in cache: each block copies its K taps into a column buffer, then one
    batch of (og x K) products.

    Stride 1, when the padded rows are at most FLAT_WASTE times the output rows: computed on
    the flattened padded input. With the padded trailing extents T, output (h, w...) of tap t
    reads the flattened input at (h, w...) . strides(T) + (t * dilation) . strides(T), so
    computed over the whole trailing extent (w < T, cropped afterwards) every tap is one
    contiguous run: K long copies per channel instead of K * rows short ones (slow on small
    images). Otherwise (strided) the taps are the im2col view of the padded input, one
    block at a time: the column matrix of the whole layer (9 x the output) would not stay in
    cache between the copy and the product (128 channels, 112x112, stride 2: 3.4 -> 3.0 ms).
    Strided ones split into stride phases the same way measured no faster than this."""
    n = a.rank
    N = x.shape[0]
    g, og, K = wg.shape
    padded = [d + pb + pe for d, pb, pe in zip(x.shape[2:], a.pads_begin, a.pads_end)]
    trail = math.prod(padded[1:])
    flat = all(s == 1 for s in a.stride) and trail <= FLAT_WASTE * math.prod(out_sp[1:])
    if flat:
        computed = (out_sp[0],) + tuple(padded[1:])  # whole padded rows, cropped afterwards
        flat_st = tuple(math.prod(padded[j + 1:]) for j in range(n))
        last = sum((k - 1) * d * f for k, d, f in zip(a.kernel, a.dilation, flat_st))
        L = math.prod(computed)
        extra = max(0, -(-(L + last) // trail) - padded[0])  # rows for the last tap's run
        xp = _pad(x, a.pads_begin, (a.pads_end[0] + extra,) + tuple(a.pads_end[1:]))
        tap_strides = tuple(4 * d * f for d, f in zip(a.dilation, flat_st)) + (4,)  # bytes

        def tap_view(xpi: np.ndarray) -> np.ndarray:  # (g, *kernel, L): one run per tap
            return np.lib.stride_tricks.as_strided(
                xpi, shape=(g,) + a.kernel + (L,), strides=(xpi.strides[0],) + tap_strides,
                writeable=False)
    else:
        computed = tuple(out_sp)
        L = math.prod(computed)
        xp = _pad(x, a.pads_begin, a.pads_end)

        def tap_view(xpi: np.ndarray) -> np.ndarray:  # (g, *kernel, *out_sp)
            return _im2col_view(xpi, g, a.kernel, a.dilation, a.stride, out_sp)[:, 0]
    y = np.empty((N, g * og) + tuple(out_sp), dtype=np.float32)
    per = max(1, CHUNK_ELEMENTS // ((K + og) * L))
    crop = (slice(None), slice(None)) + tuple(slice(0, o) for o in out_sp[1:])
    for i in range(N):
        # every channel's taps as one view (sliced per block: as_strided itself is slow Python)
        taps = tap_view(xp[i])

        def part(r: tuple[int, int], taps=taps, yi=y[i]) -> None:
            g0, g1 = r
            gb = g1 - g0
            buf = scratch(gb * (K + og) * L)
            cols = buf[:gb * K * L]
            np.copyto(cols.reshape((gb,) + taps.shape[1:]), taps[g0:g1])
            out = yi[g0 * og:g1 * og]
            if flat:
                prod = buf[gb * K * L:].reshape(gb, og, L)
                np.matmul(wg[g0:g1], cols.reshape(gb, K, L), out=prod)
                _finish(out, prod.reshape((gb * og,) + computed)[crop], b, epilogue, g0 * og)
            else:
                np.matmul(wg[g0:g1], cols.reshape(gb, K, L), out=out.reshape(gb, og, L))
                _finish(out, None, b, epilogue, g0 * og)

        _spread(part, chunks(g, per), og * K, L)
    return y


def deconv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, a: DeconvAttrs,
                   epilogue: Epilogue | None = None) -> np.ndarray:
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
    full = tuple(max(a.stride[i] * (S[i] - 1) + a.extent[i], a.pads_begin[i] + out_sp[i])
                 for i in range(n))
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
            np.matmul(wt[gi, o0 * K:o1 * K], xg[gi], out=cols)
            c = cols.reshape((m,) + a.kernel + S)
            buf = np.zeros((m,) + full, dtype=np.float32)
            for t in itertools.product(*(range(k) for k in a.kernel)):
                start = tuple(ti * d for ti, d in zip(t, a.dilation))
                buf[(slice(None),) + _spatial_slices(start, a.stride, S)[2:]] += \
                    c[(slice(None),) + t]
            _finish(yi[gi * og + o0:gi * og + o1], buf[crop], b, epilogue, gi * og + o0)

        _spread(part, items, cg * og * K, Sp)
    return y


def _deconv_phases(x: np.ndarray, w: np.ndarray, b, a: DeconvAttrs, epilogue) -> np.ndarray:
    """Transposed convolution (dilation 1) by output phases: the sub-pixel form, exact.

    Per axis let q = ceil(k/s), the kernel padded with zero taps to q*s. Output sample
    s*m + r (before cropping) is sum_j x[m - j] * w[j*s + r] over j < q: an ordinary q-tap
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
    q = tuple(-(-k // si) for k, si in zip(a.kernel, s))
    Q, R = math.prod(q), math.prod(s)
    out_sp = _deconv_out(a, S)
    # phase-grid samples per axis: S + q - 1 carry taps; output padding may reach beyond
    # (those samples are zero: the input is padded further)
    M = tuple(max(si + qi - 1, -(-(pb + o) // st))
              for si, qi, pb, o, st in zip(S, q, a.pads_begin, out_sp, s))
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
            xp = _pad(x[i:i + 1], tuple(qi - 1 for qi in q),
                      tuple(mi - si for mi, si in zip(M, S)))[0]
            view = _im2col_view(xp, g, q, (1,) * len(q), (1,) * len(q), M)
            cols = np.ascontiguousarray(view).reshape(g, cg * Q, Mp)

        def part(item, cols=cols, yi=y[i]) -> None:
            gi, o0, o1 = item
            m = o1 - o0
            ph = scratch(m * R * Mp).reshape(m * R, Mp)
            np.matmul(wall[gi, o0 * R:o1 * R], cols[gi], out=ph)
            ph = ph.reshape((m,) + s + M)
            out = yi[gi * og + o0:gi * og + o1]
            dst = out if direct else np.empty((m,) + grid, dtype=np.float32)
            if R <= MAX_PHASE_COPIES:  # strided copies with long inner loops
                for r in phases:
                    dst[(slice(None),) + tuple(slice(rj, None, sj) for rj, sj in zip(r, s))] = \
                        ph[(slice(None),) + r]
            else:  # one copy whose inner loop runs over the (long) stride
                np.copyto(view_as(dst, (m,) + sum(((mi, si) for mi, si in zip(M, s)), ())),
                          ph.transpose(interleave))
            _finish(out, None if direct else dst[crop], b, epilogue, gi * og + o0)

        _spread(part, items, cg * og * Q * R, Mp)
    return y


def _deconv_out(a: DeconvAttrs, S) -> tuple[int, ...]:
    return tuple(deconv_output_size(S[i], a.kernel[i], a.stride[i], a.dilation[i],
                                    a.pads_begin[i], a.pads_end[i], a.output_padding[i])
                 for i in range(a.rank))


def _channel_blocks(g: int, og: int, per_channel_elems: int, macs: int):
    """(group, o0, o1) blocks of output channels, never straddling a group: about
    CHUNK_ELEMENTS work elements each, at least two per thread when the layer is big."""
    per = max(1, CHUNK_ELEMENTS // max(1, per_channel_elems))
    if macs >= SERIAL_MACS and g < 2 * threads():
        per = min(per, max(1, -(-og // (2 * threads()))))
    return [(gi, o0, o1) for gi in range(g) for o0, o1 in chunks(og, per)]


def _spread(part, items, work_per_column: int, columns: int) -> None:
    """``part`` over ``items`` (whose products have ``columns`` output columns each) on the
    threads, or on one thread for a thin product (under PARALLEL_MIN_WORK multiply-adds per
    output column): memory-bound, a second thread only adds contention. A single item runs
    here, its product on OpenBLAS's threads when big enough (see blas_threads_for)."""
    if len(items) == 1:
        with blas_threads_for(work_per_column * columns):
            part(items[0])
    elif work_per_column >= PARALLEL_MIN_WORK:
        parallel_map(part, items)
    else:
        serial_map(part, items)


def _finish(out: np.ndarray, src, b, epilogue, c0: int) -> None:
    """``out`` (a block of output channels) = ``src`` (unless already written) + bias, then the
    fused epilogue."""
    m = out.shape[0]
    bias = None if b is None else b[c0:c0 + m].reshape((m,) + (1,) * (out.ndim - 1))
    if src is not None and bias is not None:
        np.add(src, bias, out=out)  # one pass for the copy and the bias, the same sums
    elif src is not None:
        np.copyto(out, src)
    elif bias is not None:
        out += bias
    if epilogue is not None:
        epilogue(view_as(out, (m, -1)), slice(c0, c0 + m))


def _fold(p, affine, channels: int, scale_weight) -> dict[str, np.ndarray] | None:
    s, t = affine.scale64, affine.shift64
    if len(s) not in (1, channels):
        return None
    s, t = np.broadcast_to(s, (channels,)), np.broadcast_to(t, (channels,))
    b = p["bias"].astype(np.float64) if "bias" in p else 0.0
    return {"weight": scale_weight(p["weight"].astype(np.float64), s).astype(np.float32),
            "bias": (b * s + t).astype(np.float32)}


def _onnx_conv_attrs(a: ConvAttrs) -> dict:
    return dict(kernel_shape=list(a.kernel), strides=list(a.stride), dilations=list(a.dilation),
                pads=list(a.pads_begin) + list(a.pads_end), group=a.group)


@register
class Convolution(LayerType):
    type = "Convolution"
    Attrs = ConvAttrs
    fresh_output = True

    def infer(self, a, ins):
        x = ins[0]
        _check_channels(a, x, "Convolution")
        out = []
        for i in range(a.rank):
            o = conv_output_size(x.shape[2 + i], a.kernel[i], a.stride[i], a.dilation[i],
                                 a.pads_begin[i], a.pads_end[i])
            if o < 1:
                raise ValueError(f"kernel extent {a.extent[i]} exceeds the padded input "
                                 f"{x.shape[2 + i] + a.pads_begin[i] + a.pads_end[i]} on axis {2 + i}")
            out.append(o)
        return [TensorSpec((x.shape[0], a.num_output, *out), x.dtype)]

    def param_shapes(self, a, ins):
        c = ins[0].shape[1]
        shapes = {"weight": (a.num_output, c // a.group, *a.kernel)}
        if a.bias:
            shapes["bias"] = (a.num_output,)
        return shapes

    def run(self, a, xs, p):
        return [conv_forward(xs[0], p["weight"], p.get("bias"), a)]

    def run_then(self, a, xs, p, epilogue):
        return [conv_forward(xs[0], p["weight"], p.get("bias"), a, epilogue)]

    def fold_affine(self, a, p, affine):
        # out[o] * s[o] + t[o] = (W[o] * s[o]) x + (b[o] * s[o] + t[o])
        return _fold(p, affine, p["weight"].shape[0], lambda w, s: w * s.reshape(
            (-1,) + (1,) * (w.ndim - 1)))

    def to_onnx(self, layer, em, ins, outs):
        args = [ins[0], em.initializer(f"{layer.name}.weight", layer.params["weight"])]
        if layer.attrs.bias:
            args.append(em.initializer(f"{layer.name}.bias", layer.params["bias"]))
        em.node("Conv", args, outs, name=layer.name, **_onnx_conv_attrs(layer.attrs))

    def macs(self, a, ins, outs):
        return outs[0].size * (ins[0].shape[1] // a.group) * math.prod(a.kernel)


@register
class Deconvolution(LayerType):
    type = "Deconvolution"
    Attrs = DeconvAttrs
    fresh_output = True

    def infer(self, a, ins):
        x = ins[0]
        _check_channels(a, x, "Deconvolution")
        out = []
        for i in range(a.rank):
            o = deconv_output_size(x.shape[2 + i], a.kernel[i], a.stride[i], a.dilation[i],
                                   a.pads_begin[i], a.pads_end[i], a.output_padding[i])
            if o < 1:
                raise ValueError(f"pads {a.pads_begin[i]}+{a.pads_end[i]} crop the whole output "
                                 f"on axis {2 + i}")
            out.append(o)
        return [TensorSpec((x.shape[0], a.num_output, *out), x.dtype)]

    def param_shapes(self, a, ins):
        c = ins[0].shape[1]
        shapes = {"weight": (c, a.num_output // a.group, *a.kernel)}
        if a.bias:
            shapes["bias"] = (a.num_output,)
        return shapes

    def fan_in(self, a, weight_shape):
        # each output sample sums about C/g * prod(k) / prod(s) products
        return max(1, weight_shape[0] // a.group * math.prod(a.kernel) // math.prod(a.stride))

    def run(self, a, xs, p):
        return [deconv_forward(xs[0], p["weight"], p.get("bias"), a)]

    def run_then(self, a, xs, p, epilogue):
        return [deconv_forward(xs[0], p["weight"], p.get("bias"), a, epilogue)]

    def fold_affine(self, a, p, affine):
        # weight (C, O/g, k...): output channel gi * O/g + o sits at [group gi rows, o]
        w = p["weight"]
        g, og = a.group, w.shape[1]

        def scale(w, s):
            ws = w.reshape((g, w.shape[0] // g, og, -1)) * s.reshape(g, 1, og, 1)
            return ws.reshape(w.shape)
        return _fold(p, affine, g * og, scale)

    def to_onnx(self, layer, em, ins, outs):
        a = layer.attrs
        w = em.initializer(f"{layer.name}.weight", layer.params["weight"])
        b = em.initializer(f"{layer.name}.bias", layer.params["bias"]) if a.bias else None
        attrs = _onnx_conv_attrs(a)
        if all(o < s for o, s in zip(a.output_padding, a.stride)):
            attrs["output_padding"] = list(a.output_padding)
            em.node("ConvTranspose", [ins[0], w] + ([b] if b else []), outs, name=layer.name,
                    **attrs)
            return
        # onnxruntime rejects output_padding >= stride (allowed when dilation > stride): emit
        # the full, uncropped transposed convolution, then crop/extend with one Pad
        # (out[i] = full[i + pb]), then add the bias.
        n = a.rank
        attrs["pads"] = [0] * (2 * n)
        full = em.tmp(f"{layer.name}/full")
        em.node("ConvTranspose", [ins[0], w], [full], name=layer.name, **attrs)
        cropped = em.tmp(f"{layer.name}/crop") if b else outs[0]
        ends = [op - pe for op, pe in zip(a.output_padding, a.pads_end)]
        em.pad(full, cropped, [0, 0] + [-p for p in a.pads_begin] + [0, 0] + ends,
               name=f"{layer.name}/crop")
        if b:
            bb = em.initializer(f"{layer.name}.bias_bcast",
                                layer.params["bias"].reshape((1, -1) + (1,) * n))
            em.node("Add", [cropped, bb], outs, name=f"{layer.name}/bias")

    def macs(self, a, ins, outs):
        return ins[0].size * (a.num_output // a.group) * math.prod(a.kernel)


@dataclass(frozen=True)
class SeparableAttrs(ConvAttrs):
    """A depthwise-separable convolution (the MobileNet/Xception block) as one layer:
    a depthwise k x k convolution with channel ``multiplier`` m (C -> C*m, group C; its stride,
    pads and dilation are this layer's), then a pointwise 1x1 convolution C*m -> num_output.
    ``bias`` is the pointwise bias; ``depthwise_bias`` adds one after the depthwise stage."""

    multiplier: int = 1
    depthwise_bias: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.group != 1:
            raise ValueError("SeparableConvolution takes no group (the depthwise stage is "
                             "grouped by construction)")
        if int(self.multiplier) < 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier}")
        object.__setattr__(self, "multiplier", int(self.multiplier))
        object.__setattr__(self, "depthwise_bias", bool(self.depthwise_bias))

    def depthwise(self, channels: int) -> ConvAttrs:
        return ConvAttrs(num_output=channels * self.multiplier, kernel=self.kernel,
                         stride=self.stride, dilation=self.dilation, pads_begin=self.pads_begin,
                         pads_end=self.pads_end, group=channels, bias=self.depthwise_bias)

    def pointwise(self) -> ConvAttrs:
        return ConvAttrs(num_output=self.num_output, kernel=(1,) * self.rank, bias=self.bias)


@register
class SeparableConvolution(LayerType):
    type = "SeparableConvolution"
    Attrs = SeparableAttrs
    fresh_output = True
    _conv = Convolution()

    def _mid(self, a, x: TensorSpec) -> TensorSpec:
        return self._conv.infer(a.depthwise(x.shape[1]), [x])[0]

    def infer(self, a, ins):
        return self._conv.infer(a.pointwise(), [self._mid(a, ins[0])])

    def param_shapes(self, a, ins):
        c = ins[0].shape[1]
        dw = {f"depthwise_{k}": v for k, v in self._conv.param_shapes(a.depthwise(c), ins).items()}
        pw = self._conv.param_shapes(a.pointwise(), [self._mid(a, ins[0])])
        return {**dw, **pw}

    def fan_in(self, a, weight_shape):
        return math.prod(weight_shape[1:])

    def run(self, a, xs, p):
        x = xs[0]
        mid = conv_forward(x, p["depthwise_weight"], p.get("depthwise_bias"),
                           a.depthwise(x.shape[1]))
        return [conv_forward(mid, p["weight"], p.get("bias"), a.pointwise())]

    def to_onnx(self, layer, em, ins, outs):
        a, p = layer.attrs, layer.params
        c = em.spec(ins[0]).shape[1]
        mid = em.tmp(f"{layer.name}/depthwise")
        args = [ins[0], em.initializer(f"{layer.name}.depthwise_weight", p["depthwise_weight"])]
        if a.depthwise_bias:
            args.append(em.initializer(f"{layer.name}.depthwise_bias", p["depthwise_bias"]))
        em.node("Conv", args, [mid], name=f"{layer.name}/depthwise",
                **_onnx_conv_attrs(a.depthwise(c)))
        args = [mid, em.initializer(f"{layer.name}.weight", p["weight"])]
        if a.bias:
            args.append(em.initializer(f"{layer.name}.bias", p["bias"]))
        em.node("Conv", args, outs, name=layer.name, **_onnx_conv_attrs(a.pointwise()))

    def macs(self, a, ins, outs):
        mid = self._mid(a, ins[0])
        return (self._conv.macs(a.depthwise(ins[0].shape[1]), ins, [mid])
                + self._conv.macs(a.pointwise(), [mid], outs))
