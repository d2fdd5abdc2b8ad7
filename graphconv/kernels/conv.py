"""Convolution kernels: im2col in chunks of output rows, one matrix product per group for 1x1,
depthwise by blocks of channels (flat runs at stride 1), Winograd F(2, 3) for wide 3x3 layers.

Speed only: ``graphconv.layers.conv.Convolution`` is the spec. ``a`` is a ConvAttrs (kernel,
stride, dilation, pads_begin, pads_end, group: per-axis tuples).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..geometry import conv_output_size, live_taps
from . import winograd
from .epilogue import Epilogue, finish, view_as
from .threads import blas_threads_for, chunks, parallel_map, scratch, serial_map, threads


def _pad(x: np.ndarray, pb, pe) -> np.ndarray:
    """``x`` zero-padded on its spatial axes (np.pad's generality costs ~0.1 ms a call)."""
    if not any(pb) and not any(pe):
        return x
    out = np.zeros(
        x.shape[:2] + tuple(d + b + e for d, b, e in zip(x.shape[2:], pb, pe)), dtype=np.float32
    )
    out[(slice(None), slice(None)) + tuple(slice(b, b + d) for b, d in zip(pb, x.shape[2:]))] = x
    return out


# Chunked kernels size their work buffer around this many float32 elements (a few MB: it stays
# in cache between the copy that fills it and the matrix product that reads it).
CHUNK_ELEMENTS = 1 << 18
# im2col chunks copy about this many column elements (4 MB: more than a core's L2, but fewer,
# longer products and copies: measured on a 2-core Xeon VM, 3x3 64->64 at 350x350 took 119 ms
# on one thread and 95 on two at 1 << 18, 113 and 69 at 1 << 20, 122 and 80 at 1 << 22).
IM2COL_CHUNK = 1 << 20
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


def _im2col_view(xpi: np.ndarray, g: int, kernel, dilation, stride, out_sp) -> np.ndarray:
    """Every output position's taps of one padded image ``xpi`` (C, *spatial) as a read-only
    (g, C/g, *kernel, *out_sp) view."""
    st = xpi.strides
    cg = xpi.shape[0] // g
    return np.lib.stride_tricks.as_strided(
        xpi,
        shape=(g, cg) + tuple(kernel) + tuple(out_sp),
        strides=(cg * st[0], st[0])
        + tuple(s * d for s, d in zip(st[1:], dilation))
        + tuple(s * k for s, k in zip(st[1:], stride)),
        writeable=False,
    )


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


def without_dead_taps(x: np.ndarray, w: np.ndarray, a, out_sp: tuple[int, ...]):
    """The same convolution without the kernel taps that read only padding (they add zeros):
    ``(x, w, a)`` with the kernel cut to its live taps and the pads to what those taps read
    (negative pads become a crop of ``x``), so a dilation of 10^6 on an 8x8 map pads nothing
    it does not read. None when some axis has no live tap (the output is the bias)."""
    spans = []
    for i in range(a.rank):
        span = live_taps(
            x.shape[2 + i], out_sp[i], a.kernel[i], a.stride[i], a.dilation[i], a.pads_begin[i]
        )
        if span is None:
            return None
        spans.append(span)
    # on each axis the live taps read input samples start .. stop-1 (outside 0..h-1: padding)
    start = [k0 * d - pb for (k0, _), d, pb in zip(spans, a.dilation, a.pads_begin)]
    stop = [
        b + (o - 1) * s + (k1 - k0) * d + 1
        for b, o, s, d, (k0, k1) in zip(start, out_sp, a.stride, a.dilation, spans)
    ]
    begin = [-b for b in start]
    end = [e - x.shape[2 + i] for i, e in enumerate(stop)]
    if all(k0 == 0 and k1 == k - 1 for (k0, k1), k in zip(spans, a.kernel)) and all(
        e <= pe for e, pe in zip(end, a.pads_end)
    ):
        return x, w, a
    crop = tuple(
        slice(max(0, -b), x.shape[2 + i] + min(0, e)) for i, (b, e) in enumerate(zip(begin, end))
    )
    x = x[(slice(None), slice(None)) + crop]
    w = w[(slice(None), slice(None)) + tuple(slice(k0, k1 + 1) for k0, k1 in spans)]
    a = dataclasses.replace(
        a,
        kernel=tuple(k1 - k0 + 1 for k0, k1 in spans),
        pads_begin=tuple(max(0, b) for b in begin),
        pads_end=tuple(max(0, e) for e in end),
        pads=None,
    )
    return x, w, a


def conv_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, a, epilogue: Epilogue | None = None
) -> np.ndarray:
    """Direct N-D grouped convolution into one preallocated output. (Long: the dispatch between
    the 1x1, depthwise, Winograd and chunked im2col paths reads best in one place.)

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
    out_sp = tuple(
        conv_output_size(
            x.shape[2 + i], a.kernel[i], a.stride[i], a.dilation[i], a.pads_begin[i], a.pads_end[i]
        )
        for i in range(n)
    )
    if any(a.pads_begin) or any(a.pads_end):
        trimmed = without_dead_taps(x, w, a, out_sp)
        if trimmed is None:  # every tap of every output reads padding: the bias alone
            y = np.zeros((N, O) + out_sp, dtype=np.float32)
            if b is not None:
                y += b.reshape((O,) + (1,) * n)
            if epilogue is not None:
                for yi in y:
                    epilogue(view_as(yi, (O, -1)), slice(None))
            return y
        x, w, a = trimmed
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
        col_chunks = (
            [(0, P)]
            if N * O * P * cg < 2 * ONE_PIECE_MACS
            else chunks(
                P, max(MIN_COLUMNS, min(CHUNK_ELEMENTS // max(1, C), -(-P // (2 * threads()))))
            )
        )
        for i in range(N):
            xi, yi = x[i].reshape(g, cg, P), y[i].reshape(g, og, P)

            def cols(r, xi=xi, yi=yi) -> None:
                out = yi[:, :, r[0] : r[1]]
                np.matmul(wg, xi[:, :, r[0] : r[1]], out=out)
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
            out = yi[:, :, r0 * row_len : r1 * row_len]
            np.matmul(wg, cols.reshape(g, cg * K, -1), out=out)
            if bias is not None:
                out += bias.reshape(g, og, 1)
            if epilogue is not None:
                epilogue(view_as(out, (O, -1)), slice(None))

        _spread(part, chunk_rows, og * cg * K, P)
    return y


def _depthwise(x: np.ndarray, wg: np.ndarray, b, a, out_sp, epilogue) -> np.ndarray:
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
        flat_st = tuple(math.prod(padded[j + 1 :]) for j in range(n))
        last = sum((k - 1) * d * f for k, d, f in zip(a.kernel, a.dilation, flat_st))
        L = math.prod(computed)
        extra = max(0, -(-(L + last) // trail) - padded[0])  # rows for the last tap's run
        xp = _pad(x, a.pads_begin, (a.pads_end[0] + extra,) + tuple(a.pads_end[1:]))
        tap_strides = tuple(4 * d * f for d, f in zip(a.dilation, flat_st)) + (4,)  # bytes

        def tap_view(xpi: np.ndarray) -> np.ndarray:  # (g, *kernel, L): one run per tap
            return np.lib.stride_tricks.as_strided(
                xpi,
                shape=(g,) + a.kernel + (L,),
                strides=(xpi.strides[0],) + tap_strides,
                writeable=False,
            )
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
            cols = buf[: gb * K * L]
            np.copyto(cols.reshape((gb,) + taps.shape[1:]), taps[g0:g1])
            out = yi[g0 * og : g1 * og]
            if flat:
                prod = buf[gb * K * L :].reshape(gb, og, L)
                np.matmul(wg[g0:g1], cols.reshape(gb, K, L), out=prod)
                finish(out, prod.reshape((gb * og,) + computed)[crop], b, epilogue, g0 * og)
            else:
                np.matmul(wg[g0:g1], cols.reshape(gb, K, L), out=out.reshape(gb, og, L))
                finish(out, None, b, epilogue, g0 * og)

        _spread(part, chunks(g, per), og * K, L)
    return y


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
