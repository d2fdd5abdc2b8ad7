"""fold-pad: a zero Pad in front of a Convolution becomes its padding.

Oracles: the float64 direct convolution of the explicitly padded input (tests/oracles), and
onnxruntime on the export; the rewrite site bit-equal on small integers (passes/verify.py).
"""

from __future__ import annotations

import numpy as np
import oracles as O
from helpers import CONV_TOL, SETTINGS
from hypothesis import given, settings
from hypothesis import strategies as st

import graphconv as gc
from graphconv import ConvAttrs, GraphBuilder, PadAttrs, passes
from graphconv.validate import run_onnxruntime


@st.composite
def pad_conv(draw):
    n = draw(st.integers(1, 3))
    sp = tuple(draw(st.integers(1, 5)) for _ in range(n))
    pb = tuple(draw(st.integers(0, 3)) for _ in range(n))
    pe = tuple(draw(st.integers(0, 3)) for _ in range(n))
    k = tuple(draw(st.integers(1, 3)) for _ in range(n))
    d = tuple(draw(st.integers(1, 2)) for _ in range(n))
    cb = tuple(draw(st.integers(0, 2)) for _ in range(n))
    ce = tuple(draw(st.integers(0, 2)) for _ in range(n))
    for i in range(n):  # the padded input must hold one dilated kernel
        short = d[i] * (k[i] - 1) + 1 - (sp[i] + pb[i] + pe[i] + cb[i] + ce[i])
        if short > 0:
            ce = ce[:i] + (ce[i] + short,) + ce[i + 1 :]
    s = tuple(draw(st.integers(1, 2)) for _ in range(n))
    return sp, pb, pe, k, d, s, cb, ce, draw(st.integers(0, 2**31 - 1))


def _graph(sp, pb, pe, k, d, s, cb, ce, value=0.0):
    b = GraphBuilder("padconv", seed=3)
    x = b.input("data", (1, 2) + sp)
    y = b.add("Pad", x, PadAttrs(pb, pe, value), name="pad")
    attrs = ConvAttrs(num_output=3, kernel=k, stride=s, dilation=d, pads_begin=cb, pads_end=ce)
    b.add("Convolution", y, attrs, name="conv")
    return b.build()


@settings(max_examples=30, **SETTINGS)
@given(pad_conv())
def test_fold_pad_matches_the_padded_convolution(case):
    sp, pb, pe, k, d, s, cb, ce, seed = case
    g = _graph(sp, pb, pe, k, d, s, cb, ce)
    folded, checks = passes.apply_checked(g, ["fold-pad"])
    assert folded.count_types() == {"Input": 1, "Convolution": 1}
    assert [c.mode for c in checks] == ["exact"] and all(c.ok for c in checks)
    conv = g.by_name["conv"]
    x = np.random.default_rng(seed).standard_normal((1, 2) + sp).astype(np.float32)
    padded = O.pad_crop(x.astype(np.float64), pb, pe)
    ref = O.conv_direct(padded, conv.params["weight"], conv.params["bias"], s, d, cb, ce, 1)
    out = folded.outputs[0]
    # one float32 sum of at most 2*27 products per sample: rounding ~1e-7 relative
    O.assert_close(gc.run(folded, {"data": x})[out], ref, CONV_TOL, "interpreter")
    O.assert_close(run_onnxruntime(gc.to_onnx(folded), {"data": x})[out], ref, CONV_TOL, "ort")


def test_fold_pad_leaves_crops_nonzero_values_and_shared_pads():
    crop = _graph((5, 5), (1, -1), (0, 0), (3, 3), (1, 1), (1, 1), (0, 0), (0, 0))
    value = _graph((5, 5), (1, 1), (0, 0), (3, 3), (1, 1), (1, 1), (0, 0), (0, 0), value=1.0)
    for g in (crop, value):
        assert passes.apply(g, ["fold-pad"]).count_types()["Pad"] == 1
    b = GraphBuilder("shared", seed=0)
    y = b.add("Pad", b.input("data", (1, 2, 5)), PadAttrs((1,), (1,)), name="pad")
    b.add("Convolution", y, ConvAttrs(num_output=2, kernel=(3,)), name="a")
    b.add("Convolution", y, ConvAttrs(num_output=2, kernel=(3,)), name="b")
    assert passes.apply(b.build(), ["fold-pad"]).count_types()["Pad"] == 1
