"""Caffe pooling kernels (MAX with its argmax mask, AVE with Caffe's divisors), N-D.

Speed only: ``graphconv.layers.pool.Pooling`` is the spec; ``pool`` is its one entry point and
picks a path by the windows' geometry (``graphconv.geometry.AxisPlan`` per axis).

A window that is the whole plane reduces each channel's plane in one call
(``_pool_whole_plane``; AVE sums in NumPy's pairwise order, within rounding of the others).
2-D windows with stride == kernel (2x2/2 and the like) run on the input's ``(Ho, kh, Wo, kw)``
view, by blocks of channels in cache (``_pool_tiles_2d``); other 2-D windows without a mask at
stride 1 or on narrow planes by shifted whole-block passes over the flattened window region
(``_pool_flat_2d``); the rest goes per axis, a running ``fmax`` or sum over the taps into one
buffer per axis. These three give the same bits.
"""

from __future__ import annotations

import math

import numpy as np

from ..geometry import AxisPlan, caffe_divisors
from . import epilogue
from .threads import parallel_map, scratch, threads

FLT_MAX = float(np.finfo(np.float32).max)


def pool(x: np.ndarray, plans: list[AxisPlan], method: str, with_mask: bool) -> list[np.ndarray]:
    """Caffe pooling of ``x`` (N, C, *spatial) with ``method`` "max" or "ave": the output, and
    the float32 mask after it when ``with_mask``."""
    x = x.astype(np.float32, copy=False)
    if not with_mask and _whole_plane(plans):
        return [_pool_whole_plane(x, method)]
    if _tiled_2d(plans, method, with_mask):
        return _pool_tiles_2d(x, plans, method, with_mask)
    if _flat_2d(plans, method, with_mask):
        return [_pool_flat_2d(x, plans, method)]
    return _by_channel_blocks(x, plans, method, with_mask)


def _along(ndim: int, axis: int, sl: slice) -> tuple:
    idx = [slice(None)] * ndim
    idx[axis] = sl
    return tuple(idx)


def _taps(plan: AxisPlan):
    """Per kernel tap ``t``: the outputs whose tap lands inside the input, and those samples.

    Output ``o`` reads sample ``o s - p + t d``; taps in the padding are skipped, which is
    Caffe's clipping of the window to the input (MAX) and the zero padding of the sum (AVE).
    """
    s, p, h = plan.stride, plan.pad, plan.size
    for t in range(plan.kernel):
        td = t * plan.dilation
        lo = max(0, -(-(p - td) // s))
        hi = min(plan.out - 1, (h - 1 + p - td) // s)
        if lo <= hi:
            first = lo * s - p + td
            yield t, slice(lo, hi + 1), slice(first, first + (hi - lo) * s + 1, s)


# Above this kernel length, a stride == kernel axis is reduced as reshaped tiles, not per tap.
TILE_MIN_KERNEL = 8


def _tiles(x: np.ndarray, axis: int, plan: AxisPlan, fill: float):
    """Non-overlapping windows (stride == kernel) as an extra axis ``axis + 1`` of length k."""
    end = plan.out * plan.kernel - plan.pad - plan.size
    widths = [(0, 0)] * x.ndim
    widths[axis] = (plan.pad, max(0, end))
    if any(widths[axis]):
        x = np.pad(x, widths, constant_values=fill)
    x = x[_along(x.ndim, axis, slice(0, plan.out * plan.kernel))]
    return x.reshape(x.shape[:axis] + (plan.out, plan.kernel) + x.shape[axis + 1 :])


def _use_tiles(plan: AxisPlan) -> bool:
    return plan.stride == plan.kernel >= TILE_MIN_KERNEL and plan.dilation == 1


def _axis_shape(ndim: int, axis: int, n: int) -> tuple[int, ...]:
    shape = [1] * ndim
    shape[axis] = n
    return tuple(shape)


def max_pool(x: np.ndarray, plans: list[AxisPlan], with_mask: bool):
    """Separable Caffe max pooling: one pass per spatial axis (last first), k taps per pass.

    The row-major first maximum of a window is the first maximum along the last axis within
    the first row holding the window's maximum, so strict ``>`` passes from the last axis to the
    first keep Caffe's argmax. Every window starts from -FLT_MAX, as in Caffe; ``fmax`` (no
    mask) and ``>`` (mask) both skip NaN. Taps that fall in the padding are skipped.
    """
    n = len(plans)
    if with_mask and _mask_fits(plans):
        return _max_pool_mask_2d(x.astype(np.float32, copy=False), plans)
    plane_strides = [math.prod(p.size for p in plans[i + 1 :]) for i in range(n)]
    val = x.astype(np.float32, copy=False)
    idx = np.zeros(x.shape, dtype=np.int64) if with_mask else None
    # without a mask the order is free: outer axes first keeps the taps' inner rows contiguous
    for i in reversed(range(n)) if with_mask else range(n):
        axis, plan = 2 + i, plans[i]
        if not with_mask and _use_tiles(plan):
            val = np.fmax(
                np.fmax.reduce(_tiles(val, axis, plan, -np.inf), axis=axis + 1),
                np.float32(-FLT_MAX),
            )
            continue
        out_shape = list(val.shape)
        out_shape[axis] = plan.out
        if not with_mask:
            val = _fmax_taps(val, axis, plan, out_shape)
            continue
        acc = np.full(out_shape, -FLT_MAX, dtype=np.float32)
        if with_mask:
            best = np.full(out_shape, -1, dtype=np.int64)
            starts = plan.start(np.arange(plan.out)).reshape(_axis_shape(val.ndim, axis, plan.out))
        for t, o_sl, x_sl in _taps(plan):
            acc_t, src_t = acc[_along(val.ndim, axis, o_sl)], val[_along(val.ndim, axis, x_sl)]
            if with_mask:
                better = src_t > acc_t
                np.copyto(acc_t, src_t, where=better)
                pos = (starts[_along(val.ndim, axis, o_sl)] + t * plan.dilation) * plane_strides[i]
                np.copyto(
                    best[_along(val.ndim, axis, o_sl)],
                    idx[_along(val.ndim, axis, x_sl)] + pos,
                    where=better,
                )
            else:
                np.fmax(acc_t, src_t, out=acc_t)
        val = acc
        if with_mask:
            idx = best
    if not with_mask:  # Caffe's windows start from -FLT_MAX: nothing below it survives
        np.fmax(val, np.float32(-FLT_MAX), out=val)
    return val, idx


def _fmax_taps(val: np.ndarray, axis: int, plan: AxisPlan, out_shape) -> np.ndarray:
    """The running ``fmax`` over one axis' taps, started from the first two taps that reach
    every output (one pass fewer than from a filled buffer; a max is exact in any order, NaN
    skipped); outputs no tap reaches stay -inf. The caller floors at -FLT_MAX once."""
    nd = val.ndim
    taps = list(_taps(plan))
    full = [i for i, (_, o_sl, _) in enumerate(taps) if o_sl == slice(0, plan.out)][:2]
    acc = np.empty(out_shape, dtype=np.float32)
    srcs = [val[_along(nd, axis, tap[2])] for tap in taps]
    if len(full) == 2:
        np.fmax(srcs[full[0]], srcs[full[1]], out=acc)
    elif full:
        np.copyto(acc, srcs[full[0]])
    else:
        acc.fill(-np.inf)
    for i, (_, o_sl, _) in enumerate(taps):
        if i not in full:
            acc_t = acc[_along(nd, axis, o_sl)]
            np.fmax(acc_t, srcs[i], out=acc_t)
    return acc


def _max_pool_mask_2d(x: np.ndarray, plans: list[AxisPlan]):
    """max_pool with a mask, 2-D, separable on the window region (padded with -inf where the
    windows leave the input): along the rows, each row-window's maximum and its first tap equal
    to it (uint8); then along the columns, the first row whose maximum is the window's. That
    is Caffe's first maximum in scan order. The mask is assembled once, in float32."""
    ph, pw = plans
    n, c, h, w = x.shape
    xp = _window_region(x.reshape(n * c, h, w), ph, pw, -np.inf)
    sh, sw = ph.stride, pw.stride
    ctaps = [
        xp[:, :, t * pw.dilation :][:, :, : sw * (pw.out - 1) + 1 : sw] for t in range(pw.kernel)
    ]
    colmax = np.fmax(ctaps[0], ctaps[1]) if len(ctaps) > 1 else ctaps[0].copy()
    for t in ctaps[2:]:
        np.fmax(colmax, t, out=colmax)
    coltap = _first_equal(ctaps, colmax)
    rows = [colmax[:, r * ph.dilation :][:, : sh * (ph.out - 1) + 1 : sh] for r in range(ph.kernel)]
    cols = [coltap[:, r * ph.dilation :][:, : sh * (ph.out - 1) + 1 : sh] for r in range(ph.kernel)]
    val = np.empty((n * c, ph.out, pw.out), dtype=np.float32)
    mask = np.empty_like(val)
    _finish_max_mask(rows, cols, val, mask, _mask_starts(ph, pw), w, ph.dilation, pw.dilation)
    return val.reshape(n, c, ph.out, pw.out), mask.reshape(n, c, ph.out, pw.out)


def _mask_starts(ph: AxisPlan, pw: AxisPlan) -> np.ndarray:
    """The flat index of each window's first tap (it may lie in the padding), float32."""
    return (
        ph.start(np.arange(ph.out))[:, None] * pw.size + pw.start(np.arange(pw.out))[None, :]
    ).astype(np.float32)


def _mask_fits(plans: list[AxisPlan]) -> bool:
    """The uint8 taps and float32 assembly of the 2-D mask kernels are exact here."""
    return (
        len(plans) == 2
        and all(p.kernel < 255 for p in plans)
        and plans[0].size * plans[1].size < 2**24
    )


def _finish_max_mask(rows, cols, out, mask, starts, width: int, dh: int = 1, dw: int = 1):
    """From each window row's maximum (``rows[r]``) and its first tap equal to that maximum
    (``cols[r]``, uint8): the window's maximum into ``out`` (at least -FLT_MAX) and Caffe's
    mask into ``mask``: the first row holding the maximum, its column tap; -1 where nothing
    beat -FLT_MAX (NaN, -inf, -FLT_MAX, only padding)."""
    kh = len(rows)
    if kh > 1:
        np.fmax(rows[0], rows[1], out=out)
    else:
        np.copyto(out, rows[0])
    for r in range(2, kh):
        np.fmax(out, rows[r], out=out)
    row = _first_equal(rows, out)
    col = np.array(cols[kh - 1], dtype=np.uint8)  # a copy: cols may be views of one array
    for r in reversed(range(kh - 1)):  # the column tap of the winning row: col = cols[row]
        pick = np.equal(row, np.uint8(r)).view(np.uint8)
        step = np.subtract(cols[r], col, dtype=np.uint8)
        step *= pick
        col += step
    np.multiply(row, np.float32(width * dh), out=mask, dtype=np.float32)
    if dw == 1:
        mask += col
    else:
        mask += np.multiply(col, np.float32(dw), dtype=np.float32)
    mask += starts
    empty = ~np.greater(out, np.float32(-FLT_MAX))
    if empty.any():
        out[empty] = -FLT_MAX
        mask[empty] = -1.0


def ave_pool(x: np.ndarray, plans: list[AxisPlan]) -> np.ndarray:
    """Separable Caffe average pooling: window sums per axis, then Caffe's divisors."""
    acc = x.astype(np.float32, copy=False)
    for i in range(len(plans)):
        axis, plan = 2 + i, plans[i]
        if _use_tiles(plan):
            acc = _tiles(acc, axis, plan, 0.0).sum(axis=axis + 1, dtype=np.float32)
            continue
        out_shape = list(acc.shape)
        out_shape[axis] = plan.out
        total = np.zeros(out_shape, dtype=np.float32)
        for _, o_sl, x_sl in _taps(plan):
            total[_along(acc.ndim, axis, o_sl)] += acc[_along(acc.ndim, axis, x_sl)]
        acc = total
    return acc / caffe_divisors(plans).astype(np.float32)


# ---- 2-D non-overlapping windows (stride == kernel): SegNet's, ENet's, VGG's 2x2/2 ---------------


def _tiled_2d(plans: list[AxisPlan], method: str, mask: bool) -> bool:
    """Whether the tile kernels below run this pooling (results identical to the general path:
    a max is order-free; sums keep the general path's order, so only below TILE_MIN_KERNEL; the
    float32 mask is exact while the plane has fewer than 2^24 samples)."""
    if len(plans) != 2 or any(p.stride != p.kernel or p.dilation != 1 for p in plans):
        return False
    if method == "ave":
        return all(p.kernel < TILE_MIN_KERNEL for p in plans)
    return all(p.kernel < 64 for p in plans) and (not mask or plans[0].size * plans[1].size < 2**24)


def _window_region(x: np.ndarray, ph: AxisPlan, pw: AxisPlan, fill: float) -> np.ndarray:
    """``(B, H, W)`` -> the samples the windows span, ``(B, (Ho-1) sh + eh, (Wo-1) sw + ew)``
    from ``(-ph, -pw)``: a view when that lies inside the input, else a copy padded with
    ``fill`` (-inf never wins a max, 0 adds nothing)."""
    b, h, w = x.shape
    r0, r1 = -ph.pad, (ph.out - 1) * ph.stride + ph.extent - ph.pad
    c0, c1 = -pw.pad, (pw.out - 1) * pw.stride + pw.extent - pw.pad
    if r0 == 0 and r1 <= h and c0 == 0 and c1 <= w:
        return x[:, :r1, :c1]
    xp = np.full((b, r1 - r0, c1 - c0), fill, dtype=np.float32)
    xp[:, -r0 : min(h, r1) - r0, -c0 : min(w, c1) - c0] = x[:, : min(h, r1), : min(w, c1)]
    return xp


def _first_equal(taps: list[np.ndarray], best: np.ndarray) -> np.ndarray:
    """Per output, the first ``t`` with ``taps[t] == best`` (uint8; the last when none is)."""
    if len(taps) == 1:
        return np.zeros(best.shape, dtype=np.uint8)
    if len(taps) == 2:
        return np.not_equal(taps[0], best).view(np.uint8)
    first = np.full(best.shape, len(taps) - 1, dtype=np.uint8)
    for t in reversed(range(len(taps) - 1)):
        eq = np.equal(taps[t], best).view(np.uint8)
        # first += eq (t - first), in wrapping uint8 arithmetic
        step = np.subtract(np.uint8(t), first, dtype=np.uint8)
        step *= eq
        first += step
    return first


# Channels per block of the tile kernels: about this many input bytes, so that the few
# intermediates of a block stay in cache and are reused instead of freshly paged in.
TILE_BLOCK_BYTES = 1 << 20


def _block_channels(x: np.ndarray) -> int:
    """Channels per block: about TILE_BLOCK_BYTES of input, or all of a small input; at least
    two blocks per thread when the input is large enough to be worth spreading."""
    nc = x.shape[0] * x.shape[1]
    per = (
        nc
        if x.nbytes <= 4 * TILE_BLOCK_BYTES
        else max(1, TILE_BLOCK_BYTES // max(1, x.nbytes // nc))
    )
    if x.size >= epilogue.PARALLEL_ELEMENTS:
        per = min(per, max(1, -(-nc // (2 * threads()))))
    return per


def _pool_tiles_2d(x: np.ndarray, plans: list[AxisPlan], method: str, with_mask: bool):
    """Caffe pooling of non-overlapping 2-D windows on their ``(Ho, kh, Wo, kw)`` view: a few
    whole-block passes over the taps, by blocks of channels (in cache), written straight into
    the outputs.

    MAX: the maximum of each window row (``fmax``, NaN skipped), then over the rows, floored
    at -FLT_MAX as Caffe starts there. The mask is Caffe's first maximum in scan order: the
    first row whose maximum is the window's, and in it the first tap equal to that maximum
    (-1 where the result is -FLT_MAX: nothing beat it), assembled in float32 as
    ``start_h W + start_w + row W + col``. AVE: per tap column, the sum down the rows, then
    across the columns (the general path's order), divided by Caffe's divisors."""
    ph, pw = plans
    n, c = x.shape[:2]
    t = _window_region(
        x.reshape((n * c,) + x.shape[2:]), ph, pw, 0.0 if method == "ave" else -np.inf
    )
    t = t.reshape(n * c, ph.out, ph.kernel, pw.out, pw.kernel)
    out_shape = (n * c, ph.out, pw.out)
    val = np.empty(out_shape, dtype=np.float32)
    mask = np.empty(out_shape, dtype=np.float32) if with_mask else None
    if method == "ave":
        extra = caffe_divisors(plans)[0].astype(np.float32)
    else:
        extra = _mask_starts(ph, pw)

    def block(blk: slice) -> None:
        if method == "ave":
            _ave_tiles(t[blk], val[blk], extra)
        else:
            _max_tiles(t[blk], val[blk], None if mask is None else mask[blk], extra, pw.size)

    step = _block_channels(x)
    parallel_map(block, [slice(b0, min(n * c, b0 + step)) for b0 in range(0, n * c, step)])
    val = val.reshape((n, c) + out_shape[1:])
    return [val] if mask is None else [val, mask.reshape(val.shape)]


def _reduce_tiles(t: np.ndarray, out: np.ndarray, op) -> None:
    """``op``-reduce each window into ``out``: down its rows first, on whole rows of windows
    (contiguous, as the per-axis path's first pass), then across its ``kw`` columns."""
    kh, kw = t.shape[2], t.shape[4]
    rows = op(t[:, :, 0], t[:, :, 1]) if kh > 1 else t[:, :, 0]
    for r in range(2, kh):
        op(rows, t[:, :, r], out=rows)
    if kw > 1:
        op(rows[..., 0], rows[..., 1], out=out)
    else:
        np.copyto(out, rows[..., 0])
    for c in range(2, kw):
        op(out, rows[..., c], out=out)


def _ave_tiles(t: np.ndarray, out: np.ndarray, divisors: np.ndarray) -> None:
    _reduce_tiles(t, out, np.add)
    out += np.float32(0.0)  # as the general path's sums from +0: an all -0.0 window gives +0.0
    out /= divisors


def _max_tiles(
    t: np.ndarray, out: np.ndarray, mask: np.ndarray | None, starts: np.ndarray, width: int
) -> None:
    if mask is None:
        _reduce_tiles(t, out, np.fmax)
        np.fmax(out, np.float32(-FLT_MAX), out=out)
        return
    kh, kw = t.shape[2], t.shape[4]
    rows, cols = [], []
    for r in range(kh):  # along each window row first: Caffe's scan order decides the mask
        taps = [t[:, :, r, :, c] for c in range(kw)]
        best = np.fmax(taps[0], taps[1]) if kw > 1 else taps[0].copy()
        for c in range(2, kw):
            np.fmax(best, taps[c], out=best)
        cols.append(_first_equal(taps, best))
        rows.append(best)
    _finish_max_mask(rows, cols, out, mask, starts, width)


# ---- windows that are the whole plane (global pooling, GoogLeNet's 7x7 on 7x7) ------------------


def _whole_plane(plans: list[AxisPlan]) -> bool:
    """Every window is the whole input plane: no padding, no dilation, one output per axis."""
    return all(p.out == 1 and p.pad == 0 and p.dilation == 1 and p.kernel == p.size for p in plans)


def _pool_whole_plane(x: np.ndarray, method: str) -> np.ndarray:
    """One reduction per channel over its contiguous plane (the per-axis path's first pass
    would run one short row at a time). MAX: the maximum, NaN skipped, floored at -FLT_MAX as
    Caffe starts there. AVE: the float32 sum (NumPy's pairwise order: within rounding of
    Caffe's scan-order sum) divided by the plane's size, Caffe's divisor without padding."""
    n, c = x.shape[:2]
    flat = x.reshape(n, c, -1)
    if method == "ave":
        y = np.add.reduce(flat, axis=2, dtype=np.float32)
        y += np.float32(0.0)  # as Caffe's sum from +0: no -0.0
        y /= np.float32(flat.shape[2])
    else:
        y = np.fmax.reduce(flat, axis=2)
        np.fmax(y, np.float32(-FLT_MAX), out=y)
    return y.reshape((n, c) + (1,) * (x.ndim - 2))


# ---- 2-D pooling over the flattened window region: small planes and stride 1 --------------------


def _flat_2d(plans: list[AxisPlan], method: str, mask: bool) -> bool:
    """Whether ``_pool_flat_2d`` runs this pooling (it gives the per-axis path's bits): 2-D
    without a mask, windows that are small against the plane (at least as many outputs as
    taps per axis: not a near-global pooling, whose first per-axis pass shrinks the work at
    once), and either stride 1 (overlapping windows: the flat passes compute nothing that is
    not kept) or a narrow plane (the per-axis path's short rows cost NumPy per row)."""
    if len(plans) != 2 or mask or any(p.out < p.extent for p in plans):
        return False
    return all(p.stride == 1 for p in plans) or plans[1].size <= FLAT_MAX_WIDTH


# Planes up to this width pool by flat passes at any stride. Measured on a 2-core Xeon VM
# (2026-12-06), flat against per-axis: 3x3/1 1.3-2x faster at every size from 7x7 to 112x112;
# 3x3/2 1.1-1.2x faster on 14x14, even on 28x28, 1.2-1.5x slower on 56x56 and larger; a
# 13x13 window on 13x13 2.7x slower (hence the outputs >= taps rule).
FLAT_MAX_WIDTH = 20


def _pool_flat_2d(x: np.ndarray, plans: list[AxisPlan], method: str) -> np.ndarray:
    """Caffe pooling (2-D, no mask) over the flattened window region of a block of channels.

    With the region (the samples the windows span, padded by 0 for AVE or -inf for MAX) laid
    out contiguously with row length ``R``, the window starting at flat position ``q`` covers
    ``q + i dh R + j dw``: so the windows at every position reduce in ``kh - 1`` whole-block
    passes along the rows (shift ``dh R``), then ``kw - 1`` along the columns (shift ``dw``),
    every operand one long contiguous run. Positions whose windows would run past a row or
    channel are never kept: the stride's positions are copied out, then AVE divides by
    Caffe's divisors and MAX floors at -FLT_MAX. Same order of operations, so the same bits,
    as the per-axis path (the padding adds 0 or never wins); blocks of channels run on the
    threads."""
    ph, pw = plans
    n, c, h, w = x.shape
    nc = n * c
    src = x.reshape(nc, h, w)
    fill = 0.0 if method == "ave" else -np.inf
    rows = (ph.out - 1) * ph.stride + ph.extent  # the window region
    cols = (pw.out - 1) * pw.stride + pw.extent
    size = rows * cols
    op = np.add if method == "ave" else np.fmax
    val = np.empty((nc, ph.out, pw.out), dtype=np.float32)
    divisors = caffe_divisors(plans)[0].astype(np.float32) if method == "ave" else None
    direct = ph.pad == pw.pad == 0 and rows == h and cols == w

    def block(blk: slice) -> None:
        b = blk.stop - blk.start
        total = b * size
        buf = scratch(total * (2 if direct else 3))
        if direct:
            flat = src[blk].reshape(-1)
        else:
            region = buf[2 * total :].reshape(b, rows, cols)
            region.fill(fill)
            r0, c0 = ph.pad, pw.pad
            region[:, r0 : r0 + h, c0 : c0 + w] = src[blk, : rows - r0, : cols - c0]
            flat = buf[2 * total :]
        acc = buf[:total]
        _shift_reduce(op, flat, ph.kernel, ph.dilation * cols, acc)
        out = buf[total : 2 * total]
        _shift_reduce(op, acc[: total - (ph.extent - 1) * cols], pw.kernel, pw.dilation, out)
        # every kept window lies inside the region: its start's row and column leave room
        kept = np.lib.stride_tricks.as_strided(
            out,
            shape=(b, ph.out, pw.out),
            strides=(4 * size, 4 * ph.stride * cols, 4 * pw.stride),
            writeable=False,
        )
        dst = val[blk]
        np.copyto(dst, kept)
        if divisors is not None:
            dst += np.float32(0.0)  # as the per-axis sums from +0: no -0.0
            dst /= divisors
        else:
            np.fmax(dst, np.float32(-FLT_MAX), out=dst)

    step = _block_channels(x)
    parallel_map(block, [slice(b0, min(nc, b0 + step)) for b0 in range(0, nc, step)])
    return val.reshape(n, c, ph.out, pw.out)


def _shift_reduce(op, src: np.ndarray, taps: int, shift: int, out: np.ndarray) -> None:
    """``out[q] = op(src[q], src[q + shift], ..., src[q + (taps-1) shift])`` for the positions
    where every tap lies in ``src`` (the first ``len(src) - (taps-1) shift`` of ``out``)."""
    m = src.size - (taps - 1) * shift
    if taps == 1:
        np.copyto(out[:m], src[:m])
        return
    op(src[:m], src[shift : shift + m], out=out[:m])
    for t in range(2, taps):
        op(out[:m], src[t * shift : t * shift + m], out=out[:m])


def _by_channel_blocks(x: np.ndarray, plans: list[AxisPlan], method: str, with_mask: bool):
    """The per-axis kernels over blocks of channels (about TILE_BLOCK_BYTES of input each), so
    that each axis' intermediate stays in cache; every block writes its slice of the outputs."""
    n, c = x.shape[:2]
    step = _block_channels(x)
    if step >= n * c:  # one block: no slices to copy
        if method == "ave":
            return [ave_pool(x, plans)]
        v, i = max_pool(x, plans, with_mask)
        return [v, i.astype(np.float32, copy=False)] if with_mask else [v]
    flat = x.reshape((n * c, 1) + x.shape[2:])
    out_shape = (n * c,) + tuple(p.out for p in plans)
    val = np.empty(out_shape, dtype=np.float32)
    mask = np.empty(out_shape, dtype=np.float32) if with_mask else None

    def block(blk: slice) -> None:
        xb = flat[blk]
        if method == "ave":
            val[blk] = ave_pool(xb, plans)[:, 0]
            return
        v, i = max_pool(xb, plans, with_mask)
        val[blk] = v[:, 0]
        if with_mask:
            mask[blk] = i[:, 0]

    parallel_map(block, [slice(b0, min(n * c, b0 + step)) for b0 in range(0, n * c, step)])
    outs = [val] if mask is None else [val, mask]
    return [o.reshape((n, c) + out_shape[1:]) for o in outs]
