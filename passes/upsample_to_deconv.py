"""upsample-to-deconv: nearest upsampling as a fixed-weight transposed convolution.

Pattern::

    Upsample(nearest, factors f...) on C channels
      -> Deconvolution(num_output C, kernel f, stride f, group C, weights ones(C, 1, f...), no bias)

Bit-exact: every output sample is 1.0 * one input sample (a sum with a single non-zero term), so
no rounding happens. Non-overlapping kernels (kernel == stride) tile the output exactly.

Cost: prod(f) MACs per input sample, i.e. one per output sample (a copy becomes a multiply).
Max-unpooling (``MaxUnpool``) is left in place: where values land depends on the pooling mask,
which no fixed-weight deconvolution expresses. ``Resize`` (linear, or nearest with other than
integer factors and floor rounding; ONNX's simple nearest Resize imports as ``Upsample``) and
Caffe's ``Interp`` are left in place too, with a note (``bilinear-to-deconv`` lowers linear
resizing by integer factors).
"""

from __future__ import annotations

import numpy as np

from graphconv.layers import DeconvAttrs

from ._registry import register
from ._rewrite import Skip, Step, rewrite


def _rule(layer, ctx):
    if layer.type == "MaxUnpool":
        return Skip(
            "max-unpooling places values by the pooling mask, which no fixed-weight "
            "deconvolution expresses"
        )
    if layer.type in ("Resize", "Interp"):
        return Skip(
            "not nearest upsampling by integer factors with floor rounding (linear resizing "
            "by integer factors: bilinear-to-deconv)"
        )
    if layer.type != "Upsample":
        return None
    f = layer.attrs.scale
    c = ctx.spec(layer.inputs[0]).shape[1]
    attrs = DeconvAttrs(num_output=c, kernel=f, stride=f, group=c, bias=False)
    weight = np.ones((c, 1, *f), dtype=np.float32)
    return ctx.chain(layer, [Step("Deconvolution", attrs, {"weight": weight}, suffix="deconv")])


@register("upsample-to-deconv")
def upsample_to_deconv(graph):
    """Nearest Upsample -> Deconvolution with kernel = stride = factor and all-ones weights."""
    return rewrite(graph, _rule, "upsample-to-deconv")
