"""pad-to-conv: a zero Pad (or crop) as a depthwise convolution with a one-hot kernel.

Pattern, per spatial axis with pad ``pb``/``pe`` (negative: a crop)::

    Pad(pb, pe, value 0) on C channels
      -> Convolution(kernel k = 1 + max(0, -pb) + max(0, -pe), one-hot at tap max(0, -pb),
                     pads max(0, pb) / max(0, pe), group C, no bias)

Output ``o`` is padded-input sample ``o + max(0, -pb)``, i.e. ``x[o - pb]`` or zero: the Pad's
definition. Length ``H + max(0,pb) + max(0,pe) - (k - 1) = H + pb + pe``. For targets that run
convolutions but no Pad or Slice (a positive Pad followed by a convolution is better folded into
its pads). Exact for finite inputs (bit-equal: ``1 * x`` plus zeros times the neighbours); a
non-finite neighbour makes ``0 * inf`` NaN where the crop would have dropped it. Pads with
another value are left with a note. Cost: ``prod(k)`` multiply-adds per output sample.
"""

from __future__ import annotations

import numpy as np

from graphconv.layers import ConvAttrs

from ._registry import register
from ._rewrite import Skip, Step, rewrite


def _rule(layer, ctx):
    if layer.type != "Pad":
        return None
    a = layer.attrs
    if a.value != 0.0:
        return Skip(f"pads with {a.value:g}: a convolution's padding is zeros")
    c = ctx.spec(layer.inputs[0]).shape[1]
    kernel = tuple(1 + max(0, -b) + max(0, -e) for b, e in zip(a.pads_begin, a.pads_end))
    weight = np.zeros((c, 1, *kernel), np.float32)
    weight[(slice(None), 0, *(max(0, -b) for b in a.pads_begin))] = 1.0
    conv = ConvAttrs(
        num_output=c,
        kernel=kernel,
        pads_begin=tuple(max(0, b) for b in a.pads_begin),
        pads_end=tuple(max(0, e) for e in a.pads_end),
        group=c,
        bias=False,
    )
    return ctx.chain(layer, [Step("Convolution", conv, {"weight": weight}, suffix="conv")])


@register("pad-to-conv")
def pad_to_conv(graph):
    """Zero Pad / crop -> depthwise Convolution with a one-hot kernel and the positive pads."""
    return rewrite(graph, _rule, "pad-to-conv")
