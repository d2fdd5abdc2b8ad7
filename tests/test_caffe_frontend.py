"""Caffe frontend, first cut: inputs, phases, in-place renaming, fillers, weights, errors.

Oracles: Caffe's output-size formulas evaluated by hand, Caffe's bilinear kernel written out,
hand-built caffemodel blobs, onnxruntime on the converted models.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import ROOT, write

import graphconv as gc
from graphconv.frontends.caffe import schema

MODELS = ROOT / "models"


CONV = (
    'layer {{ name: "{n}" type: "{t}" bottom: "{b}" top: "{top}"\n'
    "  convolution_param {{ {p} }} }}\n"
)


def test_bundled_models_shapes_follow_caffe_formulas():
    g = gc.load(MODELS / "fcn_tiny.prototxt")
    # conv: (H + 2p - k)/s + 1 ; deconv: s(H-1) + k - 2p
    assert g.specs["down1"].shape == (1, 32, (64 + 2 - 3) // 2 + 1, (96 + 2 - 3) // 2 + 1)
    assert g.specs["down2"].shape == (1, 64, 16, 24)
    assert g.specs["up1"].shape == (1, 32, 2 * 15 + 4 - 2, 2 * 23 + 4 - 2)
    assert g.specs["score"].shape == (1, 5, 64, 96)
    w = gc.load(MODELS / "wavenet_dilated_1d.prototxt")
    assert all(w.specs[t].shape[2] == 512 for t in ("dil1", "dil2", "dil4", "dil8"))
    assert [lay.attrs.dilation for lay in w.layers if lay.type == "Convolution"][:4] == [
        (1,),
        (2,),
        (4,),
        (8,),
    ]


@pytest.mark.parametrize("model", sorted(p.name for p in MODELS.glob("*.prototxt")))
def test_every_bundled_model_validates(model):
    report = gc.validate(gc.load(MODELS / model))
    assert report.ok, report.lines()
    assert all(o.rel <= 1e-4 for o in report.outputs)


def test_in_place_layers_become_single_assignment(tmp_path):
    p = write(
        tmp_path,
        'input: "x" input_dim: 1 input_dim: 2 input_dim: 5 input_dim: 5\n'
        + CONV.format(n="c", t="Convolution", b="x", top="c", p="num_output: 3 kernel_size: 3")
        + 'layer { name: "r" type: "ReLU" bottom: "c" top: "c" }\n'
        + 'layer { name: "r2" type: "ReLU" bottom: "c" top: "c" '
        + "relu_param { negative_slope: 0.5 } }\n",
    )
    g = gc.load(p)
    assert [(lay.name, lay.inputs, lay.outputs) for lay in g.layers[1:]] == [
        ("c", ("x",), ("c#1",)),
        ("r", ("c#1",), ("c#2",)),
        ("r2", ("c#2",), ("c",)),
    ]
    assert g.outputs == ("c",)
    assert g.layer("r2").attrs.negative_slope == 0.5


def test_input_forms_and_overrides(tmp_path):
    body = CONV.format(n="c", t="Convolution", b="data", top="c", p="num_output: 2 kernel_size: 1")
    forms = {
        "dim": 'input: "data" input_dim: 1 input_dim: 3 input_dim: 7 input_dim: 9\n',
        "shape": 'input: "data" input_shape { dim: 1 dim: 3 dim: 7 dim: 9 }\n',
        "layer": 'layer { name: "data" type: "Input" top: "data" '
        "input_param { shape { dim: 1 dim: 3 dim: 7 dim: 9 } } }\n",
    }
    for key, head in forms.items():
        g = gc.load(write(tmp_path, head + body, f"{key}.prototxt"))
        assert g.inputs == {"data": gc.TensorSpec((1, 3, 7, 9))}, key
        g = gc.load(
            write(tmp_path, head + body, f"{key}.prototxt"), input_shapes={"data": (2, 3, 4, 5)}
        )
        assert g.specs["c"].shape == (2, 2, 4, 5)
    p = write(tmp_path, 'input: "data"\n' + body, "noshape.prototxt")
    with pytest.raises(gc.ParseError, match="input 'data' has no shape; give one with"):
        gc.load(p)
    assert gc.load(p, input_shapes={"data": (1, 3, 4, 4)}).specs["c"].shape == (1, 2, 4, 4)


def test_test_phase_selection(tmp_path):
    text = (
        'input: "x" input_shape { dim: 1 dim: 1 dim: 4 dim: 4 }\n'
        'layer { name: "tr" type: "ReLU" bottom: "x" top: "y" include { phase: TRAIN } }\n'
        'layer { name: "te" type: "ReLU" bottom: "x" top: "y" include { phase: TEST }\n'
        "        relu_param { negative_slope: 0.25 } }\n"
        'layer { name: "ex" type: "ReLU" bottom: "y" top: "z" exclude { phase: TEST } }\n'
    )
    g = gc.load(write(tmp_path, text))
    assert [lay.name for lay in g.layers] == ["x", "te"]
    assert g.outputs == ("y",)


def test_fillers_seeded_and_bilinear(tmp_path):
    text = (
        'input: "x" input_shape { dim: 1 dim: 3 dim: 6 dim: 6 }\n'
        + CONV.format(
            n="up",
            t="Deconvolution",
            b="x",
            top="up",
            p="num_output: 3 group: 3 kernel_size: 4 stride: 2 bias_term: false "
            'weight_filler { type: "bilinear" }',
        )
        + CONV.format(
            n="c",
            t="Convolution",
            b="up",
            top="c",
            p='num_output: 4 kernel_size: 3 weight_filler { type: "xavier" } '
            'bias_filler { type: "constant" value: 0.5 }',
        )
        + CONV.format(n="d", t="Convolution", b="c", top="d", p="num_output: 4 kernel_size: 1")
    )
    p = write(tmp_path, text)
    g0, g0b, g1 = gc.load(p, seed=0), gc.load(p, seed=0), gc.load(p, seed=1)
    # Caffe's bilinear kernel for k=4: f=2, c=0.75 -> [0.25, 0.75, 0.75, 0.25] per axis
    taps = np.array([0.25, 0.75, 0.75, 0.25], np.float32)
    np.testing.assert_array_equal(
        g0.layer("up").params["weight"], np.broadcast_to(np.outer(taps, taps), (3, 1, 4, 4))
    )
    wc = g0.layer("c").params["weight"]
    bound = np.sqrt(3.0 / (3 * 9))  # xavier: uniform(+-sqrt(3/fan_in)), fan_in = C*k*k
    assert np.abs(wc).max() <= bound and np.abs(wc).max() > 0.5 * bound
    np.testing.assert_array_equal(g0.layer("c").params["bias"], np.full(4, 0.5, np.float32))
    # no filler: He-scaled weights and non-zero bias, not Caffe's constant 0
    wd, bd = g0.layer("d").params["weight"], g0.layer("d").params["bias"]
    assert 0.3 < wd.std() * np.sqrt(4 / 2) < 3.0 and np.abs(bd).max() > 0
    for name in ("c", "d"):
        np.testing.assert_array_equal(
            g0.layer(name).params["weight"], g0b.layer(name).params["weight"]
        )
        assert not np.array_equal(g0.layer(name).params["weight"], g1.layer(name).params["weight"])


def _caffemodel(layers: dict, v1: bool = False, legacy: bool = False) -> bytes:
    net = schema.NetParameter()
    for name, blobs in layers.items():
        lp = net.layers.add() if v1 else net.layer.add()
        lp.name = name
        for arr in blobs:
            bp = lp.blobs.add()
            if legacy:
                dims = (1,) * (4 - arr.ndim) + arr.shape
                bp.num, bp.channels, bp.height, bp.width = dims
            else:
                bp.shape.dim.extend(arr.shape)
            bp.data.extend(arr.ravel().tolist())
    return net.SerializeToString()


NET = (
    'input: "x" input_shape { dim: 1 dim: 2 dim: 5 dim: 5 }\n'
    + CONV.format(n="c", t="Convolution", b="x", top="c", p="num_output: 3 kernel_size: 3")
    + CONV.format(
        n="u",
        t="Deconvolution",
        b="c",
        top="u",
        p="num_output: 2 kernel_size: 2 stride: 2 bias_term: false",
    )
)


@pytest.mark.parametrize("v1, legacy", [(False, False), (True, False), (False, True)])
def test_weights_round_trip(tmp_path, v1, legacy):
    rng = np.random.default_rng(0)
    blobs = {
        "c": [
            rng.standard_normal((3, 2, 3, 3)).astype(np.float32),
            rng.standard_normal(3).astype(np.float32),
        ],
        "u": [rng.standard_normal((3, 2, 2, 2)).astype(np.float32)],
    }
    w = tmp_path / "w.caffemodel"
    w.write_bytes(_caffemodel(blobs, v1=v1, legacy=legacy))
    g = gc.load(write(tmp_path, NET), weights=w)
    np.testing.assert_array_equal(g.layer("c").params["weight"], blobs["c"][0])
    np.testing.assert_array_equal(g.layer("c").params["bias"], blobs["c"][1])
    np.testing.assert_array_equal(g.layer("u").params["weight"], blobs["u"][0])
    assert gc.validate(g).ok


def test_weights_mismatches_are_named(tmp_path):
    net = write(tmp_path, NET)
    w = tmp_path / "w.caffemodel"
    good_c = [np.zeros((3, 2, 3, 3), np.float32), np.zeros(3, np.float32)]
    w.write_bytes(_caffemodel({"c": good_c}))
    with pytest.raises(gc.GraphError, match=r"layer 'u' \(Deconvolution\): has no blobs"):
        gc.load(net, weights=w)
    w.write_bytes(
        _caffemodel(
            {
                "c": good_c,
                "u": [np.zeros((3, 2, 2, 2), np.float32)],
                "ghost": [np.zeros(1, np.float32)],
            }
        )
    )
    with pytest.raises(gc.ParseError, match="not in the prototxt.*: ghost"):
        gc.load(net, weights=w)
    w.write_bytes(
        _caffemodel(
            {
                "c": [np.zeros((3, 2, 2, 2), np.float32), good_c[1]],
                "u": [np.zeros((3, 2, 2, 2), np.float32)],
            }
        )
    )
    with pytest.raises(
        gc.GraphError,
        match=r"'weight' has shape \(3, 2, 2, 2\), expected "
        r"\(3, 2, 3, 3\)",
    ):
        gc.load(net, weights=w)


def test_parse_errors_name_file_line_column(tmp_path):
    p = write(
        tmp_path, 'name: "x"\nlayer {\n  name: "a"\n  type: "Input"\n  top: "a"\n  bogus: 3\n}\n'
    )
    with pytest.raises(gc.ParseError) as e:
        gc.load(p)
    assert str(e.value).startswith(f"{p}:6:")
    p = write(tmp_path, 'layer { name: "a" type: "Input" top: "a" ', "trunc.prototxt")
    with pytest.raises(gc.ParseError, match="trunc.prototxt:1"):
        gc.load(p)


def test_layer_errors_name_source_line(tmp_path):
    text = 'input: "x" input_shape { dim: 1 dim: 2 dim: 5 dim: 5 }\n' + CONV.format(
        n="c", t="Convolution", b="x", top="c", p="num_output: 3 kernel_size: 9"
    )
    with pytest.raises(
        gc.GraphError,
        match=r"net.prototxt:2: layer 'c' \(Convolution\): kernel "
        r"extent 9 exceeds the padded input 5",
    ):
        gc.load(write(tmp_path, text))
    text = 'input: "x" input_shape { dim: 1 dim: 2 dim: 5 dim: 5 }\n' + CONV.format(
        n="c", t="Convolution", b="y", top="c", p="num_output: 3 kernel_size: 1"
    )
    with pytest.raises(gc.GraphError, match="bottom 'y' is not produced"):
        gc.load(write(tmp_path, text))


def test_per_axis_fields(tmp_path):
    text = (
        'input: "x" input_shape { dim: 1 dim: 2 dim: 11 dim: 13 }\n'
        + CONV.format(
            n="c",
            t="Convolution",
            b="x",
            top="c",
            p="num_output: 2 kernel_h: 3 kernel_w: 1 pad_h: 1 stride_h: 2",
        )
        + CONV.format(
            n="d",
            t="Convolution",
            b="c",
            top="d",
            p="num_output: 2 kernel_size: 3 kernel_size: 2 pad: 1 pad: 2 dilation: 2",
        )
    )
    g = gc.load(write(tmp_path, text))
    c, d = g.layer("c").attrs, g.layer("d").attrs
    assert (c.kernel, c.pads_begin, c.stride) == ((3, 1), (1, 0), (2, 1))
    assert (d.kernel, d.pads_begin, d.pads_end, d.dilation) == ((3, 2), (1, 2), (1, 2), (2, 2))
    # (11+2-3)/2+1 = 6, 13 ; then (6+2-5)+1 = 4, (13+4-3)+1 = 15
    assert g.specs["d"].shape == (1, 2, 4, 15)
    assert gc.validate(g).ok


def test_data_and_loss_layers_are_dropped_and_reported(tmp_path):
    text = (
        'layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN } }\n'
        'layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST } }\n'
        + CONV.format(n="c", t="Convolution", b="data", top="c", p="num_output: 2 kernel_size: 3")
        + 'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "c" bottom: "label" top: "loss" }\n'
        'layer { name: "acc" type: "Accuracy" bottom: "c" bottom: "label" top: "acc" }\n'
    )
    p = write(tmp_path, text)
    with pytest.raises(
        gc.GraphError,
        match=r"layer 'c' \(Convolution\): bottom 'data' comes from "
        r"dropped layer 'data' \(Data\); give its shape",
    ):
        gc.load(p)
    g = gc.load(p, input_shapes={"data": (1, 3, 6, 6)})
    assert list(g.inputs) == ["data"] and g.outputs == ("c",)
    assert any("dropped layer 'loss' (SoftmaxWithLoss)" in n for n in g.notes)
    assert any("dropped layer 'acc' (Accuracy)" in n for n in g.notes)
    assert any("'data' (Data) replaced by graph input(s) data" in n for n in g.notes)


def test_deconvolution_with_dilation_2_matches_caffe_definition(tmp_path):
    import oracles as O

    text = 'input: "x" input_shape { dim: 1 dim: 4 dim: 5 dim: 6 }\n' + CONV.format(
        n="up",
        t="Deconvolution",
        b="x",
        top="up",
        p="num_output: 6 group: 2 kernel_size: 3 stride: 2 pad: 1 dilation: 2",
    )
    rng = np.random.default_rng(7)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    weights = tmp_path / "w.caffemodel"
    weights.write_bytes(_caffemodel({"up": [w, b]}))
    g = gc.load(write(tmp_path, text), weights=weights)
    # Caffe: s(H-1) + d(k-1) + 1 - 2p
    assert g.specs["up"].shape == (1, 6, 2 * 4 + 5 - 2, 2 * 5 + 5 - 2)
    x = rng.standard_normal((1, 4, 5, 6)).astype(np.float32)
    ref = O.deconv_scatter(x, w, b, (2, 2), (2, 2), (1, 1), (1, 1), (0, 0), 2)
    O.assert_close(gc.run(g, {"x": x})["up"], ref, 1e-5)
    report = gc.validate(g, {"x": x})
    assert report.outputs_ok, report.lines()
