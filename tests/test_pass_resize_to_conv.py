"""resize-to-conv: Interp and Resize (any mode and size) as Transpose + 1x1 Convolution per
resized axis.

Oracles: the ONNX specification's coordinate maps in exact rationals with the interpolation
kernels by brute force (oracles.kernel_oracle for linear and cubic, resize_oracle for nearest),
Caffe's Interp transcribed (oracles.caffe_interp), and onnxruntime on the export. Tolerance:
1e-5 of the largest value (the weights are rounded to float32 once and each output is a short
weighted sum with weights summing to 1; cubic's negative lobes stay below 1.5x in magnitude).
Where every weight is dyadic (nearest) the result is bit-equal to the oracle. The export must
hold only Conv and Transpose, at no rank above the input's.
"""

from __future__ import annotations

import numpy as np
import oracles as O
import pytest
from helpers import SETTINGS, one_layer_graph
from helpers import lowering_three_ways as three_ways
from helpers import onnx_ops_and_rank as ops_and_rank
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

import graphconv as gc
from graphconv import passes
from graphconv.layers.resize import ResizeAttrs

CTMS = ("align_corners", "asymmetric", "half_pixel", "pytorch_half_pixel")


@settings(max_examples=30, **SETTINGS)
@given(st.data())
def test_any_resize_becomes_transposes_and_1x1_convolutions(data):
    n = data.draw(st.integers(1, 3))
    mode = data.draw(st.sampled_from(["nearest", "linear", "cubic"]))
    ctm = data.draw(st.sampled_from(CTMS))
    sp = tuple(data.draw(st.integers(1, 5 if n < 3 else 3)) for _ in range(n))
    out_sp = tuple(data.draw(st.integers(1, 7 if n < 3 else 4)) for _ in range(n))
    assume(sp != out_sp)
    assume(mode != "cubic" or n < 3)  # the brute-force cubic oracle is slow in 3-D
    # pytorch_half_pixel's special case (an output of 1) hinges on scale * in == 1 exactly, which
    # the oracle's rational scale and the layer's float64 one decide differently for 1/3
    assume(ctm != "pytorch_half_pixel" or 1 not in out_sp)
    shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3))) + sp
    out = shape[:2] + out_sp
    attrs = ResizeAttrs(
        sizes=out, mode=mode, coordinate_transformation_mode=ctm, nearest_mode="floor"
    )
    note(f"{shape} -> {out} {mode} {ctm}")
    g = one_layer_graph("Resize", attrs, shape)
    after = passes.apply(g, ["resize-to-conv"])
    assert "Resize" not in after.count_types()
    assert after.count_types()["Convolution"] == sum(a != b for a, b in zip(sp, out_sp))
    x = np.random.default_rng(data.draw(st.integers(0, 999))).integers(-2, 3, shape)
    x = x.astype(np.float32)
    scales = [1.0, 1.0] + [o / i for o, i in zip(out_sp, sp)]
    if mode == "nearest":
        ref, closest = O.resize_oracle(x, out, scales, mode, ctm, "floor")
        assume(closest > 1e-6)  # float coordinates at an exact tie may round either way
    else:
        ref = O.kernel_oracle(x, out, scales, ctm, mode)
    # an all-zero reference makes the relative measure meaningless (1e-16 against 0)
    assume(np.abs(ref).max() >= 0.5)
    model = three_ways(g, after, x, ref, tol=1e-5, exact=mode == "nearest")
    ops, rank = ops_and_rank(model)
    assert ops == {"Conv", "Transpose"} and rank == len(shape)


@pytest.mark.parametrize(
    "size, shape", [((60, 60), (1, 2, 3, 3)), ((60, 60), (1, 2, 1, 1)), ((11, 7), (2, 3, 6, 4))]
)
def test_caffe_interp_to_any_size(size, shape):
    """PSPNet's pyramid pooling branches: 1, 2, 3, 6 -> 60 (not integer zooms but 1 and 2)."""
    g = one_layer_graph("Interp", gc.InterpAttrs(size=size), shape)
    after = passes.apply(g, ["resize-to-conv"])
    assert "Interp" not in after.count_types()
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    three_ways(g, after, x, O.caffe_interp(x, size), tol=1e-6)


def test_extrapolated_crop_and_resize_stays_with_a_note():
    attrs = ResizeAttrs(
        sizes=(1, 1, 4, 4),
        mode="linear",
        coordinate_transformation_mode="tf_crop_and_resize",
        roi=(0, 0, -0.5, 0, 1, 1, 1.5, 1),
    )
    g = one_layer_graph("Resize", attrs, (1, 1, 3, 3))
    after = passes.apply(g, ["resize-to-conv"])
    assert "Resize" in after.count_types()
    assert any("outside the roi" in n for n in after.notes)
