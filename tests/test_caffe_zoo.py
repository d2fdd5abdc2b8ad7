"""Every real model in ../shared/caffe-zoo converts and validates against onnxruntime.

Oracles: onnxruntime on the exported model (relative error <= 1e-4 on every output), and the
models themselves (nobody on this project wrote them). Inputs are the declared sizes unless a
size is stated here with its reason.
"""

from __future__ import annotations

import pytest
from helpers import ZOO, zoo_files

import graphconv as gc

# file stem prefix -> input shapes used here (None: the prototxt's own), and why
SIZES = {
    # batch 10 in the deploy files; one image is the same computation ten times less
    "BVLC__caffe__models_bvlc_googlenet": {"data": (1, 3, 224, 224)},
    "BVLC__caffe__models_bvlc_reference_caffenet": {"data": (1, 3, 227, 227)},
    "forresti__SqueezeNet": {"data": (1, 3, 227, 227)},
}

# Files whose own (BVLC) semantics make them inconsistent: the expected one-line error.
INCONSISTENT = {
    # layer12-maxpool (k2 s1 p0) turns 13 into 12 under Caffe's rounding; upsampled that is 24,
    # against layer9's 26 at the route Concat (layer9-act is layer9-conv's in-place activation)
    "ChenYingpeng__caffe-yolov3": r"yolov3-tiny.prototxt:\d+: layer 'layer21-route' \(Concat\): "
    r"Concat inputs differ on axis 2: 24 vs 26.*1x128x24x24 from "
    r"layer 'layer20-upsample'.*1x256x26x26 from layer 'layer9-act'",
}


def _params():
    files = zoo_files() if ZOO.is_dir() else []
    return files or [None]


def _sizes(path):
    for prefix, shapes in SIZES.items():
        if path.name.startswith(prefix):
            return shapes
    return None


@pytest.mark.parametrize(
    "path", _params(), ids=lambda p: p.stem.split("__", 1)[1][:48] if p else "none"
)
def test_zoo_model_validates(path):
    if path is None:
        zoo_files()  # skips with a reason, or fails under CI
    expect_error = next(
        (pat for key, pat in INCONSISTENT.items() if path.name.startswith(key)), None
    )
    if expect_error:
        with pytest.raises(gc.GraphError, match=expect_error) as err:
            gc.load(path, input_shapes=_sizes(path))
        assert "\n" not in str(err.value)
        return
    graph = gc.load(path, input_shapes=_sizes(path))
    report = gc.validate(graph, rtol=1e-4)
    assert report.ok, "\n".join(report.lines())
