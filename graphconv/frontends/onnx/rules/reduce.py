"""ONNX rules: ReduceMean, ReduceMax, ReduceMin, ReduceSum, ReduceProd, ReduceL1, ReduceL2,
ReduceSumSquare, ReduceLogSum, ReduceLogSumExp, ArgMax, ArgMin."""

from __future__ import annotations

import numpy as np

from ....layers.activation import IdentityAttrs
from ....layers.reduce import ArgExtremeAttrs, ReduceAttrs
from ._common import Translator, Unsupported, _axis, onnx_rule

_REDUCE = {
    "ReduceMean": "mean",
    "ReduceMax": "max",
    "ReduceMin": "min",
    "ReduceSum": "sum",
    "ReduceProd": "prod",
    "ReduceL1": "l1",
    "ReduceL2": "l2",
    "ReduceSumSquare": "sum_square",
    "ReduceLogSum": "log_sum",
    "ReduceLogSumExp": "log_sum_exp",
}


@onnx_rule(*_REDUCE)
def reduce(t: Translator, node) -> None:
    """Axes from the attribute (before opset 18; ReduceSum before 13) or the optional second
    input; no axes means every axis, or the identity with ``noop_with_empty_axes``."""
    x = t.data(0)
    rank = len(t.shape(x))
    as_input = t.opset >= (13 if node.op_type == "ReduceSum" else 18)
    if as_input:
        axes = t.optional_const(1, "the axes")
        axes = [] if axes is None else [int(v) for v in np.asarray(axes).reshape(-1)]
    else:
        axes = [int(v) for v in t.attr("axes", [])]
    if not axes and as_input and t.attr("noop_with_empty_axes", 0):
        t.add("Identity", [x], IdentityAttrs(), output=t.out())
        return
    axes = tuple(_axis(a, rank) for a in axes)
    attrs = ReduceAttrs(_REDUCE[node.op_type], axes=axes, keepdims=bool(t.attr("keepdims", 1)))
    t.add("Reduce", [x], attrs, output=t.out())


@onnx_rule("ArgMax", "ArgMin")
def arg_extreme(t: Translator, node) -> None:
    """Indices as float32 (graphconv's element type); a consumer needing int64 is refused."""
    x = t.data(0)
    if t.attr("select_last_index", 0) and t.opset < 12:
        raise Unsupported("select_last_index before opset 12")
    attrs = ArgExtremeAttrs(
        mode="max" if node.op_type == "ArgMax" else "min",
        axis=_axis(t.attr("axis", 0), len(t.shape(x))),
        keepdims=bool(t.attr("keepdims", 1)),
        select_last_index=bool(t.attr("select_last_index", 0)),
    )
    t.add("ArgExtreme", [x], attrs, output=t.out())
