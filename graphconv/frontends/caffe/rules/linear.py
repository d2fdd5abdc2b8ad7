"""Caffe rules: InnerProduct."""

from __future__ import annotations

import math

from ....layers.linear import InnerProductAttrs
from ._table import Spec, _filler, rule


@rule("InnerProduct", v1="INNER_PRODUCT")
def inner_product(lp, ins):
    """Blobs ``[weight, bias]``. The weight is ``(num_output, K)``, or ``(K, num_output)`` with
    ``transpose: true``, which is transposed here so the IR always holds ``(num_output, K)``."""
    p = lp.inner_product_param
    if not p.HasField("num_output"):
        raise ValueError("inner_product_param.num_output is required")
    rank = ins[0].rank
    if not -rank <= p.axis < rank:
        raise ValueError(
            f"inner_product_param.axis {p.axis} is out of range for a rank-{rank} input"
        )
    axis = p.axis % rank
    k = math.prod(ins[0].shape[axis:])
    blobs = [("weight", _filler(p, "weight_filler"))]
    if p.bias_term:
        blobs.append(("bias", _filler(p, "bias_filler")))
    attrs = InnerProductAttrs(num_output=p.num_output, bias=p.bias_term, axis=axis)
    if not p.transpose:
        return Spec("InnerProduct", attrs, blobs)

    def finish(raw: dict) -> dict:
        return {**raw, "weight": raw["weight"].T}

    return Spec(
        "InnerProduct", attrs, blobs, blob_shapes={"weight": (k, p.num_output)}, finish=finish
    )
