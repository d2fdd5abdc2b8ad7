"""batchnorm-to-affine: standalone BatchNorm (stored statistics) and Scale as Mul + Add.

Oracles: oracles.bn_stored, channel_affine and caffe_scale (float64 definitions written in the
tests) and onnxruntime on the export. A Scale is the same two float32 operations, so it is
bit-exact (the site check says "bit-equal on integers"); a BatchNorm's constants are rounded
once in float64 where the layer divides in float32, so it agrees to float rounding: the
tolerance 1e-5 is relative to the largest output (a few float32 ulp of an O(1) affine map of
O(1) inputs).
"""

from __future__ import annotations

import numpy as np
import oracles as O
import pytest
from helpers import SETTINGS
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

import graphconv as gc
from graphconv import passes
from graphconv.validate import run_onnxruntime

TOL = 1e-5


@settings(max_examples=25, **SETTINGS)
@given(
    st.integers(0, 3),  # spatial axes
    st.integers(1, 4),  # channels
    st.booleans(),  # BatchNorm's own scale/bias
    st.booleans(),  # a Scale after it
    st.integers(0, 2**31 - 1),
    st.sampled_from(["mul-add", "conv"]),
)
def test_batchnorm_and_scale_become_mul_add(n, c, affine, with_scale, seed, form):
    assume(form == "mul-add" or n > 0)
    rng = np.random.default_rng(seed)
    shape = (2, c) + tuple(rng.integers(1, 5, n))
    mean, bias = rng.standard_normal(c), rng.standard_normal(c)
    var, gamma = rng.uniform(0.5, 1.5, c), rng.uniform(0.5, 1.5, c)
    s, t = rng.uniform(0.5, 1.5, c), rng.standard_normal(c)
    p = {"mean": mean, "variance": var}
    if affine:
        p.update(scale=gamma, bias=bias)
    p = {k: v.astype(np.float32) for k, v in p.items()}
    b = gc.GraphBuilder("g")
    y = b.add(
        "BatchNorm",
        b.input("data", shape),
        gc.BatchNormAttrs(eps=1e-3, affine=affine),
        params=p,
        name="bn",
    )
    if with_scale:
        b.add(
            "Scale",
            y,
            gc.ScaleAttrs(bias=True),
            name="scale",
            params={"scale": s.astype(np.float32), "bias": t.astype(np.float32)},
        )
    g = b.build()
    spec = f"batchnorm-to-affine:form={form}"
    after = passes.apply(g, [spec])
    note(repr(after.count_types()))
    made = {"ConstantBinary": 2} if form == "mul-add" else {"Convolution": 1}
    assert after.count_types() == {"Input": 1, **made}
    x = rng.standard_normal(shape).astype(np.float32)
    ref = O.bn_stored(x, p["mean"], p["variance"], 1e-3)
    if affine:
        ref = O.channel_affine(ref, p["scale"], p["bias"])
    if with_scale:
        ref = O.channel_affine(ref, s.astype(np.float32), t.astype(np.float32))
    out = g.outputs[0]
    model = gc.to_onnx(after)
    assert {node.op_type for node in model.graph.node} == (
        {"Mul", "Add"} if form == "mul-add" else {"Conv"}
    )
    O.assert_close(gc.run(after, {"data": x})[out], ref, TOL, "after vs oracle")
    O.assert_close(run_onnxruntime(model, {"data": x})[out], ref, TOL, "onnxruntime vs oracle")
    checked, checks = passes.apply_checked(g, [spec])
    assert all(c.ok and c.mode == "tolerance" for c in checks)


@pytest.mark.parametrize("form", ["mul-add", "conv"])
@pytest.mark.parametrize(
    "axis, num_axes, bias", [(1, 1, True), (1, 1, False), (2, -1, True), (0, 0, True)]
)
def test_scale_alone_is_bit_exact(axis, num_axes, bias, form):
    b = gc.GraphBuilder("g", seed=4)
    b.add("Scale", b.input("data", (2, 3, 4, 5)), gc.ScaleAttrs(axis, num_axes, bias), name="s")
    g = b.build()
    after, checks = passes.apply_checked(g, [f"batchnorm-to-affine:form={form}"])
    if form == "conv" and (axis, num_axes) != (1, 1):
        assert "Scale" in after.count_types() and not checks
        assert any("not one factor per channel" in n for n in after.notes)
        return
    assert "Scale" not in after.count_types()
    (c,) = checks
    assert c.mode == "exact" and c.ok, c.line()
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    p = dict(g.layers[-1].params)
    ref = O.caffe_scale(x, p["scale"], p.get("bias"), axis)
    np.testing.assert_allclose(gc.run(after, {"data": x})["s"], ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(gc.run(after, {"data": x})["s"], gc.run(g, {"data": x})["s"])


def test_batch_statistics_are_left_with_a_note():
    b = gc.GraphBuilder("g", seed=0)
    b.add("BatchNorm", b.input("data", (2, 3, 4)), gc.BatchNormAttrs(statistics="batch"))
    after = passes.apply(b.build(), ["batchnorm-to-affine"])
    assert "BatchNorm" in after.count_types()
    assert any("batch statistics" in n for n in after.notes)
