"""``to_onnx(..., dynamic_batch=True)`` / ``graphconv convert --dynamic-batch``: the exported
model takes any batch size. The oracle at batch B is the interpreter run on each sample alone
(the graph as built, at batch 1) and the results stacked, so the check does not rest on
graphconv's own re-inference at another batch; onnxruntime runs the one exported model at two
batch sizes. Layers whose ONNX form holds a shape (Reshape, Flatten, Caffe ArgMax, GroupNorm's
grouping, Resize sizes, Power's constant output) are in the models."""

from __future__ import annotations

import numpy as np
import onnx
import oracles as O
import pytest
from helpers import ROOT, cli

import graphconv as gc
from graphconv import ConvAttrs, GraphBuilder
from graphconv.layers.activation import PowerAttrs
from graphconv.layers.argmax import ArgMaxAttrs
from graphconv.layers.elementwise import EltwiseAttrs
from graphconv.layers.linear import InnerProductAttrs
from graphconv.layers.resize import ResizeAttrs
from graphconv.layers.statnorm import GroupNormAttrs
from graphconv.layers.tensor import FlattenAttrs, ReshapeAttrs
from graphconv.validate import run_onnxruntime

# float32 convolutions and sums of a few hundred terms in different orders (NumPy against
# onnxruntime): a few 1e-7 relative; 1e-5 of the largest output
TOL = 1e-5


def shape_holding_graph():
    """Per-sample layers whose exports hold shapes with the batch in them."""
    b = GraphBuilder("shapes", seed=1)
    x = b.input("data", (1, 4, 6, 6))
    y = b.add("Convolution", x, ConvAttrs(8, (3, 3), pads=1))
    y = b.add("GroupNorm", y, GroupNormAttrs(2))
    up = b.add(
        "Resize",
        y,
        ResizeAttrs(sizes=(1, 8, 12, 12), scales=(1.0, 1.0, 2.0, 2.0), mode="linear"),
    )
    ones = b.add("Power", up, PowerAttrs(power=0.0))  # every output 1: ConstantOfShape
    up = b.add("Eltwise", [up, ones], EltwiseAttrs("SUM"))
    top = b.add("ArgMax", up, ArgMaxAttrs(top_k=3), name="top3")  # flattens each sample
    flat = b.add("Flatten", up, FlattenAttrs())
    b.add("InnerProduct", flat, InnerProductAttrs(num_output=5), name="logits")
    sq = b.add("Reshape", y, ReshapeAttrs(shape=(1, 8, 36)))  # the batch written as 1
    b.add("Reduce", sq, gc.layers.ReduceAttrs("mean", (2,)), name="pooled")
    return b.build(outputs=["logits", top, "pooled"])


def per_sample(graph, x):
    """The oracle: each sample run alone at the graph's own batch 1, stacked."""
    (name,) = graph.inputs
    runs = [gc.run(graph, {name: x[i : i + 1]}) for i in range(x.shape[0])]
    return {k: np.concatenate([r[k] for r in runs]) for k in graph.outputs}


def dims(vi):
    return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]


@pytest.mark.parametrize("opset", [13, 17, 21])
def test_any_batch_runs_in_onnxruntime(opset):
    g = shape_holding_graph()
    model = gc.to_onnx(g, opset, dynamic_batch=True)
    assert dims(model.graph.input[0]) == ["N", 4, 6, 6]
    assert [dims(o)[0] for o in model.graph.output] == ["N"] * 3
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 4, 6, 6)).astype(np.float32)
        want = per_sample(g, x)
        got = run_onnxruntime(model, {"data": x})
        for k in g.outputs:
            if k == "top3":  # indices: exact, unless two values tie within rounding (not here)
                np.testing.assert_array_equal(got[k], want[k])
            else:
                O.assert_close(got[k], want[k], TOL, f"{k} at batch {batch}")


def test_a_bundled_caffe_model_converts_with_a_dynamic_batch(tmp_path):
    out = tmp_path / "fcn.onnx"
    proc = cli(
        "convert", ROOT / "models" / "fcn_tiny.prototxt", "-o", out, "--dynamic-batch", "--validate"
    )
    assert proc.returncode == 0, proc.stderr
    # --validate runs the export at the graph's batch and one more, against the interpreter
    assert "score@1 1x5x64x96" in proc.stdout and "score@2 2x5x64x96" in proc.stdout, proc.stdout
    model = onnx.load(str(out))
    assert dims(model.graph.input[0])[0] == "N"
    g = gc.load(str(ROOT / "models" / "fcn_tiny.prototxt"))
    (name,) = g.inputs
    x = np.random.default_rng(0).standard_normal((2, *g.inputs[name].shape[1:]))
    x = x.astype(np.float32)
    got = run_onnxruntime(model, {name: x})
    want = per_sample(g, x)
    for k in g.outputs:
        O.assert_close(got[k], want[k], TOL, k)


def baked_batch_graph():
    b = GraphBuilder("baked", seed=0)
    x = b.input("data", (1, 8, 1, 1))
    flat = b.add("Reshape", x, ReshapeAttrs(shape=(8,)), name="flat_all")  # batch folded in
    b.add("Reshape", flat, ReshapeAttrs(shape=(1, 8)), name="back")
    return b.build()


def test_a_graph_whose_attributes_fix_the_batch_is_refused_naming_the_layer():
    with pytest.raises(gc.ExportError, match="does not take batch 2.*flat_all"):
        gc.to_onnx(baked_batch_graph(), 17, dynamic_batch=True)


def test_the_cli_refuses_in_one_line_and_writes_nothing(tmp_path):
    model = tmp_path / "baked.onnx"
    onnx.save(gc.to_onnx(baked_batch_graph(), 17), str(model))
    out = tmp_path / "out.onnx"
    proc = cli("convert", model, "-o", out, "--dynamic-batch")
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "batch" in proc.stderr
    assert not out.exists()
