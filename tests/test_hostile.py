"""Hostile input: every malformed file or argument gets exit 2 and one clean line, or exit 0 where
the input is valid; never a traceback, an internal error, a partial output file or an allocation
above the memory bound.

The table below has one row per case: how to make the input, the command line, and the expected
class of result (``ok`` or ``refused`` with words the line must contain). Each row runs the CLI
in-process (``graphconv.cli.main``); the memory rows run in a subprocess whose address space is
capped, so an allocation past the bound would fail the test rather than the machine. The mutation
fuzzer lives in test_hostile_fuzz.py.
"""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys

import numpy as np
import onnx
import pytest
from helpers import ROOT
from onnx import TensorProto, helper

from graphconv.cli import main

MODEL = ROOT / "models" / "fcn_tiny.prototxt"
HEAD = 'input: "data"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n'
RELU = 'layer { name: "a" type: "ReLU" bottom: "data" top: "y" }\n'


def conv(extra: str, kind: str = "Convolution", param: str = "convolution_param") -> str:
    return f'layer {{ name: "c" type: "{kind}" bottom: "data" top: "y" {param} {{ {extra} }} }}\n'


def _onnx_relu(**change) -> onnx.ModelProto:
    """A small valid ONNX model (Relu), then one field changed to make it hostile."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])
    nodes = change.get("nodes", [helper.make_node("Relu", ["x"], ["y"], name="r")])
    inits = change.get("inits", [])
    outputs = change.get("outputs", [y])
    g = helper.make_graph(nodes, "g", [x], outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", change.get("opset", 17))])
    m.ir_version = 8
    return m


def _bad_raw() -> TensorProto:
    t = helper.make_tensor("w", TensorProto.FLOAT, [2, 2], np.ones(4, np.float32).tobytes(), True)
    t.raw_data = t.raw_data[:10]
    return t


def _bad_dims() -> TensorProto:
    t = helper.make_tensor("w", TensorProto.FLOAT, [2], [1.0, 2.0])
    t.dims[0] = 3
    return t


def _bad_type() -> TensorProto:
    t = helper.make_tensor("w", TensorProto.FLOAT, [1], [1.0])
    t.data_type = 77
    return t


ADD_W = [helper.make_node("Add", ["x", "w"], ["y"], name="add")]

# name -> (kind, content); kind "prototxt" (text), "bytes", "onnx" (a ModelProto) or "npy"
FILES = {
    "relu": ("prototxt", HEAD + RELU),
    "syntax_long_line": ("prototxt", HEAD + "layer { " + "x" * 200_000 + " }\n"),
    "escape_name": ("prototxt", HEAD + 'layer { name: "\\033[2Jx\\000" type: "Nope" }\n'),
    "many_unknown": (
        "prototxt",
        HEAD
        + "".join(
            f'layer {{ name: "l{i}" type: "U{i}" bottom: "data" top: "t{i}" }}\n'
            for i in range(5000)
        ),
    ),
    "two_producers": (
        "prototxt",
        HEAD + RELU + 'layer { name: "b" type: "Sigmoid" bottom: "data" top: "y" }\n',
    ),
    "slice_same_tops": (
        "prototxt",
        HEAD + 'layer { name: "s" type: "Slice" bottom: "data" top: "y" top: "y" }\n',
    ),
    "write_input": (
        "prototxt",
        HEAD + RELU + 'layer { name: "b" type: "Sigmoid" bottom: "y" top: "data" }\n',
    ),
    "in_place": (
        "prototxt",
        HEAD + 'layer { name: "a" type: "ReLU" bottom: "data" top: "data" }\n',
    ),
    "gbk_comment": ("bytes", "# 中文注释\n".encode("gbk") + (HEAD + RELU).encode()),
    "gbk_name": ("bytes", (HEAD + RELU.replace('"a"', '"中"')).encode("gbk")),
    "latin1_comment": ("bytes", "# café\n".encode("latin-1") + (HEAD + RELU).encode()),
    "bom": ("bytes", b"\xef\xbb\xbf" + (HEAD + RELU).encode()),
    "huge_filler": ("prototxt", HEAD + conv("num_output: 2000000000 kernel_size: 3")),
    "deconv_stride": (
        "prototxt",
        HEAD + conv("num_output: 2 kernel_size: 3 stride: 100000", "Deconvolution"),
    ),
    "upsample_scale": (
        "prototxt",
        HEAD + conv("scale: 100000", "Upsample", "upsample_param"),
    ),
    "pad_huge": ("prototxt", HEAD + conv("num_output: 2 kernel_size: 3 pad: 100000")),
    "dilation_huge": (
        "prototxt",
        HEAD + conv("num_output: 2 kernel_size: 3 pad: 1000000 dilation: 1000000"),
    ),
    "onnx_ok": ("onnx", _onnx_relu()),
    "onnx_opset1": ("onnx", _onnx_relu(opset=1)),
    "onnx_opset5": ("onnx", _onnx_relu(opset=5)),
    "onnx_opset99": ("onnx", _onnx_relu(opset=99)),
    "onnx_cycle": (
        "onnx",
        _onnx_relu(
            nodes=[
                helper.make_node("Relu", ["z"], ["w"], name="a"),
                helper.make_node("Add", ["x", "w"], ["z"], name="b"),
                helper.make_node("Relu", ["z"], ["y"], name="c"),
            ]
        ),
    ),
    "onnx_undefined": ("onnx", _onnx_relu(nodes=[helper.make_node("Relu", ["nope"], ["y"])])),
    "onnx_no_outputs_node": (
        "onnx",
        _onnx_relu(
            nodes=[helper.make_node("Relu", ["x"], []), helper.make_node("Relu", ["x"], ["y"])]
        ),
    ),
    "onnx_ssa": (
        "onnx",
        _onnx_relu(
            nodes=[helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Relu", ["x"], ["y"])]
        ),
    ),
    "onnx_no_graph_outputs": ("onnx", _onnx_relu(outputs=[])),
    "onnx_raw_size": ("onnx", _onnx_relu(nodes=ADD_W, inits=[_bad_raw()])),
    "onnx_dims": ("onnx", _onnx_relu(nodes=ADD_W, inits=[_bad_dims()])),
    "onnx_dtype": ("onnx", _onnx_relu(nodes=ADD_W, inits=[_bad_type()])),
    "onnx_garbage": ("bytes", b"\x08\x07\x12\xff\xff\xff\xff\x0fgarbage"),
    "npy_unicode": ("npy", np.array(["a", "b"])),
    "npy_complex": ("npy", np.zeros((1, 3, 64, 96), np.complex64)),
    "npy_struct": ("npy", np.zeros(3, dtype=[("a", "f4")])),
    "npy_wrong_shape": ("npy", np.zeros((1, 3, 8, 8), np.float32)),
    "npy_ok": ("npy", np.zeros((1, 3, 64, 96), np.float32)),
    "npy_empty": ("bytes", b""),
    "npy_truncated": ("bytes", b"\x93NUMPY\x01\x00v\x00{'descr': '<f4'"),
    "npy_huge_header": (
        "bytes",
        b"\x93NUMPY\x01\x00v\x00"
        + b"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }".ljust(117)
        + b"\n",
    ),
}
FILES["npz"] = ("npz", {"image": np.zeros((1, 3, 64, 96), np.float32)})

M, OUT = str(MODEL), "{tmp}/out.onnx"
# (case id, argv with {file}/{tmp} placeholders, expected: "ok" or words of the one-line error)
CASES = [
    # exit 3 before: output paths, numbers, options
    ("o_missing_folder", ["convert", M, "-o", "{tmp}/nope/x.onnx"], "does not exist"),
    ("o_is_folder", ["convert", M, "-o", "{tmp}"], "is a folder"),
    ("o_under_file", ["convert", M, "-o", M + "/x.onnx"], "is not a folder"),
    ("o_device", ["convert", M, "-o", "/dev/null"], "not a regular file"),
    ("rank0", ["validate", M, "--passes", "split-separable:rank=0"], "at least 1"),
    ("rank_x", ["validate", M, "--passes", "split-separable:rank=x"], "rank"),
    ("opt_unknown", ["validate", M, "--passes", "deconv-to-conv:rank=4"], "option"),
    (
        "dim_20_digits",
        ["validate", M, "--input-shape", "image=99999999999999999999,3,8,8"],
        "above",
    ),
    ("rtol_negative", ["validate", M, "--rtol", "-1"], ">= 0"),
    ("rtol_nan", ["validate", M, "--rtol", "nan"], ">= 0"),
    ("max_memory_bad", ["validate", M, "--max-memory", "lots"], "size"),
    ("weights_for_onnx", ["validate", "{onnx_ok}", "--weights", M], "ONNX model carries"),
    ("shape_unknown_name", ["validate", M, "--input-shape", "nosuch=1,3,8,8"], "not a graph input"),
    ("unknown_suffix", ["validate", str(ROOT / "README.md")], "an ONNX model: .onnx"),
    # run --input files
    ("npy_unicode", ["run", M, "--input", "image={npy_unicode}", "-o", OUT], "real numbers"),
    ("npy_complex", ["run", M, "--input", "image={npy_complex}", "-o", OUT], "real numbers"),
    ("npy_struct", ["run", M, "--input", "image={npy_struct}", "-o", OUT], "real numbers"),
    ("npy_npz", ["run", M, "--input", "image={npz}", "-o", OUT], "not a .npy"),
    ("npy_empty", ["run", M, "--input", "image={npy_empty}", "-o", OUT], "not a .npy"),
    ("npy_truncated", ["run", M, "--input", "image={npy_truncated}", "-o", OUT], "cannot read"),
    ("npy_header_1e12", ["run", M, "--input", "image={npy_huge_header}", "-o", OUT], "declares"),
    ("npy_shape", ["run", M, "--input", "image={npy_wrong_shape}", "-o", OUT], "expects"),
    ("npy_ok", ["run", M, "--input", "image={npy_ok}", "-o", "{tmp}/o.npz"], "ok"),
    # accepted when Caffe or ONNX refuse
    ("two_producers", ["validate", "{two_producers}"], "produced by multiple sources"),
    ("slice_same_tops", ["validate", "{slice_same_tops}"], "produced by multiple sources"),
    ("write_input", ["validate", "{write_input}"], "produced by multiple sources"),
    ("in_place", ["validate", "{in_place}"], "ok"),
    ("onnx_ok", ["validate", "{onnx_ok}"], "ok"),
    ("onnx_opset1", ["validate", "{onnx_opset1}"], "opset 1 "),
    ("onnx_opset5", ["validate", "{onnx_opset5}"], "opset 5 "),
    ("onnx_opset99", ["validate", "{onnx_opset99}"], "opset 99 "),
    ("onnx_cycle", ["validate", "{onnx_cycle}"], "cycle"),
    ("onnx_undefined", ["validate", "{onnx_undefined}"], "no node, initializer or graph input"),
    ("onnx_no_outputs_node", ["validate", "{onnx_no_outputs_node}"], "has no outputs"),
    ("onnx_ssa", ["validate", "{onnx_ssa}"], "single static assignment"),
    ("onnx_no_graph_outputs", ["validate", "{onnx_no_graph_outputs}"], "no outputs"),
    ("onnx_raw_size", ["validate", "{onnx_raw_size}"], "raw_data holds 10 bytes"),
    ("onnx_dims", ["validate", "{onnx_dims}"], "need 3"),
    ("onnx_dtype", ["validate", "{onnx_dtype}"], "unknown data type 77"),
    ("onnx_garbage", ["validate", "{onnx_garbage}"], "not a readable ONNX model"),
    # messages a terminal should not print
    ("syntax_long_line", ["convert", "{syntax_long_line}", "-o", OUT], ":3:9:"),
    ("escape_name", ["convert", "{escape_name}", "-o", OUT], "\\x1b[2Jx\\x00"),
    ("many_unknown", ["convert", "{many_unknown}", "-o", OUT], "and 4,995 more"),
    # refused when Caffe accepts
    ("gbk_comment", ["convert", "{gbk_comment}", "-o", OUT], "ok"),
    ("gbk_name", ["convert", "{gbk_name}", "-o", OUT], "ok"),
    ("latin1_comment", ["convert", "{latin1_comment}", "-o", OUT], "ok"),
    ("bom", ["convert", "{bom}", "-o", OUT], "ok"),
]
# memory: refused before allocating, in a subprocess whose address space is capped
MEMORY_CASES = [
    ("huge_filler", ["convert", "{huge_filler}", "-o", OUT], "memory bound"),
    ("deconv_stride", ["run", "{deconv_stride}", "--random", "-o", "{tmp}/o.npz"], "memory bound"),
    ("upsample_scale", ["validate", "{upsample_scale}"], "memory bound"),
    ("pad_huge", ["validate", "{pad_huge}"], "memory bound"),
    ("dilation_huge", ["validate", "{dilation_huge}"], "ok"),
    ("validate_bound", ["validate", M, "--max-memory", "1M"], "validate needs about"),
]


def _materialise(tmp_path, names) -> dict[str, str]:
    paths = {}
    for name in names:
        kind, content = FILES[name]
        suffix = {"prototxt": ".prototxt", "onnx": ".onnx", "npy": ".npy", "npz": ".npz"}.get(kind)
        if kind == "bytes":
            suffix = (
                ".onnx" if name.startswith("onnx") else ".npy" if "npy" in name else ".prototxt"
            )
        path = tmp_path / f"{name}{suffix}"
        if kind == "prototxt":
            path.write_text(content)
        elif kind == "bytes":
            path.write_bytes(content)
        elif kind == "onnx":
            path.write_bytes(content.SerializeToString())
        elif kind == "npy":
            np.save(path, content)
        else:
            np.savez(path, **content)
        paths[name] = str(path)
    return paths


def _argv(argv, tmp_path) -> list[str]:
    names = [a.split("{")[1].split("}")[0] for a in argv if "{" in a and "{tmp}" not in a]
    paths = _materialise(tmp_path, names)
    return [a.format(tmp=tmp_path, **paths) for a in argv]


def _check_result(code: int, err: str, expect: str, before: set, after: set) -> None:
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("graphconv: ")]
    assert "Traceback" not in err, err
    assert "internal error" not in err, err
    if expect == "ok":
        assert code == 0, err
        return
    assert code == 2, err
    assert len(errors) == 1 and errors[0] == lines[-1], err
    line = errors[0]
    assert len(line) <= 700, f"{len(line)} characters"
    assert line.isprintable(), repr(line)
    assert expect in line, line
    left = {p for p in after - before if not p.endswith((".npy", ".npz", ".prototxt", ".onnx"))}
    left |= {p for p in after - before if p.startswith("out.") or p.startswith(".graphconv-")}
    assert not left, f"left behind: {left}"


@pytest.mark.parametrize("case, argv, expect", CASES, ids=[c[0] for c in CASES])
def test_hostile_case(case, argv, expect, tmp_path, capsys):
    argv = _argv(argv, tmp_path)
    before = set(os.listdir(tmp_path))
    code = main(argv)
    err = capsys.readouterr().err
    _check_result(code, err, expect, before, set(os.listdir(tmp_path)))


def _cap_address_space() -> None:  # in the child: 6 GiB of address space
    resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))


@pytest.mark.parametrize("case, argv, expect", MEMORY_CASES, ids=[c[0] for c in MEMORY_CASES])
def test_memory_case_refused_before_allocating(case, argv, expect, tmp_path):
    argv = _argv(argv, tmp_path)
    before = set(os.listdir(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "graphconv.cli", *argv]
        + ([] if "--max-memory" in argv else ["--max-memory", "3G"]),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_cap_address_space,
        env=dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1"),
    )
    _check_result(proc.returncode, proc.stderr, expect, before, set(os.listdir(tmp_path)))


def test_output_files_respect_the_umask(tmp_path, capsys):
    old = os.umask(0o027)
    try:
        assert main(["convert", M, "-o", str(tmp_path / "m.onnx")]) == 0
        assert main(["run", M, "--random", "-o", str(tmp_path / "o.npz")]) == 0
    finally:
        os.umask(old)
    for name in ("m.onnx", "o.npz"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o640


def test_a_failed_write_names_the_users_path_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    import errno

    def full(*_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    out = tmp_path / "m.onnx"
    assert main(["convert", M, "-o", str(out)]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == f"graphconv: error: -o {out}: cannot write: No space left on device"
    assert os.listdir(tmp_path) == []


def test_debug_shows_the_traceback_and_keeps_the_exit_code(tmp_path, capsys):
    path = _materialise(tmp_path, ["escape_name"])["escape_name"]
    assert main(["validate", path, "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("graphconv: error:")


def test_models_over_2_gib_are_refused_before_the_export(monkeypatch, capsys, tmp_path):
    from graphconv import export

    monkeypatch.setattr(export, "PROTO_LIMIT", 1000)  # the bundled model's 253 KiB is "over"
    assert main(["convert", M, "-o", str(tmp_path / "m.onnx")]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "does not write ONNX external data" in line and os.listdir(tmp_path) == []
