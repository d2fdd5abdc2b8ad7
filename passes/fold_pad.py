"""fold-pad: a zero Pad in front of a convolution becomes the convolution's own padding.

Pattern::

    Pad(pads_begin pb, pads_end pe, value 0)  ->  Convolution(pads_begin cb, pads_end ce)
      ==>  Convolution(pads_begin cb + pb, pads_end ce + pe)

Exact and bit-identical: a convolution's padding is zero padding, so both sides multiply the
same samples by the same weights in the same order. Applies only when the Pad is the
convolution's only producer of its input, has that one consumer (and is no graph output), pads
with zeros and does not crop (every amount >= 0). Used by the ``legalize`` planner for targets
without a Pad op (the phase convolutions of ``deconv-to-subpixel`` start with one).

Cost: removes the Pad's copy; the convolution's MACs are unchanged.
"""

from __future__ import annotations

import dataclasses

from ._registry import register
from ._rewrite import rewrite


def _rule(layer, ctx):
    if layer.type != "Pad":
        return None
    a = layer.attrs
    conv = ctx.sole_consumer(layer.outputs[0])
    if conv is None or conv.type != "Convolution" or conv.inputs[0] != layer.outputs[0]:
        return None
    if a.value != 0.0 or min(a.pads_begin + a.pads_end) < 0:
        return None
    c = conv.attrs
    if len(a.pads_begin) != c.rank:
        return None
    attrs = dataclasses.replace(
        c,
        pads_begin=tuple(p + q for p, q in zip(c.pads_begin, a.pads_begin)),
        pads_end=tuple(p + q for p, q in zip(c.pads_end, a.pads_end)),
    )
    ctx.absorb(conv)
    return [conv.replace(inputs=(layer.inputs[0],), attrs=attrs)]


@register("fold-pad")
def fold_pad(graph):
    """Zero Pad -> Convolution: the pads become the convolution's own."""
    return rewrite(graph, _rule, "fold-pad")
