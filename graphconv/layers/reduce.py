"""Reductions over axes: Reduce (ONNX's ReduceMean, ReduceMax, ReduceSum, ReduceL2, ...) and
ArgExtreme (ONNX's ArgMax / ArgMin).

Overlapping types, and how they differ:

- Reduce vs Pooling (global): a global pooling reduces the spatial axes of an NCHW tensor and
  keeps them as 1s; Reduce reduces any axes and may drop them (``keepdims`` false).
- ArgExtreme vs ArgMax: ArgMax is Caffe's (top-k, ties to the larger index, optional values);
  ArgExtreme is ONNX's (one index per slice, ties to the first index unless
  ``select_last_index``). Both hold indices as float32 (exact below 2**24), graphconv's one
  element type; the export casts ONNX's int64 indices to float.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from onnx import TensorProto

from ..ir import TensorSpec
from ..registry import LayerType, register
from .base import canonical_axis


def _sum(x, axes):
    return np.sum(x, axis=axes, keepdims=True, dtype=np.float64)


def _logsumexp(x, axes):
    top = np.max(x, axis=axes, keepdims=True).astype(np.float64)
    top = np.where(np.isfinite(top), top, 0.0)
    return top + np.log(np.sum(np.exp(x - top), axis=axes, keepdims=True))


# name: (ONNX op, NumPy definition on keepdims; sums accumulate in float64)
REDUCTIONS = {
    "mean": ("ReduceMean", lambda x, axes: np.mean(x, axis=axes, keepdims=True, dtype=np.float64)),
    "sum": ("ReduceSum", _sum),
    "max": ("ReduceMax", lambda x, axes: np.max(x, axis=axes, keepdims=True)),
    "min": ("ReduceMin", lambda x, axes: np.min(x, axis=axes, keepdims=True)),
    "prod": ("ReduceProd", lambda x, axes: np.prod(x, axis=axes, keepdims=True, dtype=np.float64)),
    "l1": ("ReduceL1", lambda x, axes: _sum(np.abs(x), axes)),
    "l2": ("ReduceL2", lambda x, axes: np.sqrt(_sum(np.square(x, dtype=np.float64), axes))),
    "sum_square": ("ReduceSumSquare", lambda x, axes: _sum(np.square(x, dtype=np.float64), axes)),
    "log_sum": ("ReduceLogSum", lambda x, axes: np.log(_sum(x, axes))),
    "log_sum_exp": ("ReduceLogSumExp", _logsumexp),
}


def _axes(axes, rank: int) -> tuple[int, ...]:
    out = tuple(sorted({canonical_axis(a, rank, "Reduce axis") for a in axes}))
    if len(out) != len(axes):
        raise ValueError(f"Reduce axes {tuple(axes)} name an axis twice")
    return out


@dataclass(frozen=True)
class ReduceAttrs:
    """``y = operation of x over axes`` (every axis when ``axes`` is empty); the reduced axes stay
    as 1s when ``keepdims``, else they are dropped. ``operation``: mean, sum, max, min, prod, l1
    (sum of |x|), l2 (sqrt of the sum of squares), sum_square, log_sum, log_sum_exp."""

    operation: str
    axes: tuple[int, ...] = ()
    keepdims: bool = True

    def __post_init__(self) -> None:
        op = str(self.operation).lower()
        if op not in REDUCTIONS:
            raise ValueError(
                f"Reduce operation must be one of {', '.join(REDUCTIONS)}, got '{self.operation}'"
            )
        object.__setattr__(self, "operation", op)
        object.__setattr__(self, "axes", tuple(int(a) for a in self.axes))
        object.__setattr__(self, "keepdims", bool(self.keepdims))

    def reduced(self, rank: int) -> tuple[int, ...]:
        return _axes(self.axes, rank) if self.axes else tuple(range(rank))


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


@register
class Reduce(LayerType):
    type = "Reduce"
    Attrs = ReduceAttrs

    def infer(self, a, ins):
        x = ins[0]
        shape = _kept_shape(x.shape, a.reduced(x.rank), a.keepdims)
        if not shape:
            raise ValueError(
                f"Reduce over every axis of {x} without keepdims gives a scalar "
                "(graphconv tensors have at least one axis)"
            )
        return [TensorSpec(shape, x.dtype)]

    def run(self, a, xs, p):
        x = xs[0]
        axes = a.reduced(x.ndim)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            y = REDUCTIONS[a.operation][1](x, axes)
        return [np.ascontiguousarray(y.reshape(_kept_shape(x.shape, axes, a.keepdims)), np.float32)]

    def to_onnx(self, layer, em, ins, outs):
        a = layer.attrs
        op = REDUCTIONS[a.operation][0]
        axes = list(a.reduced(em.spec(ins[0]).rank))
        keep = int(a.keepdims)
        # the axes became an input in opset 13 for ReduceSum, in 18 for the others
        if em.opset >= (13 if op == "ReduceSum" else 18):
            args = [ins[0], em.const(f"{layer.name}.axes", axes, np.int64)]
            em.node(op, args, list(outs), name=layer.name, keepdims=keep)
        else:
            em.node(op, list(ins), list(outs), name=layer.name, axes=axes, keepdims=keep)

    def macs(self, a, ins, outs):
        return ins[0].size


# ---- ArgExtreme ---------------------------------------------------------------------------------

# float32 holds every integer up to 2**24 exactly: larger indices would be rounded
_FLOAT_EXACT_INDICES = 1 << 24


@dataclass(frozen=True)
class ArgExtremeAttrs:
    """ONNX ArgMax (``mode="max"``) / ArgMin (``"min"``): the index of the largest (smallest)
    entry along ``axis``, as float32; among equal entries the first, or the last when
    ``select_last_index``. The axis stays as 1 when ``keepdims``, else it is dropped. A NaN
    counts as larger (smaller) than every number, as numpy's argmax/argmin do."""

    mode: str = "max"
    axis: int = 0
    keepdims: bool = True
    select_last_index: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("max", "min"):
            raise ValueError(f"ArgExtreme mode must be 'max' or 'min', got '{self.mode}'")
        object.__setattr__(self, "axis", int(self.axis))
        object.__setattr__(self, "keepdims", bool(self.keepdims))
        object.__setattr__(self, "select_last_index", bool(self.select_last_index))


@register
class ArgExtreme(LayerType):
    type = "ArgExtreme"
    Attrs = ArgExtremeAttrs

    def infer(self, a, ins):
        x = ins[0]
        ax = canonical_axis(a.axis, x.rank, "ArgExtreme axis")
        if x.shape[ax] > _FLOAT_EXACT_INDICES:
            raise ValueError(
                f"ArgExtreme over {x.shape[ax]} entries: indices beyond 2**24 are not exact "
                "in float32"
            )
        shape = _kept_shape(x.shape, (ax,), a.keepdims)
        if not shape:
            raise ValueError(
                f"ArgExtreme of the rank-1 input {x} without keepdims gives a scalar "
                "(graphconv tensors have at least one axis)"
            )
        return [TensorSpec(shape, x.dtype)]

    def run(self, a, xs, p):
        x = xs[0]
        ax = canonical_axis(a.axis, x.ndim)
        find = np.argmax if a.mode == "max" else np.argmin
        if a.select_last_index:
            idx = (x.shape[ax] - 1) - find(np.flip(x, ax), axis=ax, keepdims=True)
        else:
            idx = find(x, axis=ax, keepdims=True)
        shape = _kept_shape(x.shape, (ax,), a.keepdims)
        return [np.ascontiguousarray(idx.reshape(shape), dtype=np.float32)]

    def to_onnx(self, layer, em, ins, outs):
        a, name = layer.attrs, layer.name
        position = em.tmp(f"{name}/position")
        em.node(
            "ArgMax" if a.mode == "max" else "ArgMin",
            list(ins),
            [position],
            name=name,
            axis=canonical_axis(a.axis, em.spec(ins[0]).rank),
            keepdims=int(a.keepdims),
            select_last_index=int(a.select_last_index),
        )
        em.node("Cast", [position], list(outs), name=f"{name}/cast", to=TensorProto.FLOAT)
