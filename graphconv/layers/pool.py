"""Pooling with Caffe's semantics (BVLC master ``pooling_layer.cpp``), N-D, MAX and AVE.

Output size per spatial axis (symmetric pad ``p``, ``p < k``)::

    CEIL   out = ceil((H + 2p - k) / s) + 1      (Caffe's default round_mode)
    FLOOR  out = floor((H + 2p - k) / s) + 1
    clip   if p > 0 and (out - 1) s >= H + p: out -= 1   (last window must start inside H + p)

Window ``o`` covers ``[o s - p, o s - p + k)``.
  MAX  the maximum over the window clipped to the input, starting from -FLT_MAX with a strict
       ``>``: padding never wins, NaN is skipped, a window with no input left (only possible
       with p = 0 and k < s under CEIL) gives -FLT_MAX. The optional mask output is the argmax
       as a flat index within the channel's input plane (``h W + w``), the first maximum in
       scan order, -1 where nothing was taken; float32 as in Caffe.
  AVE  the sum over the window clipped to the input, divided by the window clipped to
       ``[-p, H + p)`` (padding counts, the overhang of a CEIL window past ``H + p`` does not).
       A window past the input (p = 0, k < s, CEIL) would make Caffe divide by a count <= 0:
       rejected at shape inference.

``global_pooling`` pools the whole spatial extent (kernel = input size, stride 1, pad 0).

``dilation`` (ONNX's ``dilations``; not in Caffe) spaces the taps: window ``o`` reads
``o s - p + j d`` for ``j < k``, and the extent ``d (k - 1) + 1`` replaces ``k`` in the formulas
above. MAX scans the taps inside the input (a window may hold none: -FLT_MAX, mask -1); AVE
divides by the taps inside ``[-p, H + p)``.

Kernels: a window that is the whole plane reduces each channel's plane in one call
(``_pool_whole_plane``; AVE sums in NumPy's pairwise order, within rounding of the others).
2-D windows with stride == kernel (2x2/2 and the like) run on the input's ``(Ho, kh, Wo, kw)``
view, by blocks of channels in cache (``_pool_tiles_2d``); other 2-D windows without a mask at
stride 1 or on narrow planes by shifted whole-block passes over the flattened window region
(``_pool_flat_2d``); the rest goes per axis, a running ``fmax`` or sum over the taps into one
buffer per axis. These three give the same bits.

ONNX export uses floor mode with explicit end padding chosen so the window count is Caffe's:
onnx shape inference and onnxruntime disagree about ceil_mode (onnxruntime drops a last window
that starts in the end padding, onnx does not), so ceil_mode is never emitted. AVE uses
``count_include_pad=1`` (its divisor is then the full kernel) times a constant correction where a
Caffe window overhangs ``H + p``; MAX pads the output of windows past the input with -FLT_MAX
(mask -1). The mask comes from MaxPool's ``Indices`` (flat over N, C and the plane), taken modulo
the plane size and cast to float. Dilated pools emit ``dilations``; where onnxruntime's
``pads < kernel`` rule fails they pad explicitly (the mask index is then mapped back to the
input's plane), and below opset 19 a dilated AVE is a depthwise Conv of ones times 1/divisor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir import TensorSpec
from ..parallel import parallel_map, scratch, threads
from . import base
from .base import LayerType, as_tuple, register

FLT_MAX = float(np.finfo(np.float32).max)
_METHODS = ("max", "ave")
_ROUND_MODES = ("ceil", "floor")


@dataclass(frozen=True)
class PoolAttrs:
    """Caffe pooling. ``kernel`` is None for global pooling. A single value (an int or a
    1-tuple) of kernel, stride or pad applies to every spatial axis of the input.

    ``method``: "max" or "ave". ``pad``: symmetric padding per axis (``pad < kernel``).
    ``round_mode``: "ceil" (Caffe's default) or "floor". ``mask``: a MAX pooling also outputs
    the argmax mask (Caffe's second top). ``dilation``: the spacing of a window's taps per axis
    (ONNX's ``dilations``; Caffe has none): a window of ``kernel`` taps spans
    ``dilation (kernel - 1) + 1`` samples, and that extent takes the kernel's place in the
    output size formulas; ``pad`` must be smaller than the extent.
    """

    kernel: tuple[int, ...] | int | None = None
    stride: tuple[int, ...] | int = 1
    pad: tuple[int, ...] | int = 0
    method: str = "max"
    round_mode: str = "ceil"
    global_pooling: bool = False
    mask: bool = False
    dilation: tuple[int, ...] | int = 1

    def __post_init__(self) -> None:
        fix = object.__setattr__
        method = str(self.method).lower()
        round_mode = str(self.round_mode).lower()
        if method not in _METHODS:
            raise ValueError(f"pooling method '{self.method}' is not supported "
                             f"(choose {' or '.join(m.upper() for m in _METHODS)})")
        if round_mode not in _ROUND_MODES:
            raise ValueError(f"round_mode '{self.round_mode}' is not supported (CEIL or FLOOR)")
        fix(self, "method", method)
        fix(self, "round_mode", round_mode)
        fix(self, "global_pooling", bool(self.global_pooling))
        fix(self, "mask", bool(self.mask))
        if self.mask and method != "max":
            raise ValueError("only MAX pooling has a mask output")
        if self.global_pooling:
            if self.kernel is not None:
                raise ValueError("global pooling takes its kernel from the input; "
                                 f"got kernel {self.kernel}")
            stride, pad = as_tuple(self.stride, what="stride"), as_tuple(self.pad, what="pad")
            dilation = as_tuple(self.dilation, what="dilation")
            if any(v != 1 for v in stride + dilation) or any(v != 0 for v in pad):
                raise ValueError(f"global pooling needs stride 1 and pad 0 (and dilation 1), "
                                 f"got stride {stride}, pad {pad} and dilation {dilation}")
            fix(self, "stride", (1,))
            fix(self, "pad", (0,))
            fix(self, "dilation", (1,))
            return
        if self.kernel is None:
            raise ValueError("pooling needs a kernel (or global_pooling)")
        # a single value applies to every spatial axis of the input
        n = max(len(as_tuple(v)) for v in (self.kernel, self.stride, self.pad, self.dilation))
        if not 1 <= n <= 3:
            raise ValueError(f"pooling must be 1-D, 2-D or 3-D, got {n} values per axis")
        kernel = as_tuple(self.kernel, n, "kernel")
        stride = as_tuple(self.stride, n, "stride")
        pad = as_tuple(self.pad, n, "pad")
        dilation = as_tuple(self.dilation, n, "dilation")
        for what, vals, lo in (("kernel", kernel, 1), ("stride", stride, 1), ("pad", pad, 0),
                               ("dilation", dilation, 1)):
            if any(v < lo for v in vals):
                raise ValueError(f"{what} must be >= {lo}, got {vals}")
        extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        if any(p >= e for p, e in zip(pad, extent)):
            what = f"kernel {kernel}" if extent == kernel else f"the dilated kernel's extent {extent}"
            raise ValueError(f"pad {pad} must be smaller than {what} (as Caffe requires)")
        fix(self, "kernel", kernel)
        fix(self, "stride", stride)
        fix(self, "pad", pad)
        fix(self, "dilation", dilation)


@dataclass(frozen=True)
class AxisPlan:
    """One spatial axis of a pooling: Caffe's window count and where the windows lie."""

    size: int       # input length H
    kernel: int
    stride: int
    pad: int
    out: int        # Caffe's output length
    dilation: int = 1

    def start(self, o):
        return o * self.stride - self.pad

    @property
    def extent(self) -> int:
        """The samples a window spans: ``dilation (kernel - 1) + 1``."""
        return self.dilation * (self.kernel - 1) + 1

    @property
    def past_input(self) -> bool:
        """The last window starts at or beyond H (p = 0, k < s, CEIL): no input in it."""
        return self.start(self.out - 1) >= self.size

    def divisors(self) -> np.ndarray:
        """Caffe's AVE divisor per window along this axis: the taps inside [-p, H+p)."""
        starts = self.start(np.arange(self.out))
        room = self.size + self.pad - starts  # > 0: every window starts before H + p
        return np.minimum(self.kernel, -(-room // self.dilation))


def pooled_length(h: int, k: int, s: int, p: int, round_mode: str, d: int = 1) -> int:
    """Caffe's output length (may be < 1 when the kernel does not fit); a kernel with
    dilation ``d`` counts as its extent ``d (k - 1) + 1``."""
    span = h + 2 * p - (d * (k - 1) + 1)
    out = (-(-span // s) if round_mode == "ceil" else span // s) + 1
    if p > 0 and (out - 1) * s >= h + p:
        out -= 1
    return out


def pool_plan(a: PoolAttrs, spatial: tuple[int, ...]) -> list[AxisPlan]:
    """Per-axis plans for input spatial shape ``spatial``; ValueError when Caffe would fail."""
    n = len(spatial)
    if a.global_pooling:
        kernel, stride, pad, dilation = tuple(spatial), (1,) * n, (0,) * n, (1,) * n
    else:
        if len(a.kernel) not in (1, n):
            raise ValueError(f"the {len(a.kernel)}-D kernel {a.kernel} does not fit a "
                             f"{n}-D input")
        kernel, stride, pad, dilation = (as_tuple(v, n)
                                         for v in (a.kernel, a.stride, a.pad, a.dilation))
    plans = []
    for i in range(n):
        h, k, s, p, d = spatial[i], kernel[i], stride[i], pad[i], dilation[i]
        out = pooled_length(h, k, s, p, a.round_mode, d)
        if out < 1:
            what = f"kernel {k}" if d == 1 else f"kernel {k} dilated by {d}"
            raise ValueError(f"{what} does not fit the padded input {h + 2 * p} on axis "
                             f"{2 + i} (stride {s}, {a.round_mode.upper()} rounding)")
        plan = AxisPlan(h, k, s, p, out, d)
        if a.method == "ave" and plan.past_input:
            raise ValueError(
                f"AVE pooling's last window on axis {2 + i} starts at {plan.start(out - 1)}, past "
                f"the input of {h} (kernel {k} < stride {s}, pad 0, CEIL): Caffe divides that "
                "window by a count <= 0; use round_mode FLOOR or a kernel >= stride")
        plans.append(plan)
    return plans


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
    return x.reshape(x.shape[:axis] + (plan.out, plan.kernel) + x.shape[axis + 1:])


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
    plane_strides = [math.prod(p.size for p in plans[i + 1:]) for i in range(n)]
    val = x.astype(np.float32, copy=False)
    idx = np.zeros(x.shape, dtype=np.int64) if with_mask else None
    # without a mask the order is free: outer axes first keeps the taps' inner rows contiguous
    for i in reversed(range(n)) if with_mask else range(n):
        axis, plan = 2 + i, plans[i]
        if not with_mask and _use_tiles(plan):
            val = np.fmax(np.fmax.reduce(_tiles(val, axis, plan, -np.inf), axis=axis + 1),
                          np.float32(-FLT_MAX))
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
                pos = (starts[_along(val.ndim, axis, o_sl)] + t * plan.dilation) \
                    * plane_strides[i]
                np.copyto(best[_along(val.ndim, axis, o_sl)],
                          idx[_along(val.ndim, axis, x_sl)] + pos, where=better)
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
    ctaps = [xp[:, :, t * pw.dilation:][:, :, :sw * (pw.out - 1) + 1:sw]
             for t in range(pw.kernel)]
    colmax = np.fmax(ctaps[0], ctaps[1]) if len(ctaps) > 1 else ctaps[0].copy()
    for t in ctaps[2:]:
        np.fmax(colmax, t, out=colmax)
    coltap = _first_equal(ctaps, colmax)
    rows = [colmax[:, r * ph.dilation:][:, :sh * (ph.out - 1) + 1:sh] for r in range(ph.kernel)]
    cols = [coltap[:, r * ph.dilation:][:, :sh * (ph.out - 1) + 1:sh] for r in range(ph.kernel)]
    val = np.empty((n * c, ph.out, pw.out), dtype=np.float32)
    mask = np.empty_like(val)
    _finish_max_mask(rows, cols, val, mask, _mask_starts(ph, pw), w, ph.dilation, pw.dilation)
    return val.reshape(n, c, ph.out, pw.out), mask.reshape(n, c, ph.out, pw.out)


def _mask_starts(ph: AxisPlan, pw: AxisPlan) -> np.ndarray:
    """The flat index of each window's first tap (it may lie in the padding), float32."""
    return (ph.start(np.arange(ph.out))[:, None] * pw.size
            + pw.start(np.arange(pw.out))[None, :]).astype(np.float32)


def _mask_fits(plans: list[AxisPlan]) -> bool:
    """The uint8 taps and float32 assembly of the 2-D mask kernels are exact here."""
    return len(plans) == 2 and all(p.kernel < 255 for p in plans) and \
        plans[0].size * plans[1].size < 2 ** 24


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
    return all(p.kernel < 64 for p in plans) and \
        (not mask or plans[0].size * plans[1].size < 2 ** 24)


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
    xp[:, -r0:min(h, r1) - r0, -c0:min(w, c1) - c0] = x[:, :min(h, r1), :min(w, c1)]
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
    per = nc if x.nbytes <= 4 * TILE_BLOCK_BYTES else \
        max(1, TILE_BLOCK_BYTES // max(1, x.nbytes // nc))
    if x.size >= base.PARALLEL_ELEMENTS:
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
    t = _window_region(x.reshape((n * c,) + x.shape[2:]), ph, pw,
                       0.0 if method == "ave" else -np.inf)
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


def _max_tiles(t: np.ndarray, out: np.ndarray, mask: np.ndarray | None, starts: np.ndarray,
               width: int) -> None:
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
    return all(p.out == 1 and p.pad == 0 and p.dilation == 1 and p.kernel == p.size
               for p in plans)


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
            region = buf[2 * total:].reshape(b, rows, cols)
            region.fill(fill)
            r0, c0 = ph.pad, pw.pad
            region[:, r0:r0 + h, c0:c0 + w] = src[blk, :rows - r0, :cols - c0]
            flat = buf[2 * total:]
        acc = buf[:total]
        _shift_reduce(op, flat, ph.kernel, ph.dilation * cols, acc)
        out = buf[total:2 * total]
        _shift_reduce(op, acc[:total - (ph.extent - 1) * cols], pw.kernel, pw.dilation, out)
        # every kept window lies inside the region: its start's row and column leave room
        kept = np.lib.stride_tricks.as_strided(
            out, shape=(b, ph.out, pw.out),
            strides=(4 * size, 4 * ph.stride * cols, 4 * pw.stride), writeable=False)
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
    op(src[:m], src[shift:shift + m], out=out[:m])
    for t in range(2, taps):
        op(out[:m], src[t * shift:t * shift + m], out=out[:m])


def caffe_divisors(plans: list[AxisPlan]) -> np.ndarray:
    """Caffe's AVE divisor for every output position, shape ``(1, 1, *out)``."""
    div = np.ones((1, 1) + (1,) * len(plans), dtype=np.float64)
    for i, plan in enumerate(plans):
        div = div * plan.divisors().reshape(_axis_shape(len(plans) + 2, 2 + i, plan.out))
    return div


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


@register
class Pooling(LayerType):
    type = "Pooling"
    Attrs = PoolAttrs

    def infer(self, a, ins):
        x = ins[0]
        if not 1 <= x.rank - 2 <= 3:
            raise ValueError(f"pooling needs 1 to 3 spatial axes, the input is {x}")
        plans = pool_plan(a, x.shape[2:])
        out = TensorSpec(x.shape[:2] + tuple(p.out for p in plans), x.dtype)
        return [out, out] if a.mask else [out]

    def run(self, a, xs, p):
        x = xs[0]
        plans = pool_plan(a, x.shape[2:])
        if not a.mask and _whole_plane(plans):
            return [_pool_whole_plane(x.astype(np.float32, copy=False), a.method)]
        if _tiled_2d(plans, a.method, a.mask):
            return _pool_tiles_2d(x.astype(np.float32, copy=False), plans, a.method, a.mask)
        if _flat_2d(plans, a.method, a.mask):
            return [_pool_flat_2d(x.astype(np.float32, copy=False), plans, a.method)]
        return _by_channel_blocks(x.astype(np.float32, copy=False), plans, a.method, a.mask)

    def to_onnx(self, layer, em, ins, outs):
        a = layer.attrs
        x = em.spec(ins[0])
        plans = pool_plan(a, x.shape[2:])
        if a.global_pooling and not a.mask:
            op = "GlobalMaxPool" if a.method == "max" else "GlobalAveragePool"
            em.node(op, ins[:1], outs[:1], name=layer.name)
            return
        # MAX: windows past the input become an appended -FLT_MAX sample (mask -1) afterwards.
        extra = [int(a.method == "max" and p.past_input) for p in plans]
        counts = [p.out - e for p, e in zip(plans, extra)]
        ends = []
        for p, c in zip(plans, counts):
            end = max(0, (c - 1) * p.stride + p.extent - p.size - p.pad)
            assert (p.size + p.pad + end - p.extent) // p.stride + 1 == c
            ends.append(end)
        attrs = {"kernel_shape": [p.kernel for p in plans],
                 "strides": [p.stride for p in plans],
                 "pads": [p.pad for p in plans] + ends, "ceil_mode": 0}
        dilated = any(p.dilation != 1 for p in plans)
        if dilated:
            attrs["dilations"] = [p.dilation for p in plans]
        if a.method == "ave" and dilated and em.opset < 19:
            # AveragePool has dilations from opset 19: a depthwise Conv of ones sums the taps
            c = x.shape[1]
            ones = np.ones((c, 1) + tuple(p.kernel for p in plans), dtype=np.float32)
            summed = em.tmp(f"{layer.name}/sum")
            em.node("Conv", [ins[0], em.const(f"{layer.name}.ones", ones)], [summed],
                    name=layer.name, group=c, **{k: v for k, v in attrs.items()
                                                 if k != "ceil_mode"})
            em.node("Mul", [summed, em.const(f"{layer.name}.inverse_divisor",
                                             (1.0 / caffe_divisors(plans)).astype(np.float32))],
                    outs[:1], name=f"{layer.name}/divide")
            return
        src, explicit = ins[0], None
        if dilated and any(p.pad >= p.kernel or e >= p.kernel for p, e in zip(plans, ends)):
            # onnxruntime's pools want pads < kernel: pad explicitly (zeros are what
            # count_include_pad=1 sums; -FLT_MAX never beats an input sample, as in Caffe)
            explicit = [p.pad for p in plans]
            src = em.tmp(f"{layer.name}/padded")
            em.pad(ins[0], src, [0, 0] + attrs["pads"][:len(plans)] + [0, 0] + ends,
                   name=f"{layer.name}/pad", value=-FLT_MAX if a.method == "max" else 0.0)
            attrs["pads"] = [0] * (2 * len(plans))
        if a.method == "ave":
            correction = caffe_divisors(plans)
            needed = any(e > p.pad for p, e in zip(plans, ends))
            pooled = em.tmp(f"{layer.name}/avg") if needed else outs[0]
            em.node("AveragePool", [src], [pooled], name=layer.name, count_include_pad=1,
                    **attrs)
            if needed:  # Caffe divides overhanging windows by less than the full kernel
                ratio = math.prod(q.kernel for q in plans) / correction
                em.node("Mul", [pooled, em.const(f"{layer.name}.divisor_fix",
                                                 ratio.astype(np.float32))],
                        outs[:1], name=f"{layer.name}/divisor_fix")
            return
        grow = any(extra)
        vals = em.tmp(f"{layer.name}/max") if grow else outs[0]
        if not a.mask:
            em.node("MaxPool", [src], [vals], name=layer.name, **attrs)
        else:
            flat = em.tmp(f"{layer.name}/indices")
            em.node("MaxPool", [src], [vals, flat], name=layer.name, storage_order=0, **attrs)
            plane = em.tmp(f"{layer.name}/plane_index")
            sizes = x.shape[2:] if explicit is None else tuple(
                h + b + e for h, b, e in zip(x.shape[2:], explicit, ends))
            em.node("Mod", [flat, em.const(f"{layer.name}.plane_size",
                                           np.array(math.prod(sizes), dtype=np.int64))],
                    [plane], name=f"{layer.name}/plane_index")
            if explicit is not None:
                plane = _unpad_index(em, layer.name, plane, sizes, explicit, x.shape[2:])
            mask = em.tmp(f"{layer.name}/mask") if grow else outs[1]
            if not dilated:
                em.node("Cast", [plane], [mask], name=f"{layer.name}/mask", to=1)  # FLOAT
            else:  # a dilated window may skip the input: -1 where nothing beat -FLT_MAX
                cast, empty = em.tmp(f"{layer.name}/mask_cast"), em.tmp(f"{layer.name}/empty")
                em.node("Cast", [plane], [cast], name=f"{layer.name}/mask", to=1)  # FLOAT
                em.node("Equal", [vals, em.const(f"{layer.name}.lowest", np.float32(-FLT_MAX))],
                        [empty], name=f"{layer.name}/empty")
                em.node("Where", [empty, em.const(f"{layer.name}.none", np.float32(-1.0)),
                                  cast], [mask], name=f"{layer.name}/mask_none")
        if grow:
            pads = [0] * (len(plans) + 2) + [0, 0] + extra
            em.pad(vals, outs[0], pads, name=f"{layer.name}/past_input", value=-FLT_MAX)
            if a.mask:
                em.pad(mask, outs[1], pads, name=f"{layer.name}/past_input_mask", value=-1.0)


def _unpad_index(em, name: str, plane: str, padded: tuple[int, ...], begins: list[int],
                 sizes: tuple[int, ...]) -> str:
    """A flat index within the explicitly padded plane, as a flat index within the input's:
    per axis the coordinate ``(i // stride) % size`` less the begin pad, then re-flattened.
    (Wrong only where the window took no input sample; the caller masks those.)"""
    total = None
    for ax, (hp, b) in enumerate(zip(padded, begins)):
        steps = (("Div", "pstride", math.prod(padded[ax + 1:])), ("Mod", "psize", hp),
                 ("Sub", "pbegin", b), ("Mul", "stride", math.prod(sizes[ax + 1:])))
        term = plane
        for op, what, value in steps:
            nxt = em.tmp(f"{name}/{what}{ax}")
            em.node(op, [term, em.const(f"{name}.{what}{ax}", np.array(value, np.int64))],
                    [nxt], name=f"{name}/{what}{ax}")
            term = nxt
        if total is not None:
            acc = em.tmp(f"{name}/index{ax}")
            em.node("Add", [total, term], [acc], name=f"{name}/index{ax}")
            term = acc
        total = term
    return total
