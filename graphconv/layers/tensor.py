"""Tensor plumbing layers: Input (a graph input), Pad (constant; negative amounts crop) and the
Caffe data-movement layers: Concat, Slice, Split, Crop, Flatten, Reshape, Permute, ShuffleChannel,
and ArgMax (indices as float32, as Caffe stores them).

Axes follow Caffe: an ``axis`` may be negative (counted from the end, ``CanonicalAxisIndex``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from onnx import TensorProto

from ..ir import TensorSpec
from .base import LayerType, as_tuple, register


@dataclass(frozen=True)
class InputAttrs:
    shape: tuple[int, ...]
    dtype: str = "float32"

    def __post_init__(self) -> None:
        shape = as_tuple(self.shape, what="shape")
        if not shape or any(d < 1 for d in shape):
            raise ValueError(f"input shape must be non-empty with positive dims, got {shape}")
        object.__setattr__(self, "shape", shape)


@register
class Input(LayerType):
    type = "Input"
    Attrs = InputAttrs
    arity = (0, 0)
    is_source = True

    def infer(self, a, ins):
        return [TensorSpec(a.shape, a.dtype)]

    def run(self, a, xs, p):
        (x,) = xs
        if tuple(x.shape) != a.shape:
            raise ValueError(f"fed shape {tuple(x.shape)} differs from declared {a.shape}")
        return [np.ascontiguousarray(x, dtype=np.float32)]

    def to_onnx(self, layer, em, ins, outs):
        em.graph_input(outs[0], TensorSpec(layer.attrs.shape, layer.attrs.dtype))


@dataclass(frozen=True)
class PadAttrs:
    """Constant padding of the spatial axes (2, 3, ...); negative amounts crop."""

    pads_begin: tuple[int, ...]
    pads_end: tuple[int, ...]
    value: float = 0.0

    def __post_init__(self) -> None:
        pb = as_tuple(self.pads_begin, what="pads_begin")
        pe = as_tuple(self.pads_end, len(pb), "pads_end")
        object.__setattr__(self, "pads_begin", pb)
        object.__setattr__(self, "pads_end", pe)
        object.__setattr__(self, "value", float(self.value))


def pad_crop(x: np.ndarray, pb, pe, value: float = 0.0) -> np.ndarray:
    """``out[i] = x[i - pb]`` where that index exists, else ``value`` (per spatial axis)."""
    sp = x.shape[2:]
    out_sp = tuple(h + b + e for h, b, e in zip(sp, pb, pe))
    out = np.full(x.shape[:2] + out_sp, value, dtype=x.dtype)
    dst, src = [slice(None)] * 2, [slice(None)] * 2
    for h, b, o in zip(sp, pb, out_sp):
        lo, hi = max(0, b), min(o, h + b)
        if lo >= hi:
            return out
        dst.append(slice(lo, hi))
        src.append(slice(lo - b, hi - b))
    out[tuple(dst)] = x[tuple(src)]
    return out


@register
class Pad(LayerType):
    type = "Pad"
    Attrs = PadAttrs

    def infer(self, a, ins):
        x = ins[0]
        if x.rank != len(a.pads_begin) + 2:
            raise ValueError(f"pads cover {len(a.pads_begin)} spatial axes but the input has "
                             f"rank {x.rank}")
        out = tuple(h + b + e for h, b, e in zip(x.shape[2:], a.pads_begin, a.pads_end))
        if any(o < 1 for o in out):
            raise ValueError(f"pads {a.pads_begin}/{a.pads_end} crop an axis to nothing")
        return [TensorSpec(x.shape[:2] + out, x.dtype)]

    def run(self, a, xs, p):
        return [pad_crop(xs[0], a.pads_begin, a.pads_end, a.value)]

    def to_onnx(self, layer, em, ins, outs):
        a = layer.attrs
        em.pad(ins[0], outs[0], [0, 0, *a.pads_begin, 0, 0, *a.pads_end], value=a.value,
               name=layer.name)
