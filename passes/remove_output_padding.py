"""remove-output-padding: a transposed convolution with output_padding as one without.

A Deconvolution's output sample ``i`` is sample ``i + pb`` of the full, uncropped transposed
convolution (length ``s(H-1) + d(k-1) + 1``, bias added everywhere); ``pe`` and ``op`` only set
the length, ``s(H-1) + d(k-1) + 1 - pb - pe + op``. So, per axis::

    pe >= op:  Deconvolution(pb, pe, op) -> Deconvolution(pb, pe - op, 0)          (asymmetric pads)
    pe <  op:  Deconvolution(pb, pe, op) -> Deconvolution(pb, 0, 0, no bias)
                 -> Pad(end op - pe)    the samples past the full length, which no tap reaches
                 -> ConstantBinary(add, bias)                          (when the layer has one)

Exact: the same products and sums for every sample (bit-equal on integers); the samples past
the full length are the bias alone in both. Cost: unchanged, plus one addition per output
sample when the Pad is needed and the layer has a bias.
"""

from __future__ import annotations

from graphconv.geometry import deconv_full_size
from graphconv.layers import DeconvAttrs, PadAttrs
from graphconv.layers.elementwise import ConstantBinaryAttrs

from ._registry import register
from ._rewrite import Skip, Step, rewrite


def _rule(layer, ctx):
    if layer.type != "Deconvolution" or not any(layer.attrs.output_padding):
        return None
    a = layer.attrs
    n = a.rank
    extra = tuple(max(0, op - pe) for op, pe in zip(a.output_padding, a.pads_end))
    pads_end = tuple(max(0, pe - op) for op, pe in zip(a.output_padding, a.pads_end))
    x = ctx.spec(layer.inputs[0])
    for h, k, s, d, pb in zip(x.shape[2:], a.kernel, a.stride, a.dilation, a.pads_begin):
        if pb >= deconv_full_size(h, k, s, d):
            return Skip(f"pads_begin {pb} crop the whole transposed convolution: bias only")
    fields = {f: getattr(a, f) for f in ("num_output", "kernel", "stride", "dilation", "group")}
    if not any(extra):
        attrs = DeconvAttrs(**fields, pads_begin=a.pads_begin, pads_end=pads_end, bias=a.bias)
        return ctx.chain(layer, [Step("Deconvolution", attrs, dict(layer.params), "deconv")])
    attrs = DeconvAttrs(**fields, pads_begin=a.pads_begin, pads_end=pads_end, bias=False)
    steps = [
        Step("Deconvolution", attrs, {"weight": layer.params["weight"]}, "deconv"),
        Step("Pad", PadAttrs((0,) * n, extra), suffix="output_padding"),
    ]
    if a.bias:
        shape = (1, a.num_output) + (1,) * n
        steps.append(
            Step(
                "ConstantBinary",
                ConstantBinaryAttrs("add", constant_shape=shape),
                {"constant": layer.params["bias"].reshape(shape)},
                "bias",
            )
        )
    return ctx.chain(layer, steps)


@register("remove-output-padding")
def remove_output_padding(graph):
    """Deconvolution with output_padding -> asymmetric end pads, or a Pad and the bias."""
    return rewrite(graph, _rule, "remove-output-padding")
