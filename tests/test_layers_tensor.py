"""Tensor plumbing layers (Concat, Slice, Split, Crop, Flatten, Reshape, Permute, ShuffleChannel,
ArgMax) and their Caffe rules.

Oracles: element-by-element transcriptions of the Caffe forward passes written here (index maps
and loops, nothing imported from graphconv), and onnxruntime on the exported model at opsets 13,
17 and 21. Graphs come from small prototxts modelled on the zoo models that use these layers
(HED, FCN-8s, GoogLeNet, ShuffleNet, SegNet, YOLOv3-tiny), so the rules are exercised too.
Where a test graph also contains convolutions, each backend's own intermediate tensors are fed
to the oracle, so only the plumbing layers are judged.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import helpers as H
import numpy as np
import pytest
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st
from oracles import (
    argmax_ref,
    caffe_reshape_shape,
    concat_ref,
    crop_ref,
    permute_ref,
    row_major_refill,
    shuffle_ref,
    slice_ref,
)

import graphconv as gc
from graphconv import GraphBuilder
from graphconv.frontends.caffe.reader import parse_prototxt
from graphconv.frontends.caffe.rules import RULES
from graphconv.layers.argmax import ArgMaxAttrs
from graphconv.layers.slicing import CropAttrs, SliceAttrs
from graphconv.layers.tensor import (
    ConcatAttrs,
    ReshapeAttrs,
    ShuffleChannelAttrs,
    SplitAttrs,
)
from graphconv.validate import run_onnxruntime

OPSETS = (13, 17, 21)
SETTINGS = {"deadline": None}


# ---- helpers -------------------------------------------------------------------------------------


def load_text(text: str) -> gc.Graph:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "net.prototxt"
        p.write_text(text)
        return gc.load(p)


def shape_text(shape) -> str:
    return " ".join(f"dim: {d}" for d in shape)


def inputs(**shapes) -> str:
    return "".join(f'input: "{n}" input_shape {{ {shape_text(s)} }}\n' for n, s in shapes.items())


def feeds_for(g, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    out = {}
    for n, s in g.inputs.items():
        x = rng.standard_normal(s.shape).astype(np.float32)
        out[n] = np.round(x) if ties else x
    return out


def check_exact(g, feeds, refs, opsets=OPSETS):
    """Interpreter and onnxruntime outputs equal the oracle bit for bit (pure data movement)."""
    H.check(g, feeds, refs, opsets=opsets, exact=True)


def check_with_intermediates(g, feeds, oracle, opsets=OPSETS, rtol=0.0):
    """``oracle(tensors) -> {name: expected}`` is evaluated on each backend's own tensors."""
    every = [t for lay in g.layers if not lay.definition.is_source for t in lay.outputs]
    runs = {"interpreter": {**feeds, **gc.run(g, feeds, outputs=every)}}
    for opset in opsets:
        got = run_onnxruntime(gc.to_onnx(g, opset=opset, extra_outputs=every), feeds)
        runs[f"onnxruntime opset {opset}"] = {**feeds, **got}
    for who, tensors in runs.items():
        for name, ref in oracle(tensors).items():
            assert g.specs[name].shape == ref.shape, name
            np.testing.assert_allclose(
                tensors[name], ref, rtol=rtol, atol=rtol, err_msg=f"{who} '{name}'"
            )


# ---- zoo-style prototxts -------------------------------------------------------------------------

HED_LIKE = """name: "FCN"
input: "data"
input_dim: 1
input_dim: 3
input_dim: 20
input_dim: 22
layer { bottom: 'data' top: 'conv1_1' name: 'conv1_1' type: "Convolution"
  convolution_param { engine: CAFFE num_output: 4 pad: 5 kernel_size: 3 } }
layer { name: 'score-dsn1' type: "Convolution" bottom: 'conv1_1' top: 'score-dsn1-up'
  convolution_param { engine: CAFFE num_output: 1 kernel_size: 1 } }
layer { type: "Crop" name: 'crop1' bottom: 'score-dsn1-up' bottom: 'data' top: 'upscore-dsn1' }
layer { name: 'score-dsn5' type: "Convolution" bottom: 'conv1_1' top: 'score-dsn5'
  convolution_param { engine: CAFFE num_output: 1 kernel_size: 3 stride: 2 } }
layer { type: "Deconvolution" name: 'upsample_16' bottom: 'score-dsn5' top: 'score-dsn5-up'
  convolution_param { kernel_size: 4 stride: 2 num_output: 1 } }
layer { type: "Crop" name: 'crop5' bottom: 'score-dsn5-up' bottom: 'data' top: 'upscore-dsn5' }
layer { name: "concat" bottom: "upscore-dsn1"  bottom: "upscore-dsn5" top: "concat-upscore"
  type: "Concat"
  concat_param { concat_dim: 1} }
"""


@pytest.mark.parametrize("batch", [1, 2])
def test_large_channel_concat_by_blocks_on_the_threads(monkeypatch, batch):
    """A large float32 Concat along the channels copies blocks of channels on the threads (the
    thresholds lowered so that small tensors take that path, in several blocks per input):
    bit for bit Caffe's element-by-element join, and onnxruntime's."""
    import graphconv.layers.tensor as T

    calls = []
    real = T._concat_channels
    monkeypatch.setattr(T, "PARALLEL_ELEMENTS", 64)
    monkeypatch.setattr(T, "EPILOGUE_BLOCK", 40)
    monkeypatch.setattr(T, "_concat_channels", lambda xs: calls.append(len(xs)) or real(xs))
    shapes = [(batch, 5, 4, 6), (batch, 1, 4, 6), (batch, 3, 4, 6)]
    b = GraphBuilder()
    ins = [b.input(f"x{i}", s) for i, s in enumerate(shapes)]
    b.add("Concat", ins, ConcatAttrs(1), name="cat")
    g = b.build()
    feeds = feeds_for(g, 3)
    check_exact(g, feeds, {"cat": concat_ref([feeds[f"x{i}"] for i in range(3)], 1)})
    assert calls == [3]


def test_hed_crops_without_parameters_and_concat_dim():
    g = load_text(HED_LIKE)
    assert g.layer("crop5").attrs == CropAttrs(axis=2, offsets=())
    assert g.layer("concat").attrs == ConcatAttrs(axis=1)
    # conv pad 5: 20 + 10 - 2 = 28 (x 30); stride 2: 13 (x 14); deconv: 2*12 + 4 = 28 (x 30)
    assert g.specs["score-dsn1-up"].shape == (1, 1, 28, 30)
    assert g.specs["score-dsn5-up"].shape == (1, 1, 28, 30)
    assert g.specs["upscore-dsn5"].shape == (1, 1, 20, 22)
    assert g.specs["concat-upscore"].shape == (1, 2, 20, 22)

    def oracle(t):
        c1 = crop_ref(t["score-dsn1-up"], t["data"].shape, 2, [])
        c5 = crop_ref(t["score-dsn5-up"], t["data"].shape, 2, [])
        return {"upscore-dsn1": c1, "upscore-dsn5": c5, "concat-upscore": concat_ref([c1, c5], 1)}

    check_with_intermediates(g, feeds_for(g, 1), oracle)


FCN8S_LIKE = """name: "fcn8s_like"
input: "data" input_shape { dim: 1 dim: 3 dim: 50 dim: 45 }
input: "score_fr" input_shape { dim: 1 dim: 3 dim: 4 dim: 4 }
input: "score_pool4" input_shape { dim: 1 dim: 3 dim: 17 dim: 16 }
input: "score_pool3" input_shape { dim: 1 dim: 3 dim: 33 dim: 34 }
layer { name: "upscore2" type: "Deconvolution" bottom: "score_fr" top: "upscore2"
  convolution_param { num_output: 3 bias_term: false kernel_size: 4 stride: 2 } }
layer { name: "score_pool4c" type: "Crop" bottom: "score_pool4" bottom: "upscore2"
  top: "score_pool4c" crop_param { axis: 2 offset: 5 } }
layer { name: "fuse_pool4" type: "Eltwise" bottom: "upscore2" bottom: "score_pool4c"
  top: "fuse_pool4" eltwise_param { operation: SUM } }
layer { name: "upscore_pool4" type: "Deconvolution" bottom: "fuse_pool4" top: "upscore_pool4"
  convolution_param { num_output: 3 bias_term: false kernel_size: 4 stride: 2 } }
layer { name: "score_pool3c" type: "Crop" bottom: "score_pool3" bottom: "upscore_pool4"
  top: "score_pool3c" crop_param { axis: 2 offset: 9 } }
layer { name: "fuse_pool3" type: "Eltwise" bottom: "upscore_pool4" bottom: "score_pool3c"
  top: "fuse_pool3" eltwise_param { operation: SUM } }
layer { name: "upscore8" type: "Deconvolution" bottom: "fuse_pool3" top: "upscore8"
  convolution_param { num_output: 3 bias_term: false kernel_size: 16 stride: 8 } }
layer { name: "score" type: "Crop" bottom: "upscore8" bottom: "data" top: "score"
  crop_param { axis: 2 offset: 31 } }
"""


def test_fcn8s_crops_with_offsets():
    g = load_text(FCN8S_LIKE)
    assert g.layer("score").attrs == CropAttrs(axis=2, offsets=(31,))
    assert g.specs["upscore2"].shape == (1, 3, 10, 10)
    assert g.specs["upscore_pool4"].shape == (1, 3, 22, 22)
    assert g.specs["upscore8"].shape == (1, 3, 184, 184)
    assert g.specs["score"].shape == (1, 3, 50, 45)

    def oracle(t):
        return {
            "score_pool4c": crop_ref(t["score_pool4"], t["upscore2"].shape, 2, [5]),
            "score_pool3c": crop_ref(t["score_pool3"], t["upscore_pool4"].shape, 2, [9]),
            "score": crop_ref(t["upscore8"], t["data"].shape, 2, [31]),
        }

    check_with_intermediates(g, feeds_for(g, 2), oracle)


def test_fcn8s_crop_too_large_is_an_error():
    text = FCN8S_LIKE.replace("offset: 31", "offset: 140")
    with pytest.raises(gc.GraphError) as info:
        load_text(text)
    msg = str(info.value)
    assert "layer 'score' (Crop)" in msg
    assert "offset 140 + reference size 50 exceeds the input size 184" in msg


GOOGLENET_LIKE = """name: "inception_like"
input: "data" input_shape { dim: 1 dim: 4 dim: 7 dim: 7 }
layer { name: "inception_3a/1x1" type: "Convolution" bottom: "data" top: "inception_3a/1x1"
  convolution_param { num_output: 3 kernel_size: 1 } }
layer { name: "inception_3a/3x3" type: "Convolution" bottom: "data" top: "inception_3a/3x3"
  convolution_param { num_output: 5 pad: 1 kernel_size: 3 } }
layer { name: "inception_3a/5x5" type: "Convolution" bottom: "data" top: "inception_3a/5x5"
  convolution_param { num_output: 2 pad: 2 kernel_size: 5 } }
layer { name: "inception_3a/pool_proj" type: "Convolution" bottom: "data"
  top: "inception_3a/pool_proj" convolution_param { num_output: 2 kernel_size: 1 } }
layer {
  name: "inception_3a/output"
  type: "Concat"
  bottom: "inception_3a/1x1"
  bottom: "inception_3a/3x3"
  bottom: "inception_3a/5x5"
  bottom: "inception_3a/pool_proj"
  top: "inception_3a/output"
}
"""


def test_googlenet_inception_concat():
    g = load_text(GOOGLENET_LIKE)
    assert g.specs["inception_3a/output"].shape == (1, 12, 7, 7)
    branches = [
        "inception_3a/1x1",
        "inception_3a/3x3",
        "inception_3a/5x5",
        "inception_3a/pool_proj",
    ]
    check_with_intermediates(
        g,
        feeds_for(g, 3),
        lambda t: {"inception_3a/output": concat_ref([t[b] for b in branches], 1)},
    )


SHUFFLENET_LIKE = """name: "shufflenet_like"
input: "data"
input_shape { dim: 1 dim: 6 dim: 5 dim: 5 }
layer { name: "resx1_match_conv" type: "Convolution" bottom: "data" top: "resx1_match_conv"
  convolution_param { num_output: 6 kernel_size: 1 } }
layer { name: "resx1_conv3" type: "Convolution" bottom: "data" top: "resx1_conv3"
  convolution_param { num_output: 6 kernel_size: 1 group: 3 } }
layer { name: "resx1_concat" type: "Concat" bottom: "resx1_match_conv" bottom: "resx1_conv3"
  top: "resx1_concat" }
layer { name: "resx1_concat_relu" type: "ReLU" bottom: "resx1_concat" top: "resx1_concat" }
layer { name: "resx2_conv1" type: "Convolution" bottom: "resx1_concat" top: "resx2_conv1"
  convolution_param { num_output: 9 kernel_size: 1 group: 3 } }
layer { name: "shuffle2" type: "ShuffleChannel" bottom: "resx2_conv1" top: "shuffle2"
  shuffle_channel_param { group: 3 } }
layer { name: "resx2_conv2" type: "ConvolutionDepthwise" bottom: "shuffle2" top: "resx2_conv2"
  convolution_param { num_output: 9 kernel_size: 3 pad: 1 } }
layer { name: "resx2_conv3" type: "Convolution" bottom: "resx2_conv2" top: "resx2_conv3"
  convolution_param { num_output: 12 kernel_size: 1 group: 3 } }
layer { name: "resx2_elewise" type: "Eltwise" bottom: "resx1_concat" bottom: "resx2_conv3"
  top: "resx2_elewise" eltwise_param { operation: SUM } }
"""


def test_shufflenet_unit():
    g = load_text(SHUFFLENET_LIKE)
    assert g.layer("shuffle2").attrs == ShuffleChannelAttrs(group=3)

    def oracle(t):
        concat = concat_ref([t["resx1_match_conv"], t["resx1_conv3"]], 1)
        return {
            "resx1_concat#1": concat,
            "shuffle2": shuffle_ref(t["resx2_conv1"], 3),
            "resx2_elewise": (t["resx1_concat"] + t["resx2_conv3"]).astype(np.float32),
        }

    check_with_intermediates(g, feeds_for(g, 4), oracle, rtol=1e-6)


def test_segnet_argmax_over_classes():
    text = (
        inputs(dense_softmax_inner_prod=(1, 11, 6, 8))
        + """layer {
  name: "argmax"
  type: "ArgMax"
  bottom: "dense_softmax_inner_prod"
  top: "argmax"
  argmax_param {
    axis: 1
  }
}
"""
    )
    g = load_text(text)
    assert g.layer("argmax").attrs == ArgMaxAttrs(axis=1)
    assert g.specs["argmax"].shape == (1, 1, 6, 8)
    for ties in (False, True):
        feeds = feeds_for(g, 5, ties=ties)
        ref = argmax_ref(feeds["dense_softmax_inner_prod"], False, 1, 1)
        if not ties:  # plain numpy agrees where there are no ties
            np.testing.assert_array_equal(
                ref[:, 0], np.argmax(feeds["dense_softmax_inner_prod"], axis=1)
            )
        check_exact(g, feeds, {"argmax": ref})


def test_yolov3_tiny_route_mismatch_names_inputs_and_axis():
    text = (
        inputs(**{"layer19-conv": (1, 128, 13, 13), "layer9-conv": (1, 256, 27, 27)})
        + 'layer { bottom: "layer19-conv" top: "layer20-upsample" name: "layer20-upsample"'
        ' type: "Upsample" upsample_param { scale: 2 } }\n'
        'layer { bottom: "layer20-upsample" bottom: "layer9-conv" top: "layer21-route"'
        ' name: "layer21-route" type: "Concat" }\n'
    )
    with pytest.raises(gc.GraphError) as info:
        load_text(text)
    msg = str(info.value)
    assert "layer 'layer21-route' (Concat)" in msg
    assert "Concat inputs differ on axis 2: 26 vs 27" in msg
    assert "1x128x26x26" in msg and "1x256x27x27" in msg
    assert "from layer 'layer20-upsample'" in msg and "only the concat axis 1" in msg


def test_single_bottom_concat_is_identity():
    # YOLOv3-tiny's layer18-route: a Concat with one bottom
    text = (
        inputs(**{"layer14-conv": (1, 4, 3, 3)})
        + 'layer { bottom: "layer14-conv" top: "layer18-route" name: "layer18-route"'
        ' type: "Concat" }\n'
    )
    g = load_text(text)
    feeds = feeds_for(g, 6)
    check_exact(g, feeds, {"layer18-route": feeds["layer14-conv"]})


def test_v1_layers():
    text = (
        'input: "data" input_dim: 2 input_dim: 6 input_dim: 3 input_dim: 4\n'
        'layers { name: "split" type: SPLIT bottom: "data" top: "d1" top: "d2" }\n'
        'layers { name: "slice" type: SLICE bottom: "d1" top: "s1" top: "s2" top: "s3"\n'
        "  slice_param { slice_dim: 1 slice_point: 1 slice_point: 4 } }\n"
        'layers { name: "cat" type: CONCAT bottom: "s3" bottom: "d2" top: "cat"\n'
        "  concat_param { concat_dim: 1 } }\n"
        'layers { name: "flat" type: FLATTEN bottom: "cat" top: "flat" }\n'
        'layers { name: "am" type: ARGMAX bottom: "s2" top: "am"\n'
        "  argmax_param { out_max_val: true top_k: 2 } }\n"
    )
    g = load_text(text)
    assert [lay.type for lay in g.layers[1:]] == ["Split", "Slice", "Concat", "Flatten", "ArgMax"]
    feeds = feeds_for(g, 7)
    x = feeds["data"]
    s1, s2, s3 = slice_ref(x, 1, [1, 4], 3)
    cat = concat_ref([s3, x], 1)
    check_exact(
        g,
        feeds,
        {
            "d1": x,
            "d2": x,
            "s1": s1,
            "s2": s2,
            "s3": s3,
            "flat": row_major_refill(cat, (2, 8 * 12)),
            "am": argmax_ref(s2, True, 2, None),
        },
    )
    assert g.specs["am"].shape == (2, 2, 2, 1)  # Caffe keeps the input's rank (>= 3)


def test_zoo_layers_translate_with_their_real_parameters(zoo):
    """The rules applied to the layer parameters as written in the real zoo files."""

    def layers_of(file, kind):
        net = parse_prototxt((zoo / file).read_text(), file)
        return [lp for lp in net.layer if lp.type == kind]

    def translate(lp, shapes):
        return RULES[lp.type](lp, [gc.TensorSpec(s) for s in shapes])

    fcn = layers_of("shelhamer__fcn.berkeleyvision.org__voc-fcn8s_deploy.prototxt", "Crop")
    assert [(lp.name, translate(lp, [(1, 21, 9, 9)] * 2).attrs) for lp in fcn] == [
        ("score_pool4c", CropAttrs(2, (5,))),
        ("score_pool3c", CropAttrs(2, (9,))),
        ("score", CropAttrs(2, (31,))),
    ]
    hed = "s9xie__hed__examples_hed_deploy.prototxt"
    crops = layers_of(hed, "Crop")
    assert len(crops) == 5 and all(
        translate(lp, [(1, 1, 9, 9)] * 2).attrs == CropAttrs() for lp in crops
    )
    (cat,) = layers_of(hed, "Concat")
    assert translate(cat, [(1, 1, 9, 9)] * 5).attrs == ConcatAttrs(1)
    goog = layers_of("BVLC__caffe__models_bvlc_googlenet_deploy.prototxt", "Concat")
    assert len(goog) == 9 and {translate(lp, []).attrs for lp in goog} == {ConcatAttrs(1)}
    shuffles = layers_of(
        "farmingyard__ShuffleNet__shufflenet_1x_g3_deploy.prototxt", "ShuffleChannel"
    )
    assert shuffles and {translate(lp, []).attrs for lp in shuffles} == {ShuffleChannelAttrs(3)}
    (am,) = layers_of(
        "alexgkendall__SegNet-Tutorial__Example_Models_segnet_basic_camvid.prototxt", "ArgMax"
    )
    assert translate(am, []).attrs == ArgMaxAttrs(False, 1, 1)


# ---- hand-checked small cases --------------------------------------------------------------------


def test_shuffle_channel_direction_by_hand():
    # C = 6, g = 3: channels [a0 a1 | b0 b1 | c0 c1] -> [a0 b0 c0 a1 b1 c1]
    x = np.arange(6, dtype=np.float32).reshape(1, 6, 1, 1)
    b = GraphBuilder()
    b.add("ShuffleChannel", b.input("data", x.shape), ShuffleChannelAttrs(3), name="s")
    want = np.array([0, 2, 4, 1, 3, 5], dtype=np.float32).reshape(1, 6, 1, 1)
    np.testing.assert_array_equal(shuffle_ref(x, 3), want)
    check_exact(b.build(), {"data": x}, {"s": want})


def test_argmax_ties_pick_the_last_index_like_caffe():
    # partial_sort by std::greater on (value, index): equal values, larger index first
    x = np.array([[3, 1, 3, 0, 3, 2]], dtype=np.float32)
    for k, axis, mv, want in [
        (1, None, False, [[[4]]]),
        (3, None, False, [[[4, 2, 0]]]),
        (4, None, True, [[[4, 2, 0, 5], [3, 3, 3, 2]]]),
        (2, 1, False, [[4, 2]]),
        (2, 1, True, [[3, 3]]),
        (1, -1, False, [[4]]),
    ]:
        b = GraphBuilder()
        b.add("ArgMax", b.input("data", x.shape), ArgMaxAttrs(mv, k, axis), name="am")
        ref = np.array(want, dtype=np.float32)
        np.testing.assert_array_equal(argmax_ref(x, mv, k, axis), ref)
        check_exact(b.build(), {"data": x}, {"am": ref})


def test_split_outputs_are_copies():
    b = GraphBuilder()
    b.add("Split", b.input("data", (1, 2, 3)), SplitAttrs(3), name="sp", n_outputs=3)
    g = b.build()
    feeds = feeds_for(g, 8)
    check_exact(g, feeds, {f"sp:{i}": feeds["data"] for i in range(3)})


# ---- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,match",
    [
        (
            (
                'layer { name: "l" type: "Concat" bottom: "x" bottom: "x" top: "y" '
                "concat_param { axis: 1 concat_dim: 1 } }"
            ),
            "either axis or concat_dim",
        ),
        (
            (
                'layer { name: "l" type: "Concat" bottom: "x" bottom: "x" top: "y" '
                "concat_param { axis: 4 } }"
            ),
            "Concat axis 4 is out of range for a rank-4 input",
        ),
        (
            (
                'layer { name: "l" type: "Slice" bottom: "x" top: "a" top: "b" '
                "slice_param { axis: 2 } }"
            ),
            "2 outputs do not evenly divide axis 2 of size 5",
        ),
        (
            (
                'layer { name: "l" type: "Slice" bottom: "x" top: "a" top: "b" '
                "slice_param { slice_point: 2 slice_point: 3 } }"
            ),
            "2 slice points make 3 parts",
        ),
        (
            (
                'layer { name: "l" type: "Slice" bottom: "x" top: "a" top: "b" '
                "slice_param { slice_point: 6 } }"
            ),
            "slice point 6 leaves nothing",
        ),
        (
            (
                'layer { name: "l" type: "Slice" bottom: "x" top: "a" top: "b" '
                "slice_param { axis: 1 slice_dim: 1 } }"
            ),
            "either axis or slice_dim",
        ),
        (
            (
                'layer { name: "l" type: "Crop" bottom: "x" bottom: "x" top: "y" '
                "crop_param { axis: 1 offset: 0 offset: 1 } }"
            ),
            "needs 1 or 3 offsets, got 2",
        ),
        (
            (
                'layer { name: "l" type: "ShuffleChannel" bottom: "x" top: "y" '
                "shuffle_channel_param { group: 4 } }"
            ),
            "group 4 does not divide 6 channels",
        ),
        (
            (
                'layer { name: "l" type: "Reshape" bottom: "x" top: "y" '
                "reshape_param { shape { dim: 0 dim: 4 dim: -1 } } }"
            ),
            "not divisible",
        ),
        (
            (
                'layer { name: "l" type: "Reshape" bottom: "x" top: "y" '
                "reshape_param { shape { dim: 2 dim: 3 } } }"
            ),
            "has 6 values, the input 210",
        ),
        (
            (
                'layer { name: "l" type: "Reshape" bottom: "x" top: "y" '
                "reshape_param { shape { dim: -1 dim: -1 } } }"
            ),
            "at most one reshape dim may be -1",
        ),
        (
            (
                'layer { name: "l" type: "Permute" bottom: "x" top: "y" '
                "permute_param { order: 0 order: 0 } }"
            ),
            "duplicate",
        ),
        (
            ('layer { name: "l" type: "Permute" bottom: "x" top: "y" permute_param { order: 4 } }'),
            "beyond the rank-4",
        ),
        (
            (
                'layer { name: "l" type: "Flatten" bottom: "x" top: "y" '
                "flatten_param { axis: 3 end_axis: 1 } }"
            ),
            "comes before axis",
        ),
        (
            (
                'layer { name: "l" type: "ArgMax" bottom: "x" top: "y" '
                "argmax_param { axis: 2 top_k: 6 } }"
            ),
            "top_k 6 exceeds the 5 entries of axis 2",
        ),
    ],
)
def test_errors_name_the_layer_and_the_problem(body, match):
    text = inputs(x=(1, 6, 5, 7)) + body + "\n"
    with pytest.raises(gc.GraphError, match=match) as info:
        load_text(text)
    assert "layer 'l'" in str(info.value)


def test_attrs_validation():
    with pytest.raises(ValueError, match="positive and increasing"):
        SliceAttrs(3, 1, (2, 2))
    with pytest.raises(ValueError, match=">= 0"):
        CropAttrs(2, (-1,))
    with pytest.raises(ValueError, match="top_k must be >= 1"):
        ArgMaxAttrs(top_k=0)
    with pytest.raises(ValueError, match="group must be >= 1"):
        ShuffleChannelAttrs(0)
    with pytest.raises(ValueError, match="num_axes"):
        ReshapeAttrs((1,), num_axes=-2)
    with pytest.raises(gc.GraphError, match="attributes are required"):
        gc.Layer("s", "Split", ("x",), ("a", "b"))


# ---- property tests ------------------------------------------------------------------------------

ranks = st.integers(1, 4)
opsets = st.sampled_from(OPSETS)
seeds = st.integers(0, 2**31 - 1)


@st.composite
def concat_case(draw):
    rank = draw(ranks)
    axis = draw(st.integers(-rank, rank - 1))
    base = draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank))
    n = draw(st.integers(1, 4))
    shapes = []
    for _ in range(n):
        s = list(base)
        s[axis] = draw(st.integers(1, 4))
        shapes.append(tuple(s))
    legacy = axis >= 0 and draw(st.booleans())
    return shapes, axis, legacy, draw(opsets), draw(seeds)


@settings(max_examples=100, **SETTINGS)
@given(concat_case())
def test_concat_property(case):
    shapes, axis, legacy, opset, seed = case
    note(repr(case))
    names = [f"x{i}" for i in range(len(shapes))]
    param = f"concat_dim: {axis}" if legacy else f"axis: {axis}"
    g = load_text(
        inputs(**dict(zip(names, shapes)))
        + 'layer { name: "c" type: "Concat" '
        + "".join(f'bottom: "{n}" ' for n in names)
        + f'top: "c" concat_param {{ {param} }} }}\n'
    )
    feeds = feeds_for(g, seed)
    check_exact(g, feeds, {"c": concat_ref([feeds[n] for n in names], axis)}, (opset,))


@st.composite
def slice_case(draw):
    rank = draw(ranks)
    shape = draw(st.lists(st.integers(1, 6), min_size=rank, max_size=rank))
    axis = draw(st.integers(-rank, rank - 1))
    size = shape[axis]
    if draw(st.booleans()):
        points = (
            sorted(draw(st.sets(st.integers(1, size - 1), max_size=size - 1))) if size > 1 else []
        )
        n = len(points) + 1
    else:
        points = []
        n = draw(st.sampled_from([d for d in range(1, size + 1) if size % d == 0]))
    style = "slice_dim" if axis >= 0 and draw(st.booleans()) else "axis"
    return tuple(shape), axis, points, n, style, draw(opsets), draw(seeds)


@settings(max_examples=100, **SETTINGS)
@given(slice_case())
def test_slice_property(case):
    shape, axis, points, n, style, opset, seed = case
    note(repr(case))
    tops = [f"t{i}" for i in range(n)]
    param = f"{style}: {axis} " + "".join(f"slice_point: {p} " for p in points)
    g = load_text(
        inputs(x=shape)
        + 'layer { name: "s" type: "Slice" bottom: "x" '
        + "".join(f'top: "{t}" ' for t in tops)
        + f"slice_param {{ {param} }} }}\n"
    )
    feeds = feeds_for(g, seed)
    check_exact(g, feeds, dict(zip(tops, slice_ref(feeds["x"], axis, points, n))), (opset,))


@st.composite
def crop_case(draw):
    rank = draw(st.integers(1, 4))
    axis = draw(st.integers(0, rank - 1))
    mode = draw(st.sampled_from(["none", "one", "each"]))
    n = rank - axis
    if mode == "none":
        offsets = []
    elif mode == "one":
        offsets = [draw(st.integers(0, 3))]
    else:
        offsets = [draw(st.integers(0, 3)) for _ in range(n)]
    x_shape, ref_shape = [], []
    for i in range(rank):
        if i < axis:
            d = draw(st.integers(1, 4))
            x_shape.append(d)
            ref_shape.append(draw(st.integers(1, 4)))  # ignored before the axis
        else:
            off = 0 if not offsets else offsets[0] if len(offsets) == 1 else offsets[i - axis]
            r = draw(st.integers(1, 4))
            ref_shape.append(r)
            x_shape.append(r + off + draw(st.integers(0, 2)))
    spell_axis = axis - rank if draw(st.booleans()) else axis
    return tuple(x_shape), tuple(ref_shape), spell_axis, offsets, draw(opsets), draw(seeds)


@settings(max_examples=100, **SETTINGS)
@given(crop_case())
def test_crop_property(case):
    x_shape, ref_shape, axis, offsets, opset, seed = case
    note(repr(case))
    param = f"axis: {axis} " + "".join(f"offset: {o} " for o in offsets)
    g = load_text(
        inputs(x=x_shape, r=ref_shape)
        + f'layer {{ name: "c" type: "Crop" bottom: "x" bottom: "r" top: "c" '
        f"crop_param {{ {param} }} }}\n"
    )
    feeds = feeds_for(g, seed)
    check_exact(g, feeds, {"c": crop_ref(feeds["x"], ref_shape, axis, offsets)}, (opset,))


def _factor(draw, total, max_parts):
    """A random ordered factorisation of ``total`` into 0..max_parts factors."""
    dims = []
    while total > 1 and len(dims) < max_parts - 1:
        divisors = [d for d in range(1, total + 1) if total % d == 0]
        d = draw(st.sampled_from(divisors))
        dims.append(d)
        total //= d
    if total > 1 or draw(st.booleans()):
        dims.append(total)
    return dims


@st.composite
def reshape_case(draw):
    rank = draw(ranks)
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    start = draw(st.integers(0, rank))
    num_axes = draw(st.integers(-1, rank - start))
    end = rank if num_axes == -1 else start + num_axes
    new = _factor(draw, math.prod(shape[start:end]), 4)
    target = shape[:start] + tuple(new) + shape[end:]
    spelled = list(new)
    for i, d in enumerate(new):  # 0 copies the input dim at the same position
        if start + i < rank and shape[start + i] == d and draw(st.booleans()):
            spelled[i] = 0
    if new and draw(st.booleans()):
        spelled[draw(st.integers(0, len(new) - 1))] = -1
    spell_axis = start - rank - 1 if draw(st.booleans()) else start
    return shape, tuple(spelled), spell_axis, num_axes, target, draw(opsets), draw(seeds)


@settings(max_examples=150, **SETTINGS)
@given(reshape_case())
def test_reshape_property(case):
    shape, new, axis, num_axes, target, opset, seed = case
    note(repr(case))
    expected = caffe_reshape_shape(shape, new, axis, num_axes)
    assert expected == target  # the transcription of Caffe agrees with the generator
    dims = " ".join(f"dim: {d}" for d in new)
    g = load_text(
        inputs(x=shape) + 'layer { name: "r" type: "Reshape" bottom: "x" top: "r" '
        f"reshape_param {{ shape {{ {dims} }} axis: {axis} num_axes: {num_axes} }} }}\n"
    )
    feeds = feeds_for(g, seed)
    check_exact(g, feeds, {"r": row_major_refill(feeds["x"], target)}, (opset,))


@st.composite
def flatten_case(draw):
    rank = draw(ranks)
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    start = draw(st.integers(0, rank - 1))
    end = draw(st.integers(start, rank - 1))
    spell = (
        start - rank if draw(st.booleans()) else start,
        end - rank if draw(st.booleans()) else end,
    )
    return (
        shape,
        spell,
        shape[:start] + (math.prod(shape[start : end + 1]),) + shape[end + 1 :],
        draw(opsets),
        draw(seeds),
    )


@settings(max_examples=60, **SETTINGS)
@given(flatten_case())
def test_flatten_property(case):
    shape, (axis, end_axis), target, opset, seed = case
    note(repr(case))
    g = load_text(
        inputs(x=shape) + 'layer { name: "f" type: "Flatten" bottom: "x" top: "f" '
        f"flatten_param {{ axis: {axis} end_axis: {end_axis} }} }}\n"
    )
    feeds = feeds_for(g, seed)
    check_exact(g, feeds, {"f": row_major_refill(feeds["x"], target)}, (opset,))


@st.composite
def permute_case(draw):
    rank = draw(ranks)
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    order = draw(st.permutations(range(rank)))[: draw(st.integers(0, rank))]
    return shape, tuple(order), draw(opsets), draw(seeds)


@settings(max_examples=60, **SETTINGS)
@given(permute_case())
def test_permute_property(case):
    shape, order, opset, seed = case
    note(repr(case))
    param = "".join(f"order: {o} " for o in order)
    g = load_text(
        inputs(x=shape) + 'layer { name: "p" type: "Permute" bottom: "x" top: "p" '
        f"permute_param {{ {param} }} }}\n"
    )
    feeds = feeds_for(g, seed)
    check_exact(g, feeds, {"p": permute_ref(feeds["x"], order)}, (opset,))


@st.composite
def shuffle_case(draw):
    group = draw(st.integers(1, 4))
    channels = group * draw(st.integers(1, 4))
    spatial = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    return (draw(st.integers(1, 2)), channels) + spatial, group, draw(opsets), draw(seeds)


@settings(max_examples=60, **SETTINGS)
@given(shuffle_case())
def test_shuffle_channel_property(case):
    shape, group, opset, seed = case
    note(repr(case))
    g = load_text(
        inputs(x=shape) + 'layer { name: "s" type: "ShuffleChannel" bottom: "x" '
        f'top: "s" shuffle_channel_param {{ group: {group} }} }}\n'
    )
    feeds = feeds_for(g, seed)
    check_exact(g, feeds, {"s": shuffle_ref(feeds["x"], group)}, (opset,))


@st.composite
def argmax_case(draw):
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    axis = draw(st.one_of(st.none(), st.integers(-rank, rank - 1)))
    if axis is None:
        assume(rank >= 2)
        room = math.prod(shape[1:])
    else:
        room = shape[axis]
    top_k = draw(st.integers(1, room))
    return (shape, axis, top_k, draw(st.booleans()), draw(st.booleans()), draw(opsets), draw(seeds))


@settings(max_examples=150, **SETTINGS)
@given(argmax_case())
def test_argmax_property(case):
    shape, axis, top_k, out_max_val, ties, opset, seed = case
    note(repr(case))
    param = f"out_max_val: {str(out_max_val).lower()} top_k: {top_k} " + (
        f"axis: {axis}" if axis is not None else ""
    )
    g = load_text(
        inputs(x=shape) + 'layer { name: "a" type: "ArgMax" bottom: "x" top: "a" '
        f"argmax_param {{ {param} }} }}\n"
    )
    feeds = feeds_for(g, seed, ties=ties)
    check_exact(g, feeds, {"a": argmax_ref(feeds["x"], out_max_val, top_k, axis)}, (opset,))


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
@pytest.mark.parametrize("b", [1, 2, 3])
def test_depth_to_space_against_its_definition(mode, b):
    from oracles import depth_to_space_ref

    from graphconv.layers.tensor import DepthToSpaceAttrs

    x = np.random.default_rng(b).standard_normal((2, 2 * b * b, 3, 4)).astype(np.float32)
    bld = GraphBuilder("d2s")
    bld.add("DepthToSpace", bld.input("x", x.shape), DepthToSpaceAttrs(b, mode), name="d2s")
    g = bld.build()
    assert g.specs["d2s"].shape == (2, 2, 3 * b, 4 * b)
    H.check(g, x, depth_to_space_ref(x, b, mode), exact=True)
    with pytest.raises(gc.GraphconvError, match="does not divide"):
        bad = GraphBuilder("bad")
        bad.add("DepthToSpace", bad.input("x", (1, 3, 2, 2)), DepthToSpaceAttrs(2))
        bad.build()
