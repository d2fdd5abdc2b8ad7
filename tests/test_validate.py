"""validate(): per-output errors, the first diverging layer, and the layer-by-layer check.

Oracle: onnxruntime. A kernel broken on purpose (monkeypatched) must be named, both end to end
and on identical inputs.
"""

from __future__ import annotations

import numpy as np
from helpers import ROOT

import graphconv as gc
from graphconv.registry import layer_type


def _model():
    return gc.load(ROOT / "models" / "fcn_tiny.prototxt")


def test_agreeing_model_reports_small_errors():
    report = gc.validate(_model())
    assert report.ok and report.outputs_ok and not report.layerwise_checked
    (out,) = report.outputs
    assert out.name == "score" and out.shape == (1, 5, 64, 96)
    assert 0 <= out.rel <= 1e-5 and out.max_abs < 1e-4


def test_broken_kernel_is_named(monkeypatch):
    relu = layer_type("ReLU")
    original = relu.run

    def wrong(a, xs, p):  # a leaky slope where none is asked for
        return (
            original(a, xs, p) if a.negative_slope else [np.where(xs[0] > 0, xs[0], 0.01 * xs[0])]
        )

    original_epilogue = relu.epilogue

    def wrong_epilogue(a, p, x):  # the same fault where ReLU is fused into its producer
        if a.negative_slope:
            return original_epilogue(a, p, x)
        return lambda block, ch: np.multiply(block, np.float32(0.01), out=block, where=block < 0)

    monkeypatch.setattr(relu, "run", wrong)
    monkeypatch.setattr(relu, "epilogue", wrong_epilogue)
    report = gc.validate(_model())
    assert not report.ok and report.layerwise_checked
    assert report.first_divergence.startswith("layer 'relu1' (ReLU)")
    assert [f.layer for f in report.layer_failures][0] == "relu1"
    # relu5 has a real slope, so it is not among the failures
    assert "relu5" not in {f.layer for f in report.layer_failures}
    assert any(
        "first layer that differs on identical inputs: layer 'relu1'" in line
        for line in report.lines()
    )


def test_isolated_export_feeds_each_layer():
    from graphconv.export import isolated_input, to_onnx
    from graphconv.validate import run_onnxruntime

    g = _model()
    model = to_onnx(g, isolate=True, check=False)
    names = {i.name for i in model.graph.input}
    assert isolated_input("down1") in names and "image" in names
    # feed zeros into up1's input: ORT's up1 output is then its bias everywhere
    feeds = {
        i.name: np.zeros([d.dim_value for d in i.type.tensor_type.shape.dim], np.float32)
        for i in model.graph.input
    }
    out = run_onnxruntime(model, feeds)["up1#1"]
    bias = g.layer("up1").params["bias"]
    np.testing.assert_allclose(
        out, np.broadcast_to(bias[None, :, None, None], out.shape), rtol=1e-6
    )


# ---- three comparisons, one verdict (issue 17) ------------------------------------------------


def test_rewritten_graph_is_compared_with_the_original():
    from graphconv import passes

    g = _model()
    lowered = passes.apply(g, ["deconv-to-conv"])
    report = gc.validate(lowered, original=g)
    assert report.ok and report.failed == []
    assert [o.name for o in report.passes] == [o.name for o in report.end_to_end] == ["score"]
    # the original graph in the interpreter is the reference: deconv-to-conv is exact up to the
    # order of float32 sums (K = 16 * 9 products per output), so well below 1e-5 of the maximum
    assert report.passes[0].rel < 1e-5 and report.passes[0].scale > 0
    assert report.verdict().startswith("ok: original vs rewritten graph")


def test_lossy_rewrite_is_not_ok_without_a_tolerance():
    from graphconv import passes

    g = _model()
    lossy = passes.apply(g, ["split-separable:rank=1"])
    report = gc.validate(lossy, original=g)
    assert not report.ok and "passes" in report.failed and "end-to-end" in report.failed
    assert "export" not in report.failed  # the export of the lossy graph is still faithful
    err = report.passes[0].rel
    assert 0.05 < err < 10
    allowed = gc.validate(lossy, original=g, passes_rtol=2 * err)
    assert allowed.ok, allowed.lines()


def _nan_graph():
    b = gc.GraphBuilder("nan")
    x = b.input("x", (1, 3, 8, 8))
    y = b.add("Convolution", x, gc.ConvAttrs(num_output=4, kernel=(3, 3)), name="conv1")
    z = b.add("ReLU", y, name="relu1")
    w = np.full((4, 4, 3, 3), np.nan, np.float32)
    b.add(
        "Convolution",
        z,
        gc.ConvAttrs(num_output=4, kernel=(3, 3), bias=False),
        params={"weight": w},
        name="conv2",
    )
    return b.build()


def test_nan_outputs_are_never_ok():
    report = gc.validate(_nan_graph())
    # before issue 17 NaN against NaN compared as 'max abs err 0, rel 0 ok'
    assert not report.ok and report.failed == ["non-finite", "export"]
    assert not report.outputs[0].ok and "NON-FINITE" in report.outputs[0].line()
    engines = {nf.engine for nf in report.nonfinite}
    assert engines == {"interpreter", "onnxruntime"}
    for nf in report.nonfinite:
        assert nf.nan == nf.size == 4 * 4 * 4 and nf.first_index == (0, 0, 0, 0)
        assert nf.first_layer.startswith("layer 'conv2' (Convolution)")


def test_nonfinite_from_overflow_names_the_layer():
    b = gc.GraphBuilder("overflow")
    x = b.input("x", (1, 2, 4, 4))
    y = b.add("Power", x, gc.PowerAttrs(power=1.0, scale=1e30, shift=0.0), name="huge")
    b.add("Power", y, gc.PowerAttrs(power=2.0, scale=1.0, shift=0.0), name="square")
    report = gc.validate(b.build())
    assert report.failed[0] == "non-finite"
    assert all(nf.inf > 0 and nf.first_layer == "layer 'square' (Power)" for nf in report.nonfinite)


def test_repro_folder_reproduces_the_difference_in_onnxruntime(tmp_path, monkeypatch):
    from graphconv.validate import ort_session

    relu = layer_type("ReLU")
    monkeypatch.setattr(relu, "run", lambda a, xs, p: [np.where(xs[0] > 0, xs[0], 0.01 * xs[0])])
    monkeypatch.setattr(relu, "epilogue", lambda a, p, x: None)
    report = gc.validate(_model(), repro=str(tmp_path / "repro"))
    assert report.failed == ["export"] and report.repro == str(tmp_path / "repro")
    folder = tmp_path / "repro"
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.txt",
        "expected.npz",
        "inputs.npz",
        "layer.onnx",
    ]
    import onnx

    model = onnx.load(str(folder / "layer.onnx"))
    assert [n.op_type for n in model.graph.node] == ["Relu"]
    sess = ort_session(model)
    inputs = dict(np.load(folder / "inputs.npz"))
    expected = np.load(folder / "expected.npz")
    (out,) = sess.run(None, inputs)
    ref = np.maximum(inputs[sess.get_inputs()[0].name], 0)  # ReLU by definition
    np.testing.assert_array_equal(out, ref)  # onnxruntime is right ...
    assert np.abs(expected[sess.get_outputs()[0].name] - out).max() > 1e-3  # ... we are not
    assert "relu1" in (folder / "README.txt").read_text()


def test_input_onnx_file_is_a_reference(tmp_path, monkeypatch):
    """An import bug is invisible when graphconv is compared only with its own re-export."""
    from graphconv.export import save, to_onnx
    from graphconv.frontends import onnx as onnx_frontend

    path = tmp_path / "fcn.onnx"
    save(to_onnx(_model()), str(path))
    import onnx

    reference = onnx.load(str(path))
    good = gc.validate(gc.load(path), reference_model=reference)
    assert good.ok and good.file and good.file[0].rel < 1e-5
    wrong = onnx_frontend.RULES["LeakyRelu"]  # import every Relu as a leaky one: an import bug
    monkeypatch.setitem(onnx_frontend.RULES, "Relu", wrong)
    graph = gc.load(path)
    bad = gc.validate(graph, reference_model=reference)
    assert bad.outputs_ok  # the interpreter and the re-export agree with each other ...
    assert bad.failed == ["file"]  # ... only the input file exposes the bug
