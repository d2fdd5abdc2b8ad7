"""deconv-to-subpixel on every configuration, with each interleave (transpose, depth-to-space,
rank4).

Oracles: the brute-force scatter-add transposed convolution (oracles.deconv_scatter, float64)
and onnxruntime on the export. Inputs, weights and biases are small integers, so every sum is
an integer far below 2**24 and float32 computes it exactly in any order: the interpreter before
and after the pass and onnxruntime must all equal the oracle bit for bit. The rank-4 interleave
is checked on the exported model's inferred shapes (every tensor, initializers included).
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import (
    SETTINGS,
    deconv_case,
    deconv_out_sp,
    integer_deconv_case,
    one_layer_graph,
)
from helpers import lowering_three_ways as three_ways
from helpers import onnx_ops_and_rank as ops_and_rank
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

import graphconv as gc
from graphconv import passes


def _lowered(case, interleave, bias_only="pad"):
    before, x, ref, w = integer_deconv_case(case)
    spec = f"deconv-to-subpixel:interleave={interleave}:bias-only={bias_only}"
    after = passes.apply(before, [spec])
    return x, w, before, after, ref


def _live_phases(case) -> int:
    """Phases some tap reaches, counted from the definition (o + pb = s*i + d*t)."""
    per_axis = [
        sum(any((r + pb - d * t) % s == 0 for t in range(k)) for r in range(s))
        for k, s, d, pb in zip(case["kernel"], case["stride"], case["dilation"], case["pads_begin"])
    ]
    return int(np.prod(per_axis))


@settings(max_examples=60, **SETTINGS)
@given(
    st.integers(1, 3).flatmap(deconv_case),
    st.sampled_from(["transpose", "rank4"]),
    st.sampled_from(["pad", "conv"]),
)
def test_every_configuration_is_lowered_exactly(case, interleave, bias_only):
    note(repr(case))
    assume(min(deconv_out_sp(case)) >= 1)
    x, w, before, after, ref = _lowered(case, interleave, bias_only)
    types = after.count_types()
    assert "Deconvolution" not in types
    convs = [lay for lay in after.layers if lay.type == "Convolution"]
    phases = [c for c in convs if "no_taps_bias" not in c.name]
    assert len(phases) == _live_phases(case)
    empty = _live_phases(case) < int(np.prod(case["stride"]))
    assert len(convs) - len(phases) == (empty and bias_only == "conv")
    assert ("ConstantBinary" in types) == (empty and bias_only == "pad" and case["bias"])
    assert all(c.attrs.stride == (1,) * len(case["kernel"]) for c in convs)
    # every tap once, no zero weights: the phase kernels partition the deconvolution's
    assert sum(c.params["weight"].size for c in phases) == w.size
    model = three_ways(before, after, x, ref, opset=case["opset"], exact=True)
    ops, rank = ops_and_rank(model)
    assert "ConvTranspose" not in ops
    if interleave == "rank4":
        assert "Transpose" not in ops and rank <= max(4, len(case["kernel"]) + 2)
    if bias_only == "conv":
        assert "Add" not in ops and "Mul" not in ops


@settings(max_examples=25, **SETTINGS)
@given(st.data())
def test_depth_to_space_interleave(data):
    case = data.draw(deconv_case(2))
    s = data.draw(st.integers(1, 3))
    case = dict(case, stride=(s, s), output_padding=(0, 0))
    assume(min(deconv_out_sp(case)) >= 1)
    x, w, before, after, ref = _lowered(case, "depth-to-space")
    assert "Deconvolution" not in after.count_types()
    assert ("DepthToSpace" in after.count_types()) == (s > 1)
    model = three_ways(before, after, x, ref, opset=case["opset"], exact=True)
    ops, rank = ops_and_rank(model)
    assert rank == 4 and "ConvTranspose" not in ops and "Transpose" not in ops


@pytest.mark.parametrize("kernel, stride", [((3,), (2,)), ((2, 2), (2, 3)), ((2, 2, 2), (2, 2, 2))])
def test_depth_to_space_leaves_what_it_cannot_express_with_a_note(kernel, stride):
    attrs = gc.DeconvAttrs(num_output=2, kernel=kernel, stride=stride)
    g = one_layer_graph("Deconvolution", attrs, (1, 2) + (3,) * len(kernel))
    after = passes.apply(g, ["deconv-to-subpixel:interleave=depth-to-space"])
    assert after.count_types()["Deconvolution"] == 1
    assert any("needs a 2-D layer with equal strides" in n for n in after.notes)


@pytest.mark.parametrize("interleave", ["transpose", "depth-to-space", "rank4"])
@pytest.mark.parametrize(
    "attrs",
    [
        # stride 1: one phase, the flipped kernel; pads beyond the extent crop
        dict(kernel=(3, 2), stride=1, pads_begin=(3, 0), pads_end=(1, 2)),
        # kernel shorter than the stride: most phases hold the bias only
        dict(kernel=(1, 2), stride=(3, 3), pads_begin=(1, 0), output_padding=(2, 1)),
        # dilation sharing the stride's factor: the odd phases read no tap
        dict(kernel=(3, 3), stride=(2, 2), dilation=(2, 4), pads_begin=(1, 0), pads_end=(0, 3)),
        # a large asymmetric pad, groups, output padding at dilation > stride
        dict(
            kernel=(4, 3), stride=(2, 2), dilation=(3, 1), pads_begin=(7, 1), output_padding=(2, 1)
        ),
    ],
)
def test_named_configurations(attrs, interleave):
    case = dict(
        N=1,
        C=4,
        O=6,
        group=2,
        sp=(5, 4),
        bias=True,
        seed=7,
        opset=17,
        **{"dilation": (1, 1), "pads_begin": (0, 0), "pads_end": (0, 0), "output_padding": 0},
    )
    case.update(attrs)
    a = gc.DeconvAttrs(
        num_output=6,
        group=2,
        **{k: case[k] for k in ("kernel", "stride", "dilation", "pads_begin", "pads_end")},
        output_padding=case["output_padding"],
    )
    case = dict(case, **{k: getattr(a, k) for k in ("stride", "dilation", "output_padding")})
    x, w, before, after, ref = _lowered(case, interleave)
    assert "Deconvolution" not in after.count_types()
    three_ways(before, after, x, ref, exact=True)
    checked = passes.apply(before, [f"deconv-to-subpixel:interleave={interleave}"], verify="exact")
    assert checked.count_types() == after.count_types()


def test_bias_only_phases_do_not_read_the_input():
    """A phase with no taps is the bias whatever the input holds (Inf and NaN included), as in
    the scatter-add definition, where no input sample reaches it."""
    a = gc.DeconvAttrs(num_output=2, kernel=(1,), stride=(2,), bias=True)
    w = np.ones((1, 2, 1), np.float32)
    b = np.array([3.0, -1.0], np.float32)
    g = one_layer_graph("Deconvolution", a, (1, 1, 3), {"weight": w, "bias": b})
    after = passes.apply(g, ["deconv-to-subpixel"])
    x = np.array([[[np.inf, np.nan, 1.0]]], np.float32)
    y = gc.run(after, {"data": x})[g.outputs[0]]
    np.testing.assert_array_equal(y[:, :, 1::2], np.broadcast_to(b[None, :, None], (1, 2, 2)))


def test_unknown_interleave_is_a_usage_error():
    g = one_layer_graph(
        "Deconvolution", gc.DeconvAttrs(num_output=1, kernel=2, stride=2), (1, 1, 3)
    )
    with pytest.raises(gc.UsageError, match="interleave=zigzag is not one of"):
        passes.apply(g, ["deconv-to-subpixel:interleave=zigzag"])


@pytest.mark.parametrize(
    "model, interleave",
    [
        ("s9xie__hed__examples_hed_deploy", "rank4"),
        ("TimoSaemann__ENet__prototxts_enet_deploy_final", "rank4"),
        ("TimoSaemann__ENet__prototxts_enet_deploy_final", "depth-to-space"),
    ],
)
def test_real_models_lose_every_conv_transpose_within_rank_4(model, interleave):
    from helpers import ZOO, zoo_files

    zoo_files()  # skips (fails under CI) without the caffe-zoo folder
    g = gc.load(ZOO / f"{model}.prototxt", seed=0)
    after, checks = passes.apply_checked(g, [f"deconv-to-subpixel:interleave={interleave}"])
    assert checks and all(c.ok and c.mode == "exact" for c in checks), [c.line() for c in checks]
    assert "Deconvolution" not in after.count_types()
    ops, rank = ops_and_rank(gc.to_onnx(after))
    assert "ConvTranspose" not in ops and "Transpose" not in ops and rank == 4


@settings(max_examples=30, **SETTINGS)
@given(st.integers(1, 2).flatmap(deconv_case))
def test_conv_only_pipeline(case):
    """rank4 + bias-only=conv, then pad-to-conv: any 1-D/2-D transposed convolution becomes
    Conv, Reshape and Concat only, at rank 4 at most (a conv-only target's op set)."""
    note(repr(case))
    assume(min(deconv_out_sp(case)) >= 1)
    x, w, before, _, ref = _lowered(case, "rank4", "conv")
    after = passes.apply(
        before, ["deconv-to-subpixel:interleave=rank4:bias-only=conv", "pad-to-conv"]
    )
    model = three_ways(before, after, x, ref, opset=case["opset"], exact=True)
    ops, rank = ops_and_rank(model)
    assert ops <= {"Conv", "Reshape", "Concat"} and rank <= 4
