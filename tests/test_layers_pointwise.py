"""Clip, HardSigmoid, HardSwish, Erf, Gelu and Mish against float64 definitions from Python's
math module (tests/oracles/modern.py) and onnxruntime, at opsets on both sides of each op's
introduction (HardSwish 14, Mish 18, Gelu 20: below, the export writes the definition)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import check
from oracles import modern

from graphconv import GraphBuilder
from graphconv.layers.pointwise import (
    ClipAttrs,
    ErfAttrs,
    GeluAttrs,
    HardSigmoidAttrs,
    HardSwishAttrs,
    MishAttrs,
    erf,
)

OPSETS = (13, 14, 17, 18, 20, 21)


def one_layer(type_, shape, attrs):
    b = GraphBuilder("t", seed=0)
    b.add(type_, b.input("data", shape), attrs, name="layer")
    return b.build()


def data(shape=(2, 3, 5, 7), scale=4.0):
    x = scale * np.random.default_rng(0).standard_normal(shape)
    return x.astype(np.float32)


CASES = [
    ("Clip", ClipAttrs(0, 6), lambda v: modern.clip(v, 0.0, 6.0)),
    ("Clip", ClipAttrs(min=-1.5), lambda v: modern.clip(v, -1.5, None)),
    ("Clip", ClipAttrs(max=0.25), lambda v: modern.clip(v, None, 0.25)),
    ("Clip", ClipAttrs(2, 1), lambda v: modern.clip(v, 2.0, 1.0)),  # min > max: every y is max
    ("HardSigmoid", HardSigmoidAttrs(), modern.hard_sigmoid),
    ("HardSigmoid", HardSigmoidAttrs(1 / 6, 0.5), lambda v: modern.hard_sigmoid(v, 1 / 6, 0.5)),
    ("HardSwish", HardSwishAttrs(), modern.hard_swish),
    ("Erf", ErfAttrs(), math.erf),
    ("Gelu", GeluAttrs(), modern.gelu),
    ("Gelu", GeluAttrs("tanh"), modern.gelu_tanh),
    ("Mish", MishAttrs(), modern.mish),
]


@pytest.mark.parametrize("type_,attrs,fn", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_against_math_and_onnxruntime(type_, attrs, fn):
    # each is a function of one value computed in float64 (or exactly, Clip), so the float32
    # result is within a few ulps: 1e-6 of the largest output (about 24 here) leaves room for
    # onnxruntime's own float32 erf/tanh/exp approximations, a few ulps of each intermediate
    x = data()
    ref = modern.elementwise(fn, x)
    check(one_layer(type_, x.shape, attrs), x, ref, opsets=OPSETS, tol=1e-6)


def test_erf_is_within_an_ulp_of_math_erf_on_a_dense_grid():
    """Every float32 in [-6, 6] at steps of 1/1024, and tiny and huge magnitudes: the series and
    continued-fraction branches meet at |x| = 3."""
    x = np.concatenate(
        [np.arange(-6 * 1024, 6 * 1024 + 1) / 1024, [1e-30, -1e-20, 1e-8, 2.999999, 3.0, 30, -1e4]]
    ).astype(np.float32)
    want = np.array([math.erf(float(v)) for v in x]).astype(np.float32)
    got = erf(x)
    ulp = np.spacing(np.abs(want))
    assert np.all(np.abs(got.astype(np.float64) - want) <= ulp), np.abs(got - want).max()
    assert np.isnan(erf(np.array([np.nan], np.float32)))[0]


def test_clip_fuses_as_an_epilogue_of_the_convolution():
    """ReLU6 after a convolution runs in the convolution's chunks (interpreter plan) and still
    equals the unfused result bit for bit."""
    import graphconv as gc
    from graphconv import ConvAttrs

    b = GraphBuilder("t", seed=0)
    y = b.add("Convolution", b.input("data", (1, 8, 12, 12)), ConvAttrs(16, (3, 3), pads=1))
    b.add("Clip", y, ClipAttrs(0, 6), name="relu6")
    g = b.build()
    x = data((1, 8, 12, 12))
    fused = gc.run(g, {"data": x})[g.outputs[0]]
    plain = gc.run(g, {"data": x}, fuse=False)[g.outputs[0]]
    np.testing.assert_array_equal(fused, plain)
    assert fused.min() == 0 and fused.max() == 6
