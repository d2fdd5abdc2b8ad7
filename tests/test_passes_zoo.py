"""Passes over the real models of ../shared/caffe-zoo, validated against onnxruntime.

`upsample-to-deconv,deconv-to-conv` on every model: afterwards no Deconvolution and no nearest
Upsample remain (max-unpooling and bilinear Interp may), the exported ONNX has no ConvTranspose
and no nearest Resize, and the model still validates. Models where the pattern occurs are checked
at a reduced input size where the declared one would make the zero-inserted convolutions slow
(the rewrite does not depend on the size); models without the pattern must come out unchanged,
which test_caffe_zoo.py already validates at full size.
"""

from __future__ import annotations

import pytest
from helpers import ZOO, zoo_files

import graphconv as gc
from graphconv import passes

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
}
FAILS_TO_LOAD = ("ChenYingpeng__caffe-yolov3",)  # see test_caffe_zoo.py


def _params():
    return (zoo_files() if ZOO.is_dir() else []) or [None]


def _size(path):
    return next((s for k, s in SMALL.items() if path.name.startswith(k)), None)


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
    if path.name.startswith(FAILS_TO_LOAD):
        return  # the load error itself is asserted in test_caffe_zoo.py
    graph = gc.load(path, input_shapes=_size(path))
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


def test_upsample_to_deconv_on_yolov3_tiny_head(zoo, tmp_path):
    """YOLOv3-tiny cannot load whole under BVLC pooling (see test_caffe_zoo.py); its layers up
    to the nearest Upsample (layer20) do, and carry the pattern this pass rewrites."""
    from google.protobuf import text_format

    from graphconv.frontends.caffe import schema

    net = schema.NetParameter()
    text_format.Parse(
        (zoo / "ChenYingpeng__caffe-yolov3__prototxt_yolov3-tiny.prototxt").read_text(), net
    )
    names = [lp.name for lp in net.layer]
    keep = names.index("layer20-upsample") + 1
    del net.layer[keep:]
    head = tmp_path / "yolov3_tiny_head.prototxt"
    head.write_text(text_format.MessageToString(net))
    graph = gc.load(head)
    assert graph.count_types()["Upsample"] == 1
    lowered = passes.apply(graph, ["upsample-to-deconv", "deconv-to-conv"], verify=True)
    assert not {"Upsample", "Deconvolution"} & set(lowered.count_types())
    ops = _onnx_ops(gc.to_onnx(lowered))
    assert ("Resize", "nearest") not in ops and not any(op == "ConvTranspose" for op, _ in ops)
    report = gc.validate(lowered)
    assert report.ok, "\n".join(report.lines())
