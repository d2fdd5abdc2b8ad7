"""Caffe rules: activations (ReLU, PReLU, Sigmoid, TanH, Power, Softmax) and Dropout."""

from __future__ import annotations

from ....layers import ReLUAttrs
from ....layers.activation import DropoutAttrs, NoAttrs, PowerAttrs, PReLUAttrs, SoftmaxAttrs
from ._table import Spec, _filler, rule


@rule("ReLU", v1="RELU")
def relu(lp, ins):
    return Spec("ReLU", ReLUAttrs(lp.relu_param.negative_slope))


@rule("PReLU")
def prelu(lp, ins):
    """One blob, the slopes: ``(C,)``, or ``(1,)`` with ``channel_shared``. Caffe's default filler
    is the constant 0.25; without an explicit filler we draw seeded slopes instead."""
    p = lp.prelu_param
    return Spec(
        "PReLU", PReLUAttrs(channel_shared=p.channel_shared), [("slope", _filler(p, "filler"))]
    )


@rule("Sigmoid", v1="SIGMOID")
def sigmoid(lp, ins):
    return Spec("Sigmoid", NoAttrs())


@rule("TanH", v1="TANH")
def tanh(lp, ins):
    return Spec("TanH", NoAttrs())


@rule("Power", v1="POWER")
def power(lp, ins):
    p = lp.power_param
    return Spec("Power", PowerAttrs(power=p.power, scale=p.scale, shift=p.shift))


@rule("Softmax", v1="SOFTMAX")
def softmax(lp, ins):
    return Spec("Softmax", SoftmaxAttrs(axis=lp.softmax_param.axis))


@rule("Dropout", v1="DROPOUT")
def dropout(lp, ins):
    """The identity in the TEST phase (BVLC's DropoutLayer copies its input)."""
    return Spec("Dropout", DropoutAttrs(ratio=lp.dropout_param.dropout_ratio))
