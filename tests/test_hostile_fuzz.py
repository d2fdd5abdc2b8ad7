"""A bounded mutation fuzzer: real prototxt files and exported ONNX files, with tokens and bytes
deleted, duplicated or altered, go through ``graphconv convert``. Whatever the mutation, the
result is exit 0 (the mutant is a valid model) or exit 2 with one printable line; never an
internal error, a traceback or a file left behind.

Short and deterministic in CI (``GRAPHCONV_FUZZ_EXAMPLES``, default 20 per source kind);
``GRAPHCONV_FUZZ_EXAMPLES=3000 pytest tests/test_hostile_fuzz.py`` runs a long, random session.
"""

from __future__ import annotations

import os
import re

import onnx
import pytest
from helpers import IN_CI, ROOT, ZOO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphconv as gc
from graphconv.cli import main
from graphconv.export import to_onnx

EXAMPLES = int(os.environ.get("GRAPHCONV_FUZZ_EXAMPLES", "20"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="GRAPHCONV_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=list(HealthCheck),
    database=None,
)
# small real models (fast to load and export) and the bundled ones
ZOO_NAMES = (
    "forresti__SqueezeNet__SqueezeNet_v1.1_deploy.prototxt",
    "TimoSaemann__ENet__prototxts_enet_deploy_final.prototxt",
    "ChenYingpeng__caffe-yolov3__prototxt_yolov3-tiny.prototxt",
    "alexgkendall__SegNet-Tutorial__Example_Models_segnet_basic_camvid.prototxt",
)
POOL = [
    "0", "-1", "1", "3", "1000000", "99999999999999999999", "1e9", "nan", "-0", '""', '"x"',
    "{", "}", ":", "layer", "top:", "bottom:", "name:", "type:", '"Convolution"', '"Deconvolution"',
    "num_output:", "kernel_size:", "stride:", "pad:", "dilation:", "group:", '"data"', "#", "\\",
    "\x00", "\x1b[2J", "中", "\ufeff", "true", "MAX", "input_shape", "dim:",
]  # fmt: skip
TOKEN = re.compile(r'\s+|"(?:[^"\\\n]|\\.)*"|[{}:]|[^\s{}:"]+')


def _sources() -> list[tuple[str, str]]:
    found = [(p.name, p.read_text()) for p in sorted((ROOT / "models").glob("*.prototxt"))]
    if ZOO.is_dir():
        found += [(n, (ZOO / n).read_text()) for n in ZOO_NAMES if (ZOO / n).is_file()]
    elif IN_CI:
        pytest.fail(f"{ZOO} is missing: the fuzzer's real models cannot run under CI")
    return found


SOURCES = _sources()


def _onnx_sources() -> list[bytes]:
    out = []
    for p in sorted((ROOT / "models").glob("*.prototxt")):
        model = to_onnx(gc.load(p), 17)
        out.append(model.SerializeToString())
    return out


ONNX_SOURCES = _onnx_sources()


def _convert(tmp_path, name: str, data: bytes, capsys) -> None:
    folder = tmp_path / f"f{len(os.listdir(tmp_path))}"
    folder.mkdir()
    src = folder / name
    src.write_bytes(data)
    out = folder / "out.onnx"
    code = main(["convert", str(src), "-o", str(out), "--max-memory", "2G"])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in (0, 2), err
    left = sorted(set(os.listdir(folder)) - {name})
    if code == 0:
        assert left == ["out.onnx"], left
        return
    errors = [line for line in err.splitlines() if line.startswith("graphconv: error:")]
    assert len(errors) == 1 and errors[0].isprintable() and len(errors[0]) <= 700, err
    assert left == [], left


mutation = st.tuples(
    st.sampled_from(["delete", "duplicate", "replace", "insert"]),
    st.floats(0, 1, exclude_max=True),
    st.sampled_from(POOL),
)


@FUZZ
@given(source=st.sampled_from(SOURCES), edits=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_prototxt_is_converted_or_refused_cleanly(source, edits, tmp_path_factory, capsys):
    name, text = source
    tokens = TOKEN.findall(text)
    for op, where, token in edits:
        i = int(where * len(tokens))
        if op == "delete":
            del tokens[i]
        elif op == "duplicate":
            tokens.insert(i, tokens[i])
        elif op == "replace":
            tokens[i] = token
        else:
            tokens.insert(i, " " + token + " ")
    data = "".join(tokens).encode("utf-8", "surrogatepass")
    _convert(tmp_path_factory.mktemp("proto"), name, data, capsys)


byte_edit = st.tuples(
    st.sampled_from(["flip", "delete", "duplicate", "truncate"]),
    st.floats(0, 1, exclude_max=True),
    st.integers(1, 64),
)


@FUZZ
@given(source=st.sampled_from(range(len(ONNX_SOURCES))), edits=st.lists(byte_edit, max_size=3))
def test_mutated_onnx_bytes_are_converted_or_refused_cleanly(
    source, edits, tmp_path_factory, capsys
):
    data = bytearray(ONNX_SOURCES[source])
    for op, where, n in edits:
        i = int(where * len(data))
        if op == "flip":
            data[i] ^= n
        elif op == "delete":
            del data[i : i + n]
        elif op == "duplicate":
            data[i:i] = data[i : i + n]
        else:
            del data[i:]
            break
    _convert(tmp_path_factory.mktemp("onnxb"), "m.onnx", bytes(data), capsys)


proto_edit = st.tuples(
    st.sampled_from(["drop_node", "dup_node", "rewire", "attr", "dims", "opset", "drop_init"]),
    st.floats(0, 1, exclude_max=True),
    st.sampled_from([0, -1, 1, 2, 7, 1000000, 2**40]),
)


def _edit_proto(model: onnx.ModelProto, op: str, where: float, value: int) -> None:
    g = model.graph
    nodes = g.node
    node = nodes[int(where * len(nodes))] if len(nodes) else None
    if op == "drop_node" and node is not None:
        nodes.remove(node)
    elif op == "dup_node" and node is not None:
        nodes.add().CopyFrom(node)
    elif op == "rewire" and node is not None and node.input:
        names = [t for n in nodes for t in n.output] + [i.name for i in g.input]
        node.input[0] = names[int(where * 7919) % len(names)]
    elif op == "attr" and node is not None:
        for a in node.attribute:
            if a.ints:
                a.ints[0] = value
            elif a.type == onnx.AttributeProto.INT:
                a.i = value
    elif op == "dims" and len(g.initializer):
        init = g.initializer[int(where * len(g.initializer))]
        if init.dims:
            init.dims[0] = value
    elif op == "opset":
        model.opset_import[0].version = value
    elif op == "drop_init" and len(g.initializer):
        del g.initializer[int(where * len(g.initializer))]


@FUZZ
@given(
    source=st.sampled_from(range(len(ONNX_SOURCES))),
    edits=st.lists(proto_edit, min_size=1, max_size=3),
)
def test_mutated_onnx_graphs_are_converted_or_refused_cleanly(
    source, edits, tmp_path_factory, capsys
):
    model = onnx.load_from_string(ONNX_SOURCES[source])
    for edit in edits:
        _edit_proto(model, *edit)
    _convert(tmp_path_factory.mktemp("onnxg"), "m.onnx", model.SerializeToString(), capsys)
