"""Eltwise (SUM with coefficients, PROD, MAX) against a brute-force per-element definition of
Caffe's forward pass and onnxruntime at opsets 13, 17 and 21, built from small prototxts (which
also exercises the Caffe rule, V2 and V1) and from the Python builder."""

from __future__ import annotations

import tempfile
from pathlib import Path

import helpers as H
import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from oracles import eltwise_reference

import graphconv as gc
from graphconv import GraphBuilder
from graphconv.layers.elementwise import EltwiseAttrs

OPSETS = (13, 17, 21)
TOL = 1e-6


# ---- helpers ------------------------------------------------------------------------------------


def check(g, feeds, refs, opsets=OPSETS):
    """The interpreter and onnxruntime (at each opset) both match the oracle outputs to
    ``assert_allclose(rtol=TOL, atol=TOL)``."""
    H.check(g, feeds, refs, opsets=opsets, tol=TOL, allclose=True)


def load_text(text: str) -> gc.Graph:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "net.prototxt"
        p.write_text(text)
        return gc.load(p)


def inputs_block(names, shape) -> str:
    dims = " ".join(f"dim: {d}" for d in shape)
    return "".join(f'input: "{n}" input_shape {{ {dims} }}\n' for n in names)


def feeds_for(g, seed=0):
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal(s.shape).astype(np.float32) for n, s in g.inputs.items()}


# ---- prototxt cases ------------------------------------------------------------------------------

CASES = {
    # name: (bottoms, eltwise_param text, operation, coeff)
    "sum_subtract": (["a", "b"], "operation: SUM coeff: 1 coeff: -1", "SUM", [1, -1]),
    "sum_default": (["a", "b"], "", "SUM", None),
    "sum_three": (
        ["a", "b", "c"],
        "operation: SUM coeff: 0.5 coeff: 2 coeff: -1.25",
        "SUM",
        [0.5, 2, -1.25],
    ),
    "sum_three_plain": (["a", "b", "c"], "operation: SUM", "SUM", None),
    "prod": (["a", "b"], "operation: PROD", "PROD", None),
    "prod_three": (["a", "b", "c"], "operation: PROD", "PROD", None),
    "max": (["a", "b"], "operation: MAX", "MAX", None),
    "max_four": (["a", "b", "c", "d"], "operation: MAX", "MAX", None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_eltwise_prototxt(case):
    bottoms, param, op, coeff = CASES[case]
    text = (
        inputs_block(bottoms, (2, 3, 4, 5))
        + 'layer { name: "e" type: "Eltwise" '
        + "".join(f'bottom: "{b}" ' for b in bottoms)
        + f'top: "e" eltwise_param {{ {param} }} }}\n'
    )
    g = load_text(text)
    assert g.layer("e").attrs == EltwiseAttrs(op, tuple(coeff or ()))
    feeds = feeds_for(g, seed=len(case))
    check(g, feeds, {"e": eltwise_reference(op, [feeds[b] for b in bottoms], coeff)})


def test_eltwise_v1_layers():
    text = (
        'input: "a" input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 3\n'
        'input: "b" input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 3\n'
        'layers { name: "p" type: ELTWISE bottom: "a" bottom: "b" top: "p" '
        "eltwise_param { operation: PROD } }\n"
        'layers { name: "s" type: ELTWISE bottom: "p" bottom: "a" top: "s" '
        "eltwise_param { coeff: 2 coeff: -3 } }\n"
    )
    g = load_text(text)
    assert [lay.type for lay in g.layers[2:]] == ["Eltwise", "Eltwise"]
    feeds = feeds_for(g, 3)
    p = eltwise_reference("PROD", [feeds["a"], feeds["b"]])
    check(g, feeds, {"s": eltwise_reference("SUM", [p, feeds["a"]], [2, -3])})


def test_fcn_and_shufflenet_style_residual_sum():
    """FCN-8s fuse_pool4 / ShuffleNet resx2_elewise: Eltwise SUM of a branch and a skip, followed
    by an in-place ReLU (the ShuffleNet pattern)."""
    text = (
        inputs_block(["data"], (1, 6, 5, 5))
        + 'layer { name: "branch" type: "Convolution" bottom: "data" top: "branch" '
        "convolution_param { num_output: 6 kernel_size: 3 pad: 1 group: 3 } }\n"
        'layer { name: "resx2_elewise" type: "Eltwise" bottom: "data" bottom: "branch" '
        'top: "resx2_elewise" eltwise_param { operation: SUM } }\n'
        'layer { name: "relu" type: "ReLU" bottom: "resx2_elewise" '
        'top: "resx2_elewise" }\n'
    )
    g = load_text(text)
    feeds = feeds_for(g, 5)
    branch = gc.run(g, feeds, outputs=["branch"])["branch"]
    ref = np.maximum(eltwise_reference("SUM", [feeds["data"], branch]), 0)
    check(g, feeds, {"resx2_elewise": ref})


# ---- errors --------------------------------------------------------------------------------------


def test_shape_mismatch_names_the_shapes():
    text = (
        inputs_block(["a"], (1, 3, 4, 4))
        + inputs_block(["b"], (1, 3, 4, 5))
        + 'layer { name: "e" type: "Eltwise" bottom: "a" bottom: "b" top: "e" }\n'
    )
    with pytest.raises(gc.GraphError) as info:
        load_text(text)
    msg = str(info.value)
    assert "layer 'e' (Eltwise)" in msg and "1x3x4x4" in msg and "1x3x4x5" in msg
    assert "identical shapes" in msg


@pytest.mark.parametrize(
    "param,bottoms,match",
    [
        ("operation: PROD coeff: 1 coeff: 2", 2, "SUM only"),
        ("coeff: 1 coeff: 2 coeff: 3", 2, "one coefficient per bottom"),
    ],
)
def test_rule_rejects_bad_coefficients(param, bottoms, match):
    names = "abc"[:bottoms]
    text = (
        inputs_block(names, (1, 2, 3))
        + 'layer { name: "e" type: "Eltwise" '
        + "".join(f'bottom: "{b}" ' for b in names)
        + f'top: "e" eltwise_param {{ {param} }} }}\n'
    )
    with pytest.raises(gc.GraphError, match=match):
        load_text(text)


def test_max_ignores_coefficients_like_caffe():
    text = (
        inputs_block("ab", (1, 2, 3))
        + 'layer { name: "e" type: "Eltwise" bottom: "a" bottom: "b" top: "e" '
        "eltwise_param { operation: MAX coeff: 5 coeff: 7 } }\n"
    )
    g = load_text(text)
    assert g.layer("e").attrs == EltwiseAttrs("MAX")
    feeds = feeds_for(g, 1)
    check(g, feeds, {"e": eltwise_reference("MAX", [feeds["a"], feeds["b"]])}, opsets=(17,))


def test_attrs_validation_and_arity():
    with pytest.raises(ValueError, match="one of SUM, PROD, MAX"):
        EltwiseAttrs("MIN")
    with pytest.raises(ValueError, match="SUM only"):
        EltwiseAttrs("MAX", (1.0, 2.0))
    b = GraphBuilder()
    a = b.input("a", (1, 2))
    with pytest.raises(gc.GraphError, match="takes 2 to any inputs, got 1"):
        b.add("Eltwise", [a], EltwiseAttrs())
    c = b.input("c", (1, 2))
    with pytest.raises(gc.GraphError, match="2 coefficients for 3 inputs|3 inputs"):
        b.add("Eltwise", [a, c, a], EltwiseAttrs("SUM", (1.0, 2.0)))


# ---- property test -------------------------------------------------------------------------------


@st.composite
def eltwise_case(draw):
    op = draw(st.sampled_from(["SUM", "PROD", "MAX"]))
    n = draw(st.integers(2, 4))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    coeff = None
    if op == "SUM" and draw(st.booleans()):
        coeff = draw(
            st.lists(
                st.sampled_from([1.0, -1.0, 0.0, 0.5, 2.0, -0.25, 3.0]), min_size=n, max_size=n
            )
        )
    return op, n, shape, coeff, draw(st.sampled_from(OPSETS)), draw(st.integers(0, 2**31 - 1))


@settings(max_examples=60, deadline=None)
@given(eltwise_case())
def test_eltwise_property(case):
    op, n, shape, coeff, opset, seed = case
    note(repr(case))
    b = GraphBuilder("eltwise")
    names = [b.input(f"x{i}", shape) for i in range(n)]
    b.add("Eltwise", names, EltwiseAttrs(op, tuple(coeff or ())), name="e")
    g = b.build()
    rng = np.random.default_rng(seed)
    feeds = {k: rng.standard_normal(shape).astype(np.float32) for k in names}
    if op == "MAX" and rng.random() < 0.5:  # ties between inputs
        feeds = {k: np.round(v) for k, v in feeds.items()}
    check(g, feeds, {"e": eltwise_reference(op, [feeds[k] for k in names], coeff)}, opsets=(opset,))
