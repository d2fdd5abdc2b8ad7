"""An example graphconv plugin: a custom activation, ``SquarePlus``.

    y = (x + sqrt(x^2 + b)) / 2        (a smooth ReLU; b > 0, default 4)

Caffe knows it as its own layer type ``SquarePlus`` (no caffe.proto has a parameter message for
it, so ``b`` keeps its default) and as a Python layer
``python_param { module: "my_layers" layer: "SquarePlusLayer" param_str: "{'b': 1.0}" }``.
Use it with::

    graphconv --plugin examples/squareplus_plugin.py validate net.prototxt

The class follows the protocol of graphconv's own layer types (graphconv/registry.py): an attrs
dataclass, the shape rule ``infer``, the NumPy kernel ``run`` and the ONNX emission ``to_onnx``
(here a composition of standard ops), plus ``from_caffe`` for the Caffe attributes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import numpy as np

import graphconv


@dataclass(frozen=True)
class SquarePlusAttrs:
    b: float = 4.0

    def __post_init__(self) -> None:
        if not self.b > 0:
            raise ValueError(f"SquarePlus b must be positive, got {self.b}")


class SquarePlus(graphconv.LayerType):
    type = "SquarePlus"
    Attrs = SquarePlusAttrs

    def infer(self, a, ins):
        return [ins[0]]

    def run(self, a, xs, p):
        x = xs[0]
        return [((x + np.sqrt(x * x + np.float32(a.b))) * np.float32(0.5)).astype(np.float32)]

    def to_onnx(self, layer, em, ins, outs):
        a, name = layer.attrs, layer.name
        square, shifted, root, total = (
            em.tmp(f"{name}/{t}") for t in ("square", "shifted", "root", "total")
        )
        em.node("Mul", [ins[0], ins[0]], [square], name=f"{name}/square")
        em.node(
            "Add", [square, em.const(f"{name}.b", np.float32(a.b))], [shifted], name=f"{name}/shift"
        )
        em.node("Sqrt", [shifted], [root], name=f"{name}/root")
        em.node("Add", [ins[0], root], [total], name=f"{name}/total")
        em.node(
            "Mul",
            [total, em.const(f"{name}.half", np.float32(0.5))],
            list(outs),
            name=f"{name}/half",
        )

    def macs(self, a, ins, outs):
        return 2 * outs[0].size

    def from_caffe(self, lp, ins):
        """A Python layer's ``param_str`` is a Python dict literal; a SquarePlus layer has none."""
        text = lp.python_param.param_str if lp.type == "Python" else ""
        values = ast.literal_eval(text) if text.strip() else {}
        return SquarePlusAttrs(**{k: float(v) for k, v in values.items()})


graphconv.register_layer(
    SquarePlus, caffe_types=["SquarePlus"], python_layers=["my_layers.SquarePlusLayer"]
)
