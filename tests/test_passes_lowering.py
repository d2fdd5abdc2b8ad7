"""Lowering passes: deconv-to-conv, upsample-to-deconv, dilated-to-dense.

For random configurations: the rewritten graph has the promised structure, and
interpreter(before), interpreter(after) and onnxruntime(export(after)) all agree with the
brute-force definitions in oracles.py (float64 scatter-add / direct sum, np.repeat).
"""

from __future__ import annotations

import numpy as np
import oracles as O
import pytest
from helpers import (
    ROOT,
    SETTINGS,
    conv_case,
    conv_out_sp,
    deconv_attrs,
    deconv_case,
    deconv_out_sp,
    deconv_reference,
)
from helpers import case_data as _case_data
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

import graphconv as gc
from graphconv import passes
from graphconv.validate import run_onnxruntime

TOL = 1e-5


def _graph(layer_type, attrs, x, params):
    b = gc.GraphBuilder("g")
    xin = b.input("data", x.shape)
    b.add(layer_type, xin, attrs, params=params, name="layer")
    return b.build()


def _params(w, b) -> dict:
    return {"weight": w, **({"bias": b} if b is not None else {})}


def _ops(model) -> set[str]:
    return {n.op_type for n in model.graph.node}


def _three_way(before, after, x, ref, opset=17):
    out = before.outputs[0]
    assert after.outputs == before.outputs
    a = gc.run(before, {"data": x})[out]
    b = gc.run(after, {"data": x})[out]
    model = gc.to_onnx(after, opset=opset)
    c = run_onnxruntime(model, {"data": x})[out]
    O.assert_close(a, ref, TOL, "before vs oracle")
    O.assert_close(b, ref, TOL, "after vs oracle")
    O.assert_close(c, ref, TOL, "onnxruntime(after) vs oracle")
    return model


@settings(max_examples=150, **SETTINGS)
@given(st.integers(1, 3).flatmap(deconv_case))
def test_deconv_to_conv_random(case):
    note(repr(case))
    assume(min(deconv_out_sp(case)) >= 1)
    x, w, b = _case_data(case, (case["C"], case["O"] // case["group"]) + case["kernel"])
    before = _graph("Deconvolution", deconv_attrs(case), x, _params(w, b))
    after = passes.apply(before, ["deconv-to-conv"])
    assert set(after.count_types()) <= {"Input", "ZeroInsert", "Pad", "Convolution"}
    conv = [lay for lay in after.layers if lay.type == "Convolution"][0]
    assert conv.attrs.stride == (1,) * len(case["kernel"])
    assert conv.attrs.dilation == case["dilation"] and conv.attrs.group == case["group"]
    ref = deconv_reference(case, x, w, b)
    model = _three_way(before, after, x, ref, case["opset"])
    assert "ConvTranspose" not in _ops(model)


@settings(max_examples=100, **SETTINGS)
@given(st.integers(1, 3).flatmap(conv_case))
def test_dilated_to_dense_random(case):
    note(repr(case))
    assume(min(conv_out_sp(case)) >= 1 and max(case["dilation"]) > 1)
    x, w, b = _case_data(case, (case["O"], case["C"] // case["group"]) + case["kernel"])
    attrs = gc.ConvAttrs(
        num_output=case["O"],
        kernel=case["kernel"],
        stride=case["stride"],
        dilation=case["dilation"],
        pads_begin=case["pads_begin"],
        pads_end=case["pads_end"],
        group=case["group"],
        bias=case["bias"],
    )
    before = _graph("Convolution", attrs, x, _params(w, b))
    after = passes.apply(before, ["dilated-to-dense"])
    convs = [lay for lay in after.layers if lay.type == "Convolution"]
    assert len(convs) == 1 and convs[0].attrs.dilation == (1,) * len(case["kernel"])
    assert convs[0].attrs.kernel == tuple(
        d * (k - 1) + 1 for k, d in zip(case["kernel"], case["dilation"])
    )
    ref = O.conv_direct(
        x,
        w,
        b,
        case["stride"],
        case["dilation"],
        case["pads_begin"],
        case["pads_end"],
        case["group"],
    )
    _three_way(before, after, x, ref, case["opset"])


@settings(max_examples=100, **SETTINGS)
@given(st.data())
def test_upsample_to_deconv_is_bit_exact(data):
    n = data.draw(st.integers(1, 3))
    f = tuple(data.draw(st.integers(1, 4)) for _ in range(n))
    shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 5))) + tuple(
        data.draw(st.integers(1, 6 if n < 3 else 4)) for _ in range(n)
    )
    x = (
        np.random.default_rng(data.draw(st.integers(0, 999)))
        .standard_normal(shape)
        .astype(np.float32)
    )
    before = _graph("Upsample", gc.UpsampleAttrs(f), x, None)
    after = passes.apply(before, ["upsample-to-deconv"])
    assert after.count_types() == {"Input": 1, "Deconvolution": 1}
    ref = O.upsample_nearest(x, f)
    out = before.outputs[0]
    np.testing.assert_array_equal(gc.run(after, {"data": x})[out], ref)
    np.testing.assert_array_equal(run_onnxruntime(gc.to_onnx(after), {"data": x})[out], ref)
    both = passes.apply(before, ["upsample-to-deconv", "deconv-to-conv"])
    assert set(both.count_types()) <= {"Input", "ZeroInsert", "Pad", "Convolution"}
    model = gc.to_onnx(both)
    assert not _ops(model) & {"ConvTranspose", "Resize"}
    O.assert_close(run_onnxruntime(model, {"data": x})[out], ref, 1e-6)


@pytest.mark.parametrize(
    "model, names, gone",
    [
        ("fcn_tiny.prototxt", ["deconv-to-conv"], {"Deconvolution"}),
        (
            "upsample_vs_deconv.prototxt",
            ["upsample-to-deconv", "deconv-to-conv"],
            {"Deconvolution", "Upsample"},
        ),
        ("wavenet_dilated_1d.prototxt", ["dilated-to-dense"], set()),
    ],
)
def test_passes_on_bundled_models_validate(model, names, gone):
    g = gc.load(ROOT / "models" / model)
    after = passes.apply(g, names, verify=True)
    assert not set(after.count_types()) & gone
    report = gc.validate(after)
    assert report.ok, report.lines()
    feeds = gc.random_feeds(g)
    for t in g.outputs:
        O.assert_close(gc.run(after, feeds)[t], gc.run(g, feeds)[t], TOL)


def test_pass_costs_are_reported(tmp_path):
    from graphconv.analysis import total_macs

    g = gc.load(ROOT / "models" / "fcn_tiny.prototxt")
    after = passes.apply(g, ["deconv-to-conv"])
    deconv_macs = sum(
        lay.definition.macs(lay.attrs, [g.specs[lay.inputs[0]]], [g.specs[lay.outputs[0]]])
        for lay in g.layers
        if lay.type == "Deconvolution"
    )
    # zero-insertion multiplies the inserted zeros too: about stride^2 = 4x the direct MACs
    extra = total_macs(after) - (total_macs(g) - deconv_macs)
    assert 3.0 * deconv_macs < extra < 4.5 * deconv_macs
    assert "deconv-to-conv: rewrote 2 layer(s)" in after.notes


@settings(max_examples=150, **SETTINGS)
@given(st.integers(1, 3).flatmap(deconv_case))
def test_deconv_to_subpixel_random(case):
    note(repr(case))
    assume(min(deconv_out_sp(case)) >= 1 and max(case["stride"]) > 1)
    x, w, b = _case_data(case, (case["C"], case["O"] // case["group"]) + case["kernel"])
    before = _graph("Deconvolution", deconv_attrs(case), x, _params(w, b))
    after = passes.apply(before, ["deconv-to-subpixel"])
    assert "Deconvolution" not in after.count_types()
    # one convolution per phase that some tap reaches (o + pb = s*i + d*t); the others are bias
    live = [
        sum(any((r + pb - d * t) % s == 0 for t in range(k)) for r in range(s))
        for k, s, d, pb in zip(case["kernel"], case["stride"], case["dilation"], case["pads_begin"])
    ]
    assert after.count_types()["Convolution"] == int(np.prod(live))
    convs = [lay for lay in after.layers if lay.type == "Convolution"]
    assert all(lay.attrs.stride == (1,) * len(case["kernel"]) for lay in convs)
    # no zero weights: the phase kernels hold exactly the deconvolution's taps, once each
    assert sum(lay.params["weight"].size for lay in convs) == w.size
    ref = deconv_reference(case, x, w, b)
    model = _three_way(before, after, x, ref, case["opset"])
    assert "ConvTranspose" not in _ops(model)


def test_subpixel_costs_a_stride_factor_less_than_zero_insertion():
    from graphconv.analysis import total_macs

    b = gc.GraphBuilder("fcn")
    x = b.input("data", (1, 8, 16, 16))
    b.add(
        "Deconvolution",
        x,
        gc.DeconvAttrs(num_output=8, kernel=(4, 4), stride=2, pads=1, bias=False),
    )
    g = b.build()
    direct = 16 * 16 * 8 * 8 * 16  # every input sample times every tap into every output
    assert total_macs(g) == direct
    sub = total_macs(passes.apply(g, ["deconv-to-subpixel"]))
    zero = total_macs(passes.apply(g, ["deconv-to-conv"]))
    assert sub == direct == 262_144 and zero == 4 * direct


@settings(max_examples=100, **SETTINGS)
@given(st.integers(1, 3).flatmap(conv_case))
def test_dilated_to_space_to_batch_random(case):
    note(repr(case))
    assume(min(conv_out_sp(case)) >= 1 and max(case["dilation"]) > 1)
    case = dict(case, stride=(1,) * len(case["kernel"]))
    assume(min(conv_out_sp(case)) >= 1)
    x, w, b = _case_data(case, (case["O"], case["C"] // case["group"]) + case["kernel"])
    attrs = gc.ConvAttrs(
        num_output=case["O"],
        kernel=case["kernel"],
        stride=1,
        dilation=case["dilation"],
        pads_begin=case["pads_begin"],
        pads_end=case["pads_end"],
        group=case["group"],
        bias=case["bias"],
    )
    before = _graph("Convolution", attrs, x, _params(w, b))
    after = passes.apply(before, ["dilated-to-space-to-batch"])
    convs = [lay for lay in after.layers if lay.type == "Convolution"]
    assert len(convs) == 1 and convs[0].attrs.dilation == (1,) * len(case["kernel"])
    assert convs[0].params["weight"].shape == w.shape  # the kernel is not inflated
    assert after.specs[convs[0].inputs[0]].shape[0] == case["N"] * int(np.prod(case["dilation"]))
    ref = O.conv_direct(
        x,
        w,
        b,
        (1,) * len(case["kernel"]),
        case["dilation"],
        case["pads_begin"],
        case["pads_end"],
        case["group"],
    )
    _three_way(before, after, x, ref, case["opset"])
