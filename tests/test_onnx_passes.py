"""The rewrite passes on ONNX models: the nine light model graphs shipped inside the onnx package
and the ONNX backend node cases that contain a pass's pattern (ConvTranspose, nearest
Upsample / Resize; linear, cubic and nearest Resize for resize-to-conv and bilinear-to-deconv).
Each lowered graph is checked against ONNX's own expected outputs and
against onnxruntime running the exported lowered model (``gc.validate``).
"""

from __future__ import annotations

import os
import warnings
from functools import lru_cache

import numpy as np
import pytest
from helpers import LIGHT_MODELS, assert_saturated_close, onnxruntime_tensors, saturated_outputs

import graphconv as gc
from graphconv import passes
from graphconv.frontends.onnx import load_onnx

LOWER = [
    "deconv-to-conv",
    "upsample-to-deconv",
    "deconv-to-conv",
    "fold-batchnorm",
    "dilated-to-dense",
]
OTHERS = [
    "upsample-to-deconv",
    "deconv-to-subpixel",
    "split-separable",
    "fold-batchnorm",
    "eliminate-identity",
]
PIPELINES = {"lower": LOWER, "subpixel": OTHERS}
PATTERN = {"Deconvolution", "Upsample"}  # what the lowering passes replace


def _structure(graph):
    return [(layer.type, layer.inputs, layer.outputs) for layer in graph.layers]


def _check_validates(graph, feeds):
    """Every output agrees with onnxruntime, except that an output of a Softmax, Sigmoid or TanH
    may differ by what its logits' rounding explains (see tests/helpers.py): then its logits
    (validated as an extra output) must agree and every layer, the saturating one included,
    must agree on identical inputs."""
    saturated = saturated_outputs(graph)
    outputs = tuple(dict.fromkeys(graph.outputs + tuple(saturated.values())))
    report = gc.validate(graph.replace(outputs=outputs), feeds)
    for check in report.outputs:
        assert check.ok or (check.name in saturated and report.layerwise_ok), report.lines()


def _light(name):
    import onnx
    from onnx import numpy_helper

    folder = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
    model = onnx.load(os.path.join(folder, f"light_{name}.onnx"))
    want = numpy_helper.to_array(
        onnx.load_tensor(os.path.join(folder, f"light_{name}_output_0.pb"))
    )
    return model, want


@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_passes_on_light_models(name):
    model, want = _light(name)
    graph = load_onnx(model)
    feeds = {
        x: (np.arange(int(np.prod(s.shape))).reshape(s.shape) / np.prod(s.shape)).astype(np.float32)
        for x, s in graph.inputs.items()
    }
    out = model.graph.output[0].name
    # eight of the nine end in a Softmax over huge tied logits: compare the logits with
    # onnxruntime and the output with the slack their difference allows (tests/helpers.py)
    logits = saturated_outputs(graph).get(out)
    ref = onnxruntime_tensors(model, feeds, [logits])[logits] if logits else None
    before = _structure(graph)
    for names in PIPELINES.values():
        lowered = passes.apply(graph, names)
        assert not PATTERN & set(lowered.count_types())
        if names is LOWER:  # one onnxruntime check per model keeps the file fast
            _check_validates(lowered, feeds)
        elif _structure(lowered) == before:
            continue  # nothing rewritten: test_onnx_conformance checks this graph already
        if logits is None:
            np.testing.assert_allclose(gc.run(lowered, feeds)[out], want, rtol=1e-3, atol=1e-6)
            continue
        got = gc.run(lowered, feeds, outputs=[out, logits])
        np.testing.assert_allclose(got[logits], ref, rtol=1e-3, atol=1e-6)
        assert_saturated_close(
            lowered.producer[out], got[out], want, got[logits], ref, rtol=1e-3, atol=1e-6
        )


@lru_cache(maxsize=1)
def _pattern_cases() -> dict:
    """Node cases whose imported graph contains a Deconvolution or a nearest Upsample."""
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = load_model_tests(kind="node")
    out = {}
    for c in cases:
        if not c.name.startswith(("test_convtranspose", "test_upsample", "test_resize")):
            continue
        if c.name.endswith(("_expanded", "_expanded_ver18")):
            continue
        try:
            graph, _, _ = _load_case(c, c.data_sets[0])
        except gc.GraphconvError:
            continue  # refused: listed in test_onnx_conformance.UNSUPPORTED
        if PATTERN & set(graph.count_types()):
            out[c.name] = c
    return out


def _load_case(case, data_set):
    names = [i.name for i in case.model.graph.input]
    feeds = dict(zip(names, data_set[0]))
    first = case.model.graph.node[0].input[0]
    bind = {k: v for k, v in feeds.items() if k != first}  # weights, scales, sizes
    graph = load_onnx(case.model, constants=bind)
    return graph, {first: feeds[first]}, data_set[1]


def test_the_pattern_cases_are_found():
    names = set(_pattern_cases())
    assert {
        "test_convtranspose",
        "test_convtranspose_3d",
        "test_convtranspose_group_2",
        "test_upsample_nearest",
        "test_resize_upsample_scales_nearest",
    } <= names
    assert len(names) >= 15


@pytest.mark.parametrize("pipeline", sorted(PIPELINES))
def test_passes_on_node_cases_with_their_pattern(pipeline):
    for name, case in sorted(_pattern_cases().items()):
        for data_set in case.data_sets:
            graph, feeds, expected = _load_case(case, data_set)
            lowered = passes.apply(graph, PIPELINES[pipeline])
            left = PATTERN & set(lowered.count_types())
            if pipeline == "lower":
                assert not left, (name, left)
            got = gc.run(lowered, feeds)
            for out, want in zip([o.name for o in case.model.graph.output], expected):
                np.testing.assert_allclose(got[out], want, rtol=1e-3, atol=1e-6, err_msg=name)
            _check_validates(lowered, feeds)


@lru_cache(maxsize=1)
def _resize_cases() -> list:
    """(name, imported graph, feeds, ONNX's expected output) of every Resize / Upsample node
    case that imports as a Resize or Interp (the others are refused, listed in
    test_onnx_conformance, or import as Upsample)."""
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = load_model_tests(kind="node")
    out = []
    for c in cases:
        if not c.name.startswith(("test_resize", "test_upsample")) or "expanded" in c.name:
            continue
        names = [i.name for i in c.model.graph.input]
        for inputs, expected in c.data_sets:
            feeds = dict(zip(names, inputs))
            first = c.model.graph.node[0].input[0]
            bind = {k: v for k, v in feeds.items() if k != first}
            try:
                graph = load_onnx(c.model, constants=bind)
            except gc.GraphconvError:
                continue  # refused at import (listed in test_onnx_conformance)
            if not {"Resize", "Interp"} & set(graph.count_types()):
                continue
            out.append((c.name, graph, {first: feeds[first]}, np.asarray(expected[0])))
    return out


def test_the_resize_cases_are_found():
    names = {name for name, *_ in _resize_cases()}
    assert len(names) >= 20
    assert {
        "test_resize_upsample_scales_linear_align_corners",
        "test_resize_upsample_scales_cubic",
    } <= names


@pytest.mark.parametrize("spec", ["resize-to-conv", "bilinear-to-deconv"])
def test_resize_lowerings_match_onnx_expected_outputs(spec):
    """resize-to-conv and bilinear-to-deconv against the cases' expected outputs (ONNX's
    reference); where graphconv's import follows onnxruntime instead (test_onnx_conformance),
    against the imported original. Tolerance 1e-5: O(1-10) values, the same few products per
    output summed in float32 against ONNX's float64 reference rounded once."""
    lowered_count = 0
    for name, graph, feeds, expected in _resize_cases():
        after = passes.apply(graph, [spec])
        if {"Resize", "Interp"} & set(after.count_types()):
            assert any(f"{spec}: left" in n for n in after.notes), name
            continue
        lowered_count += 1
        out = graph.outputs[0]
        got = gc.run(after, feeds)[out]
        original = gc.run(graph, feeds)[out]
        ref = expected if np.allclose(original, expected, rtol=1e-3, atol=1e-7) else original
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5, err_msg=name)
    # resize-to-conv lowers every case but extrapolating crop-and-resize; bilinear-to-deconv
    # the linear upsampling cases by integer factors
    assert lowered_count >= (20 if spec == "resize-to-conv" else 2), lowered_count
