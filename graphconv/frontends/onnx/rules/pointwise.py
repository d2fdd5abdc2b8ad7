"""ONNX rules: Clip, HardSigmoid, HardSwish, Erf, Gelu, Mish, Cast (float to float)."""

from __future__ import annotations

import numpy as np
import onnx

from ....layers.activation import IdentityAttrs
from ....layers.pointwise import (
    ClipAttrs,
    ErfAttrs,
    GeluAttrs,
    HardSigmoidAttrs,
    HardSwishAttrs,
    MishAttrs,
)
from ._common import Translator, Unsupported, _text, onnx_rule


def _bound(t: Translator, index: int, attr: str) -> float | None:
    if t.opset < 11:
        return t.attr(attr)
    value = t.optional_const(index, f"the {attr} bound")
    if value is None:
        return None
    value = np.asarray(value)
    if value.size != 1:
        raise Unsupported(f"the {attr} bound has shape {value.shape} (a scalar expected)")
    return float(value.reshape(-1)[0])


@onnx_rule("Clip")
def clip(t: Translator, node) -> None:
    attrs = ClipAttrs(min=_bound(t, 1, "min"), max=_bound(t, 2, "max"))
    t.add("Clip", [t.data(0)], attrs, output=t.out())


@onnx_rule("HardSigmoid")
def hard_sigmoid(t: Translator, node) -> None:
    attrs = HardSigmoidAttrs(alpha=t.attr("alpha", 0.2), beta=t.attr("beta", 0.5))
    t.add("HardSigmoid", [t.data(0)], attrs, output=t.out())


@onnx_rule("HardSwish")
def hard_swish(t: Translator, node) -> None:
    t.add("HardSwish", [t.data(0)], HardSwishAttrs(), output=t.out())


@onnx_rule("Erf")
def erf(t: Translator, node) -> None:
    t.add("Erf", [t.data(0)], ErfAttrs(), output=t.out())


@onnx_rule("Gelu")
def gelu(t: Translator, node) -> None:
    attrs = GeluAttrs(approximate=_text(t.attr("approximate"), "none"))
    t.add("Gelu", [t.data(0)], attrs, output=t.out())


@onnx_rule("Mish")
def mish(t: Translator, node) -> None:
    t.add("Mish", [t.data(0)], MishAttrs(), output=t.out())


_FLOATS = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16}


@onnx_rule("Cast")
def cast(t: Translator, node) -> None:
    """A cast of a computed tensor between float types is the identity on graphconv's float32
    tensors; other target types are refused (graphconv's tensors are float32)."""
    to = t.attr("to")
    if to not in _FLOATS:
        name = onnx.TensorProto.DataType.Name(to) if to is not None else "none"
        raise Unsupported(f"a cast to element type {name} (graphconv tensors are float32)")
    t.add("Identity", [t.data(0)], IdentityAttrs(), output=t.out())
