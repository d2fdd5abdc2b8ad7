"""ONNX rules: BatchNormalization (inference), LRN."""

from __future__ import annotations

from ....layers.norm import BatchNormAttrs, LRNAttrs
from ._common import Translator, Unsupported, _f32, onnx_rule


@onnx_rule("BatchNormalization")
def batch_norm(t: Translator, node) -> None:
    x = t.data(0)
    if t.attr("training_mode", 0) or any(o in t.used for o in node.output[1:]):
        raise Unsupported("training mode (batch statistics, running-stat outputs) is not supported")
    if t.opset < 7 and t.attr("spatial", 1) == 0:
        raise Unsupported("spatial=0 (per-activation statistics) is not supported")
    names = ("scale", "bias", "mean", "variance")
    p = {k: _f32(t.const(node.input[i + 1], f"the {k}")).reshape(-1) for i, k in enumerate(names)}
    t.add(
        "BatchNorm",
        [x],
        BatchNormAttrs(eps=t.attr("epsilon", 1e-5), affine=True),
        p,
        output=t.out(),
    )


@onnx_rule("LRN")
def lrn(t: Translator, node) -> None:
    x = t.data(0)
    size = t.attr("size")
    if size % 2 == 0:
        raise Unsupported(
            f"even size {size}: the window is not centred (graphconv LRN needs an odd size)"
        )
    if len(t.shape(x)) != 4:
        raise Unsupported("LRN needs a rank-4 input")
    attrs = LRNAttrs(
        local_size=size,
        alpha=t.attr("alpha", 1e-4),
        beta=t.attr("beta", 0.75),
        k=t.attr("bias", 1.0),
    )
    t.add("LRN", [x], attrs, output=t.out())
