"""split-grouped-deconv and fuse-grouped-deconv: a grouped transposed convolution as one layer
per group, and back.

Oracles: the brute-force scatter-add transposed convolution (oracles.deconv_scatter) and
onnxruntime on the export; small-integer data, so every engine must equal the oracle bit for
bit. The round trip must give back the original layer (attributes and weights).
"""

from __future__ import annotations

import numpy as np
from helpers import SETTINGS, deconv_case, deconv_out_sp, integer_deconv_case
from helpers import lowering_three_ways as three_ways
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

import graphconv as gc
from graphconv import passes


@settings(max_examples=40, **SETTINGS)
@given(st.integers(1, 3).flatmap(deconv_case))
def test_split_then_fuse_is_exact_and_round_trips(case):
    note(repr(case))
    assume(min(deconv_out_sp(case)) >= 1 and case["group"] > 1)
    g, x, ref, w = integer_deconv_case(case)
    split = passes.apply(g, ["split-grouped-deconv"], verify="exact")
    deconvs = [lay for lay in split.layers if lay.type == "Deconvolution"]
    assert len(deconvs) == case["group"] and all(d.attrs.group == 1 for d in deconvs)
    assert split.count_types()["Slice"] == 1 and split.count_types()["Concat"] == 1
    three_ways(g, split, x, ref, opset=case["opset"], exact=True)
    fused = passes.apply(split, ["fuse-grouped-deconv"], verify="exact")
    assert fused.count_types() == {"Input": 1, "Deconvolution": 1}
    (layer,) = [lay for lay in fused.layers if lay.type == "Deconvolution"]
    (orig,) = [lay for lay in g.layers if lay.type == "Deconvolution"]
    assert layer.attrs == orig.attrs
    for k, v in orig.params.items():
        np.testing.assert_array_equal(layer.params[k], v)
    three_ways(g, fused, x, ref, exact=True)


def test_fuse_leaves_parts_that_differ_or_are_read_elsewhere():
    b = gc.GraphBuilder("g", seed=0)
    x = b.input("data", (1, 4, 3, 3))
    p0, p1 = b.add("Slice", x, gc.SliceAttrs(num_outputs=2, axis=1), n_outputs=2)
    y0 = b.add("Deconvolution", p0, gc.DeconvAttrs(num_output=2, kernel=(2, 2), stride=2))
    y1 = b.add("Deconvolution", p1, gc.DeconvAttrs(num_output=2, kernel=(4, 4), stride=2, pads=1))
    b.add("Concat", [y0, y1], gc.ConcatAttrs(axis=1))
    different = b.build()
    assert passes.apply(different, ["fuse-grouped-deconv"]).count_types() == (
        different.count_types()
    )
    b = gc.GraphBuilder("g", seed=0)
    x = b.input("data", (1, 4, 3, 3))
    p0, p1 = b.add("Slice", x, gc.SliceAttrs(num_outputs=2, axis=1), n_outputs=2)
    y0 = b.add("Deconvolution", p0, gc.DeconvAttrs(num_output=2, kernel=(2, 2), stride=2))
    y1 = b.add("Deconvolution", p1, gc.DeconvAttrs(num_output=2, kernel=(2, 2), stride=2))
    b.add("Concat", [y0, y1], gc.ConcatAttrs(axis=1))
    b.add("ReLU", y1)  # a second reader of one part
    shared = b.build()
    assert passes.apply(shared, ["fuse-grouped-deconv"]).count_types() == shared.count_types()
