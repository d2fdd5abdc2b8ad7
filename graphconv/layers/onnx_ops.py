"""Layer types that ONNX models need and Caffe has no layer for: Identity, and ConstantBinary
(an elementwise Add/Sub/Mul/Div of a tensor with a constant that broadcasts to it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import TensorSpec
from .base import LayerType, as_tuple, register


@dataclass(frozen=True)
class IdentityAttrs:
    """The attributes of Identity (none): ``y = x``."""


@register
class Identity(LayerType):
    type = "Identity"
    Attrs = IdentityAttrs

    def infer(self, a, ins):
        return [ins[0]]

    def run(self, a, xs, p):
        return [xs[0]]

    def to_onnx(self, layer, em, ins, outs):
        em.node("Identity", list(ins), list(outs), name=layer.name)


BINARY_OPERATIONS = {"add": ("Add", np.add), "sub": ("Sub", np.subtract),
                     "mul": ("Mul", np.multiply), "div": ("Div", np.divide)}


@dataclass(frozen=True)
class ConstantBinaryAttrs:
    """``y = x <operation> constant`` (or ``constant <operation> x`` when ``constant_first``),
    the constant (parameter ``constant``, shape ``constant_shape``) broadcasting numpy-style to
    the input's shape; the output has the input's shape. ``operation``: add, sub, mul or div."""

    operation: str
    constant_shape: tuple[int, ...] = ()
    constant_first: bool = False

    def __post_init__(self) -> None:
        op = str(self.operation).lower()
        if op not in BINARY_OPERATIONS:
            raise ValueError(f"operation must be one of {', '.join(BINARY_OPERATIONS)}, "
                             f"got '{self.operation}'")
        shape = as_tuple(self.constant_shape, what="constant_shape") if len(
            self.constant_shape) else ()
        if any(d < 1 for d in shape):
            raise ValueError(f"constant_shape must have positive dims, got {shape}")
        object.__setattr__(self, "operation", op)
        object.__setattr__(self, "constant_shape", shape)
        object.__setattr__(self, "constant_first", bool(self.constant_first))


@register
class ConstantBinary(LayerType):
    type = "ConstantBinary"
    Attrs = ConstantBinaryAttrs

    def infer(self, a, ins):
        x = ins[0]
        try:
            out = np.broadcast_shapes(x.shape, a.constant_shape)
        except ValueError:
            raise ValueError(f"constant of shape {a.constant_shape} does not broadcast to the "
                             f"input {x}") from None
        if tuple(out) != x.shape:
            raise ValueError(f"constant of shape {a.constant_shape} would grow the input {x} "
                             f"to {tuple(out)}")
        return [TensorSpec(x.shape, x.dtype)]

    def param_shapes(self, a, ins):
        return {"constant": a.constant_shape}

    def init_params(self, a, ins, rng):
        """Seeded constants in U(0.5, 1.5) (never near zero, so a division stays finite)."""
        return {"constant": rng.uniform(0.5, 1.5, a.constant_shape).astype(np.float32)}

    def run(self, a, xs, p):
        fn = BINARY_OPERATIONS[a.operation][1]
        args = (p["constant"], xs[0]) if a.constant_first else (xs[0], p["constant"])
        return [np.ascontiguousarray(fn(*args, dtype=np.float32))]

    def to_onnx(self, layer, em, ins, outs):
        a = layer.attrs
        c = em.initializer(f"{layer.name}.constant", layer.params["constant"])
        args = [c, ins[0]] if a.constant_first else [ins[0], c]
        em.node(BINARY_OPERATIONS[a.operation][0], args, list(outs), name=layer.name)

    def macs(self, a, ins, outs):
        return outs[0].size
