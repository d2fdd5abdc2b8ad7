"""Elementwise activations."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import LayerType, register


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

    def infer(self, a, ins):
        return [ins[0]]

    def run(self, a, xs, p):
        x = xs[0]
        if a.negative_slope == 0.0:
            return [np.maximum(x, 0, dtype=np.float32)]
        return [np.where(x > 0, x, x * np.float32(a.negative_slope)).astype(np.float32)]

    def to_onnx(self, layer, em, ins, outs):
        s = layer.attrs.negative_slope
        if s == 0.0:
            em.node("Relu", list(ins), list(outs), name=layer.name)
        else:
            em.node("LeakyRelu", list(ins), list(outs), name=layer.name, alpha=s)
