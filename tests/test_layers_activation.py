"""PReLU, Sigmoid, TanH, Power, Softmax and Dropout against brute-force float64 definitions of
Caffe's forward passes (BVLC prelu_layer.cpp, power_layer.cpp, softmax_layer.cpp, ...) and
onnxruntime, plus their Caffe rules (ENet PReLU, HED Sigmoid, FCN-AlexNet Power, CaffeNet V1)."""

from __future__ import annotations

import numpy as np
import oracles as O
import pytest
from helpers import check, write
from hypothesis import given, note, settings
from hypothesis import strategies as st
from oracles import power, prelu, sigmoid, softmax

import graphconv as gc
from graphconv import GraphBuilder
from graphconv.frontends.caffe import schema
from graphconv.layers.activation import DropoutAttrs, NoAttrs, PowerAttrs, PReLUAttrs, SoftmaxAttrs
from graphconv.validate import run_onnxruntime

OPSETS = (13, 17, 21)
SETTINGS = dict(deadline=None)


# ---- helpers ------------------------------------------------------------------------------------


def rand(shape, seed=0, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def one_layer(type_, shape, attrs=None, params=None):
    b = GraphBuilder("t", seed=0)
    x = b.input("data", shape)
    b.add(type_, x, attrs, params=params, name="layer")
    return b.build()


def caffemodel(tmp_path, layers: dict):
    net = schema.NetParameter()
    for name, blobs in layers.items():
        lp = net.layer.add()
        lp.name = name
        for arr in blobs:
            bp = lp.blobs.add()
            bp.shape.dim.extend(np.shape(arr))
            bp.data.extend(np.asarray(arr, np.float32).ravel().tolist())
    path = tmp_path / "w.caffemodel"
    path.write_bytes(net.SerializeToString())
    return path


def input_block(shape, name="data"):
    dims = " ".join(f"dim: {d}" for d in shape)
    return (
        f'layer {{ name: "{name}" type: "Input" top: "{name}" '
        f"input_param {{ shape {{ {dims} }} }} }}\n"
    )


# ---- PReLU --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape", [(2, 3, 4, 5), (1, 4, 3, 4), (2, 4, 4, 4), (3, 5), (2, 3, 6), (1, 2, 3, 2, 3)]
)
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("low", [-0.5, 0.01])
def test_prelu_per_channel(shape, shared, low):
    """Slopes broadcast over the channel axis, including when channels == width, where a slope
    of shape (C,) would silently broadcast over the width instead. Slopes all in (0, 1] take
    the two-pass max(x, slope x), Caffe's float32 value exactly."""
    slope = np.random.default_rng(1).uniform(low, 1.0, 1 if shared else shape[1]).astype(np.float32)
    if low > 0 and not shared:
        slope[0] = 1.0
    g = one_layer("PReLU", shape, PReLUAttrs(channel_shared=shared), {"slope": slope})
    x = rand(shape, 2)
    check(g, x, prelu(x, slope))
    if low > 0:  # Caffe's max(x, 0) + slope min(x, 0) in float32
        s = slope.reshape((-1,) + (1,) * (len(shape) - 2))
        caffe = np.maximum(x, np.float32(0)) + s * np.minimum(x, np.float32(0))
        np.testing.assert_array_equal(gc.run(g, {"data": x})["layer"], caffe)


def test_prelu_exported_slope_shape():
    g = one_layer("PReLU", (1, 4, 3, 4), PReLUAttrs())
    init = {i.name: tuple(i.dims) for i in gc.to_onnx(g).graph.initializer}
    assert init == {"layer.slope": (4, 1, 1)}


ENET = (
    input_block((2, 4, 3, 4))
    + 'layer { name: "prelu0" type: "PReLU" bottom: "data" top: "p0" }\n'
    + 'layer { name: "prelu1" type: "PReLU" bottom: "p0" top: "p1"\n'
    '  prelu_param { filler { type: "constant" value: 0.25 } } }\n'
    + 'layer { name: "prelu2" type: "PReLU" bottom: "p1" top: "p2"\n'
    "  prelu_param { channel_shared: true } }\n"
)


def test_prelu_caffe_fillers(tmp_path):
    """No filler: seeded slopes in [0, 0.5) (not Caffe's constant 0.25, which would hide a
    broadcasting bug); an explicit filler is honoured."""
    g = gc.load(write(tmp_path, ENET))
    s0 = g.layer("prelu0").params["slope"]
    assert s0.shape == (4,) and 0 <= s0.min() and s0.max() < 0.5 and s0.std() > 0.01
    np.testing.assert_array_equal(g.layer("prelu1").params["slope"], np.full(4, 0.25, np.float32))
    assert g.layer("prelu2").params["slope"].shape == (1,)
    assert gc.validate(g).ok


def test_prelu_weights_round_trip(tmp_path):
    blobs = {
        "prelu0": [np.array([0.1, -0.2, 0.3, 0.9])],
        "prelu1": [rand(4, 1)],
        "prelu2": [np.array([0.5])],
    }
    g = gc.load(write(tmp_path, ENET), weights=caffemodel(tmp_path, blobs))
    for name, (blob,) in blobs.items():
        np.testing.assert_array_equal(g.layer(name).params["slope"], np.float32(blob))
    x = rand((2, 4, 3, 4), 3)
    ref = prelu(prelu(prelu(x, blobs["prelu0"][0]), blobs["prelu1"][0]), blobs["prelu2"][0])
    check(g, x, ref)


def test_prelu_errors():
    with pytest.raises(gc.GraphError, match=r"PReLU needs an input of rank >= 2"):
        one_layer("PReLU", (4,), PReLUAttrs(), params={})


# ---- Sigmoid, TanH ------------------------------------------------------------------------------


def test_sigmoid_tanh_hed_style(tmp_path):
    """HED's side outputs end in Sigmoid; TanH alongside. Large inputs must not overflow."""
    text = (
        input_block((1, 2, 5, 5))
        + 'layer { name: "sig" type: "Sigmoid" bottom: "data" top: "sig" }\n'
        + 'layer { name: "tanh" type: "TanH" bottom: "sig" top: "tanh" }\n'
    )
    g = gc.load(write(tmp_path, text))
    assert [lay.type for lay in g.layers[1:]] == ["Sigmoid", "TanH"]
    x = rand((1, 2, 5, 5), 1, 30.0)
    with np.errstate(over="raise"):
        check(g, x, np.tanh(sigmoid(x)))
    g = one_layer("Sigmoid", (3, 4))
    x = rand((3, 4), 2, 3.0)
    check(g, x, sigmoid(x))


# ---- Power --------------------------------------------------------------------------------------


@st.composite
def power_case(draw):
    p = draw(st.sampled_from([0.0, 1.0, 2.0, 3.0, -1.0, 0.5, -0.75, 1.5]))
    scale = draw(st.sampled_from([1.0, 0.0, 0.5, -2.0, 3.0]))
    shift = draw(st.sampled_from([0.0, 1.0, -116.0, 5.0, 2.5]))
    if scale == 0 and (p != int(p) or p < 0):
        shift = abs(shift) or 2.5  # shift^p must be a real number
    return dict(
        power=p,
        scale=scale,
        shift=shift,
        opset=draw(st.sampled_from(OPSETS)),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


@settings(max_examples=150, **SETTINGS)
@given(power_case())
def test_power_matches_caffe(case):
    note(case)
    p, scale, shift = case["power"], case["scale"], case["shift"]
    x = rand((2, 3, 4), case["seed"])
    if p != int(p) or p < 0:
        # keep the base positive and away from 0 where the power is fractional or negative
        base = 1.0 + np.abs(rand((2, 3, 4), case["seed"]))
        x = ((base - shift) / scale).astype(np.float32) if scale else x
    g = one_layer("Power", x.shape, PowerAttrs(power=p, scale=scale, shift=shift))
    check(g, x, power(x, p, scale, shift), opsets=(case["opset"],))


def test_power_fcn_alexnet_and_v1(tmp_path):
    """FCN-AlexNet subtracts the mean with Power { shift: -116 }; V1 spells the type POWER."""
    text = (
        input_block((1, 3, 4, 5)) + 'layer { name: "sub" type: "Power" bottom: "data" top: "pre" '
        "power_param { shift: -116.0 } }\n"
    )
    g = gc.load(write(tmp_path, text))
    assert g.layer("sub").attrs == PowerAttrs(1.0, 1.0, -116.0)
    x = rand((1, 3, 4, 5), 1, 50.0) + 116
    check(g, x, np.float64(x) - 116)
    v1 = (
        'input: "data" input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 3\n'
        'layers { name: "sq" type: POWER bottom: "data" top: "sq" '
        "power_param { power: 2 scale: 0.5 shift: 1 } }\n"
    )
    g = gc.load(write(tmp_path, v1, "v1.prototxt"))
    x = rand((1, 2, 3, 3), 2)
    check(g, x, power(x, 2, 0.5, 1))


def test_power_constant_ignores_the_input():
    """Caffe fills 1 (power 0) or shift^power (scale 0) whatever the input, even inf or nan."""
    x = rand((2, 3), 1)
    x[0, 0], x[1, 2] = np.inf, np.nan
    g = one_layer("Power", x.shape, PowerAttrs(power=0, scale=2, shift=3))
    check(g, x, np.ones((2, 3)))
    g = one_layer("Power", x.shape, PowerAttrs(power=3, scale=0, shift=2))
    check(g, x, np.full((2, 3), 8.0))


# ---- Softmax ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, axis",
    [((2, 5, 3, 4), 1), ((2, 5, 3, 4), -1), ((2, 5, 3, 4), 0), ((3, 7), 1), ((2, 3, 4), 2)],
)
def test_softmax_per_axis(shape, axis):
    """Softmax along one axis of an N-D blob (ONNX opset >= 13 semantics, not flattening)."""
    g = one_layer("Softmax", shape, SoftmaxAttrs(axis=axis))
    x = rand(shape, 1, 5.0)
    check(g, x, softmax(x, axis))


def test_softmax_caffe_and_v1(tmp_path):
    text = (
        input_block((2, 4, 3, 3))
        + 'layer { name: "prob" type: "Softmax" bottom: "data" top: "prob" }\n'
        + 'layer { name: "p2" type: "Softmax" bottom: "prob" top: "p2" '
        "softmax_param { axis: -2 } }\n"
    )
    g = gc.load(write(tmp_path, text))
    assert g.layer("prob").attrs == SoftmaxAttrs(1)
    x = rand((2, 4, 3, 3), 1, 3.0)
    check(g, x, softmax(softmax(x, 1), 2))
    v1 = (
        'input: "data" input_dim: 2 input_dim: 10 input_dim: 1 input_dim: 1\n'
        'layers { name: "prob" type: SOFTMAX bottom: "data" top: "prob" }\n'
    )
    g = gc.load(write(tmp_path, v1, "v1.prototxt"))
    x = rand((2, 10, 1, 1), 2, 3.0)
    check(g, x, softmax(x, 1))


def test_softmax_errors():
    with pytest.raises(gc.GraphError, match=r"axis 3 is out of range for a rank-3 input"):
        one_layer("Softmax", (2, 3, 4), SoftmaxAttrs(axis=3))


# ---- Dropout ------------------------------------------------------------------------------------


def test_dropout_is_identity(tmp_path):
    text = (
        input_block((2, 6)) + 'layer { name: "drop" type: "Dropout" bottom: "data" top: "data" '
        "dropout_param { dropout_ratio: 0.7 } }\n"
    )
    g = gc.load(write(tmp_path, text))
    assert g.layer("drop").attrs == DropoutAttrs(float(np.float32(0.7)))
    x = rand((2, 6), 1)
    for opset in OPSETS:
        model = gc.to_onnx(g, opset=opset)
        assert [n.op_type for n in model.graph.node] == ["Identity"]
        np.testing.assert_array_equal(run_onnxruntime(model, {"data#1": x})["data"], x)
    np.testing.assert_array_equal(gc.run(g, {"data#1": x})["data"], x)
    with pytest.raises(ValueError, match=r"dropout ratio must be in \[0, 1\)"):
        DropoutAttrs(1.0)


# ---- a V1 classifier head (CaffeNet style) ------------------------------------------------------


def test_v1_classifier_head(tmp_path):
    """CaffeNet's V1 tail: INNER_PRODUCT -> RELU -> DROPOUT -> INNER_PRODUCT -> SOFTMAX."""
    text = (
        'input: "data" input_dim: 2 input_dim: 3 input_dim: 2 input_dim: 2\n'
        'layers { name: "fc6" type: INNER_PRODUCT bottom: "data" top: "fc6" '
        "inner_product_param { num_output: 5 } }\n"
        'layers { name: "relu6" type: RELU bottom: "fc6" top: "fc6" }\n'
        'layers { name: "drop6" type: DROPOUT bottom: "fc6" top: "fc6" '
        "dropout_param { dropout_ratio: 0.5 } }\n"
        'layers { name: "fc8" type: INNER_PRODUCT bottom: "fc6" top: "fc8" '
        "inner_product_param { num_output: 4 } }\n"
        'layers { name: "prob" type: SOFTMAX bottom: "fc8" top: "prob" }\n'
    )
    g = gc.load(write(tmp_path, text))
    assert [lay.type for lay in g.layers[1:]] == [
        "InnerProduct",
        "ReLU",
        "Dropout",
        "InnerProduct",
        "Softmax",
    ]
    p6, p8 = g.layer("fc6").params, g.layer("fc8").params
    x = rand((2, 3, 2, 2), 1)
    h = np.maximum(np.float64(x).reshape(2, 12) @ np.float64(p6["weight"]).T + p6["bias"], 0)
    ref = softmax(h @ np.float64(p8["weight"]).T + p8["bias"], 1)
    check(g, x, ref)
    assert NoAttrs() == NoAttrs()


# ---- large tensors: ReLU and PReLU by channel blocks ---------------------------------------------


@pytest.mark.parametrize("shape", [(1, 3, 150, 160), (2, 3, 110, 110)])
@pytest.mark.parametrize("slope", [0.0, 0.1, -0.5, 1.5])
def test_relu_large_tensors_through_the_epilogue(shape, slope):
    """ReLU after a convolution (applied in place on its output, by channel blocks on the
    threads) and alone, on outputs large enough to be split into several channel blocks,
    including a batch of 2 whose blocks are not contiguous: against conv_direct + the leaky
    ReLU definition and onnxruntime."""
    from graphconv.kernels.epilogue import channel_blocks
    from graphconv.layers.activation import ReLUAttrs
    from graphconv.layers.conv import ConvAttrs

    rng = np.random.default_rng(5)
    w = rng.standard_normal((24, shape[1], 1, 1)).astype(np.float32)
    bias = rng.standard_normal(24).astype(np.float32)
    b = GraphBuilder("t", seed=0)
    x = b.input("data", shape)
    c = b.add(
        "Convolution",
        x,
        ConvAttrs(num_output=24, kernel=(1, 1)),
        params={"weight": w, "bias": bias},
        name="conv",
    )
    b.add("ReLU", c, ReLUAttrs(negative_slope=slope), name="relu")
    b.add("ReLU", x, ReLUAttrs(negative_slope=slope), name="relu_in")
    g = b.build()
    assert len(channel_blocks(np.empty((shape[0], 24, *shape[2:]), np.float32))) > 1
    xv = rand(shape, 7)
    xv.reshape(-1)[::13] = -0.0
    outs = gc.run(g, {"data": xv}, outputs=["relu", "relu_in"])
    ref = O.leaky_relu(O.conv_direct(xv, w, bias, 1, 1, 0, 0, 1), slope)
    O.assert_close(outs["relu"], ref, 1e-5, "fused")
    O.assert_close(outs["relu_in"], O.leaky_relu(xv, slope), 1e-6, "alone")
    theirs = run_onnxruntime(gc.to_onnx(g), {"data": xv})
    O.assert_close(theirs["relu"], ref, 1e-5, "onnxruntime")


@pytest.mark.parametrize("shape", [(1, 3, 97, 101), (2, 3, 61, 67)])
@pytest.mark.parametrize("slopes", [(0.25, -0.5, 1.5), (0.25, 0.5, 1.0)])
def test_prelu_large_tensors(shape, slopes):
    slope = np.array(slopes, np.float32)
    g = one_layer("PReLU", shape, PReLUAttrs(), {"slope": slope})
    x = rand(shape, 8)
    ref = np.where(x > 0, x.astype(np.float64), slope.reshape(-1, 1, 1) * x.astype(np.float64))
    check(g, x, ref, opsets=(17,))
