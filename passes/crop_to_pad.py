"""crop-to-pad: Caffe's Crop of spatial axes as a Pad with negative amounts.

Pattern::

    Crop(x, reference; axis, offsets)  ->  Pad(pads_begin = -b, pads_end = -(H - b - R))

per cropped spatial axis (``b`` the offset, ``R`` the reference's length, ``H`` the input's);
the reference input is dropped (it only gives the shape). Exact (a copy). Crops that cut the
batch or channel axis are left in place with a note. For targets without Slice: ``pad-to-conv``
then writes the crop as a depthwise convolution with a one-hot kernel.
"""

from __future__ import annotations

from graphconv.layers import PadAttrs

from ._registry import register
from ._rewrite import Skip, Step, rewrite


def _rule(layer, ctx):
    if layer.type != "Crop":
        return None
    x, ref = ctx.spec(layer.inputs[0]), ctx.spec(layer.inputs[1])
    window = layer.definition._window(layer.attrs, x, ref)
    if any(axis < 2 for axis, _, _ in window) or x.rank < 3:
        return Skip("it cuts the batch or channel axis; Pad covers spatial axes only")
    begin, end = [0] * (x.rank - 2), [0] * (x.rank - 2)
    for axis, b, e in window:
        begin[axis - 2], end[axis - 2] = -b, -(x.shape[axis] - e)
    step = Step("Pad", PadAttrs(tuple(begin), tuple(end)), suffix="pad")
    return ctx.chain(layer, [step], inputs=layer.inputs[:1])


@register("crop-to-pad")
def crop_to_pad(graph):
    """Crop of spatial axes -> Pad with negative amounts (the reference input dropped)."""
    return rewrite(graph, _rule, "crop-to-pad")
