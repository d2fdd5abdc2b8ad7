"""BatchNorm, Scale, the forks' BN and LRN against brute-force float64 definitions of Caffe's
forward passes (written here from the Caffe sources: BVLC batch_norm_layer.cpp, scale_layer.cpp,
lrn_layer.cpp; caffe-segnet and PSPNet bn_layer.cpp) and against onnxruntime.

Caffe-side tests write small prototxts mimicking the zoo models (MobileNet BatchNorm + Scale,
ENet/SegNet BN, PSPNet BN, GoogLeNet/CaffeNet/SegNet LRN) and caffemodels with known blobs.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check, write
from hypothesis import given, note, settings
from hypothesis import strategies as st
from oracles import (
    bn_batch,
    bn_caffe_blobs,
    bn_stored,
    caffe_scale,
    channel_affine,
    lrn_across,
    lrn_within,
    segnet_learn,
)

import graphconv as gc
from graphconv import GraphBuilder
from graphconv.frontends.caffe import schema
from graphconv.layers.norm import BatchNormAttrs, LRNAttrs, ScaleAttrs

OPSETS = (13, 17, 21)
SETTINGS = dict(deadline=None)


# ---- helpers ------------------------------------------------------------------------------------


def f32(v):
    """A float as Caffe's float fields hold it."""
    return float(np.float32(v))


def rand(shape, seed=0, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def one_layer(type_, shape, attrs, params=None):
    b = GraphBuilder("t", seed=0)
    x = b.input("data", shape)
    b.add(type_, x, attrs, params=params, name="layer")
    return b.build()


def caffemodel(tmp_path, layers: dict, legacy: bool = False):
    """A binary NetParameter holding ``layers`` (name -> list of blobs)."""
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


def input_block(shape, name="data"):
    dims = " ".join(f"dim: {d}" for d in shape)
    return (
        f'layer {{ name: "{name}" type: "Input" top: "{name}" '
        f"input_param {{ shape {{ {dims} }} }} }}\n"
    )


# ---- BatchNorm ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 5), (2, 4, 3, 5), (1, 2, 3, 2, 2)])
def test_batchnorm_without_scale(shape):
    c = shape[1]
    mean, var = rand(c, 1, 0.5), np.random.default_rng(2).uniform(0.2, 2, c).astype(np.float32)
    g = one_layer(
        "BatchNorm", shape, BatchNormAttrs(eps=1e-3), params={"mean": mean, "variance": var}
    )
    x = rand(shape, 3)
    check(g, {"data": x}, bn_stored(x, mean, var, 1e-3))


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 2), (1, 3, 2, 2, 2)])
def test_batchnorm_batch_statistics(shape, affine):
    c = shape[1]
    attrs = BatchNormAttrs(eps=1e-4, affine=affine, statistics="batch")
    params = {"scale": rand(c, 1), "bias": rand(c, 2)} if affine else {}
    g = one_layer("BatchNorm", shape, attrs, params=params)
    x = rand(shape, 3, 2.0) + 1.5
    ref = bn_batch(x, 1e-4)
    if affine:
        ref = channel_affine(ref, params["scale"], params["bias"])
    check(g, {"data": x}, ref)


def test_batchnorm_seeded_params_are_valid_statistics():
    g = one_layer("BatchNorm", (1, 64, 2, 2), BatchNormAttrs())
    p = g.layer("layer").params
    assert set(p) == {"mean", "variance"}
    assert 0.5 <= p["variance"].min() and p["variance"].max() <= 1.5
    assert 0.05 < p["mean"].std() < 0.2
    assert gc.validate(g).ok


MOBILENET = (
    input_block((2, 3, 4, 5)) + 'layer { name: "bn" type: "BatchNorm" bottom: "data" top: "data"\n'
    "  param { lr_mult: 0 decay_mult: 0 } param { lr_mult: 0 decay_mult: 0 }\n"
    "  param { lr_mult: 0 decay_mult: 0 }\n"
    "  batch_norm_param { use_global_stats: true eps: 0.001 } }\n"
    'layer { name: "sc" type: "Scale" bottom: "data" top: "data"\n'
    "  scale_param { filler { value: 1 } bias_term: true bias_filler { value: 0 } } }\n"
    'layer { name: "relu" type: "ReLU" bottom: "data" top: "data" }\n'
)


@pytest.mark.parametrize("sf", [0.25, 999.0, 0.0])
def test_batchnorm_scale_weights_round_trip(tmp_path, sf):
    """MobileNet's BatchNorm + Scale, in place: Caffe's three BatchNorm blobs (mean*sf, var*sf,
    sf) come back as mean and variance; sf == 0 means statistics 0."""
    mean, var = rand(3, 1), np.random.default_rng(2).uniform(0.5, 1.5, 3).astype(np.float32)
    blobs = {
        "bn": [mean * np.float32(sf), var * np.float32(sf), np.array([sf])],
        "sc": [rand(3, 4), rand(3, 5)],
    }
    g = gc.load(write(tmp_path, MOBILENET), weights=caffemodel(tmp_path, blobs))
    assert [lay.type for lay in g.layers] == ["Input", "BatchNorm", "Scale", "ReLU"]
    p = g.layer("bn").params
    want_mean, want_var = (mean, var) if sf else (np.zeros(3), np.zeros(3))
    np.testing.assert_allclose(p["mean"], want_mean, rtol=1e-6)
    np.testing.assert_allclose(p["variance"], want_var, rtol=1e-6)
    assert g.layer("bn").attrs == BatchNormAttrs(eps=f32(1e-3))
    np.testing.assert_array_equal(g.layer("sc").params["scale"], blobs["sc"][0])
    x = rand((2, 3, 4, 5), 6)
    ref = np.maximum(
        caffe_scale(
            bn_caffe_blobs(x, *blobs["bn"][:2], sf, 1e-3), blobs["sc"][0], blobs["sc"][1], 1
        ),
        0,
    )
    check(g, x, ref)


def test_batchnorm_without_weights_uses_seeded_statistics(tmp_path):
    g = gc.load(write(tmp_path, MOBILENET))
    p = g.layer("bn").params
    assert p["variance"].min() >= 0.5 and np.abs(p["mean"]).max() > 0
    # explicit Scale fillers are honoured: scale 1, bias 0
    np.testing.assert_array_equal(g.layer("sc").params["scale"], np.ones(3, np.float32))
    np.testing.assert_array_equal(g.layer("sc").params["bias"], np.zeros(3, np.float32))
    assert gc.validate(g).ok


def test_batchnorm_use_global_stats_false_normalises_with_the_batch(tmp_path):
    """Caffe honours an explicit use_global_stats: false even in the TEST phase."""
    text = (
        input_block((2, 3, 4, 4)) + 'layer { name: "bn" type: "BatchNorm" bottom: "data" top: "y"\n'
        "  batch_norm_param { use_global_stats: false } }\n"
    )
    blobs = {"bn": [rand(3, 1), np.ones(3), np.ones(1)]}
    for weights in (None, caffemodel(tmp_path, blobs)):
        g = gc.load(write(tmp_path, text), weights=weights)
        assert g.layer("bn").attrs.statistics == "batch" and not g.layer("bn").params
        x = rand((2, 3, 4, 4), 2, 3.0)
        check(g, {"data": x}, bn_batch(x, 1e-5), opsets=(17,))


def test_batchnorm_errors():
    with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
        BatchNormAttrs(eps=-1)
    with pytest.raises(ValueError, match="statistics must be one of"):
        BatchNormAttrs(statistics="running")
    with pytest.raises(gc.GraphError, match=r"BatchNorm needs an input of rank >= 2"):
        one_layer("BatchNorm", (5,), BatchNormAttrs(), params={})


def test_batchnorm_weights_with_wrong_channel_count(tmp_path):
    blobs = {"bn": [np.zeros(4), np.ones(4), np.ones(1)], "sc": [np.ones(3), np.zeros(3)]}
    with pytest.raises(
        gc.GraphError,
        match=r"layer 'bn' \(BatchNorm\): weights blob 'mean' has "
        r"shape \(4,\), expected \(3,\)",
    ):
        gc.load(write(tmp_path, MOBILENET), weights=caffemodel(tmp_path, blobs))


# ---- Scale --------------------------------------------------------------------------------------


@st.composite
def scale_case(draw):
    rank = draw(st.integers(1, 5))
    shape = tuple(draw(st.integers(1, 4)) for _ in range(rank))
    axis = draw(st.integers(0, rank - 1))
    num_axes = draw(st.integers(-1, rank - axis))
    given_axis = axis - rank if draw(st.booleans()) else axis
    return dict(
        shape=shape,
        axis=given_axis,
        canonical=axis,
        num_axes=num_axes,
        bias=draw(st.booleans()),
        two=draw(st.booleans()),
        opset=draw(st.sampled_from(OPSETS)),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


@settings(max_examples=150, **SETTINGS)
@given(scale_case())
def test_scale_matches_caffe(case):
    note(case)
    shape, axis = case["shape"], case["canonical"]
    stop = len(shape) if case["num_axes"] == -1 else axis + case["num_axes"]
    sshape = shape[axis:stop] if case["num_axes"] else ()
    s, bias = rand(sshape, case["seed"] + 1), rand(sshape, case["seed"] + 2)
    x = rand(shape, case["seed"])
    b = GraphBuilder("t")
    xin = b.input("data", shape)
    feeds = {"data": x}
    if case["two"] and sshape:  # the scale as a second input (graph inputs are never scalars)
        attrs = ScaleAttrs(axis=case["axis"], num_axes=len(sshape), bias=case["bias"])
        feeds["s"] = s
        params = {"bias": bias} if case["bias"] else {}
        b.add("Scale", [xin, b.input("s", sshape)], attrs, params=params, name="layer")
    else:
        attrs = ScaleAttrs(axis=case["axis"], num_axes=case["num_axes"], bias=case["bias"])
        params = {"scale": s, **({"bias": bias} if case["bias"] else {})}
        b.add("Scale", xin, attrs, params=params, name="layer")
    g = b.build(outputs=["layer"])
    check(
        g, feeds, caffe_scale(x, s, bias if case["bias"] else None, axis), opsets=(case["opset"],)
    )


SCALE_TWO = (
    input_block((2, 3, 4, 5))
    + input_block((3, 4), "s")
    + 'layer { name: "sc" type: "Scale" bottom: "data" bottom: "s" top: "y"\n'
    "  scale_param { axis: -3 bias_term: true } }\n"
)


def test_scale_two_bottoms_caffe(tmp_path):
    """The scale is bottom[1] (axes 1..2 here); the only blob is the bias, of its shape."""
    bias = rand((3, 4), 7)
    g = gc.load(write(tmp_path, SCALE_TWO), weights=caffemodel(tmp_path, {"sc": [bias]}))
    assert g.layer("sc").attrs == ScaleAttrs(axis=-3, num_axes=2, bias=True)
    assert set(g.layer("sc").params) == {"bias"}
    x, s = rand((2, 3, 4, 5), 1), rand((3, 4), 2)
    check(g, {"data": x, "s": s}, caffe_scale(x, s, bias, 1))
    g = gc.load(write(tmp_path, SCALE_TWO.replace("bias_term: true", "")))
    assert not g.layer("sc").params
    check(g, {"data": x, "s": s}, caffe_scale(x, s, None, 1), opsets=(17,))


def test_scale_one_bottom_axes_caffe(tmp_path):
    text = (
        input_block((2, 3, 4, 5)) + 'layer { name: "a" type: "Scale" bottom: "data" top: "a" '
        "scale_param { axis: 2 num_axes: -1 } }\n"
        + 'layer { name: "b" type: "Scale" bottom: "a" top: "b" '
        "scale_param { num_axes: 0 bias_term: true } }\n"
    )
    blobs = {"a": [rand((4, 5), 1)], "b": [np.array(1.5, np.float32), np.array(-0.25, np.float32)]}
    g = gc.load(write(tmp_path, text), weights=caffemodel(tmp_path, blobs))
    assert g.layer("a").params["scale"].shape == (4, 5)
    assert g.layer("b").params["scale"].shape == ()
    x = rand((2, 3, 4, 5), 2)
    ref = caffe_scale(caffe_scale(x, blobs["a"][0], None, 2), blobs["b"][0], blobs["b"][1], 1)
    check(g, {"data": x}, ref)


def test_scale_errors():
    b = GraphBuilder("t")
    x = b.input("data", (2, 3, 4, 5))
    s = b.input("s", (3, 5))
    with pytest.raises(gc.GraphError, match=r"the scale input has shape 3x5, expected 3x4"):
        b.add("Scale", [x, s], ScaleAttrs(axis=1, num_axes=2))
    with pytest.raises(gc.GraphError, match=r"scale axes 2..4 extend past the rank-4 input"):
        b.add("Scale", x, ScaleAttrs(axis=2, num_axes=3), params={})
    with pytest.raises(gc.GraphError, match=r"axis 4 is out of range for a rank-4 input"):
        b.add("Scale", x, ScaleAttrs(axis=4), params={})
    with pytest.raises(ValueError, match="num_axes must be >= 0, or -1"):
        ScaleAttrs(num_axes=-2)


# ---- the forks' BN -------------------------------------------------------------------------------

ENET_BN = (
    input_block((2, 3, 4, 5)) + 'layer { name: "bn" type: "BN" bottom: "data" top: "bn"\n'
    "  param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 1 decay_mult: 0 }\n"
    '  bn_param { scale_filler { type: "constant" value: 1 }\n'
    '             shift_filler { type: "constant" value: 0.001 } bn_mode: INFERENCE } }\n'
    'layer { name: "prelu" type: "PReLU" bottom: "bn" top: "bn" }\n'
)

PSPNET_BN = (
    input_block((2, 3, 4, 5)) + 'layer { name: "bn" type: "BN" bottom: "data" top: "data"\n'
    "  param { lr_mult: 1 decay_mult: 0 } param { lr_mult: 1 decay_mult: 0 }\n"
    "  param { lr_mult: 0 decay_mult: 0 } param { lr_mult: 0 decay_mult: 0 }\n"
    '  bn_param { slope_filler { type: "constant" value: 1 }\n'
    '             bias_filler { type: "constant" value: 0 } frozen: true '
    "momentum: 0.95 } }\n"
    'layer { name: "relu" type: "ReLU" bottom: "data" top: "data" }\n'
)


@pytest.mark.parametrize("legacy", [False, True])
def test_bn_segnet_inference_round_trip(tmp_path, legacy):
    """caffe-segnet BN in INFERENCE mode is scale * x + shift with 1xCx1x1 blobs (ENet, SegNet)."""
    scale, shift = rand((1, 3, 1, 1), 1), rand((1, 3, 1, 1), 2)
    g = gc.load(
        write(tmp_path, ENET_BN),
        weights=caffemodel(tmp_path, {"bn": [scale, shift], "prelu": [rand(3, 3)]}, legacy=legacy),
    )
    lay = g.layer("bn")
    assert lay.type == "Scale" and lay.attrs == ScaleAttrs(axis=1, num_axes=1, bias=True)
    np.testing.assert_array_equal(lay.params["scale"], scale.reshape(3))
    np.testing.assert_array_equal(lay.params["bias"], shift.reshape(3))
    slope = g.layer("prelu").params["slope"]
    x = rand((2, 3, 4, 5), 4)
    y = channel_affine(x, scale.reshape(3), shift.reshape(3))
    ref = np.maximum(y, 0) + slope.reshape(1, 3, 1, 1) * np.minimum(y, 0)
    check(g, {"data": x}, ref)


def test_bn_segnet_fillers_without_weights(tmp_path):
    g = gc.load(write(tmp_path, ENET_BN))
    np.testing.assert_array_equal(g.layer("bn").params["scale"], np.ones(3, np.float32))
    np.testing.assert_array_equal(g.layer("bn").params["bias"], np.full(3, 0.001, np.float32))
    assert gc.validate(g).ok


def test_bn_segnet_learn_mode_uses_batch_statistics(tmp_path):
    """caffe-segnet ignores the phase: LEARN (the default mode) normalises with the batch."""
    text = ENET_BN.replace("bn_mode: INFERENCE", "bn_mode: LEARN")
    scale, shift = rand((1, 3, 1, 1), 1), rand((1, 3, 1, 1), 2)
    g = gc.load(
        write(tmp_path, text),
        weights=caffemodel(tmp_path, {"bn": [scale, shift], "prelu": [np.zeros(3)]}),
    )
    lay = g.layer("bn")
    assert lay.type == "BatchNorm"
    assert lay.attrs == BatchNormAttrs(eps=1e-9, affine=True, statistics="batch")
    x = rand((2, 3, 4, 5), 4, 2.0) + 0.5
    ref = np.maximum(segnet_learn(x, scale.reshape(3), shift.reshape(3)), 0)
    check(g, {"data": x}, ref)


@pytest.mark.parametrize("eps", [None, 1e-3])
def test_bn_pspnet_round_trip(tmp_path, eps):
    """PSPNet BN: slope * (x - mean) / sqrt(var + eps) + bias, four 1xCx1x1 blobs, eps 1e-5."""
    text = (
        PSPNET_BN if eps is None else PSPNET_BN.replace("frozen: true", f"frozen: true eps: {eps}")
    )
    slope, bias, mean = rand((1, 3, 1, 1), 1), rand((1, 3, 1, 1), 2), rand((1, 3, 1, 1), 3)
    var = np.random.default_rng(4).uniform(0.1, 2, (1, 3, 1, 1)).astype(np.float32)
    g = gc.load(
        write(tmp_path, text), weights=caffemodel(tmp_path, {"bn": [slope, bias, mean, var]})
    )
    lay = g.layer("bn")
    assert lay.type == "BatchNorm"
    assert lay.attrs == BatchNormAttrs(eps=f32(1e-5 if eps is None else eps), affine=True)
    for key, blob in (("scale", slope), ("bias", bias), ("mean", mean), ("variance", var)):
        np.testing.assert_array_equal(lay.params[key], blob.reshape(3))
    x = rand((2, 3, 4, 5), 5)
    y = channel_affine(
        bn_stored(x, mean.reshape(3), var.reshape(3), lay.attrs.eps),
        slope.reshape(3),
        bias.reshape(3),
    )
    check(g, x, np.maximum(y, 0))


def test_bn_pspnet_without_weights(tmp_path):
    g = gc.load(write(tmp_path, PSPNET_BN))
    p = g.layer("bn").params
    np.testing.assert_array_equal(p["scale"], np.ones(3, np.float32))
    np.testing.assert_array_equal(p["bias"], np.zeros(3, np.float32))
    assert p["variance"].min() >= 0.5
    assert gc.validate(g).ok


def test_bn_variant_rule(tmp_path):
    from graphconv.frontends.caffe.reader import parse_prototxt
    from graphconv.frontends.caffe.rules.norm import bn_variant

    def lp(body):
        net = parse_prototxt(f'layer {{ name: "bn" type: "BN" {body} }}', "x")
        return net.layer[0]

    assert bn_variant(lp("bn_param { bn_mode: INFERENCE }")) == "segnet"
    assert bn_variant(lp("bn_param { eps: 0.001 }")) == "pspnet"
    assert bn_variant(lp("bn_param { frozen: false }")) == "pspnet"
    assert bn_variant(lp("")) == "segnet"
    assert bn_variant(lp("param { } param { } param { } param { }")) == "pspnet"
    assert bn_variant(lp("param { } param { }")) == "segnet"
    text = input_block((1, 2, 3, 3)) + (
        'layer { name: "bn" type: "BN" bottom: "data" top: "y" '
        "bn_param { bn_mode: INFERENCE momentum: 0.9 } }\n"
    )
    with pytest.raises(
        gc.GraphError,
        match=r"bn_param mixes PSPNet BN fields \(momentum\) with "
        r"caffe-segnet BN fields \(bn_mode\)",
    ):
        gc.load(write(tmp_path, text))
    # the reader shows rules the stored blobs: 4 blobs make it the PSPNet variant even where the
    # prototxt fields look like caffe-segnet's (slope, bias, mean, variance)
    rng = np.random.default_rng(0)
    four = [rng.uniform(0.5, 1.5, (1, 3, 1, 1)) for _ in range(4)]
    g = gc.load(
        write(tmp_path, ENET_BN), weights=caffemodel(tmp_path, {"bn": four, "prelu": [np.zeros(3)]})
    )
    bn = g.layer("bn")
    assert bn.type == "BatchNorm"
    np.testing.assert_allclose(bn.params["mean"], four[2].ravel(), rtol=1e-6)
    np.testing.assert_allclose(bn.params["variance"], four[3].ravel(), rtol=1e-6)


# ---- LRN ----------------------------------------------------------------------------------------


@st.composite
def lrn_case(draw):
    return dict(
        shape=(
            draw(st.integers(1, 2)),
            draw(st.integers(1, 7)),
            draw(st.integers(1, 5)),
            draw(st.integers(1, 5)),
        ),
        size=draw(st.sampled_from([1, 3, 5, 7])),
        alpha=draw(st.floats(0.01, 2.0)),
        beta=draw(st.floats(0.1, 1.5)),
        k=draw(st.floats(0.5, 3.0)),
        within=draw(st.booleans()),
        opset=draw(st.sampled_from(OPSETS)),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


@settings(max_examples=150, **SETTINGS)
@given(lrn_case())
def test_lrn_matches_caffe(case):
    note(case)
    x = rand(case["shape"], case["seed"], 2.0)
    if case["within"]:
        attrs = LRNAttrs(case["size"], case["alpha"], case["beta"], 1.0, "within_channel")
        ref = lrn_within(x, case["size"], case["alpha"], case["beta"])
    else:
        attrs = LRNAttrs(case["size"], case["alpha"], case["beta"], case["k"])
        ref = lrn_across(x, case["size"], case["alpha"], case["beta"], case["k"])
    check(one_layer("LRN", case["shape"], attrs), {"data": x}, ref, opsets=(case["opset"],))


@pytest.mark.parametrize("shape", [(1, 9, 7, 5), (2, 6, 5, 3)])
def test_lrn_across_channels_by_row_blocks_on_the_threads(monkeypatch, shape):
    """Across-channel LRN by blocks of rows (thresholds lowered: one or two rows per block,
    spread over the threads) gives the brute-force Caffe result and onnxruntime's."""
    import graphconv.layers.norm as N

    monkeypatch.setattr(N, "LRN_BLOCK", shape[1] * shape[3])
    monkeypatch.setattr(N, "PARALLEL_ELEMENTS", 1)
    x = rand(shape, 4, 2.0)
    attrs = LRNAttrs(5, 0.5, 0.75, 2.0)
    check(one_layer("LRN", shape, attrs), {"data": x}, lrn_across(x, 5, 0.5, 0.75, 2.0))


def test_lrn_caffe_prototxts(tmp_path):
    """GoogLeNet/SegNet-style LRN (defaults: size 5, alpha 1, beta 0.75, k 1) and a
    WITHIN_CHANNEL LRN whose k Caffe ignores."""
    text = (
        input_block((2, 7, 5, 6))
        + 'layer { name: "a" type: "LRN" bottom: "data" top: "a" }\n'
        + 'layer { name: "b" type: "LRN" bottom: "a" top: "b" lrn_param { local_size: 3 '
        "alpha: 0.5 beta: 0.6 k: 7 norm_region: WITHIN_CHANNEL } }\n"
        + 'layer { name: "c" type: "LRN" bottom: "b" top: "c" lrn_param { local_size: 3 '
        "alpha: 0.0001 beta: 0.75 k: 2 } }\n"
    )
    g = gc.load(write(tmp_path, text))
    assert g.layer("a").attrs == LRNAttrs()
    assert g.layer("b").attrs == LRNAttrs(3, 0.5, f32(0.6), 1.0, "within_channel")
    x = rand((2, 7, 5, 6), 1, 3.0)
    ref = lrn_across(lrn_within(lrn_across(x, 5, 1.0, 0.75, 1.0), 3, 0.5, 0.6), 3, 1e-4, 0.75, 2)
    check(g, {"data": x}, ref)


def test_lrn_v1_caffenet(tmp_path):
    text = (
        'input: "data" input_dim: 1 input_dim: 4 input_dim: 3 input_dim: 3\n'
        'layers { name: "norm1" type: LRN bottom: "data" top: "norm1"\n'
        "  lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 } }\n"
    )
    g = gc.load(write(tmp_path, text))
    assert g.layer("norm1").type == "LRN"
    x = rand((1, 4, 3, 3), 2, 2.0)
    check(g, {"data": x}, lrn_across(x, 3, 0.5, 0.75, 1.0))


def test_lrn_errors(tmp_path):
    with pytest.raises(ValueError, match="local_size must be a positive odd number, got 4"):
        LRNAttrs(local_size=4)
    with pytest.raises(ValueError, match="region must be one of"):
        LRNAttrs(region="spatial")
    with pytest.raises(gc.GraphError, match=r"LRN needs a 4-D \(N, C, H, W\) input"):
        one_layer("LRN", (1, 3, 5), LRNAttrs())
    text = input_block((1, 4, 3, 3)) + (
        'layer { name: "n" type: "LRN" bottom: "data" top: "n" lrn_param { local_size: 2 } }\n'
    )
    with pytest.raises(
        gc.GraphError,
        match=r"net.prototxt:2: layer 'n' \(LRN\): local_size must "
        r"be a positive odd number",
    ):
        gc.load(write(tmp_path, text))


def test_bn_variant_from_blobs_in_the_layer():
    """A LayerParameter carrying its blobs is classified by their count before any field."""
    from graphconv.frontends.caffe.rules.norm import bn_variant

    lp = schema.LayerParameter(name="bn", type="BN")
    lp.bn_param.bn_mode = lp.bn_param.INFERENCE
    for _ in range(4):
        lp.blobs.add()
    assert bn_variant(lp) == "pspnet"
    del lp.blobs[2:]
    assert bn_variant(lp) == "segnet"


def test_batchnorm_phase_duplicated_erfnet(tmp_path):
    """ERFNet declares each BatchNorm twice (TRAIN: batch statistics, TEST: global); the TEST
    one is kept and reads the layer's blobs."""
    bn = (
        'layer {{ name: "bn" type: "BatchNorm" bottom: "data" top: "data"\n'
        "  batch_norm_param {{ use_global_stats: {g} }} include {{ phase: {p} }} }}\n"
    )
    text = (
        input_block((1, 2, 3, 3)) + bn.format(g="false", p="TRAIN") + bn.format(g="true", p="TEST")
    )
    blobs = {"bn": [np.array([0.5, -1.0]), np.array([2.0, 0.5]), np.array([0.5])]}
    g = gc.load(write(tmp_path, text), weights=caffemodel(tmp_path, blobs))
    assert g.count_types() == {"Input": 1, "BatchNorm": 1}
    assert g.layer("bn").attrs.statistics == "stored"
    x = rand((1, 2, 3, 3), 1)
    check(g, x, bn_caffe_blobs(x, *blobs["bn"][:2], 0.5, 1e-5))
