"""The ONNX rules of what PyTorch's exporters write (rules/pointwise.py, reduce.py, statnorm.py,
gather.py) on hand-built models, each against onnxruntime running the same file: the opset
variants node cases do not cover (Clip bounds as attributes, Reduce axes as attributes,
GroupNormalization's per-group affine of opset 18), shape arithmetic that folds to constants
(Shape, Gather, Cast, Range, ConstantOfShape, Expand, Tile, Where), Split sizes and MatMul/Gemm
weights from Constant nodes, and the refusals."""

from __future__ import annotations

import numpy as np
import onnx
import oracles as O
import pytest
from onnx import TensorProto, helper, numpy_helper
from oracles import modern

import graphconv as gc
from graphconv.frontends.onnx import load_onnx
from graphconv.validate import run_onnxruntime

# single ops or a handful in float32 on both sides: 1e-5 of the largest output
TOL = 1e-5


def model(nodes, inputs, outputs, inits=(), opset=17, check=True):
    g = helper.make_graph(
        nodes,
        "t",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [
            helper.make_tensor_value_info(
                *((o, TensorProto.FLOAT, None) if isinstance(o, str) else o)
            )
            for o in outputs
        ],
        initializer=[numpy_helper.from_array(np.asarray(v), n) for n, v in inits],
    )
    ir = helper.find_min_ir_version_for([helper.make_opsetid("", opset)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir)
    if check:
        m = onnx.shape_inference.infer_shapes(m, strict_mode=True, data_prop=True)  # output shapes
        onnx.checker.check_model(m)
    return m


def data(*shape, seed=0):
    return (2 * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def same_as_onnxruntime(m, feeds):
    graph = load_onnx(m)
    got = gc.run(graph, feeds)
    want = run_onnxruntime(m, feeds)
    for name in [o.name for o in m.graph.output]:
        O.assert_close(got[name], want[name], TOL, name)
    return graph


def test_clip_bounds_as_attributes_before_opset_11():
    m = model(
        [helper.make_node("Clip", ["x"], ["y"], min=-1.0, max=0.5)],
        [("x", [2, 3, 4])],
        ["y"],
        opset=9,
    )
    g = same_as_onnxruntime(m, {"x": data(2, 3, 4)})
    assert [layer.type for layer in g.layers] == ["Input", "Clip"]


@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_axes_as_attributes(opset, keepdims):
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=keepdims),
        helper.make_node("ReduceMax", ["x"], ["mx"], axes=[-1], keepdims=keepdims),
        helper.make_node("ReduceL2", ["x"], ["l2"], axes=[1], keepdims=keepdims),
    ]
    m = model(nodes, [("x", [2, 3, 4, 5])], ["m", "mx", "l2"], opset=opset)
    same_as_onnxruntime(m, {"x": data(2, 3, 4, 5)})


def test_reduce_sum_noop_with_empty_axes_is_the_identity():
    node = helper.make_node("ReduceSum", ["x", ""], ["y"], noop_with_empty_axes=1)
    m = model([node], [("x", [2, 3])], ["y"], opset=13)
    g = same_as_onnxruntime(m, {"x": data(2, 3)})
    assert g.layers[-1].type == "Identity"


def test_group_normalization_opset_18_has_the_affine_per_group():
    scale, bias = np.array([0.5, 2.0], np.float32), np.array([1.0, -1.0], np.float32)
    node = helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=2)
    out = ("y", TensorProto.FLOAT, [2, 4, 3, 3])  # (onnx infers no shape for this function op)
    # (onnx 1.23's checker refuses GroupNormalization-18 as deprecated; files using it exist)
    m = model([node], [("x", [2, 4, 3, 3])], [out], [("s", scale), ("b", bias)], 18, check=False)
    x = data(2, 4, 3, 3)
    g = load_onnx(m)
    got = gc.run(g, {"x": x})["y"]
    # oracle: the loop definition with each group's value repeated over its two channels
    want = modern.group_norm(x, 2, np.repeat(scale, 2), np.repeat(bias, 2), 1e-5)
    O.assert_close(got, want, TOL)


def test_layer_normalization_mean_and_inv_std_dev_outputs():
    node = helper.make_node(
        "LayerNormalization", ["x", "s", "b"], ["y", "mean", "inv"], axis=1, epsilon=1e-3
    )
    m = model(
        [node],
        [("x", [2, 3, 4])],
        ["y", "mean", "inv"],
        [("s", data(3, 4, seed=1)), ("b", data(3, 4, seed=2))],
    )
    same_as_onnxruntime(m, {"x": data(2, 3, 4)})


def test_shape_chains_fold_to_constants():
    """What the TorchScript exporter writes around ``x.view(x.size(0), -1)``, ``torch.ones_like``,
    ``arange`` and broadcasting: Shape -> Gather -> Unsqueeze -> Concat -> Reshape; Shape ->
    ConstantOfShape -> Cast; Range -> Cast -> Reshape -> Expand -> Tile; Where on constants."""
    i64 = lambda name, v: (name, np.array(v, np.int64))  # noqa: E731
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("Shape", ["flat"], ["fshape"]),
        helper.make_node(
            "ConstantOfShape",
            ["fshape"],
            ["ones64"],
            value=numpy_helper.from_array(np.array([1.0], np.float64)),
        ),
        helper.make_node("Cast", ["ones64"], ["ones"], to=TensorProto.FLOAT),
        helper.make_node("Range", ["r0", "r1", "r2"], ["ramp"]),
        helper.make_node("Cast", ["ramp"], ["rampf"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["rampf", "rshape"], ["ramp2"]),
        helper.make_node("Expand", ["ramp2", "eshape"], ["ramp3"]),
        helper.make_node("Tile", ["ramp3", "reps"], ["ramp4"]),
        helper.make_node("Greater", ["ramp4", "half"], ["cond"]),
        helper.make_node("Where", ["cond", "ramp4", "ones"], ["mask"]),
        helper.make_node("Mul", ["flat", "mask"], ["y0"]),
        helper.make_node("Cast", ["y0"], ["y"], to=TensorProto.FLOAT),  # float to float: identity
    ]
    inits = [
        i64("zero", 0), i64("axes0", [0]), i64("minus1", [-1]),
        i64("r0", 0), i64("r1", 12), i64("r2", 1), i64("rshape", [1, 12]),
        i64("eshape", [2, 12]), i64("reps", [1, 2]), ("half", np.array(5.5, np.float32)),
    ]  # fmt: skip
    m = model(nodes, [("x", [2, 4, 3, 2])], ["y"], inits)
    g = same_as_onnxruntime(m, {"x": data(2, 4, 3, 2)})
    assert {layer.type for layer in g.layers} <= {"Input", "Reshape", "ConstantBinary", "Identity"}


def test_split_sizes_and_weights_from_constant_nodes():
    """Split sizes as an input (opset 13+), MatMul and Gemm weights from Constant nodes (what
    the exporters write for Linear layers and chunk())."""
    wm, wg, bg = data(6, 5, seed=1), data(3, 4, seed=2), data(3, seed=3)

    def const(name, v):
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(v))

    nodes = [
        const("sizes", np.array([2, 4], np.int64)),
        helper.make_node("Split", ["x", "sizes"], ["a", "b"], axis=1),
        const("wm", wm),
        helper.make_node("MatMul", ["x", "wm"], ["mm"]),
        const("wg", wg),
        const("bg", bg),
        helper.make_node("Gemm", ["b", "wg", "bg"], ["gemm"], transB=1, alpha=0.5),
    ]
    m = model(nodes, [("x", [3, 6])], ["a", "mm", "gemm"])
    same_as_onnxruntime(m, {"x": data(3, 6)})


def test_argmax_indices_are_float32_and_a_cast_to_int_is_refused():
    nodes = [helper.make_node("ArgMax", ["x"], ["i"], axis=1, keepdims=0)]
    m = model(nodes, [("x", [2, 5, 3])], [("i", TensorProto.INT64, None)])
    x = data(2, 5, 3)
    got = gc.run(load_onnx(m), {"x": x})["i"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, run_onnxruntime(m, {"x": x})["i"])
    bad = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Cast", ["r"], ["c"], to=TensorProto.INT32),
    ]
    with pytest.raises(gc.GraphError, match="cast to element type INT32"):
        load_onnx(model(bad, [("x", [2, 3])], [("c", TensorProto.INT32, None)]))


def test_gather_of_a_computed_tensor():
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Gather", ["r", "idx"], ["y"], axis=1),
        helper.make_node("Gather", ["r", "one"], ["z"], axis=2),  # a scalar index drops the axis
    ]
    inits = [("idx", np.array([[3, 0], [-1, 1]], np.int64)), ("one", np.array(1, np.int64))]
    m = model(nodes, [("x", [2, 4, 3])], ["y", "z"], inits)
    same_as_onnxruntime(m, {"x": data(2, 4, 3)})
