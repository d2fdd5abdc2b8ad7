"""Caffe rules: activations."""

from __future__ import annotations

from ....layers import ReLUAttrs
from . import Spec, rule


@rule("ReLU", v1="RELU")
def relu(lp, ins):
    return Spec("ReLU", ReLUAttrs(lp.relu_param.negative_slope))
