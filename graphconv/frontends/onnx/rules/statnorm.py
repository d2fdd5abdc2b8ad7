"""ONNX rules: InstanceNormalization, GroupNormalization, LayerNormalization."""

from __future__ import annotations

import numpy as np

from ....layers.activation import UnaryAttrs
from ....layers.elementwise import BinaryAttrs, ConstantBinaryAttrs, EltwiseAttrs
from ....layers.reduce import ReduceAttrs
from ....layers.statnorm import GroupNormAttrs, InstanceNormAttrs, LayerNormAttrs
from ._common import Translator, Unsupported, _axis, _f32, onnx_rule


def _vector(t: Translator, index: int, what: str, n: int) -> np.ndarray:
    v = _f32(t.const(t.node.input[index], what)).reshape(-1)
    if v.size == 1:
        return np.full(n, v[0], np.float32)
    if v.size != n:
        raise Unsupported(f"{what} has {v.size} values, expected {n}")
    return v


@onnx_rule("InstanceNormalization")
def instance_norm(t: Translator, node) -> None:
    x = t.data(0)
    shape = t.shape(x)
    if len(shape) < 3:
        raise Unsupported(f"input of shape {shape} (rank 3 or more expected)")
    c = shape[1]
    p = {"scale": _vector(t, 1, "the scale", c), "bias": _vector(t, 2, "the bias", c)}
    t.add("InstanceNorm", [x], InstanceNormAttrs(eps=t.attr("epsilon", 1e-5)), p, output=t.out())


@onnx_rule("GroupNormalization")
def group_norm(t: Translator, node) -> None:
    """Opsets 18-20 give scale and bias per group (each repeated over its channels), 21 per
    channel."""
    x = t.data(0)
    shape = t.shape(x)
    if len(shape) < 3:
        raise Unsupported(f"input of shape {shape} (rank 3 or more expected)")
    c, groups = shape[1], int(t.attr("num_groups"))
    if groups < 1 or c % groups:
        raise Unsupported(f"num_groups {groups} does not divide {c} channels")
    if t.opset >= 21:
        p = {k: _vector(t, i + 1, f"the {k}", c) for i, k in enumerate(("scale", "bias"))}
    else:
        p = {
            k: np.repeat(_vector(t, i + 1, f"the {k}", groups), c // groups)
            for i, k in enumerate(("scale", "bias"))
        }
    attrs = GroupNormAttrs(groups=groups, eps=t.attr("epsilon", 1e-5))
    t.add("GroupNorm", [x], attrs, p, output=t.out())


@onnx_rule("LayerNormalization")
def layer_norm(t: Translator, node) -> None:
    """The optional Mean and InvStdDev outputs (statistics with the normalised axes kept as 1s)
    are computed by their own Reduce, Binary and Unary layers."""
    x = t.data(0)
    shape = t.shape(x)
    axis = _axis(t.attr("axis", -1), len(shape))
    trailing = shape[axis:]
    scale = _f32(t.const(node.input[1], "the scale"))
    bias = t.optional_const(2, "the bias")
    bias = np.zeros(trailing, np.float32) if bias is None else _f32(bias)
    p = {}
    for key, value in (("scale", scale), ("bias", bias)):
        try:
            p[key] = np.ascontiguousarray(np.broadcast_to(value, trailing))
        except ValueError:
            raise Unsupported(
                f"the {key} of shape {value.shape} does not broadcast to the normalised "
                f"axes {trailing}"
            ) from None
    attrs = LayerNormAttrs(axis=axis, eps=t.attr("epsilon", 1e-5))
    t.add("LayerNorm", [x], attrs, p, output=t.out())
    outs = list(node.output) + ["", ""]
    mean_out, inv_out = (o if o and o in t.used else None for o in outs[1:3])
    if mean_out is None and inv_out is None:
        return
    axes = tuple(range(axis, len(shape)))
    mean = t.add("Reduce", [x], ReduceAttrs("mean", axes), output=mean_out, suffix="/mean")
    if inv_out is None:
        return
    centred = t.add("Binary", [x, mean], BinaryAttrs("sub"), suffix="/centred")
    square = t.add("Eltwise", [centred, centred], EltwiseAttrs("PROD"), suffix="/square")
    var = t.add("Reduce", [square], ReduceAttrs("mean", axes), suffix="/var")
    eps = np.full((1,), attrs.eps, np.float32)
    shifted = t.add(
        "ConstantBinary",
        [var],
        ConstantBinaryAttrs("add", constant_shape=(1,)),
        {"constant": eps},
        suffix="/var_eps",
    )
    std = t.add("Unary", [shifted], UnaryAttrs("sqrt"), suffix="/std")
    t.add("Unary", [std], UnaryAttrs("reciprocal"), output=inv_out, suffix="/inv_std")
