"""Normalisation by the input's own statistics: InstanceNorm, GroupNorm, LayerNorm.

Each centres and scales the input by the mean and (biased) variance of a set of its entries,
``(x - mean) / sqrt(var + eps)``, then applies a learned affine map:

- InstanceNorm: per sample and channel, over the spatial axes; scale and bias per channel.
- GroupNorm: per sample and group of ``C / groups`` consecutive channels, over those channels
  and the spatial axes; scale and bias per channel (InstanceNorm is GroupNorm with one channel
  per group; LayerNorm over axes 1.. is GroupNorm with one group, but with a per-element affine).
- LayerNorm: per slice of the axes before ``axis``, over the axes from ``axis``; scale and bias
  shaped like those trailing axes.

Statistics are accumulated in float64, so the result is the exact one rounded to float32 up to
a few ulps, whatever the order of the sums.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..registry import LayerType, register
from .base import canonical_axis


def _normalise(x: np.ndarray, rows: int, eps: float) -> np.ndarray:
    """``x`` seen as ``rows`` rows, each centred and scaled by its own statistics (float64)."""
    v = np.asarray(x, dtype=np.float64).reshape(rows, -1)
    centred = v - v.mean(axis=1, keepdims=True)
    var = np.mean(np.square(centred), axis=1, keepdims=True)
    return (centred / np.sqrt(var + eps)).reshape(x.shape)


def _check_eps(eps: float) -> float:
    eps = float(eps)
    if not (math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite number >= 0, got {eps}")
    return eps


def _channels(x, what: str) -> int:
    if x.rank < 3:
        raise ValueError(f"{what} needs an input of rank >= 3 (N, C, spatial...), got shape {x}")
    return x.shape[1]


def _per_channel(y: np.ndarray, p) -> np.ndarray:
    shape = (-1,) + (1,) * (y.ndim - 2)
    y = y * p["scale"].reshape(shape).astype(np.float64) + p["bias"].reshape(shape)
    return np.ascontiguousarray(y, dtype=np.float32)


def _affine_init(shape, rng) -> dict[str, np.ndarray]:
    """Seeded scale ~ U(0.5, 1.5) and bias ~ N(0, 0.1) (not the identity's 1 and 0)."""
    return {
        "scale": rng.uniform(0.5, 1.5, shape).astype(np.float32),
        "bias": (0.1 * rng.standard_normal(shape)).astype(np.float32),
    }


def _scale_shift(em, x: str, out: str, layer, shape: tuple[int, ...]) -> None:
    """``out = x * scale + bias`` with the layer's parameters reshaped to ``shape``."""
    name = layer.name
    scaled = em.tmp(f"{name}/scaled")
    scale = em.initializer(f"{name}.scale", layer.params["scale"].reshape(shape))
    em.node("Mul", [x, scale], [scaled], name=f"{name}/scale")
    bias = em.initializer(f"{name}.bias", layer.params["bias"].reshape(shape))
    em.node("Add", [scaled, bias], [out], name=f"{name}/bias")


# ---- InstanceNorm -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceNormAttrs:
    """``y = (x - mean) / sqrt(var + eps) * scale[c] + bias[c]``, statistics per sample and
    channel over the spatial axes (ONNX InstanceNormalization)."""

    eps: float = 1e-5

    def __post_init__(self) -> None:
        object.__setattr__(self, "eps", _check_eps(self.eps))


@register
class InstanceNorm(LayerType):
    type = "InstanceNorm"
    Attrs = InstanceNormAttrs

    def infer(self, a, ins):
        _channels(ins[0], "InstanceNorm")
        return [ins[0]]

    def param_shapes(self, a, ins):
        c = _channels(ins[0], "InstanceNorm")
        return {"scale": (c,), "bias": (c,)}

    def init_params(self, a, ins, rng):
        return _affine_init((_channels(ins[0], "InstanceNorm"),), rng)

    def run(self, a, xs, p):
        x = xs[0]
        return [_per_channel(_normalise(x, x.shape[0] * x.shape[1], a.eps), p)]

    def to_onnx(self, layer, em, ins, outs):
        name = layer.name
        args = [ins[0]] + [
            em.initializer(f"{name}.{k}", layer.params[k]) for k in ("scale", "bias")
        ]
        em.node("InstanceNormalization", args, list(outs), name=name, epsilon=layer.attrs.eps)

    def macs(self, a, ins, outs):
        return 4 * ins[0].size


# ---- GroupNorm ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupNormAttrs:
    """``y = (x - mean) / sqrt(var + eps) * scale[c] + bias[c]``, statistics per sample and group
    of ``C / groups`` consecutive channels, over those channels and the spatial axes (PyTorch's
    GroupNorm; ONNX GroupNormalization from opset 21)."""

    groups: int
    eps: float = 1e-5

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", int(self.groups))
        object.__setattr__(self, "eps", _check_eps(self.eps))
        if self.groups < 1:
            raise ValueError(f"GroupNorm groups must be >= 1, got {self.groups}")


@register
class GroupNorm(LayerType):
    type = "GroupNorm"
    Attrs = GroupNormAttrs

    def infer(self, a, ins):
        c = _channels(ins[0], "GroupNorm")
        if c % a.groups:
            raise ValueError(f"GroupNorm groups {a.groups} does not divide {c} channels")
        return [ins[0]]

    def param_shapes(self, a, ins):
        c = _channels(ins[0], "GroupNorm")
        return {"scale": (c,), "bias": (c,)}

    def init_params(self, a, ins, rng):
        return _affine_init((_channels(ins[0], "GroupNorm"),), rng)

    def run(self, a, xs, p):
        x = xs[0]
        return [_per_channel(_normalise(x, x.shape[0] * a.groups, a.eps), p)]

    def to_onnx(self, layer, em, ins, outs):
        a, name = layer.attrs, layer.name
        x = em.spec(ins[0])
        c = x.shape[1]
        # always the decomposition: onnx's shape inference has no rule for GroupNormalization-21
        # (a function op), which the export's strict check needs, and 18-20 hold the affine
        # per group, not per channel
        # (N, G, C/G * spatial) normalised by InstanceNormalization, then the per-channel affine
        grouped = em.reshape(ins[0], (x.shape[0], a.groups, -1), f"{name}/grouped")
        normed = em.tmp(f"{name}/normed")
        ones = em.const(f"{name}.ones", np.ones(a.groups, np.float32))
        zeros = em.const(f"{name}.zeros", np.zeros(a.groups, np.float32))
        em.node(
            "InstanceNormalization",
            [grouped, ones, zeros],
            [normed],
            name=f"{name}/norm",
            epsilon=a.eps,
        )
        back = em.reshape(normed, x.shape, f"{name}/ungrouped")
        _scale_shift(em, back, outs[0], layer, (c,) + (1,) * (x.rank - 2))

    def macs(self, a, ins, outs):
        return 4 * ins[0].size


# ---- LayerNorm ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerNormAttrs:
    """``y = (x - mean) / sqrt(var + eps) * scale + bias``, statistics over the axes from ``axis``
    on (one set per index of the axes before it); scale and bias are shaped like those trailing
    axes (ONNX LayerNormalization, PyTorch's LayerNorm)."""

    axis: int = -1
    eps: float = 1e-5

    def __post_init__(self) -> None:
        object.__setattr__(self, "axis", int(self.axis))
        object.__setattr__(self, "eps", _check_eps(self.eps))


@register
class LayerNorm(LayerType):
    type = "LayerNorm"
    Attrs = LayerNormAttrs

    def infer(self, a, ins):
        canonical_axis(a.axis, ins[0].rank, "LayerNorm axis")
        return [ins[0]]

    def param_shapes(self, a, ins):
        x = ins[0]
        trailing = x.shape[canonical_axis(a.axis, x.rank, "LayerNorm axis") :]
        return {"scale": trailing, "bias": trailing}

    def init_params(self, a, ins, rng):
        return _affine_init(self.param_shapes(a, ins)["scale"], rng)

    def run(self, a, xs, p):
        x = xs[0]
        ax = canonical_axis(a.axis, x.ndim)
        y = _normalise(x, math.prod(x.shape[:ax]), a.eps)
        y = y * p["scale"].astype(np.float64) + p["bias"]
        return [np.ascontiguousarray(y, dtype=np.float32)]

    def to_onnx(self, layer, em, ins, outs):
        a, name = layer.attrs, layer.name
        rank = em.spec(ins[0]).rank
        ax = canonical_axis(a.axis, rank)
        if em.opset >= 17:
            args = [ins[0]] + [
                em.initializer(f"{name}.{k}", layer.params[k]) for k in ("scale", "bias")
            ]
            em.node("LayerNormalization", args, list(outs), name=name, axis=ax, epsilon=a.eps)
            return
        axes = list(range(ax, rank))

        def step(op, args, what, **kw):
            out = em.tmp(f"{name}/{what}")
            em.node(op, args, [out], name=f"{name}/{what}", **kw)
            return out

        mean = step("ReduceMean", [ins[0]], "mean", axes=axes, keepdims=1)
        centred = step("Sub", [ins[0], mean], "centred")
        var = step("ReduceMean", [step("Mul", [centred, centred], "square")], "var", axes=axes)
        eps = em.const(f"{name}.eps", np.float32(a.eps), np.float32)
        std = step("Sqrt", [step("Add", [var, eps], "var_eps")], "std")
        normed = step("Div", [centred, std], "normed")
        _scale_shift(em, normed, outs[0], layer, layer.params["scale"].shape)

    def macs(self, a, ins, outs):
        return 4 * ins[0].size
