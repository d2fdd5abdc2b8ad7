"""Resampling layers: nearest Upsample by integer factors, and ZeroInsert (the deconvolution
lowering's primitive: ``s-1`` zeros between neighbouring samples, ``out = s(H-1)+1``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import TensorSpec
from .base import LayerType, as_tuple, register, spatial_rank_check


def _factors(value, what: str) -> tuple[int, ...]:
    t = as_tuple(value, what=what)
    if not 1 <= len(t) <= 3:
        raise ValueError(f"{what} must give 1 to 3 spatial axes, got {len(t)}")
    if any(v < 1 for v in t):
        raise ValueError(f"{what} must be >= 1 on every axis, got {t}")
    return t


@dataclass(frozen=True)
class UpsampleAttrs:
    """Nearest-neighbour upsampling, ``out = f * in`` per spatial axis (Caffe-fork ``scale``):
    ``y[..., i, j] = x[..., i // fh, j // fw]``."""

    scale: tuple[int, ...]
    mode: str = "nearest"

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", _factors(self.scale, "scale"))
        if self.mode != "nearest":
            raise ValueError(f"Upsample mode '{self.mode}' is not supported (nearest only)")


@dataclass(frozen=True)
class ZeroInsertAttrs:
    stride: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "stride", _factors(self.stride, "stride"))


def nearest_upsample(x: np.ndarray, f: tuple[int, ...]) -> np.ndarray:
    n = len(f)
    lead, sp = x.shape[:2], x.shape[2:]
    expanded = x.reshape(lead + tuple(d for s in sp for d in (s, 1)))
    target = lead + tuple(d for s, k in zip(sp, f) for d in (s, k))
    return np.ascontiguousarray(np.broadcast_to(expanded, target)).reshape(
        lead + tuple(s * k for s, k in zip(sp, f))) if n else x


def zero_insert(x: np.ndarray, s: tuple[int, ...]) -> np.ndarray:
    sp = x.shape[2:]
    out = np.zeros(x.shape[:2] + tuple(st * (h - 1) + 1 for st, h in zip(s, sp)), dtype=x.dtype)
    out[(slice(None), slice(None)) + tuple(slice(None, None, st) for st in s)] = x
    return out


@register
class Upsample(LayerType):
    type = "Upsample"
    Attrs = UpsampleAttrs

    def infer(self, a, ins):
        x = ins[0]
        spatial_rank_check(x, len(a.scale), f"scale {a.scale}")
        return [TensorSpec(x.shape[:2] + tuple(h * f for h, f in zip(x.shape[2:], a.scale)),
                           x.dtype)]

    def run(self, a, xs, p):
        return [nearest_upsample(xs[0], a.scale)]

    def to_onnx(self, layer, em, ins, outs):
        # asymmetric + floor: source index floor(x / f), exact for integer factors
        scales = em.const(f"{layer.name}.scales",
                          np.array([1.0, 1.0, *layer.attrs.scale], dtype=np.float32))
        em.node("Resize", [ins[0], "", scales], outs, name=layer.name, mode="nearest",
                coordinate_transformation_mode="asymmetric", nearest_mode="floor")


@register
class ZeroInsert(LayerType):
    type = "ZeroInsert"
    Attrs = ZeroInsertAttrs

    def infer(self, a, ins):
        x = ins[0]
        spatial_rank_check(x, len(a.stride), f"stride {a.stride}")
        return [TensorSpec(x.shape[:2] + tuple(s * (h - 1) + 1 for s, h in
                                               zip(a.stride, x.shape[2:])), x.dtype)]

    def run(self, a, xs, p):
        return [zero_insert(xs[0], a.stride)]

    def to_onnx(self, layer, em, ins, outs):
        # Reshape to (N, C, H, 1, W, 1), pad the unit axes to s, merge, drop the trailing s-1 zeros.
        x = em.spec(ins[0])
        s = layer.attrs.stride
        lead, sp = x.shape[:2], x.shape[2:]
        split = lead + tuple(d for h in sp for d in (h, 1))
        t1 = em.reshape(ins[0], split, f"{layer.name}/split")
        ends = [0, 0] + [d for st in s for d in (0, st - 1)]
        t2 = em.tmp(f"{layer.name}/spread")
        em.pad(t1, t2, [0] * len(split) + ends, name=f"{layer.name}/spread")
        t3 = em.reshape(t2, lead + tuple(h * st for h, st in zip(sp, s)), f"{layer.name}/merge")
        em.slice(t3, outs[0], starts=[0] * len(sp),
                 ends=[st * (h - 1) + 1 for st, h in zip(s, sp)],
                 axes=list(range(2, 2 + len(sp))), name=f"{layer.name}/trim")
