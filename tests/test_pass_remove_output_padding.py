"""remove-output-padding: output_padding as asymmetric end pads, or a Pad plus the bias.

Oracles: the brute-force scatter-add transposed convolution (oracles.deconv_scatter) and
onnxruntime on the export, on small-integer data (bit-equal), over random 1-3-D
configurations; every rewrite site is also checked on its own (``verify="exact"``).
"""

from __future__ import annotations

from helpers import SETTINGS, deconv_case, deconv_out_sp, integer_deconv_case
from helpers import lowering_three_ways as three_ways
from helpers import onnx_ops_and_rank as ops_and_rank
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

from graphconv import passes


@settings(max_examples=50, **SETTINGS)
@given(st.integers(1, 3).flatmap(deconv_case))
def test_output_padding_is_removed_exactly(case):
    note(repr(case))
    assume(min(deconv_out_sp(case)) >= 1 and any(case["output_padding"]))
    g, x, ref, _ = integer_deconv_case(case)
    after = passes.apply(g, ["remove-output-padding"], verify="exact")
    if any("bias only" in n for n in after.notes):  # pads crop the whole full output
        full = [
            s * (h - 1) + d * (k - 1) + 1
            for h, k, s, d in zip(case["sp"], case["kernel"], case["stride"], case["dilation"])
        ]
        assert any(pb >= f for pb, f in zip(case["pads_begin"], full))
        return
    (deconv,) = [lay for lay in after.layers if lay.type == "Deconvolution"]
    assert not any(deconv.attrs.output_padding)
    needs_pad = any(op > pe for op, pe in zip(case["output_padding"], case["pads_end"]))
    assert ("Pad" in after.count_types()) == needs_pad
    model = three_ways(g, after, x, ref, opset=case["opset"], exact=True)
    ops, _ = ops_and_rank(model)
    for node in model.graph.node:
        if node.op_type == "ConvTranspose":
            op = [a for a in node.attribute if a.name == "output_padding"]
            assert not op or not any(op[0].ints)
    assert "ConvTranspose" in ops


def test_layers_without_output_padding_are_untouched():
    case = dict(
        N=1,
        C=2,
        O=2,
        group=1,
        kernel=(3, 3),
        stride=(2, 2),
        dilation=(1, 1),
        sp=(3, 3),
        pads_begin=(1, 1),
        pads_end=(1, 1),
        output_padding=(0, 0),
        bias=True,
        seed=0,
    )
    g, *_ = integer_deconv_case(case)
    assert passes.apply(g, ["remove-output-padding"]).layers == g.layers
