"""Elementwise combination of several inputs of identical shape: Caffe's Eltwise.

``SUM``  ``y = sum_i coeff[i] * x[i]`` (coefficients default to 1; ``1, -1`` subtracts)
``PROD`` ``y = prod_i x[i]``
``MAX``  ``y = max_i x[i]``
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import TensorSpec
from ..kernels.epilogue import channel_blocks, channel_view
from ..kernels.threads import parallel_map
from .base import LayerType, register

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
            raise ValueError(f"Eltwise operation must be one of {', '.join(ELTWISE_OPERATIONS)}, "
                             f"got '{self.operation}'")
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
            raise ValueError("Eltwise inputs must have identical shapes, got "
                             + ", ".join(str(x) for x in ins))
        if a.coeff and len(a.coeff) != len(ins):
            raise ValueError(f"Eltwise takes one coefficient per input: {len(a.coeff)} "
                             f"coefficients for {len(ins)} inputs")
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
            em.node("Mul", [x, em.const(f"{layer.name}.coeff{i}", np.float32(c))], [t],
                    name=f"{layer.name}/scale{i}")
            terms.append(t)
        em.node("Sum", terms, list(outs), name=layer.name)
