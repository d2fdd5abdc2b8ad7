"""Gather: entries of a tensor picked along one axis by constant indices (ONNX Gather with a
constant index tensor, e.g. what PyTorch's exporters write for ``as_strided`` and ``x[:, k]``).

Overlapping types, and how they differ: StridedSlice takes a regular ``start:end:step`` range
per axis; Gather takes any list (repeats and any order allowed) on one axis, and its index
tensor's shape replaces that axis (a scalar index drops it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir import TensorSpec
from ..registry import LayerType, register
from .base import canonical_axis


@dataclass(frozen=True)
class GatherAttrs:
    """``y = take(x, indices, axis)``: ``indices`` (flat, non-negative or counted from the end)
    shaped ``indices_shape`` (``()`` for one scalar index, which drops the axis); the output
    shape is ``x.shape[:axis] + indices_shape + x.shape[axis + 1:]``."""

    indices: tuple[int, ...]
    indices_shape: tuple[int, ...] = ()
    axis: int = 0

    def __post_init__(self) -> None:
        indices = tuple(int(i) for i in self.indices)
        shape = tuple(int(d) for d in self.indices_shape)
        if math.prod(shape) != len(indices) or any(d < 1 for d in shape):
            raise ValueError(f"{len(indices)} indices do not fill the index shape {shape}")
        object.__setattr__(self, "indices", indices)
        object.__setattr__(self, "indices_shape", shape)
        object.__setattr__(self, "axis", int(self.axis))


@register
class Gather(LayerType):
    type = "Gather"
    Attrs = GatherAttrs

    def infer(self, a, ins):
        x = ins[0]
        ax = canonical_axis(a.axis, x.rank, "Gather axis")
        n = x.shape[ax]
        bad = [i for i in a.indices if not -n <= i < n]
        if bad:
            raise ValueError(f"Gather index {bad[0]} is out of range for axis {ax} of size {n}")
        shape = x.shape[:ax] + a.indices_shape + x.shape[ax + 1 :]
        if not shape:
            raise ValueError("Gather of one entry of a rank-1 tensor gives a scalar")
        return [TensorSpec(shape, x.dtype)]

    def run(self, a, xs, p):
        x = xs[0]
        ax = canonical_axis(a.axis, x.ndim)
        idx = np.array(a.indices, dtype=np.int64).reshape(a.indices_shape)
        return [np.ascontiguousarray(np.take(x, idx, axis=ax))]

    def to_onnx(self, layer, em, ins, outs):
        a = layer.attrs
        idx = np.array(a.indices, dtype=np.int64).reshape(a.indices_shape)
        ax = canonical_axis(a.axis, em.spec(ins[0]).rank)
        args = [ins[0], em.const(f"{layer.name}.indices", idx, np.int64)]
        em.node("Gather", args, list(outs), name=layer.name, axis=ax)
