"""Caffe rules: Upsample (nearest; max-unpooling), Interp."""

from __future__ import annotations

from ....layers import UpsampleAttrs
from . import Spec, rule


@rule("Upsample")
def upsample(lp, ins):
    if len(lp.bottom) != 1:
        raise ValueError("Upsample with two bottoms (max-unpooling with a mask) is not supported "
                         "yet; only one-bottom nearest Upsample")
    p = lp.upsample_param
    n = ins[0].rank - 2
    if p.HasField("scale_h") or p.HasField("scale_w"):
        if n != 2:
            raise ValueError("scale_h/scale_w need a 2-D input")
        scale = (p.scale_h or p.scale, p.scale_w or p.scale)
    else:
        scale = (p.scale,) * n
    return Spec("Upsample", UpsampleAttrs(scale))
