"""Winograd's minimal filtering F(2, 3) for stride-1 convolutions whose kernel has 3 taps (or
1) along each spatial axis: 3x3, 3x1, 1x3, 3x3x3, dilated or not.

Along an axis with 3 taps and dilation ``d``, outputs pair up as ``(o, o + d)``: both come from
the four inputs ``o + {0, d, 2d, 3d}`` through

    y = A^T [(G g) * (B^T x)]        B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
                                     G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
                                     A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

so a pair costs 4 multiplications instead of 6. Nested over the axes (3x3: 16 instead of 36 per
2x2 outputs) and summed over the input channels, each of the 4^w transformed positions is one
matrix product (O x C) @ (C x tiles): 2.25x fewer multiply-adds than im2col for 3x3, 1.5x for
3x1. The transforms are a few whole-array additions per axis, the weights' one is computed once
per weight array (in float64). Results differ from the direct sum by rounding only (a few float32
ulps of the terms' magnitude, as any change of summation order does).

Tiles along an axis: output ``o = (2d) b + j d + r`` (block ``b``, pair member ``j``, offset
``r < d``) is tile ``(b, r)``, so the output of a block is contiguous and tiles are views of the
padded input with strides ``(2d, 1, d)``. The output is computed up to a multiple of ``2d`` per
axis and cropped; work runs in chunks of blocks along the first spatial axis, as im2col does.
"""

from __future__ import annotations

import math
import weakref

import numpy as np

from ..parallel import chunks, parallel_map, scratch, threads
from .base import view_as

_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])

# The transforms cost about 6 (C + O) additions per output where the products save 5 C O / 4
# multiply-adds (3x3), at a tenth of the speed: below this many channels per group (in and out)
# the direct kernel is faster.
MIN_CHANNELS = 32
# Work per chunk: about this many float32 elements in the chunk's transformed input.
CHUNK_ELEMENTS = 1 << 20


def applies(kernel, stride, cg: int, og: int) -> bool:
    """Whether a convolution runs here: stride 1, 3 or 1 taps per axis (at least one 3),
    enough channels per group."""
    return (all(s == 1 for s in stride) and all(k in (1, 3) for k in kernel) and 3 in kernel
            and min(cg, og) >= MIN_CHANNELS)


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
    n = len(kernel)
    N, C = x.shape[:2]
    O = y.shape[1]
    tiled = [k == 3 for k in kernel]
    unit = tuple(2 * d if t else 1 for d, t in zip(dil, tiled))
    nb = tuple(-(-o // e) for o, e in zip(out_sp, unit))
    full = tuple(m * e for m, e in zip(nb, unit))
    halo = tuple((k - 1) * d for k, d in zip(kernel, dil))
    xp = _pad(x, pb, tuple(f + h for f, h in zip(full, halo)), dil[-1] if tiled[-1] else 0)
    exact = full == tuple(out_sp)
    rest = math.prod(full[1:])
    per_block = u.shape[0] * max(C, O) * unit[0] * rest // 2 ** sum(tiled)  # transformed elements
    per = max(1, CHUNK_ELEMENTS // max(1, per_block))
    if nb[0] >= 2 * threads():
        per = min(per, -(-nb[0] // (2 * threads())))
    parts = chunks(nb[0], per)

    for i in range(N):
        def part(r, xi=xp[i], yi=y[i]) -> None:
            o0, o1 = r[0] * unit[0], r[1] * unit[0]
            src = xi[:, o0:o1 + halo[0]]
            shape = (o1 - o0,) + full[1:]
            dst = yi[:, o0:min(o1, out_sp[0])]
            if exact:
                _tile_conv(src, u, g, tiled, dil, shape, dst)
            else:
                tmp = np.empty((O,) + shape, dtype=np.float32)
                _tile_conv(src, u, g, tiled, dil, shape, tmp)
                np.copyto(dst, tmp[(slice(None),) + tuple(slice(0, s) for s in dst.shape[1:])])
            finish(dst)

        if len(parts) == 1:
            part(parts[0])  # one piece: the products on OpenBLAS's own threads
        else:
            parallel_map(part, parts)


def _pad(x: np.ndarray, pb, length, phases: int) -> np.ndarray:
    """``x`` zero-padded to ``length`` per spatial axis from ``pb``. With ``phases`` = d > 0
    the last axis comes out phase-major, ``(2d, length / 2d)``: sample ``2d m + r`` at
    ``[r, m]``, so that every tap of the tiles along it is a contiguous slice."""
    lead = x.shape[:2] + tuple(length[:-1])
    inner = tuple(slice(b, b + s) for b, s in zip(pb[:-1], x.shape[2:-1]))
    if not phases:
        xp = np.zeros(lead + (length[-1],), dtype=np.float32)
        xp[(slice(None), slice(None)) + inner + (slice(pb[-1], pb[-1] + x.shape[-1]),)] = x
        return xp
    step = 2 * phases
    xp = np.zeros(lead + (step, length[-1] // step), dtype=np.float32)
    width = x.shape[-1]
    for r in range(step):
        m0 = max(0, -(-(pb[-1] - r) // step))  # first m with 2d m + r - pb >= 0
        w0 = m0 * step + r - pb[-1]
        if w0 < width:
            cnt = min(-(-(width - w0) // step), xp.shape[-1] - m0)
            xp[(slice(None), slice(None)) + inner + (r, slice(m0, m0 + cnt))] = \
                x[..., w0:w0 + step * (cnt - 1) + 1:step]
    return xp


def _tile_conv(src: np.ndarray, u: np.ndarray, g: int, tiled, dil, shape, out) -> None:
    """One chunk: ``src`` (C, *padded extents; the last axis phase-major when tiled) ->
    ``out`` (O, *shape), the computed outputs.

    The input transform goes axis by axis from the last (each stacks its 4 positions in front),
    then the products, then the output transform from the first axis (each takes its 4
    positions off the front and writes the pair members into their places), the last tiled
    axis straight into ``out``. Tiles along the last axis are ``(d, blocks)``, along the others
    ``(blocks, d)``: the inner loops always run over contiguous memory."""
    n = len(shape)
    C = src.shape[0]
    L, O = u.shape[0], u.shape[1] * u.shape[2]
    pm = tiled[-1]
    dims = [(e,) for e in src.shape[1:n]] + [tuple(src.shape[n:])]
    tiles = [((d, s // (2 * d)) if j == n - 1 else (s // (2 * d), d)) if t else (s,)
             for j, (s, d, t) in enumerate(zip(shape, dil, tiled))]
    T = math.prod(math.prod(t) for t in tiles)
    order = [j for j in range(n) if tiled[j]]
    sizes, work = [], list(dims)
    for j in reversed(order):
        work[j] = tiles[j]
        sizes.append(4 ** (len(sizes) + 1) * C * math.prod(math.prod(t) for t in work))
    ping = max(max(sizes), L * O * T // 2)
    buf = scratch(2 * ping + L * O * T)
    halves = (buf[:ping], buf[ping:2 * ping])
    m = buf[2 * ping:].reshape(L, g, O // g, T)

    cur, lead, which = src[None], 1, 0
    for j in reversed(order):  # B^T along axis j
        ax = 2 + sum(len(dims[i]) for i in range(j))
        if j == n - 1 and pm:
            d, mb = tiles[j]
            pre = (slice(None),) * ax
            tap = [cur[pre + (slice(0, d), slice(0, mb))], cur[pre + (slice(d, 2 * d), slice(0, mb))],
                   cur[pre + (slice(0, d), slice(1, mb + 1))],
                   cur[pre + (slice(d, 2 * d), slice(1, mb + 1))]]
        else:
            st = cur.strides[ax]
            mb, d = tiles[j]
            view = np.lib.stride_tricks.as_strided(
                cur, shape=cur.shape[:ax] + (mb, d, 4) + cur.shape[ax + 1:],
                strides=cur.strides[:ax] + (2 * d * st, st, d * st) + cur.strides[ax + 1:],
                writeable=False)
            tap = [view[(slice(None),) * (ax + 2) + (t,)] for t in range(4)]
        dims[j] = tiles[j]
        nxt_shape = (4, lead, C) + sum(dims, ())
        nxt = halves[which][:math.prod(nxt_shape)].reshape(nxt_shape)
        np.subtract(tap[0], tap[2], out=nxt[0])
        np.add(tap[1], tap[2], out=nxt[1])
        np.subtract(tap[2], tap[1], out=nxt[2])
        np.subtract(tap[1], tap[3], out=nxt[3])
        lead *= 4
        cur = nxt.reshape((lead, C) + sum(dims, ()))
        which ^= 1

    np.matmul(u, cur.reshape(L, g, C // g, T), out=m)

    cur = m.reshape((L, O) + sum(dims, ()))
    for j in order:  # A^T along axis j
        lead //= 4
        if j == n - 1 and pm:  # the last step: out's last axis as (blocks, 2, d), seen as (2, d, blocks)
            d, mb = tiles[j]
            dims[j] = (mb, 2, d)
            dst = np.moveaxis(view_as(out, (O,) + sum(dims, ())), -3, -1)[None]
            ax = dst.ndim - 3
        else:
            mb, d = tiles[j]
            dims[j] = (mb, 2, d)
            if j == order[-1]:
                dst = view_as(out, (O,) + sum(dims, ()))[None]
            else:
                dst_shape = (lead, O) + sum(dims, ())
                dst = halves[which][:math.prod(dst_shape)].reshape(dst_shape)
                which ^= 1
            ax = 2 + sum(len(dims[i]) for i in range(j)) + 1
        first = dst[(slice(None),) * ax + (0,)]
        second = dst[(slice(None),) * ax + (1,)]
        c = cur.reshape((4, lead) + cur.shape[1:])
        np.add(c[0], c[1], out=first)
        first += c[2]
        np.subtract(c[1], c[2], out=second)
        second -= c[3]
        cur = dst
