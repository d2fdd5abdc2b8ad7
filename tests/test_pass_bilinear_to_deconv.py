"""bilinear-to-deconv: Caffe Interp and ONNX linear Resize by integer factors as an edge pad and
a fixed-weight depthwise transposed convolution.

Oracles: the ONNX specification's coordinate maps in exact rationals, one output sample at a
time (oracles.resize_oracle), Caffe's Interp forward pass transcribed (oracles.caffe_interp),
and onnxruntime on the export of both graphs. On small-integer inputs with power-of-two factors
every weight, product and sum is a dyadic fraction well inside float32: the lowered graph, the
original and the oracle must agree bit for bit. Other integer factors round the weights k/f
once: within 1e-6 of the largest value (a few float32 ulp of a convex combination of the
inputs).
"""

from __future__ import annotations

import numpy as np
import oracles as O
import pytest
from helpers import SETTINGS, one_layer_graph
from helpers import lowering_three_ways as three_ways
from hypothesis import given, note, settings
from hypothesis import strategies as st

import graphconv as gc
from graphconv import passes
from graphconv.layers.resize import ResizeAttrs
from graphconv.validate import run_onnxruntime

MODES = ("align_corners", "asymmetric", "half_pixel", "pytorch_half_pixel", "half_pixel_symmetric")


def _out_len(mode, h, f):
    return (h - 1) * f + 1 if mode == "align_corners" else h * f


@settings(max_examples=40, **SETTINGS)
@given(st.data())
def test_linear_resize_by_integer_factors(data):
    n = data.draw(st.integers(1, 3))
    mode = data.draw(st.sampled_from(MODES))
    power_of_two = data.draw(st.booleans())
    factors = tuple(
        data.draw(st.sampled_from([1, 2, 4] if power_of_two else [1, 2, 3, 5])) for _ in range(n)
    )
    sp = tuple(data.draw(st.integers(2, 5 if n < 3 else 3)) for _ in range(n))
    shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3))) + sp
    out = shape[:2] + tuple(_out_len(mode, h, f) for h, f in zip(sp, factors))
    by_scales = mode != "align_corners" and data.draw(st.booleans())
    attrs = ResizeAttrs(
        sizes=out,
        scales=(1.0, 1.0, *map(float, factors)) if by_scales else None,
        mode="linear",
        coordinate_transformation_mode=mode,
    )
    note(f"{shape} -> {out}, {mode}, factors {factors}")
    g = one_layer_graph("Resize", attrs, shape)
    after = passes.apply(g, ["bilinear-to-deconv"])
    assert "Resize" not in after.count_types() and after.count_types()["Deconvolution"] == 1
    x = np.random.default_rng(data.draw(st.integers(0, 999))).integers(-2, 3, shape)
    x = x.astype(np.float32)
    ref, _ = O.resize_oracle(x, out, (1, 1, *factors), "linear", mode, "round_prefer_floor")
    exact = all(f & (f - 1) == 0 for f in factors)
    model = three_ways(g, after, x, ref, tol=1e-6, exact=exact)
    assert "Resize" not in {node.op_type for node in model.graph.node}
    original = run_onnxruntime(gc.to_onnx(g), {"data": x})[g.outputs[0]]
    O.assert_close(original, ref, 1e-6, "onnxruntime(original) vs oracle")


@pytest.mark.parametrize("zoom", [2, 3, 4, 8])
def test_caffe_interp_zoom(zoom):
    g = one_layer_graph("Interp", gc.InterpAttrs(zoom_factor=zoom), (1, 3, 4, 5))
    after = passes.apply(g, ["bilinear-to-deconv"])
    assert after.count_types() == {"Input": 1, "Deconvolution": 1}
    (deconv,) = [lay for lay in after.layers if lay.type == "Deconvolution"]
    assert deconv.attrs.kernel == (2 * zoom - 1,) * 2 and deconv.attrs.stride == (zoom,) * 2
    x = np.random.default_rng(zoom).integers(-2, 3, (1, 3, 4, 5)).astype(np.float32)
    ref = O.caffe_interp(x, g.specs[g.outputs[0]].shape[2:])
    # Caffe rounds its coordinates in float32: bit-equal at power-of-two zooms, else 1e-6
    three_ways(g, after, x, ref, tol=1e-6, exact=zoom in (2, 4, 8))
    y = np.random.default_rng(1).standard_normal((1, 3, 4, 5)).astype(np.float32)
    O.assert_close(
        gc.run(after, {"data": y})[g.outputs[0]],
        O.textbook_bilinear(y, ref.shape[2:]),
        1e-6,
        "after vs float64 textbook bilinear",
    )


def test_exact_option_keeps_non_dyadic_factors_with_a_note():
    g = one_layer_graph("Interp", gc.InterpAttrs(zoom_factor=3), (1, 2, 3, 3))
    after = passes.apply(g, ["bilinear-to-deconv:exact=1"])
    assert "Interp" in after.count_types()
    assert any("not all powers of two" in n for n in after.notes)


@pytest.mark.parametrize(
    "layer, attrs, shape, why",
    [
        ("Resize", dict(sizes=(1, 2, 5, 6), mode="linear"), (1, 2, 3, 3), "not an integer factor"),
        ("Resize", dict(sizes=(1, 2, 6, 6), mode="cubic"), (1, 2, 3, 3), "mode cubic"),
        (
            "Resize",
            dict(sizes=(1, 2, 6, 6), mode="linear", exclude_outside=True),
            (1, 2, 3, 3),
            "exclude_outside",
        ),
        (
            "Resize",
            dict(
                sizes=(1, 2, 6, 6),
                mode="linear",
                coordinate_transformation_mode="tf_half_pixel_for_nn",
            ),
            (1, 2, 3, 3),
            "tf_half_pixel_for_nn",
        ),
        ("Interp", dict(size=(6, 6)), (1, 2, 3, 4), "not (H-1)f + 1"),
        ("Interp", dict(shrink_factor=2), (1, 2, 5, 5), "not (H-1)f + 1"),
    ],
)
def test_what_is_not_lowered_stays_with_a_note(layer, attrs, shape, why):
    made = ResizeAttrs(**attrs) if layer == "Resize" else gc.InterpAttrs(**attrs)
    g = one_layer_graph(layer, made, shape)
    after = passes.apply(g, ["bilinear-to-deconv"])
    assert after.count_types() == g.count_types()
    assert any(why in n for n in after.notes), after.notes
