"""Caffe ArgMax: the ``top_k`` largest entries along an axis or over each sample, as float32
indices (as Caffe stores them) or their values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir import TensorSpec
from .base import LayerType, register
from .tensor import _reshape_to, canonical_axis

# float32 holds every integer up to 2**24 exactly: larger indices would be rounded.
_FLOAT_EXACT_INDICES = 1 << 24


@dataclass(frozen=True)
class ArgMaxAttrs:
    """Caffe ArgMax: the ``top_k`` largest entries, as float32 indices (or their values).

    With ``axis``: along that axis, which becomes ``top_k`` long; ``out_max_val`` outputs the
    values instead of the indices. Without: over each sample's ``C*H*W`` values flattened; the
    output is ``(N, 1, top_k)`` (padded with unit axes to the input's rank) holding indices, or
    ``(N, 2, top_k)`` with the indices then the values when ``out_max_val``.

    Order is Caffe's ``partial_sort`` of ``(value, index)`` pairs by ``std::greater``: larger
    values first, and among equal values the LARGER index first (so for ties the last one wins).
    """

    out_max_val: bool = False
    top_k: int = 1
    axis: int | None = None

    def __post_init__(self) -> None:
        if int(self.top_k) < 1:
            raise ValueError(f"ArgMax top_k must be >= 1, got {self.top_k}")
        object.__setattr__(self, "out_max_val", bool(self.out_max_val))
        object.__setattr__(self, "top_k", int(self.top_k))
        object.__setattr__(self, "axis", None if self.axis is None else int(self.axis))


def _top_k(x: np.ndarray, axis: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Caffe's top-k along ``axis``: (values, indices), ties broken by the larger index."""
    d = x.shape[axis]
    if k == 1:  # the maximum, then the last position holding it
        values = x.max(axis=axis, keepdims=True)
        last = np.argmax(np.flip(x == values, axis), axis=axis, keepdims=True)
        return values, (d - 1) - last
    # a stable descending sort of the reversed axis puts larger indices first among ties
    rev = np.flip(np.moveaxis(x, axis, -1), -1)
    idx = (d - 1) - np.argsort(-rev, axis=-1, kind="stable")[..., :k]
    values = np.take_along_axis(np.moveaxis(x, axis, -1), idx, axis=-1)
    return np.moveaxis(values, -1, axis), np.moveaxis(idx, -1, axis)


@register
class ArgMax(LayerType):
    type = "ArgMax"
    Attrs = ArgMaxAttrs

    def infer(self, a, ins):
        x = ins[0]
        if a.axis is not None:
            ax = canonical_axis(a.axis, x.rank, "ArgMax axis")
            if a.top_k > x.shape[ax]:
                raise ValueError(
                    f"ArgMax top_k {a.top_k} exceeds the {x.shape[ax]} entries of axis {ax}"
                )
            shape = list(x.shape)
            shape[ax] = a.top_k
            return [TensorSpec(tuple(shape), x.dtype)]
        if x.rank < 2:
            raise ValueError(
                f"ArgMax without an axis needs a batch axis and data, the input has rank {x.rank}"
            )
        per_sample = math.prod(x.shape[1:])
        if a.top_k > per_sample:
            raise ValueError(f"ArgMax top_k {a.top_k} exceeds the {per_sample} values per sample")
        if per_sample > _FLOAT_EXACT_INDICES:
            raise ValueError(
                f"ArgMax over {per_sample} values per sample: indices beyond 2**24 "
                "are not exact in float32"
            )
        shape = [1] * max(x.rank, 3)
        shape[0], shape[1], shape[2] = x.shape[0], 2 if a.out_max_val else 1, a.top_k
        return [TensorSpec(tuple(shape), x.dtype)]

    def run(self, a, xs, p):
        x = xs[0]
        out_shape = self.infer(a, [TensorSpec(x.shape)])[0].shape
        if a.axis is not None:
            vals, idx = _top_k(x, canonical_axis(a.axis, x.ndim), a.top_k)
            res = vals if a.out_max_val else idx
            return [np.ascontiguousarray(res, dtype=np.float32)]
        vals, idx = _top_k(x.reshape(x.shape[0], -1), 1, a.top_k)
        res = idx.astype(np.float32)
        if a.out_max_val:
            res = np.concatenate([res, vals.astype(np.float32)], axis=1)
        return [res.reshape(out_shape)]

    def to_onnx(self, layer, em, ins, outs):
        a, name = layer.attrs, layer.name
        x = em.spec(ins[0])
        if a.axis is not None:
            ax = canonical_axis(a.axis, x.rank)
            wanted = {"values": outs[0]} if a.out_max_val else {"indices": outs[0]}
            _emit_top_k(em, ins[0], ax, x.shape[ax], a.top_k, name, **wanted)
            return
        size = math.prod(x.shape[1:])
        flat = em.reshape(ins[0], (x.shape[0], size), f"{name}/flat")
        indices = em.tmp(f"{name}/indices")
        if a.out_max_val:  # per sample: the k indices, then the k values
            values, packed = em.tmp(f"{name}/values"), em.tmp(f"{name}/packed")
            _emit_top_k(em, flat, 1, size, a.top_k, name, values=values, indices=indices)
            em.node("Concat", [indices, values], [packed], name=f"{name}/pack", axis=1)
        else:
            _emit_top_k(em, flat, 1, size, a.top_k, name, indices=indices)
            packed = indices
        _reshape_to(em, packed, outs[0], em.spec(outs[0]).shape, f"{name}/shape")


def _emit_top_k(
    em,
    data: str,
    axis: int,
    size: int,
    k: int,
    name: str,
    values: str | None = None,
    indices: str | None = None,
) -> None:
    """Caffe-ordered top-k of ``data`` along ``axis`` (of length ``size``): writes the values
    and/or the float32 indices to the tensors named."""
    if k == 1 and values is None:
        position = em.tmp(f"{name}/argmax")
        em.node(
            "ArgMax",
            [data],
            [position],
            name=f"{name}/argmax",
            axis=axis,
            keepdims=1,
            select_last_index=1,
        )
    else:
        # ONNX TopK breaks ties by the smaller index, Caffe by the larger: run TopK on the axis
        # reversed and map positions back, index = size - 1 - position.
        rev = em.tmp(f"{name}/reversed")
        em.slice(
            data, rev, [-1], [np.iinfo(np.int64).min], [axis], name=f"{name}/reverse", steps=[-1]
        )
        reversed_position = em.tmp(f"{name}/reversed_position")
        em.node(
            "TopK",
            [rev, em.const(f"{name}.k", [k], np.int64)],
            [values or em.tmp(f"{name}/topk_values"), reversed_position],
            name=f"{name}/topk",
            axis=axis,
            largest=1,
            sorted=1,
        )
        if indices is None:
            return
        position = em.tmp(f"{name}/position")
        em.node(
            "Sub",
            [em.const(f"{name}.last", np.int64(size - 1)), reversed_position],
            [position],
            name=f"{name}/unreverse",
        )
    if indices is not None:
        from onnx import TensorProto  # here: importing onnx costs start-up time

        em.node("Cast", [position], [indices], name=f"{name}/cast", to=TensorProto.FLOAT)
