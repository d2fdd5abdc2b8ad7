"""Fused epilogues and the block plumbing element-wise work shares: a per-channel map run on each
finished block of a producer's output while it is still in cache (see LayerType.epilogue).

Speed only: what an epilogue computes is its layer's (``run`` is the spec); here is how blocks
are cut, spread over the threads and finished (bias, then the fused map).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .threads import parallel_map, threads

Epilogue = Callable[[np.ndarray, slice], None]
"""``fn(block, channels)``: transform ``block`` in place. The block's channel axis is -2 and its
spatial axes are flattened into the last one; ``channels`` says which of the layer's channels the
block holds (for per-channel parameters)."""


def view_as(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` reshaped without a copy (raises if that needs one): for writing into the real
    array through the new shape."""
    v = a.view()
    v.shape = shape
    return v


def channel_view(y: np.ndarray) -> np.ndarray:
    """``y`` (N, C, ...) seen as (N, C, L) without copying (raises if that needs a copy)."""
    v = y.view()
    v.shape = (y.shape[0], y.shape[1], -1) if y.ndim >= 2 else (1, -1, 1)
    return v


EPILOGUE_BLOCK = 1 << 18  # elements: a block's passes run while it stays in cache
# From this many elements, element-wise work (Eltwise, pooling, unfused epilogues) spreads over
# the threads in at least two blocks per thread: an Eltwise sum + PReLU over 64x128x256 takes
# 1.3 ms instead of 2.1 ms; below, the pool's hand-off costs about what it saves (ShuffleNet).
PARALLEL_ELEMENTS = 1 << 19


def channel_blocks(y: np.ndarray) -> list[slice]:
    """Slices of ``y``'s channels (axis 1) holding about EPILOGUE_BLOCK elements each, and at
    least two per thread when ``y`` is large enough to be worth spreading."""
    if y.ndim < 2:
        return [slice(None)]
    c = y.shape[1]
    per = max(1, EPILOGUE_BLOCK // max(1, y.size // c))
    if y.size >= PARALLEL_ELEMENTS:
        per = min(per, max(1, -(-c // (2 * threads()))))
    return [slice(c0, min(c, c0 + per)) for c0 in range(0, c, per)]


def apply_by_blocks(epilogue: Epilogue, y: np.ndarray) -> None:
    """Run ``epilogue`` over ``y`` (N, C, ...) by blocks of channels, on the threads."""
    if y.ndim < 2:
        epilogue(channel_view(y), slice(None))
        return
    parallel_map(lambda ch: epilogue(channel_view(y[:, ch]), ch), channel_blocks(y))


def chain_epilogues(fns: Sequence[Epilogue]) -> Epilogue:
    if len(fns) == 1:
        return fns[0]

    def run_all(block: np.ndarray, ch: slice) -> None:
        for fn in fns:
            fn(block, ch)

    return run_all


def per_channel(values: np.ndarray) -> Callable[[slice], np.ndarray]:
    """Per-channel parameters as a (C, 1) column, sliced by the block's channels; a single value
    broadcasts to every channel."""
    col = np.ascontiguousarray(values, dtype=np.float32).reshape(-1, 1)
    if col.shape[0] == 1:
        return lambda ch: col
    return lambda ch: col[ch]


def finish(out: np.ndarray, src, b, epilogue, c0: int) -> None:
    """``out`` (a block of output channels) = ``src`` (unless already written) + bias, then the
    fused epilogue."""
    m = out.shape[0]
    bias = None if b is None else b[c0 : c0 + m].reshape((m,) + (1,) * (out.ndim - 1))
    if src is not None and bias is not None:
        np.add(src, bias, out=out)  # one pass for the copy and the bias, the same sums
    elif src is not None:
        np.copyto(out, src)
    elif bias is not None:
        out += bias
    if epilogue is not None:
        epilogue(view_as(out, (m, -1)), slice(c0, c0 + m))
