"""The interpreter's fused epilogues: per-channel chains (BatchNorm, Scale, ReLU, PReLU, Dropout)
run in place inside the producer's kernel, a leading affine folded into conv weights. Oracle:
onnxruntime on the exported graph, which runs every layer as its own node. Each case also runs
with tiny chunks, so the epilogue is applied chunk by chunk, and unfused."""

import numpy as np
import oracles as O
import pytest
from helpers import tiny_chunks

import graphconv as gc
from graphconv import (
    BatchNormAttrs,
    ConcatAttrs,
    ConvAttrs,
    DeconvAttrs,
    EltwiseAttrs,
    GraphBuilder,
    PReLUAttrs,
    ReLUAttrs,
    ScaleAttrs,
)
from graphconv.interpreter import plan
from graphconv.validate import run_onnxruntime


def _tail(b, t, kinds):
    for kind in kinds:
        if kind == "bn":
            t = b.add("BatchNorm", t, BatchNormAttrs(eps=1e-3, affine=True))
        elif kind == "scale":
            t = b.add("Scale", t, ScaleAttrs(bias=True))
        elif kind == "relu":
            t = b.add("ReLU", t, ReLUAttrs())
        elif kind == "leaky":
            t = b.add("ReLU", t, ReLUAttrs(negative_slope=-0.3))  # a negative slope too
        elif kind == "leaky01":
            t = b.add("ReLU", t, ReLUAttrs(negative_slope=0.1))
        elif kind == "prelu":
            t = b.add("PReLU", t, PReLUAttrs())
        elif kind == "prelu1":
            t = b.add("PReLU", t, PReLUAttrs(channel_shared=True))
        elif kind == "dropout":
            t = b.add("Dropout", t)
    return t


def _graph(head, kinds):
    b = GraphBuilder("fused", seed=5)
    x = b.input("data", (2, 6, 11, 9))
    if head == "conv":
        t = b.add("Convolution", x, ConvAttrs(num_output=8, kernel=(3, 3), pads=1, stride=(1, 2)))
    elif head == "group":
        t = b.add("Convolution", x, ConvAttrs(num_output=6, kernel=(3, 3), pads=1, group=2))
    elif head == "pointwise":
        t = b.add("Convolution", x, ConvAttrs(num_output=4, kernel=(1, 1)))
    elif head == "depthwise":
        t = b.add("Convolution", x, ConvAttrs(num_output=12, kernel=(3, 3), pads=1, group=6))
    elif head == "deconv":
        t = b.add("Deconvolution", x, DeconvAttrs(num_output=4, kernel=(4, 4), stride=2, pads=1))
    elif head == "concat":  # the generic path: run, then the epilogue by channel blocks
        y = b.add("Convolution", x, ConvAttrs(num_output=2, kernel=(1, 1)))
        t = b.add("Concat", [x, y], ConcatAttrs())
    else:  # eltwise
        y = b.add("Convolution", x, ConvAttrs(num_output=6, kernel=(1, 1)))
        t = b.add("Eltwise", [x, y], EltwiseAttrs())
    return b.build([_tail(b, t, kinds)])


CHAINS = [
    ("bn", "scale", "relu"),
    ("bn", "prelu"),
    ("leaky",),
    ("scale", "prelu1"),
    ("dropout", "relu", "bn"),
    ("leaky01", "scale"),
]


@pytest.mark.parametrize(
    "head", ["conv", "group", "pointwise", "depthwise", "deconv", "eltwise", "concat"]
)
@pytest.mark.parametrize("kinds", CHAINS, ids="-".join)
def test_fused_chain_matches_onnxruntime(head, kinds):
    g = _graph(head, kinds)
    steps = plan(g, frozenset(g.outputs))
    assert len(steps) == (3 if head in ("eltwise", "concat") else 2), [s.layer.name for s in steps]
    assert len(steps[-1].fused) == len(kinds)
    # a leading BatchNorm/Scale is folded into a convolution's weights, as onnxruntime does
    assert (steps[-1].params is not None) == (
        kinds[0] in ("bn", "scale") and head not in ("eltwise", "concat")
    )
    x = np.random.default_rng(7).standard_normal((2, 6, 11, 9)).astype(np.float32)
    ref = run_onnxruntime(gc.to_onnx(g), {"data": x})[g.outputs[0]]
    O.assert_close(gc.run(g, {"data": x})[g.outputs[0]], ref, 1e-5, "fused")
    O.assert_close(gc.run(g, {"data": x}, fuse=False)[g.outputs[0]], ref, 1e-5, "unfused")
    g2 = _graph(head, kinds)  # a fresh graph: plans are cached per graph
    with tiny_chunks():
        O.assert_close(gc.run(g2, {"data": x})[g.outputs[0]], ref, 1e-5, "fused, chunked")


def test_no_fusion_across_branches_or_into_batch_statistics():
    b = GraphBuilder("branches", seed=1)
    x = b.input("data", (1, 3, 6, 6))
    c = b.add("Convolution", x, ConvAttrs(num_output=4, kernel=(3, 3), pads=1))
    r1 = b.add("ReLU", c, ReLUAttrs())  # c has two consumers: no fusion into the conv
    r2 = b.add("ReLU", c, ReLUAttrs(negative_slope=0.1))
    s = b.add("Eltwise", [r1, r2], EltwiseAttrs())
    bn = b.add("BatchNorm", s, BatchNormAttrs(statistics="batch"))  # needs the whole tensor
    g = b.build([bn])
    assert all(not st.fused for st in plan(g))
    xv = np.random.default_rng(0).standard_normal((1, 3, 6, 6)).astype(np.float32)
    ref = run_onnxruntime(gc.to_onnx(g), {"data": xv})[bn]
    O.assert_close(gc.run(g, {"data": xv})[bn], ref, 1e-4)
