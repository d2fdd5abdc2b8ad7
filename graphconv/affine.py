"""Per-channel affine maps ``y = x * mult[c] + shift[c]`` and folding them into weights.

One home for the arithmetic that both the interpreter's fusion and the ``fold-batchnorm`` pass
use: a layer type states itself as an affine map (``LayerType.affine``: BatchNorm with stored
statistics, single-input Scale), consecutive maps :func:`compose` into one, and a producer's
``LayerType.fold_affine`` hook absorbs one with :func:`fold_into_weights`.

The maps are float64 ``(mult, shift)`` pairs, each of length C (channels) or 1 (broadcast).
Nothing here imports the IR or the layer table.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

AffineMap = tuple[np.ndarray, np.ndarray]


def as_map(mult: Any, shift: Any) -> AffineMap:
    """``(mult, shift)`` as float64 vectors of one length (``shift`` broadcast to ``mult``)."""
    m = np.asarray(mult, dtype=np.float64).reshape(-1)
    t = np.broadcast_to(np.asarray(shift, dtype=np.float64), m.shape).copy()
    return m, t


def compose(first: AffineMap, then: AffineMap) -> AffineMap:
    """``first`` followed by ``then``, as one map: x*m1*m2 + (t1*m2 + t2)."""
    (m1, t1), (m2, t2) = first, then
    return as_map(m1 * m2, t1 * m2 + t2)


def composable(first: AffineMap, then: AffineMap) -> bool:
    """Whether the two maps act on the same channels (equal lengths, or one broadcasts)."""
    n1, n2 = len(first[0]), len(then[0])
    return n1 == n2 or 1 in (n1, n2)


def fold_into_weights(
    params: Mapping[str, np.ndarray],
    mult: np.ndarray,
    shift: np.ndarray,
    groups: int = 1,
    transposed: bool = False,
) -> dict[str, np.ndarray] | None:
    """``weight`` and ``bias`` of a linear layer followed by the map ``(mult, shift)``, as one
    layer: ``W'[o] = mult[o] W[o]``, ``b' = mult * b + shift`` (``b`` is 0 without a bias).

    Output channels run along the weight's axis 0 (Convolution ``(O, C/g, k...)``,
    InnerProduct ``(O, K)``), or, ``transposed``, along axis 1 within each of ``groups`` blocks
    of rows (Deconvolution ``(C, O/g, k...)``: channel ``gi * O/g + j`` is column ``j`` of row
    block ``gi``). Computed in float64, returned as float32. None when the map's length is
    neither 1 nor the channel count.
    """
    w = params["weight"].astype(np.float64)
    channels = groups * w.shape[1] if transposed else w.shape[0]
    mult, shift = as_map(mult, shift)
    if len(mult) not in (1, channels):
        return None
    mult = np.broadcast_to(mult, (channels,))
    shift = np.broadcast_to(shift, (channels,))
    if transposed:
        per_row_block = w.reshape(groups, w.shape[0] // groups, w.shape[1], -1)
        w = (per_row_block * mult.reshape(groups, 1, w.shape[1], 1)).reshape(w.shape)
    else:
        w = w * mult.reshape((-1,) + (1,) * (w.ndim - 1))
    b = params["bias"].astype(np.float64) if "bias" in params else 0.0
    return {"weight": w.astype(np.float32), "bias": (b * mult + shift).astype(np.float32)}


class Affine:
    """The epilogue ``block *= mult[c]; block += shift[c]`` of one affine map. Being explicit,
    consecutive ones merge (:func:`merge_affines`) and a producer can fold one into its weights
    (``LayerType.fold_affine``). ``scale64`` and ``shift64`` are the float64 map."""

    def __init__(self, mult: Any, shift: Any) -> None:
        self.scale64, self.shift64 = as_map(mult, shift)
        self._s = _column(self.scale64)
        self._t = _column(self.shift64)

    @property
    def map(self) -> AffineMap:
        return self.scale64, self.shift64

    def __call__(self, block: np.ndarray, ch: slice) -> None:
        block *= self._s if self._s.shape[0] == 1 else self._s[ch]
        block += self._t if self._t.shape[0] == 1 else self._t[ch]

    def then(self, other: Affine) -> Affine:
        """This map followed by ``other``, as one."""
        return Affine(*compose(self.map, other.map))


def _column(values: np.ndarray) -> np.ndarray:
    """Per-channel values as a float32 (C, 1) column (broadcasting over a block's last axis)."""
    return np.ascontiguousarray(values, dtype=np.float32).reshape(-1, 1)


def merge_affines(fns: Sequence[Any]) -> list[Any]:
    """Epilogues with each run of consecutive composable :class:`Affine` merged into one."""
    out: list[Any] = []
    for fn in fns:
        if (
            out
            and isinstance(out[-1], Affine)
            and isinstance(fn, Affine)
            and composable(out[-1].map, fn.map)
        ):
            out[-1] = out[-1].then(fn)
        else:
            out.append(fn)
    return out
