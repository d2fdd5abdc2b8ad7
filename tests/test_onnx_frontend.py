"""The ONNX frontend: round trips (graphconv -> ONNX -> graphconv, interpreter vs onnxruntime on
the exported model), hand-written ONNX models of each supported op setting against onnxruntime,
constant folding, the layer types added for ONNX, and one-line errors (API and CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import onnx
import pytest
from helpers import ROOT
from onnx import TensorProto, helper, numpy_helper
from oracles import (
    align_corners_brute_force,
    bicubic_sample,
    bilinear_sample,
    kernel_oracle,
    onnx_max_unpool,
    resize_oracle,
)

import graphconv as gc
from graphconv.frontends.onnx import load_onnx, supported_ops
from graphconv.validate import run_onnxruntime

OPSETS = (13, 17, 21)
MODELS = ROOT / "models"


def rel_err(got, ref):
    scale = max(float(np.abs(ref).max()), 1e-30)
    return float(np.abs(got.astype(np.float64) - ref).max()) / scale


def feeds_for(model, seed=0):
    rng = np.random.default_rng(seed)
    inits = {i.name for i in model.graph.initializer}
    out = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        out[vi.name] = rng.standard_normal(shape).astype(np.float32)
    return out


def assert_matches_ort(model, tol=1e-5, reexport=True, **load_kw):
    """Import ``model``, run the interpreter, compare with onnxruntime on ``model`` itself;
    then export the imported graph again and compare onnxruntime on both models."""
    graph = load_onnx(model, **load_kw)
    feeds = feeds_for(model)
    ref = run_onnxruntime(model, feeds)
    got = gc.run(graph, feeds)
    again = run_onnxruntime(gc.to_onnx(graph, 17), feeds) if reexport else got
    for name in [o.name for o in model.graph.output]:
        for result in (got, again):
            assert result[name].shape == ref[name].shape, name
            assert rel_err(result[name], ref[name]) <= tol, (name, rel_err(result[name], ref[name]))
    return graph


def make_model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(
        nodes,
        "t",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [
            helper.make_tensor_value_info(
                *((o, None) if isinstance(o, str) else o)[:1],
                TensorProto.FLOAT,
                None if isinstance(o, str) else o[1],
            )
            for o in outputs
        ],
        initializer=[numpy_helper.from_array(np.asarray(v), n) for n, v in inits],
    )
    ir = helper.find_min_ir_version_for([helper.make_opsetid("", opset)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir)
    m = onnx.shape_inference.infer_shapes(
        m, strict_mode=True, data_prop=True
    )  # fills the output shapes
    onnx.checker.check_model(m)
    return m


def w(*shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---- round trips: graphconv -> ONNX -> graphconv ------------------------------------------------


def _builder_graphs():
    B = gc.GraphBuilder
    graphs = {}
    b = B("convs")
    x = b.input("data", (1, 4, 11, 9))
    y = b.add(
        "Convolution",
        x,
        gc.ConvAttrs(
            num_output=6,
            kernel=(3, 2),
            stride=(2, 1),
            dilation=(1, 2),
            pads_begin=(1, 0),
            pads_end=(2, 1),
        ),
    )
    y = b.add("BatchNorm", y, gc.BatchNormAttrs(eps=1e-3, affine=True))
    y = b.add("ReLU", y, gc.ReLUAttrs(negative_slope=0.1))
    y = b.add(
        "Deconvolution",
        y,
        gc.DeconvAttrs(num_output=4, kernel=(3, 3), stride=2, pads=1, group=2, output_padding=1),
    )
    y = b.add("PReLU", y)
    p = b.add("Pooling", y, gc.PoolAttrs(kernel=(3, 3), stride=2, pad=1, method="max"))
    q = b.add("Pooling", y, gc.PoolAttrs(kernel=(3, 3), stride=2, pad=1, method="ave"))
    y = b.add("Eltwise", [p, q], gc.EltwiseAttrs("SUM", (1.0, -1.0)))
    y = b.add("Sigmoid", y)
    graphs["convs"] = b.build()

    b = B("head")
    x = b.input("data", (2, 3, 8, 8))
    y = b.add("Convolution", x, gc.ConvAttrs(num_output=8, kernel=(3, 3), pads=1))
    y = b.add("LRN", y, gc.LRNAttrs(local_size=3, alpha=1e-2))
    u = b.add("Upsample", y, gc.UpsampleAttrs(scale=(2, 2)))
    u = b.add("Pooling", u, gc.PoolAttrs(kernel=(2, 2), stride=2, method="max"))
    y = b.add("Concat", [y, u], gc.ConcatAttrs(axis=1))
    y = b.add("TanH", y)
    y = b.add("Permute", y, gc.PermuteAttrs(order=(0, 2, 3, 1)))
    y = b.add("Flatten", y, gc.FlattenAttrs(axis=1))
    y = b.add("InnerProduct", y, gc.InnerProductAttrs(num_output=10))
    y = b.add("Dropout", y)
    y = b.add("Softmax", y, gc.SoftmaxAttrs(axis=1))
    graphs["head"] = b.build()

    b = B("onnx_ops")
    x = b.input("data", (1, 3, 5, 4))
    y = b.add("ConstantBinary", x, gc.ConstantBinaryAttrs("div", (3, 1, 1)))
    y = b.add("ConstantBinary", y, gc.ConstantBinaryAttrs("sub", (4,), constant_first=True))
    y = b.add("Pad", y, gc.PadAttrs(pads_begin=(1, 0), pads_end=(0, 2), value=0.5))
    y = b.add("Identity", y)
    y = b.add("Reshape", y, gc.ReshapeAttrs(shape=(0, -1)))
    graphs["onnx_ops"] = b.build()
    return graphs


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name", ["convs", "head", "onnx_ops"])
def test_round_trip_builder_graphs(name, opset):
    graph = _builder_graphs()[name]
    model = gc.to_onnx(graph, opset)
    back = assert_matches_ort(model)
    assert back.outputs == graph.outputs
    assert dict(back.inputs) == dict(graph.inputs)
    # and the re-export of the import equals the original model in onnxruntime
    feeds = feeds_for(model)
    again = run_onnxruntime(gc.to_onnx(back, opset), feeds)
    ref = run_onnxruntime(model, feeds)
    for k in ref:
        assert rel_err(again[k], ref[k]) <= 1e-5


@pytest.mark.parametrize("path", sorted(MODELS.glob("*.prototxt")), ids=lambda p: p.stem)
def test_round_trip_bundled_models(path):
    graph = gc.load(path)
    for opset in (13, 21):
        assert_matches_ort(gc.to_onnx(graph, opset))


def test_load_from_file_and_cli(tmp_path):
    graph = _builder_graphs()["head"]
    path = tmp_path / "head.onnx"
    onnx.save(gc.to_onnx(graph, 17), str(path))
    assert gc.load(path).count_types()["Convolution"] == 1
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for cmd in (["validate", str(path)], ["convert", str(path), "-o", str(tmp_path / "o.onnx")]):
        proc = subprocess.run(
            [sys.executable, "-m", "graphconv.cli", *cmd],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o.onnx").exists()


# ---- hand-written ONNX models, each against onnxruntime ------------------------------------------

CONV_CASES = [
    {"pads": [1, 0, 2, 1], "strides": [2, 1]},
    {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
    {"auto_pad": "SAME_LOWER", "strides": [2, 3]},
    {"auto_pad": "VALID", "strides": [1, 2]},
    {"pads": [2, 1, 2, 1], "dilations": [2, 3], "group": 2},
]


@pytest.mark.parametrize("attrs", CONV_CASES, ids=str)
def test_conv(attrs):
    group = attrs.get("group", 1)
    node = helper.make_node("Conv", ["x", "W", "B"], ["y"], kernel_shape=[3, 3], **attrs)
    m = make_model(
        [node], [("x", [2, 4, 9, 10])], ["y"], [("W", w(6, 4 // group, 3, 3)), ("B", w(6, seed=2))]
    )
    assert_matches_ort(m)


DECONV_CASES = [
    {"strides": [2, 2], "pads": [1, 0, 0, 1]},
    {"strides": [2, 3], "output_padding": [1, 2]},
    {"strides": [2, 2], "output_shape": [12, 11]},
    {"strides": [3, 2], "output_shape": [10, 8]},  # negative end pad: extends the output
    {"strides": [2, 2], "auto_pad": "SAME_UPPER"},
    {"strides": [2, 2], "auto_pad": "SAME_LOWER", "output_padding": [1, 1]},
    {"strides": [1, 1], "dilations": [2, 2], "group": 2, "pads": [1, 1, 1, 1]},
]


@pytest.mark.parametrize("attrs", DECONV_CASES, ids=str)
def test_conv_transpose(attrs):
    group = attrs.get("group", 1)
    node = helper.make_node("ConvTranspose", ["x", "W", "B"], ["y"], kernel_shape=[3, 3], **attrs)
    m = make_model(
        [node], [("x", [1, 4, 5, 5])], ["y"], [("W", w(4, 6 // group, 3, 3)), ("B", w(6, seed=2))]
    )
    assert_matches_ort(m)


POOL_CASES = [
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("MaxPool", {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [0, 1, 2, 0]}),
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ("MaxPool", {"kernel_shape": [1, 1], "strides": [2, 2], "ceil_mode": 1}),  # ONNX drops a window
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}),
    ("MaxPool", {"kernel_shape": [2, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ("MaxPool", {"kernel_shape": [2, 3], "strides": [2, 2], "auto_pad": "SAME_LOWER"}),
    (
        "AveragePool",
        {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 1},
    ),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("AveragePool", {"kernel_shape": [3, 2], "strides": [1, 2], "pads": [2, 0, 0, 1]}),
    (
        "AveragePool",
        {
            "kernel_shape": [3, 3],
            "strides": [2, 2],
            "pads": [1, 1, 1, 1],
            "ceil_mode": 1,
            "count_include_pad": 1,
        },
    ),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
]


@pytest.mark.parametrize("op,attrs", POOL_CASES, ids=str)
def test_pool(op, attrs):
    m = make_model([helper.make_node(op, ["x"], ["y"], **attrs)], [("x", [1, 3, 8, 9])], ["y"])
    assert_matches_ort(m)


def test_pool_dilation_matches_onnxruntime():
    m = make_model(
        [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], dilations=[2, 2])],
        [("x", [1, 1, 6, 6])],
        ["y"],
    )
    assert load_onnx(m).layers[-1].attrs.dilation == (2, 2)
    assert_matches_ort(m)


@pytest.mark.parametrize("opset", [11, 13])
def test_activations_norms_global_pools(opset):
    c = 4
    nodes = [
        helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"], epsilon=1e-3),
        helper.make_node("LeakyRelu", ["bn"], ["lr"], alpha=0.2),
        helper.make_node("PRelu", ["lr", "slope"], ["pr"]),
        helper.make_node("LRN", ["pr"], ["lrn"], size=3, alpha=0.01, beta=0.6, bias=1.5),
        helper.make_node("Sigmoid", ["lrn"], ["sg"]),
        helper.make_node("Tanh", ["sg"], ["th"]),
        helper.make_node("Relu", ["th"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["gap"]),
        helper.make_node("GlobalMaxPool", ["r"], ["gmp"]),
        helper.make_node("Sum", ["gap", "gmp", "gap"], ["sum"]),
        helper.make_node("Max", ["gap", "gmp"], ["max"]),
        helper.make_node("Identity", ["max"], ["id"]),
    ]
    inits = [
        ("s", np.abs(w(c)) + 0.5),
        ("b", w(c, seed=3)),
        ("m", w(c, seed=4)),
        ("v", np.abs(w(c, seed=5)) + 0.5),
        ("slope", w(c, 1, 1, seed=6)),
    ]
    m = make_model(nodes, [("x", [2, c, 5, 6])], ["sum", "id"], inits, opset=opset)
    assert_matches_ort(m)


@pytest.mark.parametrize(
    "opset,axis,shape",
    [
        (11, 1, [2, 3, 4]),
        (11, 2, [2, 3, 4, 5]),
        (11, 2, [2, 3, 4]),
        (13, 1, [2, 3, 4]),
        (13, -1, [2, 3, 4]),
    ],
)
def test_softmax_axis_semantics(opset, axis, shape):
    """Before opset 13 Softmax normalises over the flattened axes from ``axis`` on."""
    m = make_model(
        [helper.make_node("Softmax", ["x"], ["y"], axis=axis)], [("x", shape)], ["y"], opset=opset
    )
    assert_matches_ort(m)


@pytest.mark.parametrize(
    "trans_a,trans_b,alpha,beta,c_shape",
    [
        (0, 1, 1.0, 1.0, (5,)),
        (0, 0, 0.5, 2.0, (1, 5)),
        (1, 1, 1.0, 0.5, (3, 5)),
        (0, 1, 1.0, 1.0, None),
        (0, 0, 1.0, 1.0, (3, 1)),
    ],
)
def test_gemm(trans_a, trans_b, alpha, beta, c_shape):
    a_shape = [4, 3] if trans_a else [3, 4]
    b = w(5, 4) if trans_b else w(4, 5)
    ins = ["a", "B"] + (["C"] if c_shape else [])
    inits = [("B", b)] + ([("C", w(*c_shape, seed=7))] if c_shape else [])
    node = helper.make_node(
        "Gemm", ins, ["y"], transA=trans_a, transB=trans_b, alpha=alpha, beta=beta
    )
    assert_matches_ort(make_model([node], [("a", a_shape)], ["y"], inits))


def test_arithmetic_with_constants_and_tensors():
    nodes = [
        helper.make_node("Mul", ["x", "k"], ["a"]),  # per-channel constant
        helper.make_node("Add", ["half", "a"], ["b"]),  # scalar constant first
        helper.make_node("Div", ["b", "k"], ["c"]),
        helper.make_node("Sub", ["c", "x"], ["d"]),  # two computed tensors
        helper.make_node("Add", ["d", "c"], ["e"]),
        helper.make_node("Mul", ["e", "d"], ["f"]),
    ]
    inits = [("k", np.abs(w(3, 1, 1)) + 0.5), ("half", np.float32(0.5))]
    assert_matches_ort(make_model(nodes, [("x", [2, 3, 4, 5])], ["f"], inits))


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_shape_ops_and_constant_folding(opset):
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains fold to constants."""

    def ints(name, values):
        return helper.make_node(
            "Constant",
            [],
            [name],
            value=numpy_helper.from_array(np.array(values, dtype=np.int64), name),
        )

    axes_in = opset >= 13
    unsq = (
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"])
        if axes_in
        else helper.make_node("Unsqueeze", ["n"], ["n1"], axes=[0])
    )
    sq = (
        helper.make_node("Squeeze", ["t", "ax2"], ["s"])
        if axes_in
        else helper.make_node("Squeeze", ["t"], ["s"], axes=[2])
    )
    nodes = [
        helper.make_node("Shape", ["x"], ["shp"]),
        ints("zero", 0),
        ints("ax0", [0]),
        ints("ax2", [2]),
        ints("minus1", [-1]),
        helper.make_node("Gather", ["shp", "zero"], ["n"], axis=0),
        unsq,
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("Flatten", ["x"], ["f2"], axis=2),
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1, 3]),
        sq,
        helper.make_node("Pad", ["s", "pads", "pv"], ["p"], mode="constant"),
    ]
    inits = [("pads", np.array([0, 0, 1, 0, 0, 2], np.int64)), ("pv", np.float32(-1.5))]
    outputs = [("flat", [2, 12]), ("f2", [2, 12]), ("p", [2, 3, 7])]
    m = make_model(nodes, [("x", [2, 1, 3, 4])], outputs, inits, opset=opset)
    g = assert_matches_ort(m)
    assert "Reshape" in g.count_types() and "Shape" not in g.count_types()


@pytest.mark.parametrize(
    "opset,attrs,scales",
    [
        (
            13,
            {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
            [1, 1, 2, 3],
        ),
        (13, {}, [1, 1, 3, 2]),  # half_pixel / round_prefer_floor
        (
            13,
            {
                "coordinate_transformation_mode": "pytorch_half_pixel",
                "nearest_mode": "round_prefer_ceil",
            },
            [1, 1, 4, 4],
        ),
        (
            13,
            {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "round_prefer_floor"},
            [1, 1, 2, 2],
        ),
        (
            13,
            {"coordinate_transformation_mode": "tf_half_pixel_for_nn", "nearest_mode": "floor"},
            [1, 1, 3, 3],
        ),
        (19, {"coordinate_transformation_mode": "half_pixel_symmetric"}, [1, 1, 2, 3]),
        (10, {}, [1, 1, 2, 3]),
    ],
)
def test_resize_nearest_integer_factors(opset, attrs, scales):
    scales = np.array(scales, np.float32)
    if opset == 10:
        node = helper.make_node("Resize", ["x", "scales"], ["y"], mode="nearest")
    else:
        node = helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest", **attrs)
    m = make_model([node], [("x", [1, 2, 4, 5])], ["y"], [("scales", scales)], opset=opset)
    g = assert_matches_ort(m)
    assert g.count_types().get("Upsample") == 1


def test_resize_with_sizes_and_upsample_9():
    node = helper.make_node(
        "Resize",
        ["x", "", "", "sizes"],
        ["y"],
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )
    m = make_model(
        [node], [("x", [1, 2, 3, 4])], ["y"], [("sizes", np.array([1, 2, 6, 12], np.int64))]
    )
    assert_matches_ort(m)
    up = helper.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest")
    m = make_model(
        [up],
        [("x", [1, 2, 3, 4])],
        ["y"],
        [("scales", np.array([1, 1, 2, 2], np.float32))],
        opset=9,
    )
    assert_matches_ort(m)


@pytest.mark.parametrize(
    "attrs,why",
    [
        ({"mode": "area"}, "mode 'area'"),
        ({"coordinate_transformation_mode": "tf_crop_and_resize"}, "needs a roi of 8 values"),
    ],
)
def test_resize_refusals_name_the_reason(attrs, why):
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], **{"mode": "nearest", **attrs})
    m = make_model(
        [node],
        [("x", [1, 2, 4, 4])],
        ["y"],
        [("scales", np.array([1, 1, 0.5, 0.5], np.float32))],
        opset=19,
    )
    with pytest.raises(gc.GraphError, match=why):
        load_onnx(m)


# ---- Resize in full: an exact rational oracle of the specification, and onnxruntime -------------

_CTMS = (
    "half_pixel",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
    "half_pixel_symmetric",
    "tf_half_pixel_for_nn",
)
_NEAREST = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
# (input shape, scales or None, sizes or None): up/down, non-integer, sizes (keep aspect off)
_GEOMETRIES = [
    ((1, 2, 5, 7), [1, 1, 1.7, 0.6], None),
    ((2, 1, 3, 4), None, [2, 1, 7, 3]),
    ((1, 1, 4, 6), [1, 1, 2.0, 3.0], None),
]


def _resize_model(shape, scales, sizes, mode, ctm, nearest_mode, opset):
    attrs = {"mode": mode, "coordinate_transformation_mode": ctm}
    if mode == "nearest":
        attrs["nearest_mode"] = nearest_mode
    if scales is not None:
        node = helper.make_node("Resize", ["x", "", "scales"], ["y"], **attrs)
        inits = [("scales", np.array(scales, np.float32))]
    else:
        node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], **attrs)
        inits = [("sizes", np.array(sizes, np.int64))]
    return make_model([node], [("x", list(shape))], ["y"], inits, opset=opset)


@pytest.mark.parametrize("geometry", range(len(_GEOMETRIES)))
@pytest.mark.parametrize(
    "mode,nearest_mode", [("nearest", n) for n in _NEAREST] + [("linear", "round_prefer_floor")]
)
@pytest.mark.parametrize("ctm", _CTMS)
def test_resize_against_the_spec_and_onnxruntime(ctm, mode, nearest_mode, geometry):
    shape, scales, sizes = _GEOMETRIES[geometry]
    source_opset = 13 if ctm == "tf_half_pixel_for_nn" else 19
    m = _resize_model(shape, scales, sizes, mode, ctm, nearest_mode, source_opset)
    graph = load_onnx(m)
    x = np.random.default_rng(geometry).standard_normal(shape).astype(np.float32)
    got = gc.run(graph, {"x": x})["y"]
    out_shape = (
        tuple(sizes)
        if sizes is not None
        else tuple(int(np.floor(float(np.float32(s)) * n)) for s, n in zip(scales, shape))
    )
    full_scales = scales if scales is not None else [Fraction(o, n) for o, n in zip(sizes, shape)]
    want, closest = resize_oracle(x, out_shape, full_scales, mode, ctm, nearest_mode)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # onnxruntime computes coordinates in float32: compare where no coordinate is near a tie
    if closest < 1e-4:
        return
    for opset in OPSETS:  # emitted as Resize, or as Gather where the opset lacks the mode
        ort = run_onnxruntime(gc.to_onnx(graph, opset), {"x": x})["y"]
        np.testing.assert_allclose(ort, want, rtol=1e-5, atol=1e-6, err_msg=str(opset))


# ---- Resize align_corners: the integer output length, as onnxruntime and PyTorch ---------------

# (input shape, scales or None, sizes or None): 1-D, 2-D and 3-D; scale * in fractional
# (2.5 * 5 = 12.5, 2.5 * 7 = 17.5, 1.7 * 5 = 8.5, 1.7 * 7 = 11.9, 0.6 * 7 = 4.2), one output
# sample (0.3 * 5 = 1.5), an unchanged length at scale 1.1, and sizes given instead of scales
_ALIGN_GEOMETRIES = [
    ((1, 2, 5), [1, 1, 2.5], None),
    ((1, 2, 7), [1, 1, 2.5], None),
    ((1, 1, 5), [1, 1, 1.7], None),
    ((1, 1, 7), [1, 1, 0.6], None),
    ((1, 1, 5), [1, 1, 0.3], None),
    ((1, 1, 7), None, [1, 1, 3]),
    ((1, 2, 5, 7), [1, 1, 2.5, 1.7], None),
    ((2, 1, 7, 5), [1, 1, 1.7, 2.5], None),
    ((1, 1, 5, 6), [1, 1, 1.1, 2.5], None),
    ((1, 2, 5, 7), None, [1, 2, 12, 17]),
    ((1, 1, 5, 7, 3), [1, 1, 2.5, 1.7, 2.5], None),
    ((1, 1, 5, 7, 3), None, [1, 1, 8, 4, 7]),
]
# Inputs lie in [-1, 1] and every output is a convex combination of inputs (per axis, weights
# >= 0 summing to 1), which graphconv and onnxruntime evaluate in float32 with a few roundings
# of at most eps = 1.2e-7 per axis: |error| <= 3 axes * 3 * eps ~ 1.1e-6 < 2e-6. The
# specification's fractional scale * in map is off by 0.17 to 0.89 on the linear cases given
# scales (the two maps agree when sizes are given or there is one output sample).
_ALIGN_TOL = {"rtol": 1e-6, "atol": 2e-6}


@pytest.mark.parametrize("geometry", range(len(_ALIGN_GEOMETRIES)))
@pytest.mark.parametrize(
    "mode,nearest_mode", [("linear", "round_prefer_floor")] + [("nearest", n) for n in _NEAREST]
)
def test_resize_align_corners_uses_the_integer_output_length(mode, nearest_mode, geometry):
    """Interpreter, onnxruntime on the source model and on graphconv's export (as a Resize
    node), all against the brute force; shapes equal onnx's strict shape inference."""
    shape, scales, sizes = _ALIGN_GEOMETRIES[geometry]
    m = _resize_model(shape, scales, sizes, mode, "align_corners", nearest_mode, 19)
    x = np.random.default_rng(geometry).uniform(-1, 1, shape).astype(np.float32)
    out_shape = (
        tuple(sizes)
        if sizes is not None
        else tuple(int(np.floor(float(np.float32(s)) * n)) for s, n in zip(scales, shape))
    )
    want = align_corners_brute_force(x, out_shape, mode, nearest_mode).astype(np.float32)

    def check(got, err_msg=""):
        if mode == "nearest":  # picks input values: bit-exact
            np.testing.assert_array_equal(got, want, err_msg=err_msg)
        else:
            np.testing.assert_allclose(got, want, err_msg=err_msg, **_ALIGN_TOL)

    onnx_shape = tuple(d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim)
    graph = load_onnx(m)
    assert onnx_shape == out_shape == graph.specs["y"].shape
    check(gc.run(graph, {"x": x})["y"])
    check(run_onnxruntime(m, {"x": x})["y"])
    for opset in OPSETS:
        model = gc.to_onnx(graph, opset)
        assert "Gather" not in {n.op_type for n in model.graph.node}, opset
        check(run_onnxruntime(model, {"x": x})["y"], err_msg=str(opset))


def test_resize_align_corners_is_not_the_fractional_specification_map():
    """ONNX's own example (onnx/onnx#2462): [1 2 3 4] at scale 0.6 has 2 outputs, read at 0
    and 3 (in - 1 over out - 1), so [1, 4]; the fractional 2.4 - 1 would read 2.14 (3.14)."""
    node = helper.make_node(
        "Resize",
        ["x", "", "scales"],
        ["y"],
        mode="linear",
        coordinate_transformation_mode="align_corners",
    )
    m = make_model(
        [node], [("x", [1, 1, 4])], ["y"], [("scales", np.array([1, 1, 0.6], np.float32))], opset=19
    )
    x = np.array([[[1, 2, 3, 4]]], np.float32)
    np.testing.assert_array_equal(gc.run(load_onnx(m), {"x": x})["y"], [[[1, 4]]])
    np.testing.assert_array_equal(run_onnxruntime(m, {"x": x})["y"], [[[1, 4]]])


def test_resize_align_corners_length_where_float32_and_float64_products_differ():
    """10 * 0.7f: 6.99999988 in float64 (the specification and onnx's shape inference: 6
    samples), 7.0 in float32 (onnxruntime's length: 7). graphconv keeps onnx's shape and,
    since an ONNX Resize would give 7 samples in onnxruntime, exports Gather / Mul / Sum."""
    m = _resize_model((1, 1, 10), [1, 1, 0.7], None, "linear", "align_corners", "", 19)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 1, 10)).astype(np.float32)
    assert run_onnxruntime(m, {"x": x})["y"].shape == (1, 1, 7)  # measured with onnxruntime 1.32
    graph = load_onnx(m)
    assert (
        graph.specs["y"].shape
        == (1, 1, 6)
        == tuple(d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim)
    )
    want = align_corners_brute_force(x, (1, 1, 6), "linear", "")
    np.testing.assert_allclose(gc.run(graph, {"x": x})["y"], want, **_ALIGN_TOL)
    for opset in OPSETS:
        model = gc.to_onnx(graph, opset)
        assert "Resize" not in {n.op_type for n in model.graph.node}, opset
        np.testing.assert_allclose(run_onnxruntime(model, {"x": x})["y"], want, **_ALIGN_TOL)


def test_resize_ties_follow_the_spec_not_float32():
    """asymmetric 5 -> 2 (scale 0.4): output 1 reads 1 / 0.4f = 2.4999999 in float64 (spec),
    a coordinate whose rounding decides between input 2 and 3."""
    m = _resize_model(
        (1, 1, 1, 5), [1, 1, 1, 0.4], None, "nearest", "asymmetric", "round_prefer_ceil", 19
    )
    x = np.arange(5, dtype=np.float32).reshape(1, 1, 1, 5)
    want, _ = resize_oracle(
        x, (1, 1, 1, 2), [1, 1, 1, 0.4], "nearest", "asymmetric", "round_prefer_ceil"
    )
    np.testing.assert_array_equal(gc.run(load_onnx(m), {"x": x})["y"], want)


@pytest.mark.parametrize("policy", ["not_larger", "not_smaller"])
def test_resize_keep_aspect_ratio_policy(policy):
    node = helper.make_node(
        "Resize",
        ["x", "", "", "sizes"],
        ["y"],
        mode="nearest",
        keep_aspect_ratio_policy=policy,
        axes=[2, 3],
    )
    m = make_model(
        [node], [("x", [1, 2, 4, 5])], ["y"], [("sizes", np.array([7, 9], np.int64))], opset=19
    )
    graph = load_onnx(m)
    ratio = min(7 / 4, 9 / 5) if policy == "not_larger" else max(7 / 4, 9 / 5)
    out = (1, 2, int(4 * ratio + 0.5), int(5 * ratio + 0.5))
    x = w(1, 2, 4, 5)
    ratio = Fraction(ratio)  # the float64 ratio the specification computes
    want, _ = resize_oracle(
        x, out, [1, 1, ratio, ratio], "nearest", "half_pixel", "round_prefer_floor"
    )
    np.testing.assert_array_equal(gc.run(graph, {"x": x})["y"], want)


def test_resize_layer_rejects_bad_attributes():
    with pytest.raises(ValueError, match="coordinate_transformation_mode must be one of"):
        gc.ResizeAttrs(sizes=(1, 1, 2, 2), coordinate_transformation_mode="crop")
    with pytest.raises(ValueError, match="roi is given exactly with"):
        gc.ResizeAttrs(sizes=(1, 1, 2, 2), coordinate_transformation_mode="tf_crop_and_resize")
    with pytest.raises(ValueError, match="antialias applies to linear and cubic"):
        gc.ResizeAttrs(sizes=(1, 1, 2, 2), antialias=True)
    with pytest.raises(ValueError, match="scales .* differ in length"):
        gc.ResizeAttrs(sizes=(1, 1, 2, 2), scales=(1.0, 2.0))
    b = gc.GraphBuilder()
    x = b.input("x", (1, 2, 3))
    with pytest.raises(gc.GraphError, match="do not fit the rank-3 input"):
        b.add("Resize", x, gc.ResizeAttrs(sizes=(1, 2, 3, 4)))


# ---- broadcasting binary ops, unary functions, strided slices ------------------------------------


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum"])
def test_broadcasting_binary_ops(op, opset):
    shapes = [[2, 1, 4, 5], [3, 1, 5]] + ([[1, 4, 1]] if op in ("Max", "Min", "Sum") else [])
    names = [f"x{i}" for i in range(len(shapes))]
    m = make_model(
        [helper.make_node(op, names, ["y"])], list(zip(names, shapes)), ["y"], opset=opset
    )
    graph = load_onnx(m)
    assert "Binary" in graph.count_types()
    feeds = feeds_for(m)
    if op == "Pow":
        feeds["x0"] = np.abs(feeds["x0"]) + 0.1
    want = {
        "Add": np.add,
        "Sub": np.subtract,
        "Mul": np.multiply,
        "Div": np.divide,
        "Pow": np.power,
        "Max": np.maximum,
        "Min": np.minimum,
        "Sum": np.add,
    }[op]
    ref = feeds["x0"].astype(np.float64)
    for n in names[1:]:
        ref = want(ref, feeds[n].astype(np.float64))
    got = gc.run(graph, feeds)["y"]
    assert got.shape == (2, 3, 4, 5)
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    np.testing.assert_allclose(run_onnxruntime(m, feeds)["y"], got, rtol=1e-5)
    np.testing.assert_allclose(
        run_onnxruntime(gc.to_onnx(graph, opset), feeds)["y"], got, rtol=1e-5
    )


def test_binary_layer_errors():
    b = gc.GraphBuilder()
    x, y = b.input("x", (2, 3)), b.input("y", (4,))
    with pytest.raises(gc.GraphError, match="do not broadcast"):
        b.add("Binary", [x, y], gc.BinaryAttrs("add"))
    with pytest.raises(gc.GraphError, match="takes two inputs"):
        b.add("Binary", [x, x, x], gc.BinaryAttrs("sub"))
    with pytest.raises(ValueError, match="operation must be one of"):
        gc.BinaryAttrs("atan2")


_UNARY_ORACLES = {
    "Abs": ({}, lambda x: np.where(x < 0, -x, x)),
    "Neg": ({}, lambda x: 0.0 - x),
    "Exp": ({}, lambda x: np.e**x),
    "Elu": ({"alpha": 0.7}, lambda x: np.where(x > 0, x, 0.7 * (np.exp(x) - 1))),
    "Selu": (
        {"alpha": 1.5, "gamma": 2.0},
        lambda x: 2.0 * np.where(x > 0, x, 1.5 * (np.exp(x) - 1)),
    ),
    "Softplus": ({}, lambda x: np.log1p(np.exp(x))),
    "Softsign": ({}, lambda x: x / (1 + np.abs(x))),
    "LogSoftmax": ({"axis": 1}, lambda x: np.log(np.exp(x) / np.exp(x).sum(1, keepdims=True))),
}


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("op", sorted(_UNARY_ORACLES))
def test_unary_functions(op, opset):
    attrs, oracle = _UNARY_ORACLES[op]
    m = make_model(
        [helper.make_node(op, ["x"], ["y"], **attrs)], [("x", [2, 3, 4])], ["y"], opset=opset
    )
    graph = assert_matches_ort(m)
    x = feeds_for(m)["x"]
    np.testing.assert_allclose(
        gc.run(graph, {"x": x})["y"], oracle(x.astype(np.float64)), rtol=1e-5, atol=1e-6
    )


def test_log_softmax_before_opset_13_coerces_to_2d():
    m = make_model(
        [helper.make_node("LogSoftmax", ["x"], ["y"], axis=1)], [("x", [2, 3, 4])], ["y"], opset=11
    )
    graph = assert_matches_ort(m, reexport=True)
    x = feeds_for(m)["x"].reshape(2, 12).astype(np.float64)
    want = np.log(np.exp(x) / np.exp(x).sum(1, keepdims=True)).reshape(2, 3, 4)
    np.testing.assert_allclose(gc.run(graph, feeds_for(m))["y"], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize(
    "starts,ends,axes,steps",
    [
        ([1, 0], [3, -1], [0, 2], None),
        ([-1, 4], [-100, 0], [1, 2], [-1, -2]),
        ([10, 2], [-1000, 1000], [2, 0], [-3, 1]),
        ([0], [2**62], [-1], [2]),
        ([2, 5, 1], [0, -8, 3], [0, 1, 2], [-1, -2, 1]),
    ],
)
def test_strided_slice(starts, ends, axes, steps, opset):
    args = [
        ("starts", np.array(starts, np.int64)),
        ("ends", np.array(ends, np.int64)),
        ("axes", np.array(axes, np.int64)),
    ]
    if steps is not None:
        args.append(("steps", np.array(steps, np.int64)))
    node = helper.make_node("Slice", ["x"] + [n for n, _ in args], ["y"])
    m = make_model([node], [("x", [3, 6, 7])], ["y"], args, opset=opset)
    graph = assert_matches_ort(m)
    assert "StridedSlice" in graph.count_types()
    x = feeds_for(m)["x"]
    index = [slice(None)] * 3
    for s, e, a, st in zip(starts, ends, axes, steps or [1] * len(axes)):
        d = x.shape[a]
        s, e = (s + d if s < 0 else s), (e + d if e < 0 else e)  # then python clamps the rest
        index[a] = slice(max(s, 0) if st > 0 else min(s, d - 1), e if e >= 0 else None, st)
    np.testing.assert_array_equal(gc.run(graph, {"x": x})["y"], x[tuple(index)])


def test_strided_slice_errors():
    with pytest.raises(ValueError, match="steps must be non-zero"):
        gc.StridedSliceAttrs(starts=(0,), ends=(1,), axes=(0,), steps=(0,))
    b = gc.GraphBuilder()
    x = b.input("x", (4, 5))
    with pytest.raises(gc.GraphError, match="is empty"):
        b.add("StridedSlice", x, gc.StridedSliceAttrs(starts=(3,), ends=(1,), axes=(0,)))


# ---- the layer types added for ONNX -------------------------------------------------------------


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("first", [False, True])
def test_constant_binary_against_numpy_and_ort(op, first, opset):
    b = gc.GraphBuilder()
    x = b.input("x", (2, 3, 4))
    c = np.linspace(0.5, 2.0, 3, dtype=np.float32).reshape(3, 1)
    b.add(
        "ConstantBinary",
        x,
        gc.ConstantBinaryAttrs(op, (3, 1), constant_first=first),
        params={"constant": c},
        name="cb",
    )
    b.add("Identity", "cb", name="id")
    g = b.build()
    xv = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    fn = {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b,
    }[op]
    want = fn(c, xv) if first else fn(xv, c)
    got = gc.run(g, {"x": xv})["id"]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    ort = run_onnxruntime(gc.to_onnx(g, opset), {"x": xv})["id"]
    np.testing.assert_allclose(got, ort, rtol=1e-6)


def test_constant_binary_rejects_growing_broadcasts():
    b = gc.GraphBuilder()
    x = b.input("x", (2, 3))
    with pytest.raises(gc.GraphError, match="would grow the input"):
        b.add("ConstantBinary", x, gc.ConstantBinaryAttrs("add", (4, 2, 3)))
    with pytest.raises(ValueError, match="operation must be one of"):
        gc.ConstantBinaryAttrs("pow")


# ---- errors --------------------------------------------------------------------------------------


def _bad_model():
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Shrink", ["r"], ["e"], name="shrink1"),
        helper.make_node(
            "MaxPool", ["r"], ["p"], kernel_shape=[2, 2], storage_order=1, name="colmajor"
        ),
        helper.make_node("Celu", ["p"], ["c"], name="celu_after"),  # downstream, still named
        helper.make_node("Add", ["e", "r"], ["y"]),
    ]
    return make_model(nodes, [("x", [1, 2, 8, 8])], ["y", "c"])


def test_unsupported_nodes_are_reported_together_in_one_line():
    with pytest.raises(gc.GraphError) as info:
        load_onnx(_bad_model())
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("3 ONNX nodes cannot be translated")
    for part in (
        "'shrink1' (Shrink)",
        "'colmajor' (MaxPool): storage_order",
        "'celu_after' (Celu)",
    ):
        assert part in msg


def test_cli_reports_unsupported_ops_with_exit_2(tmp_path):
    path = tmp_path / "x.onnx"
    onnx.save(_bad_model(), str(path))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "graphconv.cli", "validate", str(path)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "Shrink" in lines[0] and "Celu" in lines[0] and "storage_order" in lines[0]


def test_dynamic_input_needs_a_shape_and_input_shapes_supplies_it(tmp_path):
    node = helper.make_node("Relu", ["x"], ["y"])
    g = helper.make_graph(
        [node],
        "t",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    with pytest.raises(gc.GraphError, match=r"no static shape \(\['N', 3, 4, 4\]\)"):
        load_onnx(m)
    assert load_onnx(m, input_shapes={"x": (2, 3, 4, 4)}).inputs["x"].shape == (2, 3, 4, 4)
    path = tmp_path / "dyn.onnx"
    onnx.save(m, str(path))
    assert gc.load(path, input_shapes={"x": (1, 3, 4, 4)}).inputs["x"].shape == (1, 3, 4, 4)
    with pytest.raises(gc.ParseError, match="not a graph input"):
        gc.load(path, input_shapes={"nope": (1,)})


def test_unreadable_file_is_a_parse_error(tmp_path):
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\x00\x01not a model at all\xff")
    with pytest.raises(gc.ParseError, match="junk.onnx"):
        gc.load(path)


def test_weight_fed_as_an_input_is_refused():
    node = helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[1, 1])
    m = make_model([node], [("x", [1, 2, 3, 3]), ("W", [2, 2, 1, 1])], ["y"])
    with pytest.raises(gc.GraphError, match="the weight .* must be a constant"):
        load_onnx(m)


def test_supported_ops_cover_the_first_cut():
    want = {
        "Conv",
        "ConvTranspose",
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "GlobalMaxPool",
        "BatchNormalization",
        "Relu",
        "LeakyRelu",
        "PRelu",
        "Sigmoid",
        "Tanh",
        "Softmax",
        "Concat",
        "Reshape",
        "Flatten",
        "Transpose",
        "Squeeze",
        "Unsqueeze",
        "Dropout",
        "Identity",
        "Gemm",
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Sum",
        "Max",
        "Resize",
        "Upsample",
        "LRN",
        "Pad",
        "Pow",
        "Min",
        "Slice",
        "MaxUnpool",
        "Abs",
        "Neg",
        "Exp",
        "Elu",
        "Selu",
        "Softplus",
        "Softsign",
        "LogSoftmax",
        "Split",
        "DepthToSpace",
        "SpaceToDepth",
        "MatMul",
    }
    assert want <= set(supported_ops())


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_split_and_matmul(opset):
    if opset >= 13:
        split = helper.make_node("Split", ["x", "sizes"], ["a", "b", "c"], axis=1)
        inits = [("sizes", np.array([1, 3, 2], np.int64))]
    else:
        split = helper.make_node("Split", ["x"], ["a", "b", "c"], axis=1, split=[1, 3, 2])
        inits = []
    nodes = [
        split,
        helper.make_node("MatMul", ["c", "M"], ["y"]),
        helper.make_node("Split", ["b"], ["b0", "b1", "b2"], axis=1),
    ]
    if opset >= 18:
        nodes[2] = helper.make_node("Split", ["y"], ["b0", "b1"], axis=3, num_outputs=2)
    inits.append(("M", w(5, 7)))
    outs = ["a", "y", "b0", "b1"] + ([] if opset >= 18 else ["b2"])
    assert_matches_ort(make_model(nodes, [("x", [2, 6, 3, 5])], outs, inits, opset=opset))


def test_convert_lowers_conv_transpose_and_resize_of_an_onnx_model(tmp_path):
    """The issue's use case: a target without ConvTranspose / Resize."""
    nodes = [
        helper.make_node("Conv", ["x", "W1"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node(
            "ConvTranspose",
            ["r", "W2", "B2"],
            ["d"],
            kernel_shape=[4, 4],
            strides=[2, 2],
            pads=[1, 1, 1, 1],
        ),
        helper.make_node(
            "Resize",
            ["d", "", "scales"],
            ["y"],
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        ),
    ]
    inits = [
        ("W1", w(4, 3, 3, 3)),
        ("W2", w(4, 2, 4, 4, seed=2)),
        ("B2", w(2, seed=3)),
        ("scales", np.array([1, 1, 2, 2], np.float32)),
    ]
    model = make_model(nodes, [("x", [1, 3, 6, 6])], ["y"], inits)
    src, out = tmp_path / "user.onnx", tmp_path / "lowered.onnx"
    onnx.save(model, str(src))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "graphconv.cli",
            "convert",
            str(src),
            "--passes",
            "upsample-to-deconv,deconv-to-conv",
            "--validate",
            "-o",
            str(out),
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lowered = onnx.load(str(out))
    ops = {n.op_type for n in lowered.graph.node}
    assert not ops & {"Resize", "ConvTranspose", "Upsample"} and "Conv" in ops
    feeds = feeds_for(model)
    ref = run_onnxruntime(model, feeds)["y"]
    got = run_onnxruntime(lowered, feeds)["y"]
    assert rel_err(got, ref) <= 1e-5


@pytest.mark.parametrize(
    "op,mode", [("DepthToSpace", "DCR"), ("DepthToSpace", "CRD"), ("SpaceToDepth", None)]
)
def test_depth_to_space_and_back(op, mode):
    attrs = {"blocksize": 2} | ({"mode": mode} if mode else {})
    shape = [2, 8, 3, 5] if op == "DepthToSpace" else [2, 3, 4, 6]
    m = make_model([helper.make_node(op, ["x"], ["y"], **attrs)], [("x", shape)], ["y"])
    g = assert_matches_ort(m)
    assert set(g.count_types()) == {"Input", "Reshape", "Permute"}


# ---- MaxPool Indices -> MaxUnpool ----------------------------------------------------------------


@pytest.mark.parametrize("with_output_shape", [False, True])
@pytest.mark.parametrize(
    "kernel,stride,pads,size",
    [
        ([2, 2], [2, 2], [0, 0, 0, 0], [2, 3, 6, 8]),
        ([3, 3], [2, 2], [1, 1, 1, 1], [1, 2, 7, 5]),
        ([3], [1], [1, 1], [2, 2, 9]),
    ],
)
def test_max_pool_indices_into_max_unpool(kernel, stride, pads, size, with_output_shape):
    geometry = {"kernel_shape": kernel, "strides": stride, "pads": pads}
    nodes = [
        helper.make_node("MaxPool", ["x"], ["p", "i"], **geometry),
        helper.make_node(
            "MaxUnpool", ["p", "i"] + (["shape"] if with_output_shape else []), ["y"], **geometry
        ),
        helper.make_node("Relu", ["y"], ["r"]),
    ]
    inits = [("shape", np.array(size, np.int64))] if with_output_shape else []
    g = helper.make_graph(
        nodes,
        "t",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, size)],
        [
            helper.make_tensor_value_info("r", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("p", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("i", TensorProto.INT64, None),
        ],
        initializer=[numpy_helper.from_array(v, n) for n, v in inits],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    x = np.random.default_rng(0).standard_normal(size).astype(np.float32)
    ref = run_onnxruntime(m, {"x": x})
    graph = load_onnx(m)
    got = gc.run(graph, {"x": x})
    np.testing.assert_array_equal(got["i"], ref["i"].astype(np.float32))
    if ref["r"].shape == tuple(size):  # default output shape differs from size at k3 s2 p1
        np.testing.assert_array_equal(got["r"], ref["r"])
    np.testing.assert_array_equal(
        got["r"], np.maximum(onnx_max_unpool(ref["p"], ref["i"], got["r"].shape), 0)
    )
    for opset in OPSETS:
        again = run_onnxruntime(gc.to_onnx(graph, opset), {"x": x})
        np.testing.assert_array_equal(again["r"], got["r"])


def test_max_unpool_needs_max_pool_indices():
    node = helper.make_node("MaxUnpool", ["x", "i"], ["y"], kernel_shape=[2, 2], strides=[2, 2])
    g = helper.make_graph(
        [node],
        "t",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(np.array([[[[0, 3], [8, 10]]]], np.int64), "i")],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    with pytest.raises(gc.GraphError, match="must be a MaxPool's Indices output"):
        load_onnx(m)


@pytest.mark.parametrize(
    "mode,attrs",
    [
        ("cubic", {}),
        ("cubic", {"cubic_coeff_a": -0.5, "exclude_outside": 1}),
        ("linear", {"antialias": 1}),
        ("cubic", {"antialias": 1}),
        ("linear", {"exclude_outside": 1, "antialias": 1}),
    ],
)
@pytest.mark.parametrize("ctm", ["half_pixel", "asymmetric", "pytorch_half_pixel"])
@pytest.mark.parametrize("scales", [[1, 1, 0.6, 0.35], [1, 1, 1.5, 0.8]])
def test_resize_cubic_and_antialias(mode, attrs, ctm, scales):
    node = helper.make_node(
        "Resize", ["x", "", "scales"], ["y"], mode=mode, coordinate_transformation_mode=ctm, **attrs
    )
    m = make_model(
        [node], [("x", [1, 2, 6, 9])], ["y"], [("scales", np.array(scales, np.float32))], opset=18
    )
    graph = load_onnx(m)
    x = feeds_for(m)["x"]
    got = gc.run(graph, {"x": x})["y"]
    out = tuple(int(np.floor(float(np.float32(s)) * n)) for s, n in zip(scales, x.shape))
    want = kernel_oracle(
        x,
        out,
        scales,
        ctm,
        mode,
        attrs.get("cubic_coeff_a", -0.75),
        bool(attrs.get("antialias")),
        bool(attrs.get("exclude_outside")),
    )
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run_onnxruntime(m, {"x": x})["y"], got, rtol=1e-4, atol=1e-5)
    for opset in OPSETS:  # opset 13 and 17 lack antialias: emitted as Gather / Mul / Sum
        ort = run_onnxruntime(gc.to_onnx(graph, opset), {"x": x})["y"]
        np.testing.assert_allclose(ort, got, rtol=1e-4, atol=1e-5, err_msg=str(opset))


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("extrapolation", [0.0, -3.5])
def test_resize_tf_crop_and_resize(mode, extrapolation):
    """A crop box partly outside the input: sizes keep onnxruntime's integer output length."""
    roi = np.array([0.1, -0.3, 0.8, 1.15], np.float32)  # axes 2, 3: starts then ends (no ties)
    node = helper.make_node(
        "Resize",
        ["x", "roi", "", "sizes"],
        ["y"],
        mode=mode,
        axes=[2, 3],
        coordinate_transformation_mode="tf_crop_and_resize",
        extrapolation_value=extrapolation,
    )
    m = make_model(
        [node],
        [("x", [1, 2, 5, 6])],
        ["y"],
        [("roi", roi), ("sizes", np.array([4, 7], np.int64))],
        opset=18,
    )
    graph = load_onnx(m)
    x = feeds_for(m)["x"]
    got = gc.run(graph, {"x": x})["y"]
    # brute force: each output sample, by the specification's formula per axis
    from itertools import product

    full_roi = [
        (0.0, 1.0),
        (0.0, 1.0),
        (float(roi[0]), float(roi[2])),
        (float(roi[1]), float(roi[3])),
    ]
    want = np.zeros((1, 2, 4, 7), np.float64)
    coords = []
    for (n, o), (r0, r1) in zip(zip(x.shape, want.shape), full_roi):
        if (r0, r1) == (0.0, 1.0) and n == o:
            coords.append([float(y) for y in range(o)])
        else:
            coords.append([r0 * (n - 1) + y * (r1 - r0) * (n - 1) / (o - 1) for y in range(o)])
    for b, c, i, j in product(*(range(d) for d in want.shape)):
        ci, cj = coords[2][i], coords[3][j]
        if not (0 <= ci <= 4 and 0 <= cj <= 5):
            want[b, c, i, j] = extrapolation
            continue
        if mode == "nearest":  # round_prefer_floor
            want[b, c, i, j] = x[b, c, int(np.ceil(ci - 0.5)), int(np.ceil(cj - 0.5))]
        elif mode == "linear":
            want[b, c, i, j] = bilinear_sample(x[b, c], ci, cj)
        else:
            want[b, c, i, j] = bicubic_sample(x[b, c], ci, cj)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(run_onnxruntime(m, {"x": x})["y"], got, rtol=1e-4, atol=1e-5)
    for opset in OPSETS:
        ort = run_onnxruntime(gc.to_onnx(graph, opset), {"x": x})["y"]
        np.testing.assert_allclose(ort, got, rtol=1e-4, atol=1e-5, err_msg=str(opset))


@pytest.mark.parametrize(
    "ctm,attrs,opset,resize_node",
    [
        ("half_pixel", {"mode": "linear"}, 13, True),
        ("align_corners", {"mode": "cubic"}, 17, True),
        ("half_pixel_symmetric", {"mode": "linear"}, 17, False),  # from opset 19
        ("half_pixel_symmetric", {"mode": "linear"}, 19, True),
        ("tf_half_pixel_for_nn", {"mode": "nearest"}, 13, True),
        ("tf_half_pixel_for_nn", {"mode": "nearest"}, 21, False),  # removed in opset 18
        ("half_pixel", {"mode": "linear", "antialias": 1}, 13, False),
    ],
)
def test_resize_export_uses_onnx_resize_where_the_opset_has_the_setting(
    ctm, attrs, opset, resize_node
):
    b = gc.GraphBuilder()
    x = b.input("x", (1, 2, 4, 6))
    b.add(
        "Resize",
        x,
        gc.ResizeAttrs(sizes=(1, 2, 3, 9), coordinate_transformation_mode=ctm, **attrs),
        name="r",
    )
    g = b.build()
    model = gc.to_onnx(g, opset)
    ops = {n.op_type for n in model.graph.node}
    assert ("Resize" in ops) == resize_node and ("Gather" in ops) != resize_node
    xv = w(1, 2, 4, 6)
    np.testing.assert_allclose(
        run_onnxruntime(model, {"x": xv})["r"], gc.run(g, {"x": xv})["r"], rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("opset", [13, 17, 19, 21])
@pytest.mark.parametrize(
    "mode,pads",
    [
        ("edge", [0, 1, 2, 0, 1, 0, 3, 2]),
        ("reflect", [0, 0, 2, 1, 0, 2, 1, 3]),
        ("wrap", [1, 0, 3, 2, 0, 1, 0, 4]),
        ("constant", [1, 2, -1, 0, 0, 1, 2, -2]),
    ],
)
def test_pad_modes_on_any_axis(mode, pads, opset):
    if mode == "wrap" and opset < 19:
        pytest.skip("ONNX Pad has mode wrap from opset 19 (the source model needs it)")
    inits = [("pads", np.array(pads, np.int64)), ("value", np.array(1.5, np.float32))]
    node = helper.make_node("Pad", ["x", "pads", "value"], ["y"], mode=mode)
    m = make_model([node], [("x", [2, 3, 4, 5])], ["y"], inits, opset=opset)
    graph = assert_matches_ort(m)
    assert "BorderPad" in graph.count_types()
    x = feeds_for(m)["x"]
    widths = [(b, e) for b, e in zip(pads[:4], pads[4:])]
    if mode == "constant":  # crop the negative amounts, then pad
        crop = tuple(
            slice(-b if b < 0 else 0, d + e if e < 0 else d) for d, (b, e) in zip(x.shape, widths)
        )
        want = np.pad(x[crop], [(max(b, 0), max(e, 0)) for b, e in widths], constant_values=1.5)
    else:
        want = np.pad(x, widths, mode={"edge": "edge", "reflect": "reflect", "wrap": "wrap"}[mode])
    np.testing.assert_array_equal(gc.run(graph, {"x": x})["y"], want)


@pytest.mark.parametrize("opset", OPSETS)
def test_border_pad_wrap_exports_at_every_opset(opset):
    b = gc.GraphBuilder()
    x = b.input("x", (1, 2, 3, 4))
    b.add(
        "BorderPad",
        x,
        gc.BorderPadAttrs(pads_begin=(0, 1, 2, 0), pads_end=(0, 0, 1, 5), mode="wrap"),
        name="p",
    )
    g = b.build()
    xv = w(1, 2, 3, 4)
    want = np.pad(xv, [(0, 0), (1, 0), (2, 1), (0, 5)], mode="wrap")
    np.testing.assert_array_equal(gc.run(g, {"x": xv})["p"], want)
    np.testing.assert_array_equal(run_onnxruntime(gc.to_onnx(g, opset), {"x": xv})["p"], want)


def test_prelu_with_a_broadcasting_slope():
    node = helper.make_node("PRelu", ["x", "slope"], ["y"])
    slope = np.linspace(-0.5, 2.0, 20, dtype=np.float32).reshape(4, 5)
    m = make_model([node], [("x", [2, 3, 4, 5])], ["y"], [("slope", slope)])
    graph = assert_matches_ort(m)
    x = feeds_for(m)["x"]
    np.testing.assert_array_equal(gc.run(graph, {"x": x})["y"], np.where(x < 0, slope * x, x))


@pytest.mark.parametrize(
    "op,oracle", [("Log", np.log), ("Sqrt", np.sqrt), ("Reciprocal", lambda v: 1 / v)]
)
def test_unary_functions_of_positive_inputs(op, oracle):
    m = make_model([helper.make_node(op, ["x"], ["y"])], [("x", [2, 3, 4])], ["y"])
    graph = load_onnx(m)
    x = np.abs(w(2, 3, 4)) + 0.25
    got = gc.run(graph, {"x": x})["y"]
    np.testing.assert_allclose(got, oracle(x.astype(np.float64)), rtol=1e-6)
    for opset in OPSETS:
        np.testing.assert_allclose(
            run_onnxruntime(gc.to_onnx(graph, opset), {"x": x})["y"], got, rtol=1e-6
        )
