"""ONNX rules: Add, Sub, Mul, Div, Pow, Sum, Max, Min and the unary functions (Abs, Exp, Elu,
LogSoftmax, ...)."""

from __future__ import annotations

import math

import numpy as np

from ....layers.activation import IdentityAttrs, PowerAttrs, UnaryAttrs
from ....layers.elementwise import BinaryAttrs, ConstantBinaryAttrs, EltwiseAttrs
from ....layers.tensor import ReshapeAttrs
from ._common import Translator, Unsupported, _axis, _f32, onnx_rule

_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow"}


@onnx_rule("Add", "Sub", "Mul", "Div", "Pow")
def binary(t: Translator, node) -> None:
    a, b = node.input[0], node.input[1]
    op = _BINARY[node.op_type]
    if t.opset < 7 and t.attr("broadcast", 0):
        # legacy broadcasting: B's shape matches A's axes from `axis` (default: the last ones)
        rank_a = len(t.consts[a].shape) if t.is_const(a) else len(t.shape(a))
        b_shape = t.consts[b].shape if t.is_const(b) else t.shape(b)
        axis = t.attr("axis")
        axis = rank_a - len(b_shape) if axis is None else _axis(axis, rank_a)
        aligned = tuple(b_shape) + (1,) * (rank_a - axis - len(b_shape))
        if aligned != tuple(b_shape):
            if t.is_const(b):
                t.consts[f"{t.node_name}/b_aligned"] = np.reshape(t.consts[b], aligned)
                b = f"{t.node_name}/b_aligned"
            else:
                b = t.add("Reshape", [b], ReshapeAttrs(shape=aligned), suffix="/b_aligned")
    if t.is_const(a) or t.is_const(b):
        first = t.is_const(a)
        x, c = (b, a) if first else (a, b)
        value = _f32(t.consts[c])
        if op == "pow":
            if first or value.size != 1:
                raise Unsupported(
                    "a constant base or a non-scalar constant exponent is not supported"
                )
            t.add("Power", [x], PowerAttrs(power=float(value.reshape(-1)[0])), output=t.out())
            return
        t.add(
            "ConstantBinary",
            [x],
            ConstantBinaryAttrs(operation=op, constant_shape=value.shape, constant_first=first),
            {"constant": value},
            output=t.out(),
        )
        return
    if t.shape(a) == t.shape(b) and op in ("add", "sub", "mul"):
        attrs = {
            "add": EltwiseAttrs("SUM"),
            "sub": EltwiseAttrs("SUM", (1.0, -1.0)),
            "mul": EltwiseAttrs("PROD"),
        }[op]
        t.add("Eltwise", [a, b], attrs, output=t.out())
        return
    t.add("Binary", [a, b], BinaryAttrs(op), output=t.out())


@onnx_rule("Sum", "Max", "Min")
def variadic(t: Translator, node) -> None:
    ins = [t.data(i) for i in range(len(node.input)) if node.input[i]]
    if len(ins) == 1:
        t.add("Identity", ins, IdentityAttrs(), output=t.out())
        return
    if node.op_type != "Min" and all(t.shape(x) == t.shape(ins[0]) for x in ins):
        op = "SUM" if node.op_type == "Sum" else "MAX"
        t.add("Eltwise", ins, EltwiseAttrs(op), output=t.out())
        return
    op = {"Sum": "add", "Max": "max", "Min": "min"}[node.op_type]
    t.add("Binary", ins, BinaryAttrs(op), output=t.out())


_UNARY = {
    "Abs": "abs",
    "Neg": "neg",
    "Exp": "exp",
    "Log": "log",
    "Sqrt": "sqrt",
    "Reciprocal": "reciprocal",
    "Elu": "elu",
    "Selu": "selu",
    "Softplus": "softplus",
    "Softsign": "softsign",
    "LogSoftmax": "log_softmax",
}


@onnx_rule(*_UNARY)
def unary(t: Translator, node) -> None:
    x = t.data(0)
    fn = _UNARY[node.op_type]
    kw = {}
    if fn == "elu":
        kw["alpha"] = t.attr("alpha", 1.0)
    elif fn == "selu":
        kw = {
            k: v
            for k, v in (("alpha", t.attr("alpha")), ("gamma", t.attr("gamma")))
            if v is not None
        }
    if fn != "log_softmax":
        t.add("Unary", [x], UnaryAttrs(fn, **kw), output=t.out())
        return
    shape = t.shape(x)
    rank = len(shape)
    if t.opset >= 13:
        t.add("Unary", [x], UnaryAttrs(fn, axis=_axis(t.attr("axis", -1), rank)), output=t.out())
        return
    axis = _axis(t.attr("axis", 1), rank)  # before 13: coerced to 2-D, as Softmax
    if math.prod(shape[axis + 1 :]) == 1:
        t.add("Unary", [x], UnaryAttrs(fn, axis=axis), output=t.out())
        return
    flat = t.add(
        "Reshape",
        [x],
        ReshapeAttrs(shape=(math.prod(shape[:axis]), math.prod(shape[axis:]))),
        suffix="/coerce_2d",
    )
    soft = t.add("Unary", [flat], UnaryAttrs(fn, axis=1), suffix="/log_softmax")
    t.add("Reshape", [soft], ReshapeAttrs(shape=shape), output=t.out())
