"""deconv-to-conv: a transposed convolution as zero-insertion, padding and an ordinary convolution.

Pattern::

    Deconvolution(W[C, O/g, k...], stride s, dilation d, pads pb/pe, output_padding op, group g)
      -> ZeroInsert(s)                                  s-1 zeros between samples: s(H-1)+1
      -> Pad(low = d(k-1) - pb, high = d(k-1) - pe + op)   negative amounts crop
      -> Convolution(W', stride 1, dilation d, group g, same bias)
    W'[g*O_g + o, c, t] = W[g*C_g + c, o, k-1-t]         (flip_and_swap_groups)

Exact for every stride, pad (also pads beyond d(k-1), which crop), dilation, group and
output_padding, in 1-D, 2-D and 3-D: each output sample sums the same products; only the float
summation order differs. ZeroInsert is left out when s == 1 and Pad when all amounts are 0.

Cost: the convolution also multiplies the inserted zeros, so its MACs are about prod(s) times the
direct deconvolution's (``deconv-to-subpixel`` avoids that).
"""

from __future__ import annotations

import numpy as np

from graphconv.geometry import deconv_as_conv_pads
from graphconv.layers import ConvAttrs, PadAttrs, ZeroInsertAttrs

from ._registry import register
from ._rewrite import Step, rewrite


def flip_and_swap_groups(w: np.ndarray, group: int) -> np.ndarray:
    """Deconvolution weights [C, O/g, k...] -> convolution weights [O, C/g, k...], flipped."""
    c, og, *k = w.shape
    n = len(k)
    per_group = w.reshape(group, c // group, og, *k).swapaxes(1, 2)
    flipped = np.flip(per_group, axis=tuple(range(3, 3 + n)))
    return np.ascontiguousarray(flipped.reshape(group * og, c // group, *k))


def _rule(layer, ctx):
    if layer.type != "Deconvolution":
        return None
    a = layer.attrs
    steps = []
    if any(s > 1 for s in a.stride):
        steps.append(Step("ZeroInsert", ZeroInsertAttrs(a.stride), suffix="zero_insert"))
    pads = [
        deconv_as_conv_pads(k, d, pb, pe, op)
        for k, d, pb, pe, op in zip(
            a.kernel, a.dilation, a.pads_begin, a.pads_end, a.output_padding
        )
    ]
    low, high = tuple(p[0] for p in pads), tuple(p[1] for p in pads)
    if any(low) or any(high):
        steps.append(Step("Pad", PadAttrs(low, high), suffix="pad"))
    params = {"weight": flip_and_swap_groups(layer.params["weight"], a.group)}
    if a.bias:
        params["bias"] = layer.params["bias"]
    conv = ConvAttrs(
        num_output=a.num_output,
        kernel=a.kernel,
        stride=1,
        dilation=a.dilation,
        group=a.group,
        bias=a.bias,
    )
    steps.append(Step("Convolution", conv, params, suffix="conv"))
    return ctx.chain(layer, steps)


@register("deconv-to-conv")
def deconv_to_conv(graph):
    """Deconvolution -> ZeroInsert -> Pad -> Convolution with flipped, group-swapped weights."""
    return rewrite(graph, _rule, "deconv-to-conv")
