"""ONNX rules: Relu, LeakyRelu, PRelu, Sigmoid, Tanh, Softmax, Dropout, Identity."""

from __future__ import annotations

import math

from ....layers.activation import DropoutAttrs, IdentityAttrs, PReLUAttrs, ReLUAttrs, SoftmaxAttrs
from ....layers.elementwise import ConstantBinaryAttrs, EltwiseAttrs
from ....layers.tensor import ReshapeAttrs
from ._common import Translator, Unsupported, _axis, _f32, onnx_rule


@onnx_rule("Relu")
def relu(t: Translator, node) -> None:
    t.add("ReLU", [t.data(0)], ReLUAttrs(), output=t.out())


@onnx_rule("LeakyRelu")
def leaky_relu(t: Translator, node) -> None:
    t.add("ReLU", [t.data(0)], ReLUAttrs(negative_slope=t.attr("alpha", 0.01)), output=t.out())


@onnx_rule("PRelu")
def prelu(t: Translator, node) -> None:
    x = t.data(0)
    slope = _f32(t.const(node.input[1], "the slope"))
    shape = t.shape(x)
    if slope.size == 1:
        t.add(
            "PReLU",
            [x],
            PReLUAttrs(channel_shared=True),
            {"slope": slope.reshape(1)},
            output=t.out(),
        )
        return
    if t.opset < 7 and slope.ndim == 1 and len(shape) >= 2 and slope.size == shape[1]:
        # PRelu-6 and older: a 1-D slope holds one value per channel (no numpy broadcast)
        t.add("PReLU", [x], PReLUAttrs(), {"slope": slope}, output=t.out())
        return
    aligned = (1,) * (len(shape) - slope.ndim) + slope.shape
    if (
        len(shape) >= 2
        and len(aligned) == len(shape)
        and aligned[1] == shape[1]
        and all(d == 1 for i, d in enumerate(aligned) if i != 1)
    ):
        t.add("PReLU", [x], PReLUAttrs(), {"slope": slope.reshape(-1)}, output=t.out())
        return
    # any other broadcasting slope: relu(x) + slope * (x - relu(x)), exact (x - relu(x) is
    # x or 0)
    positive = t.add("ReLU", [x], ReLUAttrs(), suffix="/positive")
    negative = t.add("Eltwise", [x, positive], EltwiseAttrs("SUM", (1.0, -1.0)), suffix="/negative")
    scaled = t.add(
        "ConstantBinary",
        [negative],
        ConstantBinaryAttrs(operation="mul", constant_shape=slope.shape),
        {"constant": slope},
        suffix="/scaled",
    )
    t.add("Eltwise", [positive, scaled], EltwiseAttrs("SUM"), output=t.out())


@onnx_rule("Sigmoid")
def sigmoid(t: Translator, node) -> None:
    t.add("Sigmoid", [t.data(0)], None, output=t.out())


@onnx_rule("Tanh")
def tanh(t: Translator, node) -> None:
    t.add("TanH", [t.data(0)], None, output=t.out())


@onnx_rule("Softmax")
def softmax(t: Translator, node) -> None:
    x = t.data(0)
    shape = t.shape(x)
    rank = len(shape)
    if t.opset >= 13:
        t.add("Softmax", [x], SoftmaxAttrs(axis=_axis(t.attr("axis", -1), rank)), output=t.out())
        return
    # before opset 13: the input is coerced to 2-D (axes before `axis` x the rest)
    axis = _axis(t.attr("axis", 1), rank)
    if math.prod(shape[axis + 1 :]) == 1:
        t.add("Softmax", [x], SoftmaxAttrs(axis=axis), output=t.out())
        return
    flat = t.add(
        "Reshape",
        [x],
        ReshapeAttrs(shape=(math.prod(shape[:axis]), math.prod(shape[axis:]))),
        suffix="/coerce_2d",
    )
    soft = t.add("Softmax", [flat], SoftmaxAttrs(axis=1), suffix="/softmax")
    t.add("Reshape", [soft], ReshapeAttrs(shape=shape), output=t.out())


@onnx_rule("Dropout")
def dropout(t: Translator, node) -> None:
    t.single_output()
    if t.attr("is_test", 1) == 0 and t.opset < 7:
        raise Unsupported("is_test 0 (training-mode dropout) is not supported")
    training = t.optional_const(2, "training_mode")
    if training is not None and bool(training):
        raise Unsupported("training_mode true is not supported")
    ratio = t.optional_const(1, "ratio")
    ratio = float(ratio) if ratio is not None else t.attr("ratio", 0.5)
    t.add("Dropout", [t.data(0)], DropoutAttrs(ratio=ratio), output=t.out())


@onnx_rule("Identity")
def identity(t: Translator, node) -> None:
    t.add("Identity", [t.data(0)], IdentityAttrs(), output=t.out())
