"""The ONNX frontend: round trips (graphconv -> ONNX -> graphconv, interpreter vs onnxruntime on
the exported model), hand-written ONNX models of each supported op setting against onnxruntime,
constant folding, the layer types added for ONNX, and one-line errors (API and CLI)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from conftest import ROOT
from onnx import TensorProto, helper, numpy_helper

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
            assert rel_err(result[name], ref[name]) <= tol, (name, rel_err(result[name],
                                                                           ref[name]))
    return graph


def make_model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
                                       for n, s in inputs],
                          [helper.make_tensor_value_info(*((o, None) if isinstance(o, str)
                                                            else o)[:1], TensorProto.FLOAT,
                                                          None if isinstance(o, str) else o[1])
                           for o in outputs],
                          initializer=[numpy_helper.from_array(np.asarray(v), n)
                                       for n, v in inits])
    ir = helper.find_min_ir_version_for([helper.make_opsetid("", opset)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir)
    m = onnx.shape_inference.infer_shapes(m, strict_mode=True, data_prop=True)  # fills the output shapes
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
    y = b.add("Convolution", x, gc.ConvAttrs(num_output=6, kernel=(3, 2), stride=(2, 1),
                                              dilation=(1, 2), pads_begin=(1, 0),
                                              pads_end=(2, 1)))
    y = b.add("BatchNorm", y, gc.BatchNormAttrs(eps=1e-3, affine=True))
    y = b.add("ReLU", y, gc.ReLUAttrs(negative_slope=0.1))
    y = b.add("Deconvolution", y, gc.DeconvAttrs(num_output=4, kernel=(3, 3), stride=2, pads=1,
                                                  group=2, output_padding=1))
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
        proc = subprocess.run([sys.executable, "-m", "graphconv.cli", *cmd], check=False,
                              capture_output=True,
                              text=True, env=env, timeout=120)
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
    m = make_model([node], [("x", [2, 4, 9, 10])], ["y"],
                   [("W", w(6, 4 // group, 3, 3)), ("B", w(6, seed=2))])
    assert_matches_ort(m)


DECONV_CASES = [
    {"strides": [2, 2], "pads": [1, 0, 0, 1]},
    {"strides": [2, 3], "output_padding": [1, 2]},
    {"strides": [2, 2], "output_shape": [12, 11]},
    {"strides": [3, 2], "output_shape": [10, 8]},        # negative end pad: extends the output
    {"strides": [2, 2], "auto_pad": "SAME_UPPER"},
    {"strides": [2, 2], "auto_pad": "SAME_LOWER", "output_padding": [1, 1]},
    {"strides": [1, 1], "dilations": [2, 2], "group": 2, "pads": [1, 1, 1, 1]},
]


@pytest.mark.parametrize("attrs", DECONV_CASES, ids=str)
def test_conv_transpose(attrs):
    group = attrs.get("group", 1)
    node = helper.make_node("ConvTranspose", ["x", "W", "B"], ["y"], kernel_shape=[3, 3],
                            **attrs)
    m = make_model([node], [("x", [1, 4, 5, 5])], ["y"],
                   [("W", w(4, 6 // group, 3, 3)), ("B", w(6, seed=2))])
    assert_matches_ort(m)


POOL_CASES = [
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("MaxPool", {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [0, 1, 2, 0]}),
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ("MaxPool", {"kernel_shape": [1, 1], "strides": [2, 2], "ceil_mode": 1}),  # ONNX drops a window
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}),
    ("MaxPool", {"kernel_shape": [2, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ("MaxPool", {"kernel_shape": [2, 3], "strides": [2, 2], "auto_pad": "SAME_LOWER"}),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1],
                         "count_include_pad": 1}),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("AveragePool", {"kernel_shape": [3, 2], "strides": [1, 2], "pads": [2, 0, 0, 1]}),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1,
                         "count_include_pad": 1}),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
]


@pytest.mark.parametrize("op,attrs", POOL_CASES, ids=str)
def test_pool(op, attrs):
    m = make_model([helper.make_node(op, ["x"], ["y"], **attrs)], [("x", [1, 3, 8, 9])], ["y"])
    assert_matches_ort(m)


def test_pool_dilation_is_refused_with_the_reason():
    m = make_model([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2],
                                     dilations=[2, 2])], [("x", [1, 1, 6, 6])], ["y"])
    with pytest.raises(gc.GraphError, match="dilations"):
        load_onnx(m)


@pytest.mark.parametrize("opset", [11, 13])
def test_activations_norms_global_pools(opset):
    c = 4
    nodes = [
        helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"],
                         epsilon=1e-3),
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
    inits = [("s", np.abs(w(c)) + 0.5), ("b", w(c, seed=3)), ("m", w(c, seed=4)),
             ("v", np.abs(w(c, seed=5)) + 0.5), ("slope", w(c, 1, 1, seed=6))]
    m = make_model(nodes, [("x", [2, c, 5, 6])], ["sum", "id"], inits, opset=opset)
    assert_matches_ort(m)


@pytest.mark.parametrize("opset,axis,shape", [(11, 1, [2, 3, 4]), (11, 2, [2, 3, 4, 5]),
                                               (11, 2, [2, 3, 4]), (13, 1, [2, 3, 4]),
                                               (13, -1, [2, 3, 4])])
def test_softmax_axis_semantics(opset, axis, shape):
    """Before opset 13 Softmax normalises over the flattened axes from ``axis`` on."""
    m = make_model([helper.make_node("Softmax", ["x"], ["y"], axis=axis)], [("x", shape)],
                   ["y"], opset=opset)
    assert_matches_ort(m)


@pytest.mark.parametrize("trans_a,trans_b,alpha,beta,c_shape", [
    (0, 1, 1.0, 1.0, (5,)), (0, 0, 0.5, 2.0, (1, 5)), (1, 1, 1.0, 0.5, (3, 5)),
    (0, 1, 1.0, 1.0, None), (0, 0, 1.0, 1.0, (3, 1))])
def test_gemm(trans_a, trans_b, alpha, beta, c_shape):
    a_shape = [4, 3] if trans_a else [3, 4]
    b = w(5, 4) if trans_b else w(4, 5)
    ins = ["a", "B"] + (["C"] if c_shape else [])
    inits = [("B", b)] + ([("C", w(*c_shape, seed=7))] if c_shape else [])
    node = helper.make_node("Gemm", ins, ["y"], transA=trans_a, transB=trans_b, alpha=alpha,
                            beta=beta)
    assert_matches_ort(make_model([node], [("a", a_shape)], ["y"], inits))


def test_arithmetic_with_constants_and_tensors():
    nodes = [
        helper.make_node("Mul", ["x", "k"], ["a"]),          # per-channel constant
        helper.make_node("Add", ["half", "a"], ["b"]),       # scalar constant first
        helper.make_node("Div", ["b", "k"], ["c"]),
        helper.make_node("Sub", ["c", "x"], ["d"]),          # two computed tensors
        helper.make_node("Add", ["d", "c"], ["e"]),
        helper.make_node("Mul", ["e", "d"], ["f"]),
    ]
    inits = [("k", np.abs(w(3, 1, 1)) + 0.5), ("half", np.float32(0.5))]
    assert_matches_ort(make_model(nodes, [("x", [2, 3, 4, 5])], ["f"], inits))


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_shape_ops_and_constant_folding(opset):
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains fold to constants."""
    def ints(name, values):
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(
            np.array(values, dtype=np.int64), name))

    axes_in = opset >= 13
    unsq = (helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]) if axes_in
            else helper.make_node("Unsqueeze", ["n"], ["n1"], axes=[0]))
    sq = (helper.make_node("Squeeze", ["t", "ax2"], ["s"]) if axes_in
          else helper.make_node("Squeeze", ["t"], ["s"], axes=[2]))
    nodes = [
        helper.make_node("Shape", ["x"], ["shp"]),
        ints("zero", 0), ints("ax0", [0]), ints("ax2", [2]), ints("minus1", [-1]),
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


@pytest.mark.parametrize("opset,attrs,scales", [
    (13, {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}, [1, 1, 2, 3]),
    (13, {}, [1, 1, 3, 2]),                        # half_pixel / round_prefer_floor
    (13, {"coordinate_transformation_mode": "pytorch_half_pixel",
              "nearest_mode": "round_prefer_ceil"}, [1, 1, 4, 4]),
    (13, {"coordinate_transformation_mode": "asymmetric",
              "nearest_mode": "round_prefer_floor"}, [1, 1, 2, 2]),
    (13, {"coordinate_transformation_mode": "tf_half_pixel_for_nn", "nearest_mode": "floor"},
     [1, 1, 3, 3]),
    (19, {"coordinate_transformation_mode": "half_pixel_symmetric"}, [1, 1, 2, 3]),
    (10, {}, [1, 1, 2, 3]),
])
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
    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="nearest",
                            coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    m = make_model([node], [("x", [1, 2, 3, 4])], ["y"],
                   [("sizes", np.array([1, 2, 6, 12], np.int64))])
    assert_matches_ort(m)
    up = helper.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest")
    m = make_model([up], [("x", [1, 2, 3, 4])], ["y"],
                   [("scales", np.array([1, 1, 2, 2], np.float32))], opset=9)
    assert_matches_ort(m)


@pytest.mark.parametrize("attrs,scales,why", [
    ({"mode": "linear"}, [1, 1, 2, 2], "mode 'linear'"),
    ({"coordinate_transformation_mode": "align_corners"}, [1, 1, 2, 2], "align_corners"),
    ({"coordinate_transformation_mode": "asymmetric", "nearest_mode": "round_prefer_floor"},
     [1, 1, 3, 3], "asymmetric with nearest_mode round_prefer_floor at factor 3"),
    ({}, [1, 1, 1.5, 2], "scale 1.5"),
    ({}, [1, 2, 2, 2], "batch or channel"),
])
def test_resize_refusals_name_the_reason(attrs, scales, why):
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], **{"mode": "nearest", **attrs})
    m = make_model([node], [("x", [1, 2, 4, 4])], ["y"],
                   [("scales", np.array(scales, np.float32))])
    with pytest.raises(gc.GraphError, match=why):
        load_onnx(m)


# ---- the layer types added for ONNX -------------------------------------------------------------

@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("first", [False, True])
def test_constant_binary_against_numpy_and_ort(op, first, opset):
    b = gc.GraphBuilder()
    x = b.input("x", (2, 3, 4))
    c = np.linspace(0.5, 2.0, 3, dtype=np.float32).reshape(3, 1)
    b.add("ConstantBinary", x, gc.ConstantBinaryAttrs(op, (3, 1), constant_first=first),
          params={"constant": c}, name="cb")
    b.add("Identity", "cb", name="id")
    g = b.build()
    xv = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    fn = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b}[op]
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


# ---- errors ---------------------------------------------------------------------------------------

def _bad_model():
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Erf", ["r"], ["e"], name="erf1"),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], dilations=[2, 2],
                         name="dilated"),
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
    for part in ("'erf1' (Erf)", "'dilated' (MaxPool): dilations", "'celu_after' (Celu)"):
        assert part in msg


def test_cli_reports_unsupported_ops_with_exit_2(tmp_path):
    path = tmp_path / "x.onnx"
    onnx.save(_bad_model(), str(path))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "graphconv.cli", "validate", str(path)],
                          check=False, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "Erf" in lines[0] and "Celu" in lines[0] and "dilations" in lines[0]


def test_dynamic_input_needs_a_shape_and_input_shapes_supplies_it(tmp_path):
    node = helper.make_node("Relu", ["x"], ["y"])
    g = helper.make_graph([node], "t", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["N", 3, 4, 4])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)])
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
    want = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool",
            "GlobalMaxPool", "BatchNormalization", "Relu", "LeakyRelu", "PRelu", "Sigmoid",
            "Tanh", "Softmax", "Concat", "Reshape", "Flatten", "Transpose", "Squeeze",
            "Unsqueeze", "Dropout", "Identity", "Gemm", "Add", "Sub", "Mul", "Div", "Sum", "Max",
            "Resize", "Upsample", "LRN", "Pad"}
    assert want <= set(supported_ops())


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_split_and_matmul(opset):
    if opset >= 13:
        split = helper.make_node("Split", ["x", "sizes"], ["a", "b", "c"], axis=1)
        inits = [("sizes", np.array([1, 3, 2], np.int64))]
    else:
        split = helper.make_node("Split", ["x"], ["a", "b", "c"], axis=1, split=[1, 3, 2])
        inits = []
    nodes = [split, helper.make_node("MatMul", ["c", "M"], ["y"]),
             helper.make_node("Split", ["b"], ["b0", "b1", "b2"], axis=1)]
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
        helper.make_node("ConvTranspose", ["r", "W2", "B2"], ["d"], kernel_shape=[4, 4],
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Resize", ["d", "", "scales"], ["y"], mode="nearest",
                         coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
    ]
    inits = [("W1", w(4, 3, 3, 3)), ("W2", w(4, 2, 4, 4, seed=2)), ("B2", w(2, seed=3)),
             ("scales", np.array([1, 1, 2, 2], np.float32))]
    model = make_model(nodes, [("x", [1, 3, 6, 6])], ["y"], inits)
    src, out = tmp_path / "user.onnx", tmp_path / "lowered.onnx"
    onnx.save(model, str(src))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "graphconv.cli", "convert", str(src),
                           "--passes", "upsample-to-deconv,deconv-to-conv", "--validate",
                           "-o", str(out)], check=False, capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lowered = onnx.load(str(out))
    ops = {n.op_type for n in lowered.graph.node}
    assert not ops & {"Resize", "ConvTranspose", "Upsample"} and "Conv" in ops
    feeds = feeds_for(model)
    ref = run_onnxruntime(model, feeds)["y"]
    got = run_onnxruntime(lowered, feeds)["y"]
    assert rel_err(got, ref) <= 1e-5


@pytest.mark.parametrize("op,mode", [("DepthToSpace", "DCR"), ("DepthToSpace", "CRD"),
                                     ("SpaceToDepth", None)])
def test_depth_to_space_and_back(op, mode):
    attrs = {"blocksize": 2} | ({"mode": mode} if mode else {})
    shape = [2, 8, 3, 5] if op == "DepthToSpace" else [2, 3, 4, 6]
    m = make_model([helper.make_node(op, ["x"], ["y"], **attrs)], [("x", shape)], ["y"])
    g = assert_matches_ort(m)
    assert set(g.count_types()) == {"Input", "Reshape", "Permute"}
