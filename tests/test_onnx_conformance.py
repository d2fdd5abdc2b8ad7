"""ONNX's own backend node test cases (onnx 1.23 builds them in memory), through the ONNX
frontend and the NumPy interpreter, compared with the expected outputs at the ONNX backend
tolerance (rtol 1e-3, atol 1e-7).

The cases are every node case of the op families below (``_expanded`` cases are excluded: they
test the function-body expansion into other ops such as ReduceMax, Where and CastLike, not the op
itself). Each case either passes, or is listed in UNSUPPORTED with the reason, and must then be
refused by the frontend with a one-line GraphError naming that reason: never a wrong number.
The few cases where graphconv deliberately follows onnxruntime instead of ONNX's expected output
are listed in FOLLOWS_ONNXRUNTIME and must match onnxruntime and differ from the expectation.
A test asserts the failing set is exactly those two lists, so nothing is silently skipped.

Node cases feed every operand as a graph input; operands that are parameters or shapes in a real
model (a Conv weight, a Reshape shape, Resize scales, ...: every input after the first of the ops
in PARAMETER_OPS) are bound as constants, as they are initializers in a real model.
"""

from __future__ import annotations

import re
import warnings
from functools import lru_cache

import numpy as np
import pytest
from helpers import LIGHT_MODELS, assert_saturated_close, onnxruntime_tensors, saturated_outputs

import graphconv as gc
from graphconv.frontends.onnx import load_onnx

OPS = (
    "conv",
    "convtranspose",
    "maxpool",
    "averagepool",
    "globalaveragepool",
    "globalmaxpool",
    "batchnorm",
    "relu",
    "leakyrelu",
    "prelu",
    "sigmoid",
    "tanh",
    "softmax",
    "concat",
    "reshape",
    "transpose",
    "flatten",
    "squeeze",
    "unsqueeze",
    "dropout",
    "identity",
    "gemm",
    "add",
    "sub",
    "mul",
    "div",
    "pow",
    "sum",
    "max",
    "min",
    "lrn",
    "upsample",
    "resize",
    "depthtospace",
    "spacetodepth",
    "slice",
    "maxunpool",
    "abs",
    "neg",
    "exp",
    "elu",
    "selu",
    "softplus",
    "softsign",
    "logsoftmax",
    "constant_pad",
    "edge_pad",
    "reflect_pad",
    "wrap_pad",
    # what PyTorch's exporters write for current CNNs
    "clip",
    "hardsigmoid",
    "hardswish",
    "erf",
    "gelu",
    "mish",
    "reduce_mean",
    "reduce_max",
    "reduce_min",
    "reduce_sum",
    "reduce_sum_square",
    "reduce_prod",
    "reduce_l1",
    "reduce_l2",
    "reduce_log_sum",
    "reduce_log_sum_exp",
    "argmax",
    "argmin",
    "instancenorm",
    "group_normalization",
    "layer_normalization",
    "gather",
    "split",
)
# other ops whose case names start like one of OPS
OTHER_OPS = ("test_gather_elements", "test_split_to_sequence")
SELECT = re.compile(rf"^test_({'|'.join(OPS)})(_.*)?$")
PARAMETER_OPS = {
    "Conv",
    "ConvTranspose",
    "BatchNormalization",
    "Resize",
    "Upsample",
    "PRelu",
    "Gemm",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Pad",
    "Dropout",
    "Slice",
    "Clip",
    "InstanceNormalization",
    "GroupNormalization",
    "LayerNormalization",
    "Gather",
    "Split",
    *(f"Reduce{op}" for op in ("Mean", "Max", "Min", "Sum", "SumSquare", "Prod", "L1", "L2")),
    "ReduceLogSum",
    "ReduceLogSumExp",
}

_INT = "integer element type (graphconv is float32)"
_BOOL = "boolean element type (graphconv is float32)"
_EMPTY = "zero-sized input axis (shapes must be positive)"
_IND = "int64 indices as a graph input (graphconv reads them from a MaxPool's Indices output)"
UNSUPPORTED = {
    # integer and non-tensor inputs
    **{
        f"test_{op}_{t}": _INT
        for op in ("add", "sub", "mul", "div")
        for t in ("int8", "int16", "uint8", "uint16", "uint32", "uint64")
    },
    "test_div_int32_trunc": _INT,
    **{
        f"test_{op}_{t}": _INT
        for op in ("max", "min")
        for t in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
    },
    **{
        f"test_pow_types_{t}": _INT
        for t in (
            "float32_int32",
            "float32_int64",
            "float32_uint32",
            "float32_uint64",
            "int32_float32",
            "int32_int32",
            "int64_float32",
            "int64_int64",
        )
    },
    "test_maxpool_2d_uint8": _INT,
    **{f"test_clip_default_int8_{t}": _INT for t in ("min", "max", "inbounds")},
    "test_reduce_max_bool_inputs": _BOOL,
    "test_reduce_min_bool_inputs": _BOOL,
    "test_reduce_max_empty_set_bool": _BOOL,
    **{f"test_{m}_pad": _INT for m in ("edge", "reflect", "wrap")},
    "test_identity_sequence": "sequence input (tensors only)",
    "test_identity_opt": "optional input (tensors only)",
    "test_reshape_allowzero_reordered": _EMPTY,
    **{
        f"test_reduce_{op}_empty_set": _EMPTY
        for op in ("log_sum", "log_sum_exp", "l1", "l2", "max", "min", "prod", "sum", "sum_square")
    },
    "test_reduce_sum_empty_set_non_reduced_axis_zero": _EMPTY,
    "test_split_zero_size_splits_opset13": _EMPTY,
    "test_split_zero_size_splits_opset18": _EMPTY,
    # training-mode outputs
    "test_batchnorm_example_training_mode": "training mode",
    "test_batchnorm_epsilon_training_mode": "training mode",
    "test_dropout_default_mask": "mask output",
    "test_dropout_default_mask_ratio": "mask output",
    "test_maxpool_with_argmax_2d_precomputed_strides": "storage_order 1 (column-major Indices)",
    "test_maxunpool_export_without_output_shape": _IND,
    "test_maxunpool_export_with_output_shape": _IND,
    # shapes graphconv has no tensor for
    "test_pow_bcast_scalar": "rank-0 input (scalar)",
    "test_slice_start_out_of_bounds": "zero-sized output",
}
# align_corners with a fractional scale * in (0.6 * 4 = 2.4, 0.8 * 4 = 3.2): ONNX's expected
# outputs map y -> y (in - 1) / (scale * in - 1) (intended, onnx/onnx#2462); onnxruntime and
# PyTorch use the integer output length, y (in - 1) / (out - 1), and so does graphconv
_ALIGN = "align_corners with the integer output length (onnxruntime, PyTorch)"
FOLLOWS_ONNXRUNTIME = {
    "test_resize_downsample_scales_linear_align_corners": _ALIGN,
    "test_resize_downsample_scales_cubic_align_corners": _ALIGN,
}
# what the frontend's one-line error must contain for each reason above
REFUSAL = {
    _INT: "element type",
    _BOOL: "element type",
    "training mode": "training mode",
    "mask output": "optional output",
    "keep_aspect_ratio_policy": "keep_aspect_ratio_policy",
    "sequence input (tensors only)": "is not a tensor",
    "optional input (tensors only)": "is not a tensor",
    "zero-sized input axis (shapes must be positive)": "no static shape",
    _IND: "element type",
    "rank-0 input (scalar)": "is a scalar",
    "zero-sized output": "zero-sized outputs",
}


@lru_cache(maxsize=1)
def node_cases() -> dict:
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = load_model_tests(kind="node")
    return {
        c.name: c
        for c in cases
        if SELECT.match(c.name)
        and not c.name.endswith(("_expanded", "_expanded_ver18"))
        and not c.name.startswith(OTHER_OPS)
    }


def _bound_constants(model, feeds):
    bind = {}
    for node in model.graph.node:
        if node.op_type in PARAMETER_OPS:
            for t in node.input[1:]:
                if t in feeds:
                    bind[t] = feeds[t]
    return bind


def run_case(case) -> list[str]:
    """Mismatch descriptions (empty when every data set matches). Refusals raise GraphError."""
    model = case.model
    names = [i.name for i in model.graph.input]
    problems = []
    for inputs, expected in case.data_sets:
        feeds = dict(zip(names, inputs))
        bind = _bound_constants(model, feeds)
        graph = load_onnx(model, constants=bind)
        got = gc.run(graph, {k: v for k, v in feeds.items() if k not in bind})
        for out, want in zip([o.name for o in model.graph.output], expected):
            want = np.asarray(want)
            if got[out].shape != want.shape:
                problems.append(f"{out}: shape {got[out].shape} vs {want.shape}")
            elif not np.allclose(got[out], want, rtol=1e-3, atol=1e-7):
                problems.append(f"{out}: max error {np.abs(got[out] - want).max():.3g}")
    return problems


CASE_NAMES = sorted(node_cases())


def test_selection_is_large_and_the_list_names_real_cases():
    assert len(CASE_NAMES) > 150
    assert set(UNSUPPORTED) | set(FOLLOWS_ONNXRUNTIME) <= set(CASE_NAMES)


def _onnxruntime_outputs(case, inputs) -> list[np.ndarray]:
    """onnxruntime on the case's own model (its ir_version lowered to what onnxruntime loads)."""
    from onnx import helper

    from graphconv.validate import run_onnxruntime

    model = type(case.model)()
    model.CopyFrom(case.model)
    model.ir_version = helper.find_min_ir_version_for(list(model.opset_import))
    outs = run_onnxruntime(model, dict(zip([i.name for i in model.graph.input], inputs)))
    return [outs[o.name] for o in model.graph.output]


def _assert_follows_onnxruntime(case):
    """graphconv differs from ONNX's expected output and matches onnxruntime's."""
    assert run_case(case), "matches ONNX's expectation: remove it from FOLLOWS_ONNXRUNTIME"
    model = case.model
    names = [i.name for i in model.graph.input]
    for inputs, _ in case.data_sets:
        feeds = dict(zip(names, inputs))
        bind = _bound_constants(model, feeds)
        got = gc.run(
            load_onnx(model, constants=bind), {k: v for k, v in feeds.items() if k not in bind}
        )
        for out, want in zip(
            [o.name for o in model.graph.output], _onnxruntime_outputs(case, inputs)
        ):
            np.testing.assert_allclose(got[out], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_node_case(name):
    case = node_cases()[name]
    if name in UNSUPPORTED:
        with pytest.raises(gc.GraphError) as info:
            run_case(case)
        message = str(info.value)
        assert "\n" not in message
        reason = UNSUPPORTED[name]
        needle = REFUSAL.get(reason, reason.split(" (")[0].split("/")[0])
        assert needle.split()[0] in message, (reason, message)
        return
    if name in FOLLOWS_ONNXRUNTIME:
        _assert_follows_onnxruntime(case)
        return
    assert run_case(case) == []


def test_unsupported_list_is_exactly_the_failing_set():
    failing = set()
    for name in CASE_NAMES:
        try:
            if run_case(node_cases()[name]):
                failing.add(name)
        except gc.GraphconvError:
            failing.add(name)
    assert failing == set(UNSUPPORTED) | set(FOLLOWS_ONNXRUNTIME)


# ---- the pytorch-converted cases and the light models shipped inside the onnx package -----------


def _disk_data_sets(model_dir: str):
    import glob
    import os

    import onnx
    from onnx import numpy_helper

    def key(p):
        return int(re.search(r"_(\d+)\.pb$", p).group(1))  # input_10 after input_9

    sets = []
    for d in sorted(glob.glob(os.path.join(model_dir, "test_data_set_*"))):
        load = [
            sorted(glob.glob(os.path.join(d, f"{kind}_*.pb")), key=key)
            for kind in ("input", "output")
        ]
        sets.append(
            tuple([numpy_helper.to_array(onnx.load_tensor(f)) for f in files] for files in load)
        )
    return sets


@lru_cache(maxsize=1)
def pytorch_cases() -> dict:
    from onnx.backend.test.loader import load_model_tests

    return {c.name: c for c in load_model_tests(kind="pytorch-converted")}


_OP = "op type {} is not supported"
PYTORCH_UNSUPPORTED = {
    "test_Embedding": "element type int64",
    "test_Embedding_sparse": "element type int64",
}


def test_pytorch_converted_cases_pass_or_are_refused_with_the_listed_reason():
    import onnx

    cases = pytorch_cases()
    assert len(cases) > 60 and set(PYTORCH_UNSUPPORTED) <= set(cases)
    failing = {}
    for name, case in sorted(cases.items()):
        model = onnx.load(f"{case.model_dir}/model.onnx")
        inits = {i.name for i in model.graph.initializer}
        names = [i.name for i in model.graph.input if i.name not in inits]
        try:
            graph = load_onnx(model)
        except gc.GraphError as e:
            assert "\n" not in str(e)
            failing[name] = str(e)
            continue
        sets = _disk_data_sets(case.model_dir)
        assert sets, name
        for inputs, expected in sets:
            got = gc.run(graph, dict(zip(names, inputs)))
            for out, want in zip([o.name for o in model.graph.output], expected):
                assert got[out].shape == want.shape, name
                np.testing.assert_allclose(got[out], want, rtol=1e-3, atol=1e-7, err_msg=name)
    assert set(failing) == set(PYTORCH_UNSUPPORTED)
    for name, message in failing.items():
        assert PYTORCH_UNSUPPORTED[name] in message, (name, message)


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_light_model(name):
    """The light model graphs (constant weights from ConstantOfShape) with ONNX's own expected
    output for its runner's dummy input ``arange(n).reshape(shape) / n``.

    Eight of the nine end in a Softmax over 1000 logits that are equal in exact arithmetic and
    huge (0.47 to 3.7e31; SqueezeNet's are 9.5e9, where a float32 ulp is 1024). Whether the
    output is the expected uniform 0.001 depends on every channel rounding alike, which depends
    on the BLAS kernel. So the logits are compared with onnxruntime (the same model, the same
    input), and the output with the slack their measured difference allows (tests/helpers.py).
    """
    import os

    import onnx
    from onnx import numpy_helper

    folder = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
    model = onnx.load(os.path.join(folder, f"light_{name}.onnx"))
    want = numpy_helper.to_array(
        onnx.load_tensor(os.path.join(folder, f"light_{name}_output_0.pb"))
    )
    graph = load_onnx(model)
    feeds = {}
    for x, spec in graph.inputs.items():
        n = int(np.prod(spec.shape))
        feeds[x] = (np.arange(n).reshape(spec.shape) / n).astype(np.float32)
    out = model.graph.output[0].name
    logits = saturated_outputs(graph).get(out)
    got = gc.run(graph, feeds, outputs=[out] + [logits] * bool(logits))
    assert got[out].shape == want.shape
    if logits is None:  # densenet121 ends in a Convolution
        np.testing.assert_allclose(got[out], want, rtol=1e-3, atol=1e-7)
        return
    ref = onnxruntime_tensors(model, feeds, [logits])[logits]
    np.testing.assert_allclose(got[logits], ref, rtol=1e-3, atol=1e-7)
    assert_saturated_close(
        graph.producer[out], got[out], want, got[logits], ref, rtol=1e-3, atol=1e-7
    )
