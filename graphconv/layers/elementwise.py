"""Elementwise combination of several inputs: Caffe's Eltwise, and ONNX's Binary and
ConstantBinary.

Caffe's Eltwise, on inputs of identical shape:

``SUM``  ``y = sum_i coeff[i] * x[i]`` (coefficients default to 1; ``1, -1`` subtracts)
``PROD`` ``y = prod_i x[i]``
``MAX``  ``y = max_i x[i]``

Overlapping types, and how they differ:

- Eltwise vs Binary: Eltwise needs identical shapes and has SUM with coefficients, PROD, MAX;
  Binary broadcasts numpy-style and has add, sub, mul, div, max, min, pow (no coefficients).
- Binary vs ConstantBinary: Binary combines computed tensors; ConstantBinary combines one tensor
  with a constant parameter that broadcasts to it, never growing the input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import TensorSpec
from ..kernels.epilogue import channel_blocks, channel_view
from ..kernels.threads import parallel_map
from ..registry import LayerType, register
from .base import as_tuple

ELTWISE_OPERATIONS = ("SUM", "PROD", "MAX")


@dataclass(frozen=True)
class EltwiseAttrs:
    """Caffe ``eltwise_param``: ``operation`` is SUM, PROD or MAX; ``coeff`` (SUM only) holds one
    factor per input, or nothing for all ones."""

    operation: str = "SUM"
    coeff: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        op = str(self.operation).upper()
        if op not in ELTWISE_OPERATIONS:
            raise ValueError(
                f"Eltwise operation must be one of {', '.join(ELTWISE_OPERATIONS)}, "
                f"got '{self.operation}'"
            )
        coeff = tuple(float(c) for c in self.coeff)
        if coeff and op != "SUM":
            raise ValueError(f"Eltwise coefficients apply to SUM only, not {op}")
        object.__setattr__(self, "operation", op)
        object.__setattr__(self, "coeff", coeff)

    def coefficients(self, n: int) -> tuple[float, ...]:
        return self.coeff or (1.0,) * n


def _combine(a: EltwiseAttrs, xs, out: np.ndarray) -> None:
    """``out`` = the Eltwise of ``xs`` (never written: they may be shared)."""
    if a.operation == "SUM":
        coeff = a.coefficients(len(xs))  # Caffe's order: c0 x0 + c1 x1 + c2 x2 ...
        first = coeff[0] == 1.0  # (two inputs at least: the arity says so)
        if not first:
            np.multiply(xs[0], np.float32(coeff[0]), out=out)
        for c, x in zip(coeff[1:], xs[1:]):
            op = np.subtract if c == -1.0 else np.add
            term = x if c in (1.0, -1.0) else np.float32(c) * x
            op(xs[0] if first else out, term, out=out)
            first = False
        return
    combine = np.multiply if a.operation == "PROD" else np.maximum
    combine(xs[0], xs[1], out=out)
    for x in xs[2:]:
        combine(out, x, out=out)


@register
class Eltwise(LayerType):
    type = "Eltwise"
    Attrs = EltwiseAttrs
    arity = (2, None)
    fresh_output = True

    def infer(self, a, ins):
        if any(x.shape != ins[0].shape for x in ins[1:]):
            raise ValueError(
                "Eltwise inputs must have identical shapes, got " + ", ".join(str(x) for x in ins)
            )
        if a.coeff and len(a.coeff) != len(ins):
            raise ValueError(
                f"Eltwise takes one coefficient per input: {len(a.coeff)} "
                f"coefficients for {len(ins)} inputs"
            )
        return [TensorSpec(ins[0].shape, ins[0].dtype)]

    def run(self, a, xs, p):
        out = np.empty(xs[0].shape, dtype=np.float32)
        _combine(a, xs, out)
        return [out]

    def run_then(self, a, xs, p, epilogue):
        # by blocks of channels on the threads (the plan fuses only into rank >= 2 outputs): the
        # epilogue runs while its block is in cache
        out = np.empty(xs[0].shape, dtype=np.float32)

        def block(ch: slice) -> None:
            part = (slice(None), ch)
            _combine(a, [x[part] for x in xs], out[part])
            epilogue(channel_view(out[part]), ch)

        parallel_map(block, channel_blocks(out))
        return [out]

    def to_onnx(self, layer, em, ins, outs):
        a = layer.attrs
        if a.operation == "PROD":
            acc = ins[0]
            for i, x in enumerate(ins[1:], start=1):
                out = outs[0] if i == len(ins) - 1 else em.tmp(f"{layer.name}/prod{i}")
                em.node("Mul", [acc, x], [out], name=f"{layer.name}/prod{i}")
                acc = out
            return
        if a.operation == "MAX":
            em.node("Max", list(ins), list(outs), name=layer.name)
            return
        terms = []
        for i, (c, x) in enumerate(zip(a.coefficients(len(ins)), ins)):
            if c == 1.0:
                terms.append(x)
                continue
            t = em.tmp(f"{layer.name}/scaled{i}")
            em.node(
                "Mul",
                [x, em.const(f"{layer.name}.coeff{i}", np.float32(c))],
                [t],
                name=f"{layer.name}/scale{i}",
            )
            terms.append(t)
        em.node("Sum", terms, list(outs), name=layer.name)


# ---- ConstantBinary: a tensor and a broadcasting constant ----------------------------------------

BINARY_OPERATIONS = {
    "add": ("Add", np.add),
    "sub": ("Sub", np.subtract),
    "mul": ("Mul", np.multiply),
    "div": ("Div", np.divide),
}


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
            raise ValueError(
                f"operation must be one of {', '.join(BINARY_OPERATIONS)}, got '{self.operation}'"
            )
        shape = (
            as_tuple(self.constant_shape, what="constant_shape") if len(self.constant_shape) else ()
        )
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
            raise ValueError(
                f"constant of shape {a.constant_shape} does not broadcast to the input {x}"
            ) from None
        if tuple(out) != x.shape:
            raise ValueError(
                f"constant of shape {a.constant_shape} would grow the input {x} to {tuple(out)}"
            )
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


BROADCAST_OPERATIONS = {
    "add": ("Add", np.add),
    "sub": ("Sub", np.subtract),
    "mul": ("Mul", np.multiply),
    "div": ("Div", np.divide),
    "max": ("Max", np.maximum),
    "min": ("Min", np.minimum),
    "pow": ("Pow", np.power),
}
_VARIADIC = {"add": "Sum", "max": "Max", "min": "Min"}  # ONNX ops taking any number of inputs


@dataclass(frozen=True)
class BinaryAttrs:
    """``y = x0 <operation> x1 [<operation> x2 ...]`` (left to right) with numpy broadcasting:
    the output shape is the broadcast of the input shapes. ``operation``: add, sub, mul, div,
    max, min or pow; only add, mul, max and min take more than two inputs."""

    operation: str

    def __post_init__(self) -> None:
        op = str(self.operation).lower()
        if op not in BROADCAST_OPERATIONS:
            raise ValueError(
                f"operation must be one of {', '.join(BROADCAST_OPERATIONS)}, "
                f"got '{self.operation}'"
            )
        object.__setattr__(self, "operation", op)


@register
class Binary(LayerType):
    type = "Binary"
    Attrs = BinaryAttrs
    arity = (2, None)

    def infer(self, a, ins):
        if len(ins) > 2 and a.operation not in ("add", "mul", "max", "min"):
            raise ValueError(f"operation {a.operation} takes two inputs, got {len(ins)}")
        try:
            shape = np.broadcast_shapes(*(x.shape for x in ins))
        except ValueError:
            raise ValueError(
                "input shapes " + ", ".join(str(x.shape) for x in ins) + " do not broadcast"
            ) from None
        return [TensorSpec(tuple(int(d) for d in shape), ins[0].dtype)]

    def run(self, a, xs, p):
        fn = BROADCAST_OPERATIONS[a.operation][1]
        y = xs[0]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for x in xs[1:]:
                y = fn(y, x, dtype=np.float32)
        return [np.ascontiguousarray(y, dtype=np.float32)]

    def to_onnx(self, layer, em, ins, outs):
        a = layer.attrs
        if len(ins) == 2 or a.operation in _VARIADIC:
            op = BROADCAST_OPERATIONS[a.operation][0] if len(ins) == 2 else _VARIADIC[a.operation]
            em.node(op, list(ins), list(outs), name=layer.name)
            return
        y = ins[0]
        for i, x in enumerate(ins[1:]):
            out = outs[0] if i == len(ins) - 2 else em.tmp(f"{layer.name}/{i}")
            em.node("Mul", [y, x], [out], name=f"{layer.name}/{i}")
            y = out

    def macs(self, a, ins, outs):
        return outs[0].size * (len(ins) - 1)
