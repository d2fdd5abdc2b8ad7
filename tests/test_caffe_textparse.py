"""The fast prototxt parser against protobuf's own text_format (the oracle): the same message for
every real file, snippets and generated messages; whenever the fast path accepts a text,
text_format accepts it too with the same message; and wherever it declines, the reader's errors
are text_format's, word for word, as before the fast path existed."""

import math
import re

import pytest
from google.protobuf import text_format
from helpers import ROOT, zoo_files
from hypothesis import given, settings
from hypothesis import strategies as st

import graphconv as gc
from graphconv.frontends.caffe import schema, textparse
from graphconv.frontends.caffe.reader import parse_prototxt
from graphconv.synthetic import synthetic_prototxt


def fast(text: str):
    net = schema.NetParameter()
    textparse.parse(text, net)
    return net


def oracle(text: str):
    net = schema.NetParameter()
    text_format.Parse(text, net)
    return net


def assert_same(text: str):
    ours, theirs = fast(text), oracle(text)
    wire = ours.SerializeToString(deterministic=True)
    assert wire == theirs.SerializeToString(deterministic=True)
    if "nan" not in text.lower():  # NaN != NaN, so == only without NaNs
        assert ours == theirs


def old_error(text: str, path: str) -> str:
    """What the reader reported before the fast path: text_format's error, file:line:col."""
    try:
        text_format.Parse(text, schema.NetParameter())
    except text_format.ParseError as e:
        msg = str(e)
        detail = msg.split(" : ", 1)[1] if " : " in msg else msg
        return f"{path}:{e.GetLine()}:{e.GetColumn()}: {_prototxt_words(detail)}"
    raise AssertionError("text_format accepted the text")


def _prototxt_words(detail: str) -> str:
    """The reader says protobuf's 'no field' errors in the prototxt's words: the message type's
    field name (ConvolutionParameter -> convolution_param), 'a layer' or 'the net'."""
    m = re.match(r'Message type "graphconv_caffe\.(\w+)" has no field named "(.*)"\.$', detail)
    if not m:
        return detail
    kind, field = m.groups()
    named = {"NetParameter": "the net", "LayerParameter": "a layer"}
    where = named.get(kind) or re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower().replace(
        "_parameter", "_param"
    )
    return f"{where} has no field '{field}'"


def test_real_files_parse_identically():
    files = zoo_files() + sorted((ROOT / "models").glob("*.prototxt"))
    assert len(files) >= 15
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert_same(text)
        assert parse_prototxt(text, str(path)) == oracle(text)


@pytest.mark.parametrize("n", [200, 300])
def test_generated_net_parses_identically(n):
    assert_same(synthetic_prototxt(n))


SNIPPETS = [
    "name: \"n\" # a comment\ninput: 'data'  input_dim: 1 input_dim: 3",
    'name: "n"  # a comment at the very end, no newline',
    "# only a comment\n\n  \t\r\n",
    "",
    'name: "n"\r\ninput: "d"\r\n',
    'layer { name: "c" type: "Convolution" convolution_param: { num_output: 4 kernel_size: 3 } }',
    'layer < name: "c"; type: "Pooling", pooling_param < pool: AVE kernel_size: 2 > >',
    'layer { name: "a", } ; layer { name: "b"; },',
    'layer { name: "b" type: "BatchNorm" batch_norm_param { eps: 1e-5 moving_average_fraction: '
    ".999 use_global_stats: true } }",
    'layer { name: "p" type: "Power" power_param { power: -0.5 scale: 2 shift: +1.5E2 } }',
    "layer { param { lr_mult: -1.25e-3 decay_mult: 1. } param { lr_mult: 0.0 decay_mult: -0 } }",
    "layer { param { lr_mult: inf decay_mult: -inf } param { lr_mult: -Infinity decay_mult: nan }"
    " param { lr_mult: 1.5f decay_mult: 2F } }",
    'layer { name: "c" type: "Convolution" convolution_param { pad: [1, 2] kernel_size: [3] '
    'stride: [] weight_filler { type: "gaussian" std: 0.01 } } }',
    'input: ["a", \'b\', "c" "d"] input_dim: [1, 3, 0x10, 010]',
    'layer: [{ name: "a" }, < name: "b" >] layer [] layer: []',
    'layer { name: "x" include { phase: 1 } exclude: { phase: TRAIN } }',
    'layer { name: "x" type: "Python" python_param { param_str: "a" "b" \'c\' } }',
    'layer { name: "e" type: "Eltwise" eltwise_param { operation: SUM coeff: 1 coeff: -1 } }',
    'layer { name: "u" type: "Upsample" upsample_param { scale: 0x2 } }',
    'layer { name: "empty" convolution_param {} }',
    'force_backward: True debug_info: t state { phase: 0 level: -3 stage: "s" }',
    "force_backward: 1 debug_info: false",
    r'name: "a\"b" input: "tab\there" input: "nl\n" input: "q\'s" ' + "input: 'd\"q'",
    r"name: 'single \'quoted\' with \\ backslash'",
    r'name: "\101\x42\u00e9 octal hex unicode" input: "\303\251"',
    'name: "caf\u00e9 \u4e2d\u6587"',
    'layer{name:"tight"type:"ReLU"bottom:"a"top:"a"}',
    "input_shape { dim: 1 dim: 3 dim: 224 dim: 224 } input_shape: { dim: [1, 3] }",
    "layer { blobs { data: [0.5, -1e-3, 2] shape { dim: 3 } } }",
]


@pytest.mark.parametrize("text", SNIPPETS)
def test_snippets_parse_identically(text):
    assert_same(text)
    assert (
        parse_prototxt(text, "x.prototxt").SerializeToString() == oracle(text).SerializeToString()
    )


DECLINED = [
    'layer { name: "x" } name: "a" name: "b"',  # a singular field twice
    'layer { name: "x" convolution_param { num_output: 1 } convolution_param { bias_term: 1 } }',
    'layer { name: "x" convolution_param { num_output: 1.5 } }',
    'layer { name: "x" no_such_field: 1 }',
    'layer { name: "x" ',  # unterminated
    'layer { name: "x" } }',
    'layer { name: "x" convolution_param { num_output: -1 } }',  # uint32
    'layer { name: "x" convolution_param { num_output: 99999999999 } }',
    'layer { name: "x" pooling_param { pool: CUBIC } }',
    'layer { name: "x" include { phase: 7 } }',
    'layer { ; name: "x" }',  # separators only after a field
    'name: "a";;',
    ', name: "a"',
    "input_dim: [1 2]",  # lists need commas ...
    "input_dim: [1, 2,]",  # ... and no trailing one
    "input_dim: [,]",
    'name: ["a"]',  # a list for a singular field
    'layer { name: "x" param { lr_mult: 01 } }',  # octal-looking floats
    'layer { name: "x" param { lr_mult: 00.5 } }',
    'layer { name: "x" param { lr_mult: 1e-3decay_mult: 2 } }',  # one token for text_format
    'layer { name: "x" convolution_param { kernel_size: 3pad: 1 } }',
    'name: "unterminated',
    'name "no colon"',
    'layer { name: "x" convolution_param: [ { num_output: 1 } ] }',
    "force_backward: yes",
    'layer { name: "x" type: Convolution }',  # a string needs quotes
    'layer { name: "x" bottom: 1 }',
    "[ext.name]: 1",
    'layer { name: "x" } / ',
]


@pytest.mark.parametrize("text", DECLINED)
def test_declined_text_keeps_text_formats_error(text, tmp_path):
    with pytest.raises(textparse.Unsupported):
        fast(text)
    expected = old_error(text, "x.prototxt")
    with pytest.raises(gc.ParseError) as err:
        parse_prototxt(text, "x.prototxt")
    assert str(err.value) == expected
    path = tmp_path / "bad.prototxt"
    path.write_text(text)
    with pytest.raises(gc.ParseError) as err:
        gc.load(str(path))
    assert str(err.value) == old_error(text, str(path))


# ---- generated: token soup (soundness) and printed messages (completeness) -----------------

POOL = [
    "name",
    "layer",
    "layers",
    "input",
    "input_dim",
    "type",
    "bottom",
    "top",
    "include",
    "phase",
    "convolution_param",
    "num_output",
    "kernel_size",
    "pad",
    "param",
    "lr_mult",
    "pooling_param",
    "pool",
    "force_backward",
    "state",
    "input_shape",
    "dim",
    "blobs",
    "data",
    "nope",
    "{",
    "}",
    "<",
    ">",
    ":",
    ":",
    ",",
    ";",
    "[",
    "]",
    "1",
    "-1",
    "0",
    "01",
    "0x10",
    "010",
    "1.5",
    "-2e-3",
    ".5",
    "1e5",
    "1.f",
    "inf",
    "-inf",
    "nan",
    "true",
    "t",
    "True",
    "MAX",
    "AVE",
    "TEST",
    "TRAIN",
    '"a"',
    "'b'",
    '"a\\"b"',
    "'\\n'",
    '"\\x41"',
    '"\\101"',
    '"\u00e9"',
    "# c\n",
    "#",
    "\n",
    "+",
    "-",
    ".",
    "/",
    '"open',
    "'",
]


@pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")
@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(POOL), max_size=24),
    st.lists(st.sampled_from([" ", "", "\n", "\t"]), min_size=24, max_size=24),
)
def test_fast_path_never_accepts_what_text_format_does_not(words, gaps):
    text = "".join(w + g for w, g in zip(words, gaps))
    try:
        ours = fast(text)
    except textparse.Unsupported:
        return
    theirs = oracle(text)  # must not raise
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(
        deterministic=True
    )


names = st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)
floats32 = st.floats(width=32, allow_nan=True)
layers = st.fixed_dictionaries(
    {
        "name": names,
        "type": names,
        "bottom": st.lists(names, max_size=2),
        "top": st.lists(names, max_size=2),
        "phase": st.none() | st.sampled_from([0, 1]),
        "lr_mult": st.lists(floats32, max_size=2),
        "conv": st.none()
        | st.tuples(st.integers(0, 2**32 - 1), st.lists(st.integers(0, 9), max_size=3), floats32),
        "pool": st.none() | st.sampled_from([0, 1, 2]),
        "data": st.lists(floats32, max_size=3),
    }
)


def build(net_name, dims, force, specs):
    net = schema.NetParameter()
    if net_name is not None:
        net.name = net_name
    net.input_dim.extend(dims)
    if force is not None:
        net.force_backward = force
    for s in specs:
        lp = net.layer.add()
        lp.name, lp.type = s["name"], s["type"]
        lp.bottom.extend(s["bottom"])
        lp.top.extend(s["top"])
        if s["phase"] is not None:
            lp.include.add().phase = s["phase"]
        for m in s["lr_mult"]:
            lp.param.add().lr_mult = m
        if s["conv"] is not None:
            num, pads, std = s["conv"]
            cp = lp.convolution_param
            cp.num_output = num
            cp.pad.extend(pads)
            cp.weight_filler.std = std
        if s["pool"] is not None:
            lp.pooling_param.pool = s["pool"]
        if s["data"]:
            lp.blobs.add().data.extend(s["data"])
    return net


@settings(max_examples=150, deadline=None)
@given(
    st.none() | names,
    st.lists(st.integers(-(2**31), 2**31 - 1), max_size=4),
    st.none() | st.booleans(),
    st.lists(layers, max_size=3),
    st.fixed_dictionaries(
        {
            "as_one_line": st.booleans(),
            "pointy_brackets": st.booleans(),
            "use_short_repeated_primitives": st.booleans(),
            "as_utf8": st.booleans(),
            "use_index_order": st.booleans(),
        }
    ),
)
def test_printed_messages_parse_identically_without_fallback(net_name, dims, force, specs, opts):
    net = build(net_name, dims, force, specs)
    text = text_format.MessageToString(net, **opts)
    ours = fast(text)  # text_format's own output never needs the fallback
    theirs = oracle(text)
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(
        deterministic=True
    )
    has_nan = any(
        math.isnan(v)
        for s in specs
        for v in s["lr_mult"] + s["data"] + ([s["conv"][2]] if s["conv"] else [])
    )
    if not has_nan:
        assert ours == theirs == net


EDITS = [
    ",",
    ";",
    ":",
    "[",
    "]",
    "{",
    "}",
    "<",
    ">",
    "01",
    "1e-3",
    "x",
    "name",
    '"s"',
    "'",
    "-",
    "#",
    ".5",
    "inf",
    "0x1",
]


@pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")
@settings(max_examples=500, deadline=None)
@given(
    st.lists(layers, min_size=1, max_size=2),
    st.booleans(),
    st.booleans(),
    st.lists(
        st.tuples(
            st.floats(0, 1),
            st.sampled_from(["insert", "insert ", "delete"]),
            st.sampled_from(EDITS),
            st.integers(1, 3),
        ),
        min_size=1,
        max_size=3,
    ),
)
def test_mutated_texts_fast_path_is_sound(specs, one_line, short, edits):
    """Near-valid texts (printed messages with a few tokens inserted or characters deleted):
    whenever the fast path accepts one, text_format accepts it with the same message."""
    text = text_format.MessageToString(
        build("n", [1, 3], None, specs), as_one_line=one_line, use_short_repeated_primitives=short
    )
    for where, op, word, length in edits:
        at = int(where * len(text))
        if op == "delete":
            text = text[:at] + text[at + length :]
        else:
            text = text[:at] + (word if op == "insert" else f" {word} ") + text[at:]
    try:
        ours = fast(text)
    except textparse.Unsupported:
        return
    theirs = oracle(text)  # must not raise
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(
        deterministic=True
    )
