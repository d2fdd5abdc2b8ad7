"""Caffe rules: Eltwise."""

from __future__ import annotations

from ....layers.elementwise import EltwiseAttrs
from ._table import Spec, rule


@rule("Eltwise", v1="ELTWISE")
def eltwise(lp, ins):
    """SUM (with per-bottom ``coeff``), PROD or MAX. As in Caffe, coefficients are an error with
    PROD and ignored with MAX."""
    p = lp.eltwise_param
    op = type(p).EltwiseOp.Name(p.operation)
    coeff = tuple(p.coeff)
    if coeff and len(coeff) != len(lp.bottom):
        raise ValueError(
            f"Eltwise takes one coefficient per bottom: {len(coeff)} coeff values "
            f"for {len(lp.bottom)} bottoms"
        )
    if coeff and op == "PROD":
        raise ValueError("Eltwise coefficients apply to SUM only (Caffe rejects them with PROD)")
    return Spec("Eltwise", EltwiseAttrs(op, coeff if op == "SUM" else ()))
