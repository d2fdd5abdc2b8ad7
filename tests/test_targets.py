"""Target profiles (graphconv/targets): reading and checking profile files, and the checker on
hand-built ONNX models.

Oracles: the ONNX models below are written by hand with onnx.helper (not by graphconv's
exporter), each with the violations a reader of the profile's stated semantics expects; shapes
the checker needs are left for onnx's shape inference to find, as in a user's file.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import cli, one_line_error
from onnx import TensorProto, helper, numpy_helper

from graphconv.errors import ParseError
from graphconv.targets import builtin_names, load_profile, parse_profile, violations

# ---- profiles ------------------------------------------------------------------------------------


def test_builtin_profiles_load_and_cite_their_sources():
    names = builtin_names()
    assert {"conv-only", "no-convtranspose", "no-dilation"} <= set(names)
    assert len(names) >= 5  # plus runtime classes: tflite-gpu, ethos-u, tensorrt-dla
    for name in names:
        p = load_profile(name)
        assert p.name == name
        assert "http" in p.comment or "review.mlplatform.org" in p.comment, name
        assert "Not confirmed" in p.comment or name == "conv-only", name
    conv_only = load_profile("conv-only")
    assert conv_only.max_rank == 4
    assert set(conv_only.ops) >= {"Conv", "Relu", "MaxPool", "Add", "Concat", "Reshape"}
    assert "ConvTranspose" not in conv_only.ops and "Pad" not in conv_only.ops
    assert "ConvTranspose" not in load_profile("no-convtranspose").ops
    assert load_profile("no-dilation").ops["Conv"].dilations == (1,)


def test_profile_semantics_as_written():
    p = parse_profile(
        """
        name = "my-npu"
        max_rank = 4
        [ops.Conv]
        strides = [1, 2]
        dilations = [1]
        kernel_max = 7
        pads_max = 3
        group = "any"
        [ops.ConvTranspose]
        strides = [2]
        output_padding = false
        group = 1
        [ops.Resize]
        modes = ["nearest"]
        [ops.Relu]
        """,
        "my.toml",
    )
    conv = p.ops["Conv"]
    assert (conv.strides, conv.dilations, conv.kernel_max, conv.pads_max, conv.group) == (
        (1, 2),
        (1,),
        7,
        3,
        None,
    )
    ct = p.ops["ConvTranspose"]
    assert (ct.strides, ct.output_padding, ct.group) == ((2,), False, 1)
    assert p.ops["Resize"].modes == ("nearest",)
    assert p.ops["Relu"].strides is None and p.max_rank == 4


BAD_PROFILES = [
    ('name = "x"\nmax_ranks = 4\n[ops.Relu]\n', "max_ranks", "unknown key"),
    ("max_rank = 4\n[ops.Relu]\n", "name", "needs a name"),
    ('name = "x"\nmax_rank = 0\n[ops.Relu]\n', "max_rank", "positive integer"),
    ('name = "x"\nmax_rank = "4"\n[ops.Relu]\n', "max_rank", "positive integer"),
    ('name = "x"\n', "ops", "at least one"),
    ('name = "x"\n[ops.Covn]\n', "ops.Covn", "not an ONNX op"),
    ('name = "x"\n[ops.Conv]\nstride = [1]\n', "ops.Conv.stride", "unknown key"),
    ('name = "x"\n[ops.Relu]\nstrides = [1]\n', "ops.Relu.strides", "does not apply to Relu"),
    ('name = "x"\n[ops.Conv]\nstrides = 2\n', "ops.Conv.strides", "list of positive"),
    ('name = "x"\n[ops.Conv]\nstrides = [0, 1]\n', "ops.Conv.strides", "list of positive"),
    ('name = "x"\n[ops.Conv]\nkernel_max = 2.5\n', "ops.Conv.kernel_max", "positive integer"),
    ('name = "x"\n[ops.Conv]\npads_max = -1\n', "ops.Conv.pads_max", "integer >= 0"),
    ('name = "x"\n[ops.Conv]\ngroup = 2\n', "ops.Conv.group", '"depthwise"'),
    ('name = "x"\n[ops.Conv]\ngroup = true\n', "ops.Conv.group", '"depthwise"'),
    (
        'name = "x"\n[ops.ConvTranspose]\noutput_padding = "no"\n',
        "ops.ConvTranspose.output_padding",
        "true or false",
    ),
    ('name = "x"\n[ops.Resize]\nmodes = ["bicubic"]\n', "ops.Resize.modes", "nearest"),
    ('name = "x"\n[ops.Conv\n', None, "not valid TOML"),
    ('name = "x"\nops = 3\n', "ops", "at least one"),
]


@pytest.mark.parametrize("text,key,what", BAD_PROFILES)
def test_bad_profile_is_one_line_naming_file_and_key(text, key, what):
    with pytest.raises(ParseError) as err:
        parse_profile(text, "bad.toml")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("bad.toml: ")
    assert what in msg
    if key:
        assert f"key '{key}'" in msg


def test_unknown_profile_name_lists_the_builtins(tmp_path):
    with pytest.raises(ParseError, match="conv-only"):
        load_profile("no-such-target")
    with pytest.raises(ParseError, match="no such profile file"):
        load_profile(tmp_path / "missing.toml")


def test_cli_bad_profile_exits_2_with_nothing_written(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[ops.Conv]\ngroup = 3\n')
    out = tmp_path / "out.onnx"
    line = one_line_error(cli("convert", "models/fcn_tiny.prototxt", "-o", out, "--target", bad))
    assert str(bad) in line and "ops.Conv.group" in line
    assert not out.exists()


def test_cli_targets_lists_and_prints(capsys):
    from graphconv.cli import main

    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    assert sorted(line.split()[0] for line in out.splitlines()) == builtin_names()
    assert main(["targets", "conv-only"]) == 0
    out = capsys.readouterr().out
    assert 'name = "conv-only"' in out and "[ops.Conv]" in out
    assert out.lstrip().startswith("#")  # the citations come first
    assert main(["targets", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("graphconv: error: 'nope'")


# ---- the checker on hand-built ONNX models -------------------------------------------------------


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(
        nodes,
        "hand",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in inits],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


PROFILE = parse_profile(
    """
    name = "hand"
    max_rank = 4
    [ops.Conv]
    strides = [1, 2]
    dilations = [1]
    kernel_max = 3
    pads_max = 1
    group = "depthwise"
    [ops.ConvTranspose]
    output_padding = false
    group = 1
    [ops.Resize]
    modes = ["nearest"]
    [ops.Pad]
    pads_max = 2
    [ops.Relu]
    [ops.Reshape]
    """,
    "hand.toml",
)


def _found(model):
    return sorted((v.node, v.key) for v in violations(model, PROFILE))


def _conv(name, x, y, w, **attrs):
    return helper.make_node("Conv", [x, w], [y], name=name, **attrs)


def test_checker_conv_limits():
    w3 = np.zeros((4, 4, 3, 3), np.float32)
    w5 = np.zeros((4, 4, 5, 5), np.float32)
    dw = np.zeros((4, 1, 3, 3), np.float32)
    g2 = np.zeros((4, 2, 3, 3), np.float32)
    nodes = [
        _conv("ok", "x", "a", "w3", pads=[1, 1, 1, 1], strides=[2, 2]),
        _conv("stride3", "x", "b", "w3", strides=[1, 3]),
        _conv("dilated", "x", "c", "w3", dilations=[2, 2]),
        _conv("big", "x", "d", "w5"),  # kernel_shape absent: read from the weight
        _conv("padded", "x", "e", "w3", pads=[0, 2, 0, 0]),
        _conv("depthwise", "x", "f", "dw", group=4),
        _conv("grouped", "x", "h", "g2", group=2),
        _conv("same", "x", "i", "w3", auto_pad="SAME_UPPER"),
    ]
    inits = [("w3", w3), ("w5", w5), ("dw", dw), ("g2", g2)]
    model = _model(nodes, [("x", (1, 4, 12, 12))], list("abcdefhi"), inits)
    assert _found(model) == [
        ("big", "kernel_max"),
        ("dilated", "dilations"),
        ("grouped", "group"),
        ("padded", "pads_max"),
        ("same", "pads_max"),  # implicit pads cannot be bounded
        ("stride3", "strides"),
    ]


def test_checker_convtranspose_resize_pad_and_missing_ops():
    wt = np.zeros((4, 4, 3, 3), np.float32)
    wg = np.zeros((4, 2, 3, 3), np.float32)
    nodes = [
        helper.make_node("ConvTranspose", ["x", "wt"], ["a"], name="plain", strides=[2, 2]),
        helper.make_node(
            "ConvTranspose",
            ["x", "wt"],
            ["b"],
            name="outpad",
            strides=[2, 2],
            output_padding=[1, 0],
        ),
        helper.make_node("ConvTranspose", ["x", "wg"], ["c"], name="grouped", group=2),
        helper.make_node("Resize", ["x", "", "sc"], ["d"], name="near", mode="nearest"),
        helper.make_node("Resize", ["x", "", "sc"], ["e"], name="lin", mode="linear"),
        helper.make_node("Pad", ["x", "p1"], ["f"], name="pad_ok"),
        helper.make_node("Pad", ["x", "p3"], ["g"], name="pad_big"),
        helper.make_node("Identity", ["x"], ["h"], name="copy"),
        helper.make_node("Shape", ["x"], ["i"], name="shape"),
        helper.make_node("Constant", [], ["j"], name="const", value_float=1.0),
        helper.make_node("Sigmoid", ["x"], ["k"], name="sig"),
    ]
    inits = [
        ("wt", wt),
        ("wg", wg),
        ("sc", np.array([1, 1, 2, 2], np.float32)),
        ("p1", np.array([0, 0, 1, 1, 0, 0, 2, 2], np.int64)),
        ("p3", np.array([0, 0, 3, 0, 0, 0, 0, 0], np.int64)),
    ]
    model = _model(nodes, [("x", (1, 4, 6, 6))], list("abcdefg"), inits)
    model.graph.output.extend(
        [helper.make_tensor_value_info(t, TensorProto.FLOAT, None) for t in "hk"]
    )
    assert _found(model) == [
        ("const", "ops"),
        ("copy", "ops"),
        ("grouped", "group"),
        ("lin", "modes"),
        ("outpad", "output_padding"),
        ("pad_big", "pads_max"),
        ("shape", "ops"),
        ("sig", "ops"),
    ]


def test_checker_max_rank_from_inferred_shapes():
    nodes = [
        helper.make_node("Reshape", ["x", "s5"], ["five"], name="to5"),
        helper.make_node("Reshape", ["five", "s4"], ["y"], name="to4"),
        helper.make_node("Relu", ["z"], ["r"], name="relu5"),
    ]
    inits = [
        ("s5", np.array([1, 2, 2, 6, 6], np.int64)),
        ("s4", np.array([1, 4, 6, 6], np.int64)),
    ]
    model = _model(nodes, [("x", (1, 4, 6, 6)), ("z", (1, 1, 2, 2, 2))], ["y", "r"], inits)
    found = violations(model, PROFILE)
    assert sorted((v.node, v.key) for v in found) == [
        ("relu5", "max_rank"),
        ("relu5", "max_rank"),  # its input and its output
        ("to4", "max_rank"),
        ("to5", "max_rank"),
    ]
    assert all(re.search(r"rank 5 > max_rank 4", v.detail) for v in found)
    assert violations(model, parse_profile('name = "n"\n[ops.Reshape]\n[ops.Relu]\n')) == []


def test_describe_round_trips():
    for name in builtin_names():
        p = load_profile(name)
        again = parse_profile(p.describe(), "again.toml")
        assert (again.name, again.max_rank, dict(again.ops)) == (p.name, p.max_rank, dict(p.ops))


def test_without_tomllib_the_error_says_what_to_install(monkeypatch):
    """graphconv runs on Python 3.10, which has no tomllib: reading a profile then needs tomli."""
    import sys

    monkeypatch.setitem(sys.modules, "tomllib", None)
    monkeypatch.setitem(sys.modules, "tomli", None)
    with pytest.raises(ParseError, match=r"Python 3\.11\+ \(tomllib\) or the 'tomli' package"):
        load_profile("conv-only")
