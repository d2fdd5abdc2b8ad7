"""batchnorm-to-affine: a standalone BatchNorm or Scale as an element-wise Mul and Add.

Pattern::

    BatchNorm(stored mean m, variance v, eps [, scale g, bias b])   on channel axis 1
      [-> Scale (one input, per channel: s [, t]), when it is the BatchNorm's only reader]
      -> ConstantBinary(mul, M[1, C, 1...]) -> ConstantBinary(add, T[1, C, 1...])
    M = g / sqrt(v + eps) [* s],  T = (b - m * g / sqrt(v + eps)) [* s + t]   (float64, rounded)

    Scale(one input, scale S over axes [axis, axis + num_axes) [, bias B])
      -> ConstantBinary(mul, S) [-> ConstantBinary(add, B)]     (the constants broadcast as Scale's)

ONNX: BatchNormalization becomes Mul + Add with per-channel constants. ``form=conv`` writes the
per-channel map as a depthwise 1x1 Convolution instead (weight M, bias T: ``x*M + T``), for
targets that run convolutions but no Mul; a Scale that is not one factor per channel (or an
input without spatial axes) is then left with a note.

Exact: a Scale is bit-exact (the same two float32 operations in the same order). A BatchNorm is
the same map in real arithmetic; the constants are computed in float64 and rounded once, where
the layer itself computes ``(x - m) / sqrt(v + eps)`` in float32, so the two differ by float
rounding (a few ulp of the output; the site check uses a tolerance and says so). A BatchNorm
with batch statistics (computed from the input) is no fixed map: it is left in place with a note.
Two-input Scales (a tensor times a tensor) are left alone.

Cost: two multiply-adds per element at most, the same as the layers replaced.
"""

from __future__ import annotations

import numpy as np

from graphconv.affine import compose
from graphconv.errors import UsageError
from graphconv.layers import ConvAttrs
from graphconv.layers.elementwise import ConstantBinaryAttrs
from graphconv.layers.norm import _scale_bshape

from ._registry import register
from ._rewrite import Skip, Step, rewrite


def _steps(mult: np.ndarray, shift: np.ndarray | None, shape: tuple[int, ...]) -> list[Step]:
    steps = [
        Step(
            "ConstantBinary",
            ConstantBinaryAttrs("mul", constant_shape=shape),
            {"constant": np.asarray(mult, np.float32).reshape(shape)},
            suffix="mul",
        )
    ]
    if shift is not None:
        steps.append(
            Step(
                "ConstantBinary",
                ConstantBinaryAttrs("add", constant_shape=shape),
                {"constant": np.asarray(shift, np.float32).reshape(shape)},
                suffix="add",
            )
        )
    return steps


def _conv_steps(mult: np.ndarray, shift: np.ndarray, x) -> list[Step]:
    c, n = x.shape[1], x.rank - 2
    conv = ConvAttrs(num_output=c, kernel=(1,) * n, group=c, bias=True)
    params = {
        "weight": np.asarray(mult, np.float32).reshape((c, 1) + (1,) * n),
        "bias": np.asarray(shift, np.float32).reshape(c),
    }
    return [Step("Convolution", conv, params, suffix="conv")]


def _rule(layer, ctx):
    """The rule with the default form (mul-add)."""
    return _lower(layer, ctx, "mul-add")


def _lower(layer, ctx, form: str):
    if layer.type not in ("Scale", "BatchNorm"):
        return None
    x = ctx.spec(layer.inputs[0])
    if form == "conv" and x.rank < 3:
        return Skip(f"form=conv needs spatial axes, the input is {x}")
    if layer.type == "Scale":
        if len(layer.inputs) != 1:
            return None
        bias = layer.params["bias"] if layer.attrs.bias else None
        if form == "conv":
            m = layer.definition.affine(layer.attrs, layer.params, x)
            if m is None:
                return Skip("form=conv: the scale is not one factor per channel")
            c = x.shape[1]
            mult, shift = np.broadcast_to(m[0], (c,)), np.broadcast_to(m[1], (c,))
            return ctx.chain(layer, _conv_steps(mult, shift, x))
        shape = _scale_bshape(layer.attrs, x.shape)
        return ctx.chain(layer, _steps(layer.params["scale"], bias, shape))
    a = layer.attrs
    if a.statistics != "stored":
        return Skip("batch statistics are computed from the input: no fixed per-channel map")
    m = layer.definition.affine(a, layer.params, x)
    out = layer
    nxt = ctx.sole_consumer(layer.outputs[0])
    if nxt is not None and nxt.type == "Scale" and len(nxt.inputs) == 1:
        then = nxt.definition.affine(nxt.attrs, nxt.params, x)
        if then is not None:
            m = compose(m, then)
            ctx.absorb(nxt)
            out = layer.replace(outputs=nxt.outputs)
    shape = (1, x.shape[1]) + (1,) * (x.rank - 2)
    mult, shift = np.broadcast_to(m[0], (x.shape[1],)), np.broadcast_to(m[1], (x.shape[1],))
    if form == "conv":
        return ctx.chain(out, _conv_steps(mult, shift, x))
    return ctx.chain(out, _steps(mult, shift, shape))


@register("batchnorm-to-affine")
def batchnorm_to_affine(graph, form: str = "mul-add"):
    """BatchNorm (stored statistics) [+ Scale] and Scale -> per-channel Mul + Add.

    ``form=conv``: a depthwise 1x1 Convolution with the same weights and bias instead."""
    if form not in ("mul-add", "conv"):
        raise UsageError(f"batchnorm-to-affine: form={form} is not one of mul-add, conv")
    if form == "mul-add":
        return rewrite(graph, _rule, "batchnorm-to-affine")
    return rewrite(graph, lambda layer, ctx: _lower(layer, ctx, form), "batchnorm-to-affine")
