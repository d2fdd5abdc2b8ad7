"""validate(): per-output errors, the first diverging layer, and the layer-by-layer check.

Oracle: onnxruntime. A kernel broken on purpose (monkeypatched) must be named, both end to end
and on identical inputs.
"""

from __future__ import annotations

import numpy as np

import graphconv as gc
from conftest import ROOT
from graphconv.layers import layer_type


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
        return original(a, xs, p) if a.negative_slope else [np.where(xs[0] > 0, xs[0],
                                                                     0.01 * xs[0])]

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
    assert any("first layer that differs on identical inputs: layer 'relu1'" in line
               for line in report.lines())


def test_isolated_export_feeds_each_layer():
    from graphconv.export import isolated_input, to_onnx
    from graphconv.validate import run_onnxruntime

    g = _model()
    model = to_onnx(g, isolate=True, check=False)
    names = {i.name for i in model.graph.input}
    assert isolated_input("down1") in names and "image" in names
    # feed zeros into up1's input: ORT's up1 output is then its bias everywhere
    feeds = {i.name: np.zeros([d.dim_value for d in i.type.tensor_type.shape.dim], np.float32)
             for i in model.graph.input}
    out = run_onnxruntime(model, feeds)["up1#1"]
    bias = g.layer("up1").params["bias"]
    np.testing.assert_allclose(out, np.broadcast_to(bias[None, :, None, None], out.shape),
                               rtol=1e-6)
