"""split-separable: exact splits where the singular values allow, lossy only when asked.

Oracles: conv_direct (brute force) on the original weights, onnxruntime on the export, the
Sobel factors [1,2,1]^T x [1,0,-1] written out, and weight counts computed by hand.
"""

from __future__ import annotations

import numpy as np
import oracles as O
import pytest
from helpers import SETTINGS
from hypothesis import given, note, settings
from hypothesis import strategies as st

import graphconv as gc
from graphconv import passes
from graphconv.validate import run_onnxruntime

TOL = 1e-5


def _conv_graph(x_shape, attrs, w, b=None):
    g = gc.GraphBuilder("g")
    x = g.input("data", x_shape)
    g.add(
        "Convolution",
        x,
        attrs,
        params={"weight": w, **({"bias": b} if b is not None else {})},
        name="conv",
    )
    return g.build()


def _check(before, after, x, ref):
    out = before.outputs[0]
    O.assert_close(gc.run(after, {"data": x})[out], ref, TOL, "after vs oracle")
    O.assert_close(
        run_onnxruntime(gc.to_onnx(after), {"data": x})[out],
        ref,
        TOL,
        "onnxruntime(after) vs oracle",
    )


def test_sobel_splits_into_121_and_10m1():
    sobel = np.outer([1, 2, 1], [1, 0, -1]).astype(np.float32)[None, None]
    attrs = gc.ConvAttrs(
        num_output=1,
        kernel=(3, 3),
        stride=(2, 1),
        pads_begin=(1, 2),
        pads_end=(0, 1),
        dilation=(2, 1),
        bias=True,
    )
    x = np.random.default_rng(0).standard_normal((1, 1, 13, 17)).astype(np.float32)
    b = np.array([0.25], np.float32)
    before = _conv_graph(x.shape, attrs, sobel, b)
    after = passes.apply(before, ["split-separable"])
    kx1, onexk = [lay for lay in after.layers if lay.type == "Convolution"]
    assert (kx1.attrs.kernel, onexk.attrs.kernel) == ((3, 1), (1, 3))
    # each axis keeps its own stride, pads and dilation
    assert (kx1.attrs.stride, kx1.attrs.pads_begin, kx1.attrs.pads_end, kx1.attrs.dilation) == (
        (2, 1),
        (1, 0),
        (0, 0),
        (2, 1),
    )
    assert (onexk.attrs.stride, onexk.attrs.pads_begin, onexk.attrs.pads_end) == (
        (1, 1),
        (0, 2),
        (0, 1),
    )
    col, rows = kx1.params["weight"].ravel(), onexk.params["weight"][:, 0, 0, :]
    np.testing.assert_allclose(col / col[0], [1, 2, 1], atol=1e-6)
    for o in range(1):
        np.testing.assert_allclose(rows[o] / rows[o, 0], [1, 0, -1], atol=1e-6)
        np.testing.assert_allclose(np.outer(col, rows[o]), sobel[o, 0], atol=1e-5)
    ref = O.conv_direct(
        x, sobel, b, attrs.stride, attrs.dilation, attrs.pads_begin, attrs.pads_end, 1
    )
    _check(before, after, x, ref)


def test_depthwise_separable_block_weight_count():
    b = gc.GraphBuilder("mobile")
    x = b.input("data", (1, 16, 10, 10))
    b.add(
        "SeparableConvolution",
        x,
        gc.SeparableAttrs(num_output=32, kernel=(3, 3), pads=1, bias=False),
        name="sep",
    )
    g = b.build()
    assert sum(p.size for p in g.layer("sep").params.values()) == 16 * 9 + 16 * 32 == 656
    dense = gc.ConvAttrs(num_output=32, kernel=(3, 3), pads=1, bias=False)
    assert 32 * 16 * 9 == 4608
    after = passes.apply(g, ["split-separable"])
    dw, pw = [lay for lay in after.layers if lay.type == "Convolution"]
    assert dw.attrs.group == 16 and pw.attrs.kernel == (1, 1)
    # oracle: the block is a dense conv whose weight is pointwise @ depthwise
    w_dense = (
        g.layer("sep").params["weight"][:, :, 0, 0, None, None]
        * g.layer("sep").params["depthwise_weight"][None, :, 0]
    )
    xs = np.random.default_rng(1).standard_normal((1, 16, 10, 10)).astype(np.float32)
    ref = O.conv_direct(
        xs, w_dense, None, dense.stride, dense.dilation, dense.pads_begin, dense.pads_end, 1
    )
    _check(g, after, xs, ref)
    O.assert_close(gc.run(g, {"data": xs})[g.outputs[0]], ref, TOL, "SeparableConvolution")


@settings(max_examples=60, **SETTINGS)
@given(st.data())
def test_exactly_factorable_weights_split_exactly(data):
    """Weights built with per-channel rank m (depthwise) or spatial rank R are split; outputs
    equal."""
    rng = np.random.default_rng(data.draw(st.integers(0, 10**6)))
    c, o = data.draw(st.integers(2, 6)), data.draw(st.integers(8, 24))
    kh, kw = data.draw(st.integers(2, 5)), data.draw(st.integers(2, 5))
    kind = data.draw(st.sampled_from(["depthwise", "spatial"]))
    if kind == "depthwise":
        m = 1
        w = np.einsum(
            "ocm,cmk->ock", rng.standard_normal((o, c, m)), rng.standard_normal((c, m, kh * kw))
        ).reshape(o, c, kh, kw)
    else:
        r = data.draw(st.integers(1, 2))
        w = np.einsum(
            "rci,orj->ocij", rng.standard_normal((r, c, kh)), rng.standard_normal((o, r, kw))
        )
    w = w.astype(np.float32)
    two = st.integers(1, 2)
    attrs = gc.ConvAttrs(
        num_output=o,
        kernel=(kh, kw),
        stride=(data.draw(two), data.draw(two)),
        dilation=(data.draw(two), data.draw(two)),
        pads_begin=(1, 0),
        pads_end=(0, 1),
        bias=True,
    )
    note((kind, w.shape))
    x = rng.standard_normal((1, c, 11, 13)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    before = _conv_graph(x.shape, attrs, w, b)
    after = passes.apply(before, ["split-separable"])
    assert after.count_types() == {"Input": 1, "Convolution": 2}, after.notes
    ref = O.conv_direct(x, w, b, attrs.stride, attrs.dilation, attrs.pads_begin, attrs.pads_end, 1)
    _check(before, after, x, ref)


def test_random_weights_are_left_with_a_reason_and_rank_option_reports_error():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((10, 6, 3, 3)).astype(np.float32)
    attrs = gc.ConvAttrs(num_output=10, kernel=(3, 3), pads=1)
    before = _conv_graph((1, 6, 12, 12), attrs, w, np.zeros(10, np.float32))
    after = passes.apply(before, ["split-separable"])
    assert after.count_types() == before.count_types()
    assert any("left Convolution 'conv' in place" in n for n in after.notes)
    lossy = passes.apply(before, ["split-separable:rank=3"])
    assert lossy.count_types()["Convolution"] == 2
    note_ = [n for n in lossy.notes if "at rank 3" in n][0]
    # Eckart-Young bound, computed here from our own SVD of the reshaped weights
    s = np.linalg.svd(w.transpose(1, 2, 0, 3).reshape(18, 30).astype(np.float64), compute_uv=False)
    assert f"weight error bound {np.sqrt((s[3:] ** 2).sum()):.3g}" in note_
    x = rng.standard_normal((1, 6, 12, 12)).astype(np.float32)
    out = before.outputs[0]
    ref = O.conv_direct(x, w, np.zeros(10), (1, 1), (1, 1), (1, 1), (1, 1), 1)
    rel = O.rel_err(gc.run(lossy, {"data": x})[out], ref)
    assert 0.05 < rel < 1.5  # lossy, as reported
    full = passes.apply(before, ["split-separable:rank=18"])  # full rank (min(C*kh, O*kw)): exact
    O.assert_close(gc.run(full, {"data": x})[out], ref, TOL)


def test_bad_pass_options_are_usage_errors():
    g = _conv_graph(
        (1, 2, 5, 5),
        gc.ConvAttrs(num_output=2, kernel=(3, 3)),
        np.ones((2, 2, 3, 3), np.float32),
        np.zeros(2, np.float32),
    )
    with pytest.raises(gc.UsageError, match="has no option .bogus."):
        passes.apply(g, ["split-separable:bogus=1"])
    with pytest.raises(gc.UsageError, match="not key=value"):
        passes.apply(g, ["split-separable:rank"])
