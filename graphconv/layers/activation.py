"""Activations: ReLU (leaky), PReLU, Sigmoid, TanH, Power, Softmax, Dropout (the identity at
inference), Identity, and Unary (ONNX's other elementwise functions).

Overlapping types, and how they differ:

- Dropout vs Identity: both copy their input at inference; Dropout is Caffe's (with a ratio kept
  for the record), Identity ONNX's.
- Softmax vs Unary log_softmax: Softmax is Caffe's softmax along ``axis``; Unary log_softmax is
  ONNX's LogSoftmax (its logarithm, computed stably).
- ReLU / Sigmoid / TanH vs Unary: Unary holds the functions Caffe has no layer for (abs, exp,
  elu, selu, softplus, ...); it never duplicates one of the named types.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir import TensorSpec
from ..kernels.epilogue import per_channel
from ..registry import LayerType, register
from .base import PassThrough


@dataclass(frozen=True)
class ReLUAttrs:
    """Caffe ReLU: ``max(x, 0) + negative_slope * min(x, 0)`` (leaky when the slope is non-zero)."""

    negative_slope: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "negative_slope", float(self.negative_slope))


@register
class ReLU(LayerType):
    type = "ReLU"
    Attrs = ReLUAttrs
    fresh_output = True

    def infer(self, a, ins):
        return [ins[0]]

    def run(self, a, xs, p):
        x = xs[0]
        if a.negative_slope == 0.0:
            return [np.maximum(x, 0, dtype=np.float32)]
        return [np.where(x > 0, x, x * np.float32(a.negative_slope)).astype(np.float32)]

    def epilogue(self, a, p, x):
        # (masked ufuncs, out=... where=..., run about 10x slower than these)
        if a.negative_slope == 0.0:
            return lambda block, ch: np.maximum(block, np.float32(0), out=block)
        slope = np.float32(a.negative_slope)
        if 0.0 < slope < 1.0:  # max(x, slope x) is exactly Caffe's value
            return lambda block, ch: np.maximum(block, block * slope, out=block)
        return _add_negative_part(per_channel(np.float32(a.negative_slope)))

    def to_onnx(self, layer, em, ins, outs):
        s = layer.attrs.negative_slope
        if s == 0.0:
            em.node("Relu", list(ins), list(outs), name=layer.name)
        else:
            em.node("LeakyRelu", list(ins), list(outs), name=layer.name, alpha=s)


def _fractional(slope: np.ndarray) -> bool:
    """Every slope in (0, 1]: then ``max(x, slope x)`` is exactly Caffe's ``max(x, 0) +
    slope min(x, 0)`` (``slope x`` is below ``x`` for x > 0 and above it for x < 0)."""
    return bool(np.all((slope > 0) & (slope <= 1)))


def _add_negative_part(slope):
    """In place ``x + (slope[c] - 1) * min(x, 0)``: ``slope * x`` below zero, ``x`` above."""

    def apply(block: np.ndarray, ch: slice) -> None:
        neg = np.minimum(block, np.float32(0))
        neg *= slope(ch) - np.float32(1)
        block += neg

    return apply


@dataclass(frozen=True)
class NoAttrs:
    """The attributes of a layer type that has none."""


@dataclass(frozen=True)
class PReLUAttrs:
    """Caffe PReLU: ``max(x, 0) + slope[c] * min(x, 0)`` with one learned slope per channel
    (axis 1), or a single slope for every channel when ``channel_shared``."""

    channel_shared: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_shared", bool(self.channel_shared))


@register
class PReLU(LayerType):
    type = "PReLU"
    Attrs = PReLUAttrs
    fresh_output = True

    def infer(self, a, ins):
        if ins[0].rank < 2:
            raise ValueError(f"PReLU needs an input of rank >= 2 (N, C, ...), got shape {ins[0]}")
        return [ins[0]]

    def param_shapes(self, a, ins):
        return {"slope": (1,) if a.channel_shared else (ins[0].shape[1],)}

    def init_params(self, a, ins, rng):
        """Seeded slopes ~ U(0, 0.5) (Caffe's default is the constant 0.25)."""
        return {
            "slope": rng.uniform(0.0, 0.5, self.param_shapes(a, ins)["slope"]).astype(np.float32)
        }

    def run(self, a, xs, p):
        x = xs[0]
        slope = p["slope"].reshape((-1,) + (1,) * (x.ndim - 2))
        if _fractional(p["slope"]):
            return [np.maximum(x, x * slope)]
        y = np.minimum(x, np.float32(0))
        y *= slope
        y += np.maximum(x, np.float32(0))
        return [y]

    def epilogue(self, a, p, x):
        slope = per_channel(p["slope"])
        if _fractional(p["slope"]):  # two passes instead of three
            return lambda block, ch: np.maximum(block, block * slope(ch), out=block)
        return _add_negative_part(slope)

    def to_onnx(self, layer, em, ins, outs):
        rank = em.spec(ins[0]).rank
        slope = layer.params["slope"]
        if not layer.attrs.channel_shared:  # (C, 1, ...): broadcast over channels, not width
            slope = slope.reshape((-1,) + (1,) * (rank - 2))
        em.node(
            "PRelu",
            [ins[0], em.initializer(f"{layer.name}.slope", slope)],
            list(outs),
            name=layer.name,
        )


@register
class Sigmoid(LayerType):
    type = "Sigmoid"
    Attrs = NoAttrs

    def infer(self, a, ins):
        return [ins[0]]

    def run(self, a, xs, p):
        with np.errstate(over="ignore"):  # exp(-x) = inf gives 1 / inf = 0, as it should
            e = np.exp(-xs[0])
        e += 1
        return [np.reciprocal(e, out=e)]

    def to_onnx(self, layer, em, ins, outs):
        em.node("Sigmoid", list(ins), list(outs), name=layer.name)


@register
class TanH(LayerType):
    type = "TanH"
    Attrs = NoAttrs

    def infer(self, a, ins):
        return [ins[0]]

    def run(self, a, xs, p):
        return [np.tanh(xs[0]).astype(np.float32)]

    def to_onnx(self, layer, em, ins, outs):
        em.node("Tanh", list(ins), list(outs), name=layer.name)


@dataclass(frozen=True)
class PowerAttrs:
    """Caffe Power: ``y = (shift + scale * x) ^ power``. When ``power * scale == 0`` the input is
    ignored, as in Caffe: every output is 1 if ``power == 0``, else ``shift ^ power``."""

    power: float = 1.0
    scale: float = 1.0
    shift: float = 0.0

    def __post_init__(self) -> None:
        for key in ("power", "scale", "shift"):
            value = float(getattr(self, key))
            if not math.isfinite(value):
                raise ValueError(f"{key} must be finite, got {value}")
            object.__setattr__(self, key, value)

    @property
    def constant(self) -> float | None:
        """The value of every output when the input does not matter, else None."""
        if self.power * self.scale != 0:
            return None
        if self.power == 0:
            return 1.0
        with np.errstate(all="ignore"):
            return float(np.power(np.float32(self.shift), np.float32(self.power)))


@register
class Power(LayerType):
    type = "Power"
    Attrs = PowerAttrs

    def infer(self, a, ins):
        return [ins[0]]

    def run(self, a, xs, p):
        x = xs[0]
        if a.constant is not None:
            return [np.full(x.shape, a.constant, dtype=np.float32)]
        y = x
        if a.scale != 1:
            y = y * np.float32(a.scale)
        if a.shift != 0:
            y = y + np.float32(a.shift)
        if a.power != 1:
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                y = np.power(y, np.float32(a.power))
        return [np.array(y, dtype=np.float32)]

    def to_onnx(self, layer, em, ins, outs):
        a, name = layer.attrs, layer.name
        if a.constant is not None:
            from onnx import numpy_helper  # here: importing onnx costs start-up time

            shape = em.const(f"{name}.shape", list(em.spec(ins[0]).shape), np.int64)
            em.node(
                "ConstantOfShape",
                [shape],
                list(outs),
                name=name,
                value=numpy_helper.from_array(np.array([a.constant], np.float32)),
            )
            return
        steps = [
            (op, value)
            for op, value, skip in (
                ("Mul", a.scale, a.scale == 1),
                ("Add", a.shift, a.shift == 0),
                ("Pow", a.power, a.power == 1),
            )
            if not skip
        ]
        if not steps:
            em.node("Identity", list(ins), list(outs), name=name)
            return
        cur = ins[0]
        for i, (op, value) in enumerate(steps):
            out = outs[0] if i == len(steps) - 1 else em.tmp(f"{name}/{op.lower()}")
            em.node(
                op,
                [cur, em.const(f"{name}.{op.lower()}", np.float32(value), np.float32)],
                [out],
                name=f"{name}/{op.lower()}",
            )
            cur = out


@dataclass(frozen=True)
class SoftmaxAttrs:
    """Softmax over one axis (may be negative, counted from the end)."""

    axis: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "axis", int(self.axis))


def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} is out of range for a rank-{rank} input")
    return axis % rank


@register
class Softmax(LayerType):
    type = "Softmax"
    Attrs = SoftmaxAttrs

    def infer(self, a, ins):
        _axis(a.axis, ins[0].rank)
        return [ins[0]]

    def run(self, a, xs, p):
        x = xs[0]
        axis = _axis(a.axis, x.ndim)
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return [(e / e.sum(axis=axis, keepdims=True)).astype(np.float32)]

    def to_onnx(self, layer, em, ins, outs):
        # opset >= 13: Softmax normalises along the one given axis (older opsets flattened)
        em.node(
            "Softmax",
            list(ins),
            list(outs),
            name=layer.name,
            axis=_axis(layer.attrs.axis, em.spec(ins[0]).rank),
        )


@dataclass(frozen=True)
class DropoutAttrs:
    """Dropout; at inference the identity. ``ratio`` (the training drop probability) is kept
    for information only."""

    ratio: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "ratio", float(self.ratio))
        if not 0.0 <= self.ratio < 1.0:
            raise ValueError(f"dropout ratio must be in [0, 1), got {self.ratio}")


@register
class Dropout(PassThrough):
    type = "Dropout"
    Attrs = DropoutAttrs


# ---- Identity ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdentityAttrs:
    """The attributes of Identity (none): ``y = x``."""


@register
class Identity(PassThrough):
    type = "Identity"
    Attrs = IdentityAttrs


# ---- Unary: elementwise functions with at most two constants -------------------------------------


def _log_softmax(x, a):
    shifted = x - x.max(axis=a.axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=a.axis, keepdims=True))


def _selu(x, a):
    return np.float32(a.gamma) * np.where(x > 0, x, np.float32(a.alpha) * np.expm1(x))


UNARY_FUNCTIONS = {
    # name: (ONNX op, ONNX attributes from the attrs, NumPy definition)
    "abs": ("Abs", lambda a: {}, lambda x, a: np.abs(x)),
    "neg": ("Neg", lambda a: {}, lambda x, a: np.negative(x)),
    "exp": ("Exp", lambda a: {}, lambda x, a: np.exp(x)),
    "log": ("Log", lambda a: {}, lambda x, a: np.log(x)),
    "sqrt": ("Sqrt", lambda a: {}, lambda x, a: np.sqrt(x)),
    "reciprocal": ("Reciprocal", lambda a: {}, lambda x, a: np.reciprocal(x)),
    "elu": (
        "Elu",
        lambda a: {"alpha": a.alpha},
        lambda x, a: np.where(x > 0, x, np.float32(a.alpha) * np.expm1(x)),
    ),
    "selu": ("Selu", lambda a: {"alpha": a.alpha, "gamma": a.gamma}, _selu),
    "softplus": ("Softplus", lambda a: {}, lambda x, a: np.logaddexp(np.float32(0), x)),
    "softsign": ("Softsign", lambda a: {}, lambda x, a: x / (1 + np.abs(x))),
    "log_softmax": ("LogSoftmax", lambda a: {"axis": a.axis}, _log_softmax),
}


@dataclass(frozen=True)
class UnaryAttrs:
    """``y = function(x)`` elementwise, for ``function`` in: abs, neg, exp, log, sqrt,
    reciprocal, elu (``alpha (e^x - 1)`` for ``x <= 0``), selu (``gamma`` times elu with
    ``alpha``), softplus (``log(1 + e^x)``), softsign (``x / (1 + |x|)``) and log_softmax
    (``x - log(sum(e^x))`` along ``axis``). ``alpha`` and ``gamma`` default to ONNX's Selu
    constants; Elu's alpha is given explicitly (ONNX default 1)."""

    function: str
    alpha: float = 1.67326319217681884765625
    gamma: float = 1.05070102214813232421875
    axis: int = -1

    def __post_init__(self) -> None:
        fn = str(self.function).lower()
        if fn not in UNARY_FUNCTIONS:
            raise ValueError(
                f"function must be one of {', '.join(UNARY_FUNCTIONS)}, got '{self.function}'"
            )
        object.__setattr__(self, "function", fn)
        object.__setattr__(self, "alpha", float(self.alpha))
        object.__setattr__(self, "gamma", float(self.gamma))
        object.__setattr__(self, "axis", int(self.axis))


@register
class Unary(LayerType):
    type = "Unary"
    Attrs = UnaryAttrs

    def infer(self, a, ins):
        x = ins[0]
        if a.function == "log_softmax" and not -x.rank <= a.axis < x.rank:
            raise ValueError(f"axis {a.axis} is out of range for the input {x}")
        return [TensorSpec(x.shape, x.dtype)]

    def run(self, a, xs, p):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            y = UNARY_FUNCTIONS[a.function][2](xs[0].astype(np.float32), a)
        return [np.ascontiguousarray(y, dtype=np.float32)]

    def to_onnx(self, layer, em, ins, outs):
        op, attrs, _ = UNARY_FUNCTIONS[layer.attrs.function]
        em.node(op, list(ins), list(outs), name=layer.name, **attrs(layer.attrs))
