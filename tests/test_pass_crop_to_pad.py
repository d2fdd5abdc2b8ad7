"""crop-to-pad: Caffe's spatial Crop as a Pad with negative amounts.

Oracles: NumPy slicing of the input at the offsets (the definition of a crop), and onnxruntime
on the export; the rewrite site bit-equal on small integers (passes/verify.py).
"""

from __future__ import annotations

import numpy as np
from helpers import SETTINGS
from hypothesis import given, settings
from hypothesis import strategies as st

import graphconv as gc
from graphconv import GraphBuilder, passes
from graphconv.layers.slicing import CropAttrs
from graphconv.validate import run_onnxruntime


@st.composite
def crop_case(draw):
    n = draw(st.integers(1, 3))
    sp = tuple(draw(st.integers(1, 7)) for _ in range(n))
    ref = tuple(draw(st.integers(1, h)) for h in sp)
    offsets = tuple(draw(st.integers(0, h - r)) for h, r in zip(sp, ref))
    return sp, ref, offsets, draw(st.integers(0, 2**31 - 1))


@settings(max_examples=30, **SETTINGS)
@given(crop_case())
def test_crop_to_pad_is_the_crop(case):
    sp, ref, offsets, seed = case
    b = GraphBuilder("crop", seed=0)
    x = b.input("data", (1, 3) + sp)
    r = b.input("ref", (1, 1) + ref)
    b.add("Crop", [x, r], CropAttrs(axis=2, offsets=offsets), name="crop")
    g = b.build()
    lowered, checks = passes.apply_checked(g, ["crop-to-pad"])
    assert "Crop" not in lowered.count_types() and all(c.ok for c in checks)
    assert [c.mode for c in checks] == ["exact"]
    rng = np.random.default_rng(seed)
    feeds = {
        "data": rng.standard_normal((1, 3) + sp).astype(np.float32),
        "ref": np.zeros((1, 1) + ref, np.float32),
    }
    want = feeds["data"][(slice(None), slice(None)) + tuple(
        slice(o, o + n) for o, n in zip(offsets, ref)
    )]  # fmt: skip
    out = lowered.outputs[0]
    np.testing.assert_array_equal(gc.run(lowered, feeds)[out], want)  # a copy: bit-exact
    np.testing.assert_array_equal(run_onnxruntime(gc.to_onnx(lowered), feeds)[out], want)


def test_channel_crop_is_left_with_a_note():
    b = GraphBuilder("crop", seed=0)
    x = b.input("data", (1, 4, 5, 5))
    r = b.input("ref", (1, 2, 5, 5))
    b.add("Crop", [x, r], CropAttrs(axis=1, offsets=(1, 0, 0)), name="crop")
    lowered = passes.apply(b.build(), ["crop-to-pad"])
    assert lowered.count_types()["Crop"] == 1
    assert any("batch or channel" in note for note in lowered.notes)
