"""The profile-limit lowerings: limit-stride, split-large-kernel, explicit-pad.

Oracles: the brute-force direct convolution and scatter-add transposed convolution
(oracles.conv_direct, deconv_scatter), Caffe's pooling written out (oracles.caffe_pool), and
onnxruntime on the export. Convolution data are small integers, so every engine must equal the
oracle bit for bit; each rewrite site is also checked on its own (``verify="exact"``). After a
pass, no layer may exceed the limit it enforces (or it is left with a note saying why).
"""

from __future__ import annotations

import numpy as np
import oracles as O
from helpers import (
    SETTINGS,
    conv_case,
    conv_out_sp,
    deconv_case,
    deconv_out_sp,
    integer_conv_case,
    integer_deconv_case,
    one_layer_graph,
)
from helpers import lowering_three_ways as three_ways
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

import graphconv as gc
from graphconv import passes


def _windowed(g):
    return [lay for lay in g.layers if lay.type in ("Convolution", "Deconvolution", "Pooling")]


@settings(max_examples=40, **SETTINGS)
@given(st.integers(1, 3).flatmap(conv_case), st.integers(1, 3))
def test_limit_stride_on_convolutions(case, limit):
    note(repr(case))
    assume(min(conv_out_sp(case)) >= 1 and max(case["stride"]) > limit)
    g, x, ref = integer_conv_case(case)
    after = passes.apply(g, [f"limit-stride:max={limit}"], verify="exact")
    assert all(s <= limit for lay in _windowed(after) for s in lay.attrs.stride)
    assert after.count_types()["StridedSlice"] == 1
    three_ways(g, after, x, ref, opset=case["opset"], exact=True)


@settings(max_examples=40, **SETTINGS)
@given(st.integers(1, 3).flatmap(conv_case), st.integers(1, 3))
def test_split_large_kernel(case, limit):
    note(repr(case))
    assume(min(conv_out_sp(case)) >= 1 and max(case["kernel"]) > limit)
    g, x, ref = integer_conv_case(case)
    after = passes.apply(g, [f"split-large-kernel:max={limit}"], verify="exact")
    if "Convolution" in after.count_types() and any(
        "only ever meet the padding" in n for n in after.notes
    ):
        return  # some piece would read padding only: left whole, as the note says
    convs = [lay for lay in after.layers if lay.type == "Convolution"]
    assert all(k <= limit for c in convs for k in c.attrs.kernel)
    expected = np.prod([-(-k // limit) for k in case["kernel"]])
    assert len(convs) == expected and after.count_types()["Binary"] == expected - 1
    assert sum(c.params["weight"].size for c in convs) == np.prod(
        (case["O"], case["C"] // case["group"]) + case["kernel"]
    )
    model = three_ways(g, after, x, ref, opset=case["opset"], exact=True)
    assert {n.op_type for n in model.graph.node} <= {"Conv", "Pad", "Add"}


@settings(max_examples=40, **SETTINGS)
@given(st.integers(1, 3).flatmap(conv_case), st.integers(0, 2))
def test_explicit_pad_on_convolutions(case, limit):
    note(repr(case))
    assume(min(conv_out_sp(case)) >= 1)
    assume(max(case["pads_begin"] + case["pads_end"]) > limit)
    g, x, ref = integer_conv_case(case)
    after = passes.apply(g, [f"explicit-pad:max={limit}"], verify="exact")
    assert after.count_types()["Pad"] == 1
    (conv,) = _windowed(after)
    assert max(conv.attrs.pads_begin + conv.attrs.pads_end) <= limit
    three_ways(g, after, x, ref, opset=case["opset"], exact=True)


@settings(max_examples=30, **SETTINGS)
@given(st.integers(1, 3).flatmap(deconv_case), st.integers(0, 2))
def test_explicit_pad_on_deconvolutions_crops_after(case, limit):
    note(repr(case))
    assume(min(deconv_out_sp(case)) >= 1)
    assume(max(case["pads_begin"] + case["pads_end"]) > limit)
    g, x, ref, _ = integer_deconv_case(case)
    after = passes.apply(g, [f"explicit-pad:max={limit}"], verify="exact")
    (deconv,) = _windowed(after)
    assert max(deconv.attrs.pads_begin + deconv.attrs.pads_end) <= limit
    assert after.layers[-1].type == "Pad"
    three_ways(g, after, x, ref, opset=case["opset"], exact=True)


@settings(max_examples=30, **SETTINGS)
@given(st.data())
def test_limit_stride_on_caffe_pooling(data):
    n = data.draw(st.integers(1, 3))
    k = data.draw(st.integers(1, 4))
    s = data.draw(st.integers(2, 4))
    p = data.draw(st.integers(0, k - 1))
    method = data.draw(st.sampled_from(["MAX", "AVE"]))
    rounding = data.draw(st.sampled_from(["CEIL", "FLOOR"]))
    sp = tuple(data.draw(st.integers(k, 9 if n < 3 else 5)) for _ in range(n))
    x = np.random.default_rng(data.draw(st.integers(0, 999))).standard_normal((1, 2) + sp)
    x = x.astype(np.float32)
    attrs = gc.PoolAttrs(
        kernel=(k,) * n, stride=(s,) * n, pad=(p,) * n, method=method, round_mode=rounding
    )
    try:
        g = one_layer_graph("Pooling", attrs, x.shape)
    except gc.GraphconvError:  # a configuration Caffe refuses (an empty last AVE window)
        assume(False)
    after = passes.apply(g, ["limit-stride:max=1"])
    if "StridedSlice" not in after.count_types():
        assert any("past the last one" in t for t in after.notes)
        assert rounding == "CEIL"
        return
    assert all(v == 1 for v in _windowed(after)[0].attrs.stride)
    ref, _ = O.caffe_pool(x, (k,) * n, (s,) * n, (p,) * n, method, rounding)
    # AVE divides by Caffe's window count in float32 (the same ops on both sides): 1e-6
    three_ways(g, after, x, ref.astype(np.float32), tol=1e-6)
    np.testing.assert_array_equal(
        gc.run(after, {"data": x})[g.outputs[0]], gc.run(g, {"data": x})[g.outputs[0]]
    )
