"""Passes over the real models of ../shared/caffe-zoo, validated against onnxruntime.

`upsample-to-deconv,deconv-to-conv` on every model: afterwards no Deconvolution and no nearest
Upsample remain (max-unpooling and bilinear Interp may), the exported ONNX has no ConvTranspose
and no nearest Resize, and the model still validates. Models where the pattern occurs are checked
at a reduced input size where the declared one would make the zero-inserted convolutions slow
(the rewrite does not depend on the size); models without the pattern must come out unchanged,
which test_caffe_zoo.py already validates at full size.
"""

from __future__ import annotations

import numpy as np
import oracles as O
import pytest
from helpers import ZOO, zoo_files

import graphconv as gc
from graphconv import passes
from graphconv.builder import cut_out
from graphconv.ir import seeded_rng
from graphconv.validate import computed_tensors

PRODUCERS = ("Convolution", "Deconvolution", "InnerProduct")

LOWER = ["upsample-to-deconv", "deconv-to-conv"]
SMALL = {  # reduced sizes for models whose lowered deconvolutions are expensive at full size
    "NVIDIA__DIGITS": {"data": (1, 3, 256, 256)},
    "shelhamer__fcn": {"data": (1, 3, 160, 160)},
    "s9xie__hed": {"data": (1, 3, 160, 160)},
    "TimoSaemann__ENet": {"data": (1, 3, 256, 512)},
    "Yuelong-Yu__ERFNet": {"data": (1, 3, 256, 512)},
    "BVLC__caffe__models_bvlc_googlenet": {"data": (1, 3, 224, 224)},
    "BVLC__caffe__models_bvlc_reference_caffenet": {"data": (1, 3, 227, 227)},
    "forresti__SqueezeNet": {"data": (1, 3, 227, 227)},
    "ChenYingpeng__caffe-yolov3": {"data": (1, 3, 224, 224)},
}
FORKS = {"ChenYingpeng__caffe-yolov3": "caffe-yolov3"}  # BVLC rounding fails: test_caffe_zoo.py


def _params():
    return (zoo_files() if ZOO.is_dir() else []) or [None]


def _size(path):
    return next((s for k, s in SMALL.items() if path.name.startswith(k)), None)


def _fork(path):
    return next((f for k, f in FORKS.items() if path.name.startswith(k)), None)


def _onnx_ops(model):
    return {
        (n.op_type, next((a.s.decode() for a in n.attribute if a.name == "mode"), ""))
        for n in model.graph.node
    }


@pytest.mark.parametrize(
    "path", _params(), ids=lambda p: p.stem.split("__", 1)[1][:48] if p else "none"
)
def test_lowering_removes_deconvolution_and_nearest_resize(path):
    if path is None:
        zoo_files()
    graph = gc.load(path, input_shapes=_size(path), caffe_fork=_fork(path))
    lowered = passes.apply(graph, LOWER)
    types = lowered.count_types()
    assert "Deconvolution" not in types and "Upsample" not in types
    ops = _onnx_ops(gc.to_onnx(lowered))
    assert not any(op == "ConvTranspose" for op, _ in ops)
    assert ("Resize", "nearest") not in ops
    if not ({"Deconvolution", "Upsample"} & set(graph.count_types())):
        assert lowered.count_types() == graph.count_types()
        return
    if "MaxUnpool" in types:
        assert any("left MaxUnpool" in n for n in lowered.notes)
    report = gc.validate(lowered)
    assert report.ok, "\n".join(report.lines())


@pytest.mark.parametrize(
    "name, names, gone",
    [
        (
            "shelhamer__fcn.berkeleyvision.org__voc-fcn8s_deploy.prototxt",
            ["deconv-to-subpixel"],
            "Deconvolution",
        ),
        ("s9xie__hed__examples_hed_deploy.prototxt", ["deconv-to-subpixel"], "Deconvolution"),
        (
            "fyu__dilation__models_dilation8_pascal_voc_deploy.prototxt",
            ["dilated-to-space-to-batch"],
            None,
        ),
        (
            "Yuelong-Yu__ERFNet-Caffe__prototxts_erfnet_deploy.prototxt",
            ["dilated-to-dense", "fold-batchnorm"],
            None,
        ),
        (
            "TimoSaemann__ENet__prototxts_enet_deploy_final.prototxt",
            ["dilated-to-space-to-batch", "deconv-to-subpixel"],
            "Deconvolution",
        ),
    ],
)
def test_other_passes_on_zoo_models(name, names, gone, zoo):
    small = {"fyu__dilation": {"data": (1, 3, 500, 500)}}
    path = zoo / name
    graph = gc.load(
        path,
        input_shapes=_size(path) or next((s for k, s in small.items() if name.startswith(k)), None),
    )
    lowered = passes.apply(graph, names)
    if gone:
        assert gone not in lowered.count_types()
    if "dilated" in names[0]:
        assert all(
            lay.attrs.dilation == (1,) * lay.attrs.rank
            for lay in lowered.layers
            if lay.type == "Convolution" and lay.attrs.stride == (1,) * lay.attrs.rank
        )
    report = gc.validate(lowered)
    assert report.ok, "\n".join(report.lines())


FOLDED = {  # reduced sizes: the folding is per layer, whatever the input size (SegNet's
    # upsample4 has pad_out_h, so H/8 must be odd: 88 -> 11)
    "alexgkendall__SegNet-Tutorial__Example_Models_segnet_basic_camvid.prototxt": (1, 3, 88, 128),
    "TimoSaemann__ENet__prototxts_enet_deploy_final.prototxt": (1, 3, 256, 512),
}
LEFT = {  # the affine layers that must stay, and why
    "TimoSaemann__ENet__prototxts_enet_deploy_final.prototxt": {"bn0_1": "follows Concat"},
}


def _random_maps(graph):
    """``graph`` with seeded non-trivial BatchNorm/Scale parameters: SegNet's file fills its BN
    layers with scale 1 and shift 0.001, under which folding would be checked almost trivially."""

    def params(layer):
        rng = seeded_rng(1, layer.name)
        return {
            k: (
                rng.uniform(0.5, 1.5, v.shape)
                if k in ("scale", "variance")
                else 0.1 * rng.standard_normal(v.shape)
            ).astype(np.float32)
            for k, v in layer.params.items()
        }

    return graph.replace(
        layers=tuple(
            layer.replace(params=params(layer)) if layer.type in ("BatchNorm", "Scale") else layer
            for layer in graph.layers
        )
    )


@pytest.mark.parametrize("name", FOLDED, ids=lambda n: n.split("__")[1])
def test_fold_batchnorm_on_segnet_and_enet(name, zoo):
    """SegNet's Convolution -> BN (caffe-segnet INFERENCE: a Scale) and ENet's Deconvolution ->
    BN all fold. Checked twice: every rewrite site bit-equal on integer weights and inputs
    (passes/verify.py: a Scale with integer factors keeps every sum an integer), and every
    folded layer of the real model, with its real shapes and random float factors, against the
    original chain run layer by layer (unfused, so the interpreter's own folding is not used)
    on exactly the original's input tensor. Folding rescales W[o] by a[o] and reassociates
    a * sum(W x) into sum((a W) x): each output differs by float32 rounding of its K-term sum
    (K <= 7*7*64 here), about sqrt(K) * 2^-24 of the terms' magnitude, which in these nets stays
    within 10x of the output's largest value: 1e-4 relative to that value is a wide margin
    (measured: below 1e-6). Layer by layer, so a max-pooling near-tie that rounding flips
    (SegNet's and ENet's pooling masks) cannot turn rounding into an O(1) difference."""
    graph = _random_maps(gc.load(zoo / name, input_shapes={"data": FOLDED[name]}))
    folded, checks = passes.apply_checked(graph, ["fold-batchnorm"])
    assert checks and all(c.mode == "exact" and c.ok for c in checks), [c.line() for c in checks]
    left = {}
    for layer in folded.layers:
        if layer.type in ("BatchNorm", "Scale"):
            assert folded.producer[layer.inputs[0]].type not in PRODUCERS, layer.name
            left[layer.name] = next(n for n in folded.notes if f"'{layer.name}' in place" in n)
    assert {k: v for k, v in left.items() if LEFT.get(name, {}).get(k, "?") not in v} == {}
    assert len(left) == len(LEFT.get(name, {}))
    feeds = gc.random_feeds(graph, 0)
    ref = gc.run(graph, feeds, outputs=computed_tensors(graph), fuse=False)
    before = {id(layer) for layer in graph.layers}
    rewritten = [layer for layer in folded.layers if id(layer) not in before]
    assert len(rewritten) == len(checks)
    for layer in rewritten:
        one = cut_out([layer], {t: graph.specs[t] for t in layer.inputs}, layer.outputs, "one")
        (out,) = layer.outputs
        got = gc.run(one, {t: ref[t] for t in layer.inputs})[out]
        O.assert_close(got, ref[out], 1e-4, f"{layer.name} -> {out}")
