"""SSD layers (graphconv.layers.detection, the Caffe rules and the ONNX emission) against the
per-box oracles of tests/oracles/detection.py, onnxruntime on the export, and MobileNet-SSD."""

from __future__ import annotations

import dataclasses

import numpy as np
import oracles as O
import pytest
from helpers import OPSETS, ZOO, check, cli, write, zoo_files

import graphconv as gc
from graphconv import DetectionOutputAttrs, GraphBuilder, NormalizeAttrs, PriorBoxAttrs
from graphconv.errors import ExportError
from graphconv.ir import Graph
from graphconv.validate import run_onnxruntime

# Decoded coordinates are O(1) and pass through a few float32 operations (an exp for
# CENTER_SIZE) in a different order in each engine: agreement to ~1e-6; 1e-5 leaves margin.
BOX_ATOL = 1e-5


# ---- Normalize -----------------------------------------------------------------------------------


@pytest.mark.parametrize("across", [True, False])
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("eps", [1e-10, 0.5])
def test_normalize_matches_the_oracle_and_onnxruntime(across, shared, eps):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 4, 3)).astype(np.float32)
    b = GraphBuilder("norm")
    t = b.input("x", x.shape)
    attrs = NormalizeAttrs(across_spatial=across, channel_shared=shared, eps=eps)
    scale = rng.uniform(1, 20, 1 if shared else 5).astype(np.float32)
    b.add("Normalize", t, attrs, params={"scale": scale})
    # a sum of squares, a square root and a division: relative error a few float32 ulps
    check(b.build(), x, O.normalize_ref(x, scale, across, eps).astype(np.float32), tol=1e-5)


# ---- PriorBox ------------------------------------------------------------------------------------

PRIOR_CASES = [
    # MobileNet-SSD's conv11 and conv13 heads (300x300 input)
    dict(
        layer=(19, 19),
        image=(300, 300),
        min_sizes=(60.0,),
        ratios=(2.0,),
        variance=(0.1, 0.1, 0.2, 0.2),
    ),
    dict(
        layer=(10, 10),
        image=(300, 300),
        min_sizes=(105.0,),
        max_sizes=(150.0,),
        ratios=(2.0, 3.0),
        variance=(0.1, 0.1, 0.2, 0.2),
        clip=True,
    ),
    # two sizes, a duplicate ratio (0.5 comes with 2 already), no flip, one variance
    dict(
        layer=(3, 5),
        image=(40, 64),
        min_sizes=(8.0, 16.0),
        max_sizes=(12.0, 30.0),
        ratios=(2.0, 0.5, 2.0),
        flip=False,
        variance=(0.3,),
    ),
    # fractional sizes (the fork truncates them), explicit steps, offset 0, non-square
    dict(
        layer=(4, 6),
        image=(50, 70),
        min_sizes=(10.7,),
        max_sizes=(20.9,),
        ratios=(1.5,),
        step_h=12.0,
        step_w=11.0,
        offset=0.0,
    ),
]


@pytest.mark.parametrize("case", PRIOR_CASES)
def test_prior_box_matches_the_per_cell_oracle(case):
    lh, lw = case["layer"]
    ih, iw = case["image"]
    kw = {k: v for k, v in case.items() if k not in ("layer", "image")}
    attrs = PriorBoxAttrs(
        min_size=kw.get("min_sizes"),
        max_size=kw.get("max_sizes", ()),
        aspect_ratio=kw.get("ratios", ()),
        flip=kw.get("flip", True),
        clip=kw.get("clip", False),
        variance=kw.get("variance", (0.1,)),
        step_h=kw.get("step_h", 0.0),
        step_w=kw.get("step_w", 0.0),
        offset=kw.get("offset", 0.5),
    )
    b = GraphBuilder("priors")
    f = b.input("feature", (1, 4, lh, lw))
    img = b.input("image", (1, 3, ih, iw))
    b.add("PriorBox", [f, img], attrs)
    ref = O.prior_box_ref(lh, lw, ih, iw, **kw)
    # the fork stores float32 coordinates computed partly in double: 1e-6 covers that rounding
    feeds = {
        "feature": np.zeros((1, 4, lh, lw), np.float32),
        "image": np.zeros((1, 3, ih, iw), np.float32),
    }
    check(b.build(), feeds, ref.astype(np.float32), allclose=True, tol=1e-6)


def test_prior_box_with_img_size_needs_no_image_input():
    attrs = PriorBoxAttrs(
        min_size=(30.0,), aspect_ratio=(2.0,), img_h=320, img_w=320, step_h=16.0, step_w=16.0
    )
    b = GraphBuilder("priors")
    b.add("PriorBox", b.input("feature", (1, 4, 20, 20)), attrs)
    ref = O.prior_box_ref(20, 20, 320, 320, (30.0,), ratios=(2.0,), step_h=16.0, step_w=16.0)
    check(
        b.build(),
        np.zeros((1, 4, 20, 20), np.float32),
        ref.astype(np.float32),
        allclose=True,
        tol=1e-6,
    )


def test_prior_box_rejects_what_the_fork_rejects():
    with pytest.raises(ValueError, match="max_size must be greater"):
        PriorBoxAttrs(min_size=(30.0,), max_size=(20.0,))
    with pytest.raises(ValueError, match="1 or 4"):
        PriorBoxAttrs(min_size=(30.0,), variance=(0.1, 0.2))


# ---- DetectionOutput -----------------------------------------------------------------------------


def _inputs(rng, n, num_classes, share, loc_scale=0.5, lh=3, lw=4):
    priors = O.prior_box_ref(
        lh, lw, 96, 128, (30.0,), (60.0,), (2.0,), variance=(0.1, 0.1, 0.2, 0.2)
    ).astype(np.float32)
    p = priors.shape[2] // 4
    locs = 1 if share else num_classes
    loc = (loc_scale * rng.standard_normal((n, p * locs * 4))).astype(np.float32)
    conf = rng.uniform(0, 1, (n, p * num_classes)).astype(np.float32)
    return loc, conf, priors


def _graph(attrs, loc, conf, priors):
    b = GraphBuilder("det")
    ins = [b.input(k, v.shape) for k, v in (("loc", loc), ("conf", conf), ("priors", priors))]
    b.add("DetectionOutput", ins, attrs, name="detection_out")
    return b.build()


DET_CASES = [
    dict(
        code_type="CENTER_SIZE",
        nms_threshold=0.45,
        top_k=20,
        keep_top_k=15,
        confidence_threshold=0.3,
    ),
    dict(code_type="CENTER_SIZE", variance_encoded_in_target=True, nms_threshold=0.3),
    dict(code_type="CORNER", nms_threshold=0.5, confidence_threshold=0.5, top_k=10),
    dict(code_type="CORNER_SIZE", nms_threshold=0.2, keep_top_k=7),
    dict(
        code_type="CORNER",
        share_location=False,
        background_label_id=-1,
        nms_threshold=0.4,
        top_k=8,
        keep_top_k=12,
    ),
    dict(
        code_type="CENTER_SIZE",
        share_location=False,
        background_label_id=2,
        confidence_threshold=0.6,
    ),
]


@pytest.mark.parametrize("case", DET_CASES)
def test_detection_output_matches_the_oracle_in_order(case):
    rng = np.random.default_rng(7)
    attrs = DetectionOutputAttrs(num_classes=4, **case)
    loc, conf, priors = _inputs(rng, 2, 4, attrs.share_location)
    out = gc.run(_graph(attrs, loc, conf, priors), {"loc": loc, "conf": conf, "priors": priors})
    got = O.detections(out["detection_out"])
    want = O.detection_output_ref(
        loc,
        conf,
        priors,
        4,
        attrs.share_location,
        attrs.background_label_id,
        attrs.nms_threshold,
        attrs.top_k,
        attrs.eta,
        attrs.code_type,
        attrs.variance_encoded_in_target,
        attrs.keep_top_k,
        attrs.confidence_threshold,
    )
    assert got, "the case should detect something"
    assert len(got) == len(want)
    for g_row, w_row in zip(got, want):  # Caffe's order: image, label, NMS order
        assert g_row[:2] == w_row[:2], (g_row, w_row)
        np.testing.assert_allclose(g_row[2:], w_row[2:], atol=BOX_ATOL)
    pad = out["detection_out"].reshape(-1, 7)[len(got) :]
    assert np.all(pad == -1)


@pytest.mark.parametrize("case", DET_CASES)
def test_detection_output_export_finds_the_same_detections(case):
    """onnxruntime's NonMaxSuppression may visit equal scores in another order (see
    graphconv/layers/detection_onnx.py): detections are compared as sets."""
    rng = np.random.default_rng(11)
    attrs = DetectionOutputAttrs(num_classes=4, **case)
    loc, conf, priors = _inputs(rng, 2, 4, attrs.share_location)
    g = _graph(attrs, loc, conf, priors)
    feeds = {"loc": loc, "conf": conf, "priors": priors}
    ours = gc.run(g, feeds)["detection_out"]
    for opset in OPSETS:
        theirs = run_onnxruntime(gc.to_onnx(g, opset=opset), feeds)["detection_out"]
        assert theirs.shape == ours.shape
        O.assert_same_detections(O.detections(theirs), O.detections(ours), BOX_ATOL)
        assert np.all(theirs.reshape(-1, 7)[len(O.detections(theirs)) :] == -1)


def test_inverted_boxes_neither_suppress_nor_are_suppressed():
    """CORNER decoding of large offsets turns boxes inside out; the fork gives them size 0."""
    rng = np.random.default_rng(3)
    attrs = DetectionOutputAttrs(num_classes=3, code_type="CORNER", nms_threshold=0.1)
    loc, conf, priors = _inputs(rng, 1, 3, True, loc_scale=4.0)
    g = _graph(attrs, loc, conf, priors)
    feeds = {"loc": loc, "conf": conf, "priors": priors}
    got = O.detections(gc.run(g, feeds)["detection_out"])
    want = O.detection_output_ref(loc, conf, priors, 3, nms_threshold=0.1, code_type="CORNER")
    inverted = [r for r in want if r[5] < r[3] or r[6] < r[4]]
    assert inverted, "the case should hold inverted boxes"
    O.assert_same_detections(got, want, BOX_ATOL)
    theirs = run_onnxruntime(gc.to_onnx(g), feeds)["detection_out"]
    O.assert_same_detections(O.detections(theirs), got, BOX_ATOL)


def test_adaptive_nms_runs_but_has_no_onnx_export():
    rng = np.random.default_rng(5)
    attrs = DetectionOutputAttrs(num_classes=3, code_type="CENTER_SIZE", nms_threshold=0.9, eta=0.7)
    loc, conf, priors = _inputs(rng, 1, 3, True)
    g = _graph(attrs, loc, conf, priors)
    got = O.detections(gc.run(g, {"loc": loc, "conf": conf, "priors": priors})["detection_out"])
    want = O.detection_output_ref(
        loc, conf, priors, 3, nms_threshold=0.9, eta=0.7, code_type="CENTER_SIZE"
    )
    O.assert_same_detections(got, want, BOX_ATOL)
    with pytest.raises(ExportError, match="eta"):
        gc.to_onnx(g)


def test_detection_output_checks_its_input_sizes():
    attrs = DetectionOutputAttrs(num_classes=4)
    loc, conf, priors = _inputs(np.random.default_rng(0), 1, 4, True)
    with pytest.raises(gc.GraphError, match="loc of"):
        _graph(attrs, loc[:, :-4], conf, priors)


# ---- the Caffe frontend --------------------------------------------------------------------------

SSD_HEAD = """
layer { name: "feat" type: "Convolution" bottom: "data" top: "feat"
  convolution_param { num_output: 8 kernel_size: 3 pad: 1 stride: 4 } }
layer { name: "feat_norm" type: "Normalize" bottom: "feat" top: "feat_norm"
  norm_param { across_spatial: false channel_shared: false
    scale_filler { type: "constant" value: 20 } } }
layer { name: "loc" type: "Convolution" bottom: "feat_norm" top: "loc"
  convolution_param { num_output: 16 kernel_size: 1 } }
layer { name: "loc_perm" type: "Permute" bottom: "loc" top: "loc_perm"
  permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "loc_flat" type: "Flatten" bottom: "loc_perm" top: "loc_flat" }
layer { name: "conf" type: "Convolution" bottom: "feat_norm" top: "conf"
  convolution_param { num_output: 12 kernel_size: 1 } }
layer { name: "conf_perm" type: "Permute" bottom: "conf" top: "conf_perm"
  permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "conf_flat" type: "Flatten" bottom: "conf_perm" top: "conf_flat" }
layer { name: "conf_shape" type: "Reshape" bottom: "conf_flat" top: "conf_shape"
  reshape_param { shape { dim: 0 dim: -1 dim: 3 } } }
layer { name: "conf_softmax" type: "Softmax" bottom: "conf_shape" top: "conf_softmax"
  softmax_param { axis: 2 } }
layer { name: "conf_out" type: "Flatten" bottom: "conf_softmax" top: "conf_out" }
layer { name: "priors" type: "PriorBox" bottom: "feat" bottom: "data" top: "priors"
  prior_box_param { min_size: 12 max_size: 24 aspect_ratio: 2 flip: true clip: true
    variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 step: 4 offset: 0.5 } }
layer { name: "detection_out" type: "DetectionOutput"
  bottom: "loc_flat" bottom: "conf_out" bottom: "priors" top: "detection_out"
  include { phase: TEST }
  detection_output_param { num_classes: 3 share_location: true background_label_id: 0
    nms_param { nms_threshold: 0.45 top_k: 30 } code_type: CENTER_SIZE keep_top_k: 20
    confidence_threshold: 0.2
    save_output_param { output_directory: "/tmp/x" output_format: "VOC"
      resize_param { prob: 1 resize_mode: WARP height: 300 width: 300 interp_mode: LINEAR } } } }
"""


def test_caffe_ssd_head_reads_every_parameter_and_validates(tmp_path):
    path = write(tmp_path, SSD_HEAD, inputs={"data": (1, 3, 32, 40)})
    g = gc.load(path)
    by_name = {layer.name: layer for layer in g.layers}
    norm = by_name["feat_norm"].attrs
    assert (norm.across_spatial, norm.channel_shared) == (False, False)
    assert norm.eps == pytest.approx(1e-10)  # the default, as a float32 field holds it
    np.testing.assert_array_equal(by_name["feat_norm"].params["scale"], np.full(8, 20.0))
    pb = by_name["priors"].attrs
    assert (pb.min_size, pb.max_size, pb.ratios, pb.clip, pb.step_h, pb.step_w) == (
        (12.0,),
        (24.0,),
        (1.0, 2.0, 0.5),
        True,
        4.0,
        4.0,
    )
    det = by_name["detection_out"].attrs
    assert (det.code_type, det.top_k, det.keep_top_k, det.confidence_threshold) == (
        "CENTER_SIZE",
        30,
        20,
        pytest.approx(0.2),
    )
    assert g.specs["detection_out"].shape == (1, 1, 20, 7)
    out = gc.run(g, gc.random_feeds(g, 0))["detection_out"]
    assert O.detections(out), "the seeded head should detect something"
    proc = cli("validate", path)
    assert proc.returncode == 0, proc.stderr + proc.stdout


@pytest.mark.parametrize(
    "fields, want",
    [
        ("img_size: 64", dict(img_h=64, img_w=64, step_h=4.0, step_w=4.0)),
        ("img_h: 48 img_w: 80", dict(img_h=48, img_w=80, step_h=4.0, step_w=4.0)),
    ],
)
def test_caffe_prior_box_image_size_fields(tmp_path, fields, want):
    text = SSD_HEAD.replace("step: 4 offset", f"step: 4 {fields} offset")
    g = gc.load(write(tmp_path, text, inputs={"data": (1, 3, 32, 40)}))
    pb = next(layer for layer in g.layers if layer.type == "PriorBox")
    assert {k: getattr(pb.attrs, k) for k in want} == want
    ref = O.prior_box_ref(
        8,
        10,
        want["img_h"],
        want["img_w"],
        (12.0,),
        (24.0,),
        (2.0,),
        clip=True,
        variance=(0.1, 0.1, 0.2, 0.2),
        step_h=4.0,
        step_w=4.0,
    )
    got = gc.run(g, gc.random_feeds(g, 0), outputs=["priors"])["priors"]
    np.testing.assert_allclose(got, ref, atol=1e-6)  # float32 rounding of O(1) coordinates


def test_caffe_prior_box_with_step_and_step_h_is_an_error_naming_the_layer(tmp_path):
    text = SSD_HEAD.replace("step: 4 offset", "step: 4 step_h: 4 step_w: 4 offset")
    with pytest.raises(
        gc.GraphError, match=r"layer 'priors' \(PriorBox\): .*step or step_h/step_w"
    ):
        gc.load(write(tmp_path, text, inputs={"data": (1, 3, 32, 40)}))


# ---- MobileNet-SSD (chuanqi305) ------------------------------------------------------------------

MOBILENET_SSD = "chuanqi305__MobileNet-SSD__MobileNetSSD_deploy.prototxt"


def _mobilenet_ssd():
    zoo_files()  # skips (fails under CI) when the whole folder is absent
    path = ZOO / MOBILENET_SSD
    if not path.is_file():
        pytest.skip(f"{path.name} is not in {ZOO} (chuanqi305/MobileNet-SSD @ 72c0cf1c)")
    return path


def test_mobilenet_ssd_converts_and_validates():
    path = _mobilenet_ssd()
    # 160x160 instead of 300x300 for speed: the same layers, feature maps 10x10 down to 1x1
    proc = cli("validate", path, "--input-shape", "data=1,3,160,160")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "detection_out 1x1x100x7" in proc.stdout


def test_mobilenet_ssd_detections_match_onnxruntime_as_sets():
    """With random weights no softmax score reaches the file's threshold 0.3 (1/21 on average);
    at 0.05 there are detections to compare."""
    g = gc.load(_mobilenet_ssd(), input_shapes={"data": (2, 3, 160, 160)})
    layers = tuple(
        layer.replace(attrs=dataclasses.replace(layer.attrs, confidence_threshold=0.05))
        if layer.type == "DetectionOutput"
        else layer
        for layer in g.layers
    )
    g = Graph(layers, g.outputs, g.name)
    feeds = gc.random_feeds(g, 0)
    ours = gc.run(g, feeds)["detection_out"]
    theirs = run_onnxruntime(gc.to_onnx(g), feeds)["detection_out"]
    assert len(O.detections(ours)) > 50
    O.assert_same_detections(O.detections(theirs), O.detections(ours), BOX_ATOL)


# ---- validate: detections compared as sets -------------------------------------------------------


def test_detection_rows_are_compared_as_sets():
    """DetectionOutput.compare_outputs puts one engine's rows in the other's order, within an
    image and label: a reordering costs nothing, a moved box or a changed label still does."""
    from graphconv.registry import layer_type
    from graphconv.validate import measure

    hook = layer_type("DetectionOutput").compare_outputs
    attrs = DetectionOutputAttrs(num_classes=3)
    rows = [[0, 1, 0.9, 0.1, 0.1, 0.4, 0.4], [0, 1, 0.9, 0.5, 0.5, 0.8, 0.8]]
    rows += [[0, 2, 0.7, 0.2, 0.1, 0.3, 0.6], [1, 1, 0.9, 0.1, 0.1, 0.4, 0.4]] + [[-1] * 7] * 2
    ref = np.array(rows, np.float32).reshape(1, 1, 6, 7)
    shuffled = ref[:, :, [1, 0, 3, 2, 4, 5]]
    assert measure(shuffled, ref)[0] > 0.3  # element by element, the order alone differs
    assert measure(*hook(attrs, shuffled, ref))[:2] == (0.0, 0.0)
    moved = shuffled.copy()
    moved[0, 0, 0, 3] += 0.01  # a box moved by 0.01
    assert measure(*hook(attrs, moved, ref))[0] == pytest.approx(0.01, rel=1e-4)
    relabeled = shuffled.copy()
    relabeled[0, 0, 2, 1] = 2  # image 1's detection now says label 2: no partner
    assert measure(*hook(attrs, relabeled, ref))[0] >= 0.5


def _swap_halves(b, tensor, shape, axis, name):
    """``tensor`` viewed as ``shape``, its two halves along ``axis`` swapped, viewed back."""
    from graphconv.layers.slicing import SliceAttrs
    from graphconv.layers.tensor import ConcatAttrs, ReshapeAttrs

    flat = b.specs[tensor].shape
    v = b.add("Reshape", tensor, ReshapeAttrs(shape=shape), name=f"{name}/view")
    lo, hi = b.add(
        "Slice", v, SliceAttrs(2, axis, (shape[axis] // 2,)), n_outputs=2, name=f"{name}/halves"
    )
    c = b.add("Concat", [hi, lo], ConcatAttrs(axis), name=f"{name}/swap")
    return b.add("Reshape", c, ReshapeAttrs(shape=flat), name=f"{name}/back")


def test_validate_compares_detections_as_sets():
    """The same detections in another row order are no mismatch for validate: the original
    graph lists the priors in the other order (their halves swapped), so with every score equal
    and no suppression (IoU threshold 1) the same rows come out in another order."""
    rng = np.random.default_rng(3)
    attrs = DetectionOutputAttrs(num_classes=3, nms_threshold=1.0, top_k=100)
    loc, conf, priors = _inputs(rng, 1, 3, True)
    conf[:] = 0.5
    feeds = {"loc": loc, "conf": conf, "priors": priors}
    g = _graph(attrs, loc, conf, priors)
    n = priors.shape[2] // 4
    b = GraphBuilder("swapped")
    ins = [b.input(k, v.shape) for k, v in feeds.items()]
    ins = [
        _swap_halves(b, ins[0], (1, n, 4), 1, "loc"),
        _swap_halves(b, ins[1], (1, n, 3), 1, "conf"),
        _swap_halves(b, ins[2], (1, 2, n, 4), 2, "priors"),
    ]
    b.add("DetectionOutput", ins, attrs, name="detection_out")
    original = b.build()
    ours, theirs = gc.run(g, feeds)["detection_out"], gc.run(original, feeds)["detection_out"]
    assert not np.array_equal(ours, theirs)  # the order differs ...
    O.assert_same_detections(O.detections(ours), O.detections(theirs), 0.0)  # ... not the set
    report = gc.validate(g, feeds, original=original)
    assert report.ok, report.lines()
    assert all(c.max_abs <= BOX_ATOL for c in report.passes + report.end_to_end)
