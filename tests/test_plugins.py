"""Plugins (graphconv.plugins) and Caffe Python layers (frontends/caffe/rules/python.py): the
example plugin through the command line against onnxruntime and a NumPy formula, the built-in
identity table (ENet's spatial dropout), and one-line errors for broken plugin files."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from helpers import ROOT, ZOO, cli, one_line_error, write, zoo_files

import graphconv as gc

PLUGIN = ROOT / "examples" / "squareplus_plugin.py"

NET = """
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "sp" type: "SquarePlus" bottom: "conv" top: "sp" }
layer { name: "sp_py" type: "Python" bottom: "sp" top: "sp_py"
  python_param { module: "my_layers" layer: "SquarePlusLayer" param_str: "{'b': 0.5}" } }
"""


def squareplus(x, b):
    x = np.asarray(x, np.float64)
    return (x + np.sqrt(x * x + b)) / 2


def test_example_plugin_through_the_cli_against_onnxruntime_and_the_formula(tmp_path):
    net = write(tmp_path, NET, inputs={"data": (1, 3, 8, 8)})
    proc = cli("--plugin", PLUGIN, "validate", net)  # the option before the command
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "ok: interpreter vs onnxruntime" in proc.stdout
    out = tmp_path / "net.onnx"
    proc = cli("convert", net, "-o", out, "--plugin", PLUGIN)  # and after it
    assert proc.returncode == 0, proc.stderr + proc.stdout
    gc.load_plugins([PLUGIN])
    g = gc.load(net)
    assert [layer.type for layer in g.layers][-2:] == ["SquarePlus", "SquarePlus"]
    assert g.layers[-1].attrs.b == 0.5
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32) * 3
    conv = gc.run(g, {"data": x}, outputs=["conv"])["conv"]
    want = squareplus(squareplus(conv, 4.0), 0.5)
    got = ort.InferenceSession(str(out)).run(None, {"data": x})[0]
    # a few float32 operations per element on values O(10): 1e-5 relative to the largest
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    np.testing.assert_allclose(gc.run(g, {"data": x})["sp_py"], got, rtol=1e-6, atol=1e-6)


def test_register_layer_in_python_and_loading_twice_is_harmless():
    gc.load_plugins([PLUGIN, PLUGIN])
    b = gc.GraphBuilder("sp")
    b.add("SquarePlus", b.input("x", (1, 2, 3, 3)))
    x = np.linspace(-5, 5, 18, dtype=np.float32).reshape(1, 2, 3, 3)
    np.testing.assert_allclose(
        gc.run(b.build(), {"x": x})["squareplus"], squareplus(x, 4.0), rtol=1e-6, atol=1e-6
    )


BROKEN = {
    "syntax": ("def oops(:\n", "broken.py:1: plugin has a syntax error"),
    "missing": (
        "import graphconv\nfrom dataclasses import dataclass\n"
        "@dataclass(frozen=True)\nclass A: pass\n"
        "class L(graphconv.LayerType):\n    type = 'NoExport'\n    Attrs = A\n"
        "    def infer(self, a, ins): return ins\n"
        "    def run(self, a, xs, p): return xs\n"
        "graphconv.register_layer(L)\n",
        "broken.py: layer class L (NoExport) does not define to_onnx",
    ),
    "raises": (
        "import graphconv\n\nraise KeyError('boom')\n",
        "broken.py:3: plugin raised KeyError",
    ),
    "nothing": ("x = 1\n", "broken.py: plugin registered no layer type"),
    "builtin": (
        "import graphconv\nfrom graphconv.layers.activation import ReLU\n"
        "class R(ReLU):\n    type = 'Convolution'\n"
        "graphconv.register_layer(R)\n",
        "layer type Convolution is built in",
    ),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_plugin_is_a_one_line_error_naming_the_file(tmp_path, kind):
    source, needle = BROKEN[kind]
    plugin = tmp_path / "broken.py"
    plugin.write_text(source)
    net = write(tmp_path, NET, inputs={"data": (1, 3, 8, 8)})
    with pytest.raises(gc.ParseError) as err:
        gc.load_plugins([plugin])
    assert needle in str(err.value)
    if kind == "syntax":  # the same through the command line: exit 2
        assert needle in one_line_error(cli("validate", net, "--plugin", plugin))


def test_unknown_layers_are_listed_with_python_ones_by_module_and_a_plugin_suggested(tmp_path):
    """Without the plugin, both the SquarePlus layer and the Python layer are unknown."""
    text = NET.replace('module: "my_layers"', 'module: "other"')
    msg = one_line_error(cli("validate", write(tmp_path, text, inputs={"data": (1, 3, 8, 8)})))
    assert "2 unsupported layer(s): 'sp' (SquarePlus, net.prototxt:5)" in msg
    assert "'sp_py' (Python other.SquarePlusLayer, net.prototxt:6)" in msg
    assert "graphconv --plugin FILE.py" in msg


ENET_DROPOUT = """
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 4 kernel_size: 1 } }
layer { name: "drop1_0_3" type: "Python" bottom: "conv" top: "drop1_0_3"
  python_param { module: "spatial_dropout" layer: "SpatialDropoutLayer"
    param_str: "{\\'phase\\': \\'TEST\\', \\'p\\': \\'0.01\\'}" } }
"""


def test_enet_spatial_dropout_is_the_identity_with_a_note(tmp_path):
    g = gc.load(write(tmp_path, ENET_DROPOUT, inputs={"data": (1, 3, 4, 4)}))
    assert g.layers[-1].type == "Dropout"
    assert any("ENet's spatial dropout, the identity at test time" in n for n in g.notes)
    x = np.random.default_rng(1).standard_normal((1, 3, 4, 4)).astype(np.float32)
    out = gc.run(g, {"data": x}, outputs=["conv", "drop1_0_3"])
    np.testing.assert_array_equal(out["drop1_0_3"], out["conv"])


def test_enet_first_deploy_file_converts_and_validates():
    zoo_files()
    path = ZOO / "TimoSaemann__ENet__prototxts_enet_deploy.prototxt"
    if not path.is_file():
        pytest.skip(f"{path.name} is not in {ZOO} (TimoSaemann/ENet @ 48017c80)")
    # 128x256 instead of 512x1024 for speed: the same layers, every size divides by 8
    proc = cli("validate", path, "--input-shape", "data=1,3,128,256")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "ENet's spatial dropout" in proc.stderr
