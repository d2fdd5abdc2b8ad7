"""The fast prototxt parser against protobuf's own text_format (the oracle): the same message for
every real file, and text_format's errors wherever the fast path declines."""

import pytest
from google.protobuf import text_format

import graphconv as gc
from conftest import ROOT, zoo_files
from graphconv.frontends.caffe import schema, textparse
from graphconv.synthetic import synthetic_prototxt


def both(text: str):
    ours, theirs = schema.NetParameter(), schema.NetParameter()
    textparse.parse(text, ours)
    text_format.Parse(text, theirs)
    return ours, theirs


def assert_same(text: str):
    ours, theirs = both(text)
    assert ours == theirs
    assert ours.SerializeToString(deterministic=True) == theirs.SerializeToString(
        deterministic=True)


def test_real_files_parse_identically():
    files = zoo_files() + sorted((ROOT / "models").glob("*.prototxt"))
    assert len(files) >= 15
    for path in files:
        assert_same(path.read_text())


def test_generated_net_parses_identically():
    assert_same(synthetic_prototxt(300))


@pytest.mark.parametrize("text", [
    'name: "n" # a comment\ninput: \'data\'  input_dim: 1 input_dim: 3',
    'layer { name: "c" type: "Convolution" convolution_param: { num_output: 4 kernel_size: 3 } }',
    'layer < name: "c"; type: "Pooling", pooling_param < pool: AVE kernel_size: 2 > >',
    'layer { name: "b" type: "BatchNorm" batch_norm_param { eps: 1e-5 moving_average_fraction: '
    '.999 use_global_stats: true } }',
    'layer { name: "p" type: "Power" power_param { power: -0.5 scale: 2 shift: +1.5E2 } }',
    'layer { name: "c" type: "Convolution" convolution_param { pad: [1, 2] kernel_size: [3] '
    'weight_filler { type: "gaussian" std: 0.01 } } }',
    'layer { name: "x" include { phase: 1 } }',
    'layer { name: "x" type: "Python" python_param { param_str: "a" "b" } }',
    'layer { name: "e" type: "Eltwise" eltwise_param { operation: SUM coeff: 1 coeff: -1 } }',
    'layer { name: "u" type: "Upsample" upsample_param { scale: 0x2 } }',
    'layer { name: "empty" convolution_param {} }',
    'force_backward: True',
])
def test_snippets_parse_identically(text):
    assert_same(text)


@pytest.mark.parametrize("text", [
    'name: "a\\"b"',                                      # an escape
    'layer { name: "x" } name: "a" name: "b"',              # a singular field twice
    'layer { name: "x" convolution_param { num_output: 1.5 } }',
    'layer { name: "x" no_such_field: 1 }',
    'layer { name: "x" ',                                    # unterminated
    'layer { name: "x" convolution_param { num_output: -1 } }',  # uint32
    'layer { name: "x" pooling_param { pool: CUBIC } }',
])
def test_declined_text_keeps_text_formats_verdict(text, tmp_path):
    with pytest.raises(Exception):
        textparse.parse(text, schema.NetParameter())
    expected = schema.NetParameter()
    try:
        text_format.Parse(text, expected)
    except text_format.ParseError:
        path = tmp_path / "bad.prototxt"
        path.write_text(text)
        with pytest.raises(gc.ParseError, match=r"bad\.prototxt:\d+"):
            gc.load(str(path))
        return
    # text_format accepts it: the reader's fallback yields exactly that message
    from graphconv.frontends.caffe.reader import parse_prototxt

    assert parse_prototxt(text, "x.prototxt") == expected
