"""Fully connected layers: InnerProduct (Caffe's, flattening every axis from ``axis`` on)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..affine import fold_into_weights
from ..ir import TensorSpec
from ..kernels.threads import blas_threads_for
from ..registry import LayerType, register


@dataclass(frozen=True)
class InnerProductAttrs:
    """``y = x' @ weight.T + bias`` where ``x'`` flattens the input's axes from ``axis`` on into
    one axis of ``K`` features; the output shape is ``x.shape[:axis] + (num_output,)``.

    ``weight`` is ``(num_output, K)``; ``bias`` is ``(num_output,)``. ``axis`` may be negative
    (counted from the end).
    """

    num_output: int
    bias: bool = True
    axis: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "num_output", int(self.num_output))
        object.__setattr__(self, "bias", bool(self.bias))
        object.__setattr__(self, "axis", int(self.axis))
        if self.num_output < 1:
            raise ValueError(f"num_output must be >= 1, got {self.num_output}")


def _split(a: InnerProductAttrs, x: TensorSpec) -> tuple[int, int, int]:
    """(axis, M rows, K features) of the flattened input."""
    rank = x.rank
    if not -rank <= a.axis < rank:
        raise ValueError(f"axis {a.axis} is out of range for a rank-{rank} input")
    axis = a.axis % rank
    return axis, math.prod(x.shape[:axis]), math.prod(x.shape[axis:])


@register
class InnerProduct(LayerType):
    type = "InnerProduct"
    Attrs = InnerProductAttrs
    fresh_output = True

    def infer(self, a, ins):
        x = ins[0]
        axis, _, _ = _split(a, x)
        return [TensorSpec(x.shape[:axis] + (a.num_output,), x.dtype)]

    def param_shapes(self, a, ins):
        _, _, k = _split(a, ins[0])
        shapes = {"weight": (a.num_output, k)}
        if a.bias:
            shapes["bias"] = (a.num_output,)
        return shapes

    def run(self, a, xs, p):
        x = xs[0]
        axis, m, k = _split(a, TensorSpec(x.shape))
        with blas_threads_for(m * k * a.num_output):
            y = np.matmul(x.reshape(m, k), p["weight"].T)
        if "bias" in p:  # a.bias, or an affine folded in (fold_affine always gives a bias)
            y += p["bias"]
        return [np.ascontiguousarray(y.reshape(x.shape[:axis] + (a.num_output,)), dtype=np.float32)]

    def fold_affine(self, a, p, affine):
        if a.axis != 1:
            return None  # the output's channel axis 1 is then not the num_output axis
        return fold_into_weights(p, affine.scale64, affine.shift64)

    def to_onnx(self, layer, em, ins, outs):
        a, name = layer.attrs, layer.name
        x = em.spec(ins[0])
        axis, m, _ = _split(a, x)
        flat = ins[0]
        if x.rank != 2 or axis != 1:  # Gemm needs a 2-D (M, K) input
            flat = em.tmp(f"{name}/flat")
            em.node("Flatten", [ins[0]], [flat], name=f"{name}/flatten", axis=axis)
        args = [flat, em.initializer(f"{name}.weight", layer.params["weight"])]
        if a.bias:
            args.append(em.initializer(f"{name}.bias", layer.params["bias"]))
        out_shape = x.shape[:axis] + (a.num_output,)
        if out_shape == (m, a.num_output):
            em.node("Gemm", args, list(outs), name=name, transB=1)
            return
        gemm = em.tmp(f"{name}/gemm")
        em.node("Gemm", args, [gemm], name=name, transB=1)
        em.node(
            "Reshape",
            [gemm, em.const(f"{name}.shape", list(out_shape), np.int64)],
            list(outs),
            name=f"{name}/reshape",
        )

    def macs(self, a, ins, outs):
        _, m, k = _split(a, ins[0])
        return m * k * a.num_output
