"""Winograd's minimal filtering F(2, 3) for stride-1 convolutions whose kernel has 3 taps (or
1) along each spatial axis: 3x3, 3x1, 1x3, 3x3x3, dilated or not.

Along an axis with 3 taps and dilation ``d``, outputs pair up as ``(o, o + d)``: both come from
the four inputs ``o + {0, d, 2d, 3d}`` through

    y = A^T [(G g) * (B^T x)]
    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
                                     G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
                                     A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

so a pair costs 4 multiplications instead of 6. Nested over the axes (3x3: 16 instead of 36 per
2x2 outputs) and summed over the input channels, each of the 4^w transformed positions is one
matrix product (O x C) @ (C x tiles): 2.25x fewer multiply-adds than im2col for 3x3, 1.5x for
3x1. The transforms are a few whole-array additions per axis, the weights' one is computed once
per weight array (in float64). Results differ from the direct sum by rounding only (a few float32
ulps of the terms' magnitude, as any change of summation order does).

Tiles along an axis: output ``o = (2d) b + j d + r`` (block ``b``, pair member ``j``, offset
``r < d``) is tile ``(b, r)``. The padded input is laid out once phase-major (sample ``2d m + r``
at phase ``r``, block ``m``), so the four taps of every tile along an axis are a phase range and
a shift of a whole block: each transform operand is one long contiguous run, where NumPy is
several times faster than on short rows. The output is computed up to a multiple of ``2d`` per
axis and cropped; work runs in chunks of blocks along the first spatial axis, on the threads,
as im2col does. Only 2-D and 3-D 3x3(x3) layers with many channels are sent here
(``applies``); the kernel itself takes any mix of 3 and 1 taps, 1-D to 3-D.
"""

from __future__ import annotations

import itertools
import math
import weakref

import numpy as np

from .epilogue import view_as
from .threads import blas_threads_for, chunks, parallel_map, scratch, threads

_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])

# The transforms and layout changes cost about a dozen passes over the input and the output
# where the products save 5/9 of their multiply-adds (3x3), at several times the speed: measured
# on 2 cores, the direct kernel is as fast up to about this many channels per group (in and out).
MIN_CHANNELS = 128
# Work per chunk: about this many float32 elements in the chunk's transformed input.
CHUNK_ELEMENTS = 1 << 20
# Columns (tiles) per matrix product at least: thinner products run far below the BLAS's speed.
MIN_TILES = 192


def applies(kernel, stride, cg: int, og: int, out_sp) -> bool:
    """Whether a convolution runs here: stride 1, 3 taps on every axis (a 3x1 kernel saves a
    third of its products only, less than the transforms cost), 2-D or 3-D, enough channels
    per group and enough tiles for efficient products."""
    return (
        len(kernel) >= 2
        and all(k == 3 for k in kernel)
        and all(s == 1 for s in stride)
        and min(cg, og) >= MIN_CHANNELS
        and math.prod(out_sp) >= 4 * MIN_TILES
    )


_transformed: dict[int, tuple] = {}


def _weights(w: np.ndarray, g: int) -> np.ndarray:
    """``G w G^T`` over the 3-tap axes, ``(4^w, g, og, cg)``, the leading axes in the order of
    the spatial axes (as the input transform stacks them). Cached per weight array (the IR's
    arrays are never written to)."""
    key = id(w)
    hit = _transformed.get(key)
    if hit is not None and hit[0]() is w:
        return hit[1]
    O, cg = w.shape[:2]
    taps = tuple(k for k in w.shape[2:] if k == 3)
    u = w.astype(np.float64).reshape((O, cg) + taps)
    for i in range(len(taps)):
        u = np.moveaxis(np.tensordot(_G, u, axes=([1], [2 + i])), 0, 2 + i)
    u = u.transpose(tuple(range(2, 2 + len(taps))) + (0, 1))
    u = np.ascontiguousarray(u.reshape((4 ** len(taps), g, O // g, cg)), dtype=np.float32)
    _transformed[key] = (weakref.ref(w, lambda _, k=key: _transformed.pop(k, None)), u)
    return u


def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, a, out_sp, finish):
    """The convolution of ``x`` (N, C, ...) into a new (N, O, *out_sp) array.

    ``finish(out)`` adds the bias and runs the fused epilogue on a finished chunk of one image's
    output (O, rows, ...)."""
    u = _weights(w, a.group)
    kernel, dil, pb = a.kernel, a.dilation, a.pads_begin
    y = np.empty(x.shape[:1] + (w.shape[0],) + tuple(out_sp), dtype=np.float32)
    if a.rank == 1:  # as 2-D with a leading axis of one sample
        x, out_sp = x[:, :, None], (1,) + tuple(out_sp)
        kernel, dil, pb = (1,) + kernel, (1,) + dil, (0,) + pb
    _forward(x, u, a.group, kernel, dil, pb, out_sp, y.reshape(y.shape[:2] + out_sp), finish)
    return y


def _forward(x, u, g, kernel, dil, pb, out_sp, y, finish) -> None:
    N, C = x.shape[:2]
    O = y.shape[1]
    tiled = tuple(k == 3 for k in kernel)
    unit = tuple(2 * d if t else 1 for d, t in zip(dil, tiled))
    nb = tuple(-(-o // e) for o, e in zip(out_sp, unit))
    # the phase-major grid: per tiled axis 2d phases of nb + 1 blocks (the last one the halo)
    grid = tuple(m + 1 if t else m for m, t in zip(nb, tiled))
    xp = _phase_major(x, pb, tiled, dil, grid)
    step = math.prod(grid[1:])  # flat positions per block of the first axis
    per_block = (
        u.shape[0] * max(C, O) * step * math.prod(d for d, t in zip(dil, tiled) if t)
    )  # transformed elements
    tiles_per_block = step * math.prod(d for d, t in zip(dil, tiled) if t)
    per = max(1, CHUNK_ELEMENTS // max(1, per_block))
    if nb[0] >= 2 * threads():
        per = min(per, -(-nb[0] // (2 * threads())))
    per = max(per, -(-MIN_TILES // tiles_per_block))
    parts = chunks(nb[0], per)
    halo = 1 if tiled[0] else 0

    for i in range(N):

        def part(r, xi=xp[i], yi=y[i]) -> None:
            b0, b1 = r
            src = xi[..., b0 * step : (b1 + halo) * step]
            rows = (b1 - b0) * unit[0]
            dst = yi[:, b0 * unit[0] : min(b0 * unit[0] + rows, out_sp[0])]
            _tile_conv(src, u, g, tiled, dil, (b1 - b0,) + nb[1:], grid, dst)
            finish(dst)

        if len(parts) == 1:  # one piece: its products on OpenBLAS's threads if big enough
            with blas_threads_for((O // g) * (C // g) * tiles_per_block * nb[0]):
                part(parts[0])
        else:
            parallel_map(part, parts)


def _phase_major(x: np.ndarray, pb, tiled, dil, grid) -> np.ndarray:
    """``x`` zero-padded from ``pb`` and laid out phase-major along the tiled axes:
    ``(N, C, *phases, prod(grid))`` with 2d phases per tiled axis, and the blocks (tiled axes)
    or samples (others) of every axis flattened into the last axis, row-major. Padded sample
    ``2d m + r`` of a tiled axis is phase ``r``, block ``m``."""
    N, C = x.shape[:2]
    phases = tuple(2 * d for d, t in zip(dil, tiled) if t)
    out = np.zeros((N, C) + phases + tuple(grid), dtype=np.float32)
    for combo in itertools.product(*(range(p) for p in phases)):
        dst, src, it = [], [], iter(combo)
        for t, d, m, b, size in zip(tiled, dil, grid, pb, x.shape[2:]):
            if not t:
                lo, hi = max(0, b), min(m, b + size)  # grid sample e is input sample e - b
                dst.append(slice(lo, hi))
                src.append(slice(lo - b, hi - b))
                continue
            r, s = next(it), 2 * d
            m0 = max(0, -(-(b - r) // s))  # first block whose phase-r sample is in the input
            w0 = m0 * s + r - b
            cnt = min(-(-(size - w0) // s), m - m0) if w0 < size else 0
            dst.append(slice(m0, m0 + max(0, cnt)))
            src.append(slice(w0, w0 + s * (cnt - 1) + 1, s) if cnt > 0 else slice(0, 0))
        out[(slice(None), slice(None)) + combo + tuple(dst)] = x[
            (slice(None), slice(None)) + tuple(src)
        ]
    return out.reshape((N, C) + phases + (-1,))


def _tile_conv(src: np.ndarray, u: np.ndarray, g: int, tiled, dil, nb, grid, out) -> None:
    """One chunk: ``src`` (C, *phases, flat grid positions of the chunk) -> ``out``
    (O, *outputs), the outputs of ``nb`` blocks per axis (cropped to ``out``'s extent).
    (Long: the transforms share one set of work buffers and index tuples; split, they would
    pass a dozen of them around.)

    Work arrays are ``(lead, *phases, C * F)``: the chunk's F grid positions of every channel
    in one run. A tile is (phase r < d per tiled axis, grid position m); the taps of tiled axis
    j are the phase ranges [0, d) or [d, 2d), at m or m + (positions per block of j), so every
    operand is one long contiguous run per phase combination (NumPy is several times slower on
    short rows). A shift reads past a channel's end only for positions whose block is the halo
    block of some axis: those are computed and dropped. The input transform goes axis by axis
    from the last (each stacks its 4 positions in front), then one matrix product per
    transformed position (and phase), then the output transform from the first axis (each takes
    4 positions off the front and keeps the 2 pair members in front), and one strided copy per
    (pair members, phases) combination puts the outputs in place."""
    n = len(nb)
    C = src.shape[0]
    L, O = u.shape[0], u.shape[1] * u.shape[2]
    axes = [j for j in range(n) if tiled[j]]
    w = len(axes)
    ds = tuple(dil[j] for j in axes)
    R = math.prod(ds)
    steps = [math.prod(grid[j + 1 :]) for j in axes]
    F = src.shape[-1]
    final = F - sum(steps)  # grid positions left after every shift
    ph0 = tuple(2 * d for d in ds)
    sizes = [math.prod(ph0) * C * F]
    pd = list(ph0)
    for k in reversed(range(w)):  # the input transform's arrays
        pd[k] = ds[k]
        sizes.append(4 ** (w - k) * math.prod(pd) * C * F)
    sizes += [4 ** (w - k - 1) * 2 ** (k + 1) * R * O * final for k in range(w)]  # the output's
    sizes.append(L * C * R * final)  # the products' columns, when the phases join them
    ping = max(sizes)
    buf = scratch(2 * ping + L * R * O * final)
    halves = (buf[:ping], buf[ping : 2 * ping])
    m = buf[2 * ping :].reshape(L, g, O // g, R * final)

    cur = halves[0][: sizes[0]].reshape((1,) + ph0 + (C, F))
    np.copyto(cur[0], np.moveaxis(src, 0, w))
    cur = cur.reshape((1,) + ph0 + (C * F,))
    lead, which, length, pd = 1, 1, C * F, list(ph0)
    for k in reversed(range(w)):  # B^T along tiled axis k
        d, sh = ds[k], steps[k]
        length -= sh
        pre, post = (slice(None),) * (1 + k), (slice(None),) * (w - k - 1)
        tap = [
            cur[pre + (rs,) + post + (slice(o, o + length),)]
            for rs, o in (
                (slice(0, d), 0),
                (slice(d, 2 * d), 0),
                (slice(0, d), sh),
                (slice(d, 2 * d), sh),
            )
        ]
        pd[k] = d
        shape = (4, lead) + tuple(pd) + (C * F,)
        nxt = halves[which][: math.prod(shape)].reshape(shape)[..., :length]
        np.subtract(tap[0], tap[2], out=nxt[0])
        np.add(tap[1], tap[2], out=nxt[1])
        np.subtract(tap[2], tap[1], out=nxt[2])
        np.subtract(tap[1], tap[3], out=nxt[3])
        lead *= 4
        cur = halves[which][: math.prod(shape)].reshape((lead,) + tuple(pd) + (C * F,))
        which ^= 1

    if R == 1:
        v = cur.reshape(L, g, C // g, F)[..., :final]
    else:  # the phases join the products' columns: (L, g, C/g, *d, final)
        vv = halves[which][: L * C * R * final].reshape((L, g, C // g) + ds + (final,))
        v = cur.reshape((L,) + ds + (g, C // g, F))[..., :final]
        np.copyto(vv, np.moveaxis(v, tuple(range(1, 1 + w)), tuple(range(3, 3 + w))))
        v = vv.reshape(L, g, C // g, R * final)
    np.matmul(u, v, out=m)

    # output transform: (4^w, O * R * final) -> (2^w, O * R * final), first tiled axis first
    cur = m.reshape(L, O * R * final)
    pairs = 1
    for k in range(w):
        lead = 4 ** (w - k - 1)
        c = cur.reshape(4, lead, pairs, O * R * final)
        shape = (lead, pairs, 2, O * R * final)
        dst = halves[which][: math.prod(shape)].reshape(shape)
        which ^= 1
        first, second = dst[:, :, 0], dst[:, :, 1]
        np.add(c[0], c[1], out=first)
        first += c[2]
        np.subtract(c[1], c[2], out=second)
        second -= c[3]
        pairs *= 2
        cur = dst.reshape(lead * pairs, O * R * final)
    # cur: (2^w pair members, O, *d, final) -> out, through a view of the grid positions
    st = cur.strides[-1]
    res = np.lib.stride_tricks.as_strided(
        cur,
        shape=(2,) * w + ds + (O,) + tuple(nb),
        strides=tuple(cur.strides[0] * 2 ** (w - 1 - k) for k in range(w))
        + tuple(math.prod(ds[k + 1 :]) * final * st for k in range(w))
        + (R * final * st,)
        + tuple(math.prod(grid[j + 1 :]) * st for j in range(n)),
        writeable=False,
    )
    full = tuple(b * (2 * d if t else 1) for b, d, t in zip(nb, dil, tiled))
    crop = out.shape[1:] != full
    tgt = np.empty((O,) + full, dtype=np.float32) if crop else out
    split = []
    for j in range(n):
        split += [nb[j], 2, dil[j]] if tiled[j] else [nb[j]]
    tv = view_as(tgt, (O,) + tuple(split))
    for combo in itertools.product(*([range(2)] * w + [range(d) for d in ds])):
        sel, k = [slice(None)], 0
        for j in range(n):
            if tiled[j]:
                sel += [slice(None), combo[k], combo[w + k]]
                k += 1
            else:
                sel.append(slice(None))
        np.copyto(tv[tuple(sel)], res[combo])
    if crop:
        np.copyto(out, tgt[(slice(None),) + tuple(slice(0, s) for s in out.shape[1:])])
