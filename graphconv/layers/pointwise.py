"""Elementwise activations of current frameworks: Clip (ReLU6), HardSigmoid, HardSwish, Erf,
Gelu and Mish, with ONNX's definitions.

Overlapping types, and how they differ:

- Clip vs ReLU: ReLU is ``max(x, 0)`` (leaky with a slope); Clip bounds both sides (ReLU6 is
  ``Clip(0, 6)``), either bound may be absent.
- HardSigmoid vs HardSwish: HardSwish is ``x * HardSigmoid(x)`` with alpha 1/6, beta 1/2.
- Gelu vs Erf: Gelu is ``x/2 (1 + erf(x / sqrt 2))`` (or its tanh approximation) as one layer;
  Erf is the bare error function, what older exporters write Gelu with.

Each ``to_onnx`` writes the ONNX op where the opset has it (HardSwish from 14, Mish from 18,
Gelu from 20) and its definition in older ops below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..registry import LayerType, register


def _scalar(em, name: str, value: float) -> str:
    return em.const(name, np.float32(value), np.float32)


# ---- Clip ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipAttrs:
    """``y = min(max(x, min), max)``; a bound of None is absent. With ``min > max`` every output
    is ``max`` (the lower bound is applied first, as ONNX and numpy do)."""

    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        for key in ("min", "max"):
            value = getattr(self, key)
            if value is not None:
                value = float(value)
                if math.isnan(value):
                    raise ValueError(f"Clip {key} is NaN")
            object.__setattr__(self, key, value)


def _clip(x: np.ndarray, a: ClipAttrs, out: np.ndarray | None = None) -> np.ndarray:
    y = x if out is None else out
    if a.min is not None:
        y = np.maximum(x, np.float32(a.min), out=out)
        x = y
    if a.max is not None:
        y = np.minimum(x, np.float32(a.max), out=out)
    return y


@register
class Clip(LayerType):
    type = "Clip"
    Attrs = ClipAttrs
    fresh_output = True

    def infer(self, a, ins):
        return [ins[0]]

    def run(self, a, xs, p):
        y = _clip(xs[0], a)
        return [np.array(y, dtype=np.float32, copy=y is xs[0])]

    def epilogue(self, a, p, x):
        return lambda block, ch: _clip(block, a, out=block)

    def to_onnx(self, layer, em, ins, outs):
        a, name = layer.attrs, layer.name
        args = [ins[0]]
        args.append("" if a.min is None else _scalar(em, f"{name}.min", a.min))
        if a.max is not None:
            args.append(_scalar(em, f"{name}.max", a.max))
        em.node("Clip", args, list(outs), name=name)


# ---- HardSigmoid, HardSwish ---------------------------------------------------------------------


@dataclass(frozen=True)
class HardSigmoidAttrs:
    """``y = max(0, min(1, alpha * x + beta))`` (ONNX defaults alpha 0.2, beta 0.5)."""

    alpha: float = 0.2
    beta: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", float(self.alpha))
        object.__setattr__(self, "beta", float(self.beta))


def _hard_sigmoid(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    y = x * np.float32(alpha)
    y += np.float32(beta)
    np.clip(y, np.float32(0), np.float32(1), out=y)
    return y


@register
class HardSigmoid(LayerType):
    type = "HardSigmoid"
    Attrs = HardSigmoidAttrs

    def infer(self, a, ins):
        return [ins[0]]

    def run(self, a, xs, p):
        return [_hard_sigmoid(xs[0], a.alpha, a.beta)]

    def to_onnx(self, layer, em, ins, outs):
        a = layer.attrs
        em.node("HardSigmoid", list(ins), list(outs), name=layer.name, alpha=a.alpha, beta=a.beta)


@dataclass(frozen=True)
class HardSwishAttrs:
    """``y = x * max(0, min(1, x / 6 + 1/2))`` (MobileNetV3's h-swish)."""


@register
class HardSwish(LayerType):
    type = "HardSwish"
    Attrs = HardSwishAttrs

    def infer(self, a, ins):
        return [ins[0]]

    def run(self, a, xs, p):
        y = _hard_sigmoid(xs[0], 1.0 / 6.0, 0.5)
        y *= xs[0]
        return [y]

    def to_onnx(self, layer, em, ins, outs):
        if em.opset >= 14:
            em.node("HardSwish", list(ins), list(outs), name=layer.name)
            return
        gate = em.tmp(f"{layer.name}/gate")
        em.node("HardSigmoid", list(ins), [gate], name=f"{layer.name}/gate", alpha=1.0 / 6.0)
        em.node("Mul", [ins[0], gate], list(outs), name=layer.name)


# ---- Erf, Gelu ----------------------------------------------------------------------------------

# erf(x) = 2/sqrt(pi) sum_n (-1)^n x^(2n+1) / (n! (2n+1)): in float64 the 48 terms reach 1e-17
# relative for |x| < 3 (the largest term, near n = 9, is about 170: about 1e-14 is lost to
# cancellation, far below float32's 6e-8).
_TAYLOR = np.array(
    [(-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(48)], dtype=np.float64
) * (2.0 / math.sqrt(math.pi))
_TAYLOR_BELOW = 3.0


def erf(x: np.ndarray) -> np.ndarray:
    """The error function elementwise, computed in float64 and returned as float32.

    ``|x| < 3``: its Maclaurin series. Beyond: ``1 - erfc(|x|)`` with erfc's continued fraction
    ``e^-x^2 / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...))))``, 40 levels (at
    x = 3, erfc = 2.2e-5 and the fraction's error is far below 1e-12).
    """
    x64 = np.asarray(x, dtype=np.float64)
    ax = np.abs(x64)
    out = np.empty_like(x64)
    small = ax < _TAYLOR_BELOW
    if small.any():
        s = x64[small]
        s2 = s * s
        acc = np.full_like(s, _TAYLOR[-1])
        for c in _TAYLOR[-2::-1]:
            acc *= s2
            acc += c
        out[small] = acc * s
    large = ~small
    if large.any():
        z = np.minimum(ax[large], 27.0)  # erfc(27) underflows float64: erf is 1 beyond
        frac = z.copy()
        for k in range(40, 0, -1):
            frac = z + (k / 2.0) / frac
        erfc = np.exp(-z * z) / math.sqrt(math.pi) / frac
        out[large] = np.copysign(1.0 - erfc, x64[large])
    out[np.isnan(x64)] = np.nan
    return out.astype(np.float32)


@dataclass(frozen=True)
class ErfAttrs:
    """``y = erf(x) = 2/sqrt(pi) * integral_0^x e^(-t^2) dt``."""


@register
class Erf(LayerType):
    type = "Erf"
    Attrs = ErfAttrs

    def infer(self, a, ins):
        return [ins[0]]

    def run(self, a, xs, p):
        return [erf(xs[0])]

    def to_onnx(self, layer, em, ins, outs):
        em.node("Erf", list(ins), list(outs), name=layer.name)


GELU_APPROXIMATIONS = ("none", "tanh")


@dataclass(frozen=True)
class GeluAttrs:
    """``approximate="none"``: ``y = x/2 (1 + erf(x / sqrt 2))``; ``"tanh"``:
    ``y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""

    approximate: str = "none"

    def __post_init__(self) -> None:
        if self.approximate not in GELU_APPROXIMATIONS:
            raise ValueError(
                f"Gelu approximate must be one of {GELU_APPROXIMATIONS}, got '{self.approximate}'"
            )


def gelu(x: np.ndarray, approximate: str) -> np.ndarray:
    x64 = np.asarray(x, dtype=np.float64)
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x64 + 0.044715 * x64**3)
        return (0.5 * x64 * (1.0 + np.tanh(inner))).astype(np.float32)
    return (0.5 * x64 * (1.0 + erf(x64 / math.sqrt(2.0)).astype(np.float64))).astype(np.float32)


@register
class Gelu(LayerType):
    type = "Gelu"
    Attrs = GeluAttrs

    def infer(self, a, ins):
        return [ins[0]]

    def run(self, a, xs, p):
        return [gelu(xs[0], a.approximate)]

    def to_onnx(self, layer, em, ins, outs):
        name, x = layer.name, ins[0]
        if em.opset >= 20:
            em.node("Gelu", [x], list(outs), name=name, approximate=layer.attrs.approximate)
            return

        def step(op, args, what):
            out = em.tmp(f"{name}/{what}")
            em.node(op, args, [out], name=f"{name}/{what}")
            return out

        if layer.attrs.approximate == "tanh":
            cube = step("Mul", [step("Mul", [x, x], "square"), x], "cube")
            inner = step("Mul", [cube, _scalar(em, f"{name}.c", 0.044715)], "scaled_cube")
            inner = step("Add", [x, inner], "sum")
            inner = step("Mul", [inner, _scalar(em, f"{name}.k", math.sqrt(2 / math.pi))], "arg")
            s = step("Tanh", [inner], "tanh")
        else:
            s = step("Erf", [step("Mul", [x, _scalar(em, f"{name}.k", 0.5**0.5)], "arg")], "erf")
        s = step("Add", [s, _scalar(em, f"{name}.one", 1.0)], "gate")
        half = step("Mul", [x, _scalar(em, f"{name}.half", 0.5)], "half")
        em.node("Mul", [half, s], list(outs), name=name)


# ---- Mish ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MishAttrs:
    """``y = x * tanh(softplus(x))``, ``softplus(x) = log(1 + e^x)``."""


@register
class Mish(LayerType):
    type = "Mish"
    Attrs = MishAttrs

    def infer(self, a, ins):
        return [ins[0]]

    def run(self, a, xs, p):
        x = xs[0]
        return [(x * np.tanh(np.logaddexp(np.float32(0), x))).astype(np.float32)]

    def to_onnx(self, layer, em, ins, outs):
        name = layer.name
        if em.opset >= 18:
            em.node("Mish", list(ins), list(outs), name=name)
            return
        soft, tanh = em.tmp(f"{name}/softplus"), em.tmp(f"{name}/tanh")
        em.node("Softplus", list(ins), [soft], name=f"{name}/softplus")
        em.node("Tanh", [soft], [tanh], name=f"{name}/tanh")
        em.node("Mul", [ins[0], tanh], list(outs), name=name)
