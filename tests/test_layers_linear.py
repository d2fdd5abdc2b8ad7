"""InnerProduct against a brute-force float64 definition of Caffe's InnerProductLayer (flatten
the axes from ``axis`` on, one dot product per row and output) and onnxruntime, plus the Caffe
rule: weights round trips with ``transpose: true`` and legacy 4-D blobs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import check, write
from hypothesis import given, note, settings
from hypothesis import strategies as st
from oracles import inner_product

import graphconv as gc
from graphconv import GraphBuilder
from graphconv.frontends.caffe import schema
from graphconv.layers.linear import InnerProductAttrs

OPSETS = (13, 17, 21)
SETTINGS = dict(deadline=None)


def rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def caffemodel(tmp_path, layers: dict, legacy: bool = False):
    net = schema.NetParameter()
    for name, blobs in layers.items():
        lp = net.layer.add()
        lp.name = name
        for arr in blobs:
            arr = np.asarray(arr, np.float32)
            bp = lp.blobs.add()
            if legacy:
                bp.num, bp.channels, bp.height, bp.width = (1,) * (4 - arr.ndim) + arr.shape
            else:
                bp.shape.dim.extend(arr.shape)
            bp.data.extend(arr.ravel().tolist())
    path = tmp_path / "w.caffemodel"
    path.write_bytes(net.SerializeToString())
    return path


@st.composite
def ip_case(draw):
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    axis = draw(st.integers(0, rank - 1))
    return dict(
        shape=shape,
        axis=axis,
        given_axis=axis - rank if draw(st.booleans()) else axis,
        O=draw(st.integers(1, 5)),
        bias=draw(st.booleans()),
        opset=draw(st.sampled_from(OPSETS)),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


@settings(max_examples=150, **SETTINGS)
@given(ip_case())
def test_inner_product_matches_caffe(case):
    note(case)
    shape, axis = case["shape"], case["axis"]
    k = math.prod(shape[axis:])
    w, b = rand((case["O"], k), case["seed"] + 1), rand(case["O"], case["seed"] + 2)
    bld = GraphBuilder("t")
    x = bld.input("data", shape)
    attrs = InnerProductAttrs(num_output=case["O"], bias=case["bias"], axis=case["given_axis"])
    params = {"weight": w, **({"bias": b} if case["bias"] else {})}
    bld.add("InnerProduct", x, attrs, params=params, name="ip")
    g = bld.build()
    xs = rand(shape, case["seed"])
    check(g, xs, inner_product(xs, w, b if case["bias"] else None, axis), opsets=(case["opset"],))
    lay = g.layer("ip")
    assert lay.definition.macs(lay.attrs, [g.specs["data"]], [g.specs["ip"]]) == (
        math.prod(shape[:axis]) * k * case["O"]
    )


def test_inner_product_batch2_axis1_4d():
    """GoogLeNet/CaffeNet's classifier on a 4-D blob: batch 2, axis 1 flattens C*H*W."""
    bld = GraphBuilder("t")
    x = bld.input("data", (2, 3, 4, 5))
    bld.add("InnerProduct", x, InnerProductAttrs(num_output=7), name="fc")
    g = bld.build()
    assert g.specs["fc"].shape == (2, 7)
    p = g.layer("fc").params
    assert p["weight"].shape == (7, 60) and p["bias"].shape == (7,)
    xs = rand((2, 3, 4, 5), 1)
    check(g, xs, inner_product(xs, p["weight"], p["bias"], 1))
    assert (
        g.layer("fc").definition.macs(g.layer("fc").attrs, [g.specs["data"]], [g.specs["fc"]])
        == 2 * 60 * 7
    )


IP_NET = (
    'layer { name: "data" type: "Input" top: "data" '
    "input_param { shape { dim: 2 dim: 3 dim: 2 dim: 2 } } }\n"
    'layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"\n'
    "  inner_product_param { num_output: 4 {extra} } }\n"
)


@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("legacy", [False, True])
def test_inner_product_weights_round_trip(tmp_path, transpose, legacy):
    """Blobs [weight, bias]; with transpose: true the weight is stored (K, O) and the IR holds
    its transpose (O, K)."""
    extra = "transpose: true" if transpose else ""
    stored = rand((12, 4) if transpose else (4, 12), 1)
    bias = rand(4, 2)
    g = gc.load(
        write(tmp_path, IP_NET.replace("{extra}", extra)),
        weights=caffemodel(tmp_path, {"fc": [stored, bias]}, legacy=legacy),
    )
    p = g.layer("fc").params
    np.testing.assert_array_equal(p["weight"], stored.T if transpose else stored)
    np.testing.assert_array_equal(p["bias"], bias)
    x = rand((2, 3, 2, 2), 3)
    check(g, x, inner_product(x, stored, bias, 1, transposed=transpose))


def test_inner_product_axis_and_no_bias_caffe(tmp_path):
    text = IP_NET.replace(
        "{extra}", 'axis: -2 bias_term: false weight_filler { type: "constant" value: 0.5 }'
    )
    g = gc.load(write(tmp_path, text))
    lay = g.layer("fc")
    assert lay.attrs == InnerProductAttrs(num_output=4, bias=False, axis=2)
    assert g.specs["fc"].shape == (2, 3, 4)
    np.testing.assert_array_equal(lay.params["weight"], np.full((4, 4), 0.5, np.float32))
    x = rand((2, 3, 2, 2), 3)
    check(g, x, inner_product(x, lay.params["weight"], None, 2))
    stored = rand((4, 4), 1)
    g = gc.load(write(tmp_path, text), weights=caffemodel(tmp_path, {"fc": [stored]}))
    check(g, x, inner_product(x, stored, None, 2), opsets=(17,))


def test_inner_product_errors(tmp_path):
    with pytest.raises(ValueError, match="num_output must be >= 1"):
        InnerProductAttrs(num_output=0)
    text = IP_NET.replace("num_output: 4 {extra}", "axis: 1")
    with pytest.raises(
        gc.GraphError,
        match=r"layer 'fc' \(InnerProduct\): inner_product_param."
        r"num_output is required",
    ):
        gc.load(write(tmp_path, text))
    text = IP_NET.replace("{extra}", "axis: 4")
    with pytest.raises(gc.GraphError, match=r"axis 4 is out of range for a rank-4 input"):
        gc.load(write(tmp_path, text))
    weights = caffemodel(tmp_path, {"fc": [rand((4, 12), 1), rand(4, 2)]})
    with pytest.raises(
        gc.GraphError,
        match=r"weights blob 'weight' has shape \(4, 12\), "
        r"expected \(12, 4\)",
    ):
        gc.load(write(tmp_path, IP_NET.replace("{extra}", "transpose: true")), weights=weights)
