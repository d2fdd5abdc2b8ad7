"""explicit-pad:max=P: pads beyond P as an explicit Pad layer.

Pattern, per side whose pad ``p`` exceeds P::

    Convolution(pads pb, pe)    ->  Pad(pb - min(pb, P), pe - min(pe, P))   zeros, as the conv pads
                                    -> Convolution(pads min(pb, P), min(pe, P))
    Deconvolution(pads pb, pe)  ->  Deconvolution(pads min(pb, P), min(pe, P))
                                    -> Pad(-(pb - min(pb, P)), -(pe - min(pe, P)))  a crop

A convolution's pads are zeros around the input, so moving them into a Pad changes nothing; a
transposed convolution's pads crop its output (output ``i`` is sample ``i + pb`` of the full
result), so the excess becomes a crop after it. Exact (bit-equal: the same products and sums).
Cost: the Pad copies the input (or output) once; no MACs change. Pooling is left alone (its
padding is not zeros: MAX ignores it and AVE's divisor counts it, Caffe's rounding depends on
it): such layers are left with a note.
"""

from __future__ import annotations

import dataclasses

from graphconv.errors import UsageError
from graphconv.layers import PadAttrs

from ._registry import register
from ._rewrite import Skip, Step, rewrite


def _rule_for(limit: int):
    def rule(layer, ctx):
        if layer.type == "Pooling" and any(p > limit for p in layer.attrs.pad):
            return Skip(
                f"pooling pad {layer.attrs.pad} above {limit}: not zeros (MAX ignores it, AVE "
                "counts it, Caffe's rounding depends on it)"
            )
        if layer.type not in ("Convolution", "Deconvolution"):
            return None
        a = layer.attrs
        if all(p <= limit for p in a.pads_begin + a.pads_end):
            return None
        kept_b = tuple(min(p, limit) for p in a.pads_begin)
        kept_e = tuple(min(p, limit) for p in a.pads_end)
        extra_b = tuple(p - k for p, k in zip(a.pads_begin, kept_b))
        extra_e = tuple(p - k for p, k in zip(a.pads_end, kept_e))
        same = Step(
            layer.type,
            dataclasses.replace(a, pads_begin=kept_b, pads_end=kept_e),
            dict(layer.params),
            suffix=layer.type.lower(),
        )
        if layer.type == "Convolution":
            return ctx.chain(layer, [Step("Pad", PadAttrs(extra_b, extra_e), suffix="pad"), same])
        crop = PadAttrs(tuple(-v for v in extra_b), tuple(-v for v in extra_e))
        return ctx.chain(layer, [same, Step("Pad", crop, suffix="crop")])

    return rule


@register("explicit-pad")
def explicit_pad(graph, max: int = 0):
    """Convolution / Deconvolution pads above ``max`` -> an explicit Pad (or crop) layer."""
    if max < 0:
        raise UsageError(f"explicit-pad: max={max} must be >= 0")
    return rewrite(graph, _rule_for(max), "explicit-pad")
