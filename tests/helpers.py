"""Small helpers shared by several test files (no test imports another test).

Brute-force NumPy definitions (the oracles) live in the ``oracles`` package; this module holds
the machinery around them: paths, running a graph three ways, writing prototxt files, the random
convolution cases several files draw from, the command line in a subprocess.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import oracles as O
import pytest
from hypothesis import HealthCheck
from hypothesis import strategies as st

import graphconv as gc
from graphconv import ConvAttrs, DeconvAttrs, GraphBuilder
from graphconv.validate import run_onnxruntime

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT.parent / "shared" / "caffe-zoo"
IN_CI = os.environ.get("CI", "").lower() == "true"

OPSETS = (13, 17, 21)
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def zoo_files() -> list[Path]:
    """The real Caffe prototxt files, or a skip (a failure under CI) when the folder is absent."""
    if not ZOO.is_dir():
        if IN_CI:
            pytest.fail(f"{ZOO} is missing: the caffe-zoo tests cannot run under CI")
        pytest.skip(f"{ZOO} is absent (a clone without ../shared); caffe-zoo tests skipped")
    return sorted(ZOO.glob("*.prototxt"))


# ---- running a graph: interpreter and onnxruntime against a reference ---------------------------


def check(g, feeds, refs, *, opsets=OPSETS, tol=1e-4, exact=False, allclose=False, onnx=True):
    """The interpreter and onnxruntime (at each opset in ``opsets``) both match the reference.

    ``feeds``: an array (fed to the graph's only input) or a dict input name -> array.
    ``refs``: an array (the graph's first output) or a dict tensor -> expected array; tensors
    that are not graph outputs are requested as intermediate outputs from both runtimes.
    Comparison: bit-exact when ``exact``; else ``np.testing.assert_allclose(rtol=tol, atol=tol)``
    when ``allclose``; else ``oracles.assert_close`` (max abs error relative to max |ref|).
    ``onnx=False`` runs the interpreter only. The interpreter must not write into its inputs and
    must return float32.
    """
    if isinstance(feeds, np.ndarray):
        (name,) = g.inputs
        feeds = {name: feeds}
    if isinstance(refs, np.ndarray):
        refs = {g.outputs[0]: refs}
    names = list(refs)
    extra = [n for n in names if n not in g.outputs]

    def compare(got, who):
        for name, ref in refs.items():
            assert got[name].shape == ref.shape, (who, name, got[name].shape, ref.shape)
            msg = f"{who} {name}"
            if exact:
                np.testing.assert_array_equal(got[name], ref, err_msg=msg)
            elif allclose:
                np.testing.assert_allclose(got[name], ref, rtol=tol, atol=tol, err_msg=msg)
            else:
                O.assert_close(got[name], ref, tol, msg)

    for name, ref in refs.items():
        assert g.specs[name].shape == ref.shape, (name, g.specs[name].shape, ref.shape)
    before = {k: np.array(v, copy=True) for k, v in feeds.items()}
    ours = gc.run(g, feeds, outputs=names)
    for k, v in before.items():
        np.testing.assert_array_equal(feeds[k], v, err_msg=f"the kernel wrote into input {k}")
    for name in names:
        assert ours[name].dtype == np.float32, (name, ours[name].dtype)
    compare(ours, "interpreter")
    if not onnx:
        return
    for opset in opsets:
        model = (
            gc.to_onnx(g, opset=opset, extra_outputs=extra) if extra else gc.to_onnx(g, opset=opset)
        )
        compare(run_onnxruntime(model, feeds), f"onnxruntime opset {opset}")


def write(tmp_path, text, name="net.prototxt", inputs=None):
    """Write a prototxt ``tmp_path/name``; ``inputs`` (name -> shape) prepends ``input:`` and
    ``input_dim:`` lines for each."""
    head = "".join(
        f'input: "{n}" ' + "".join(f"input_dim: {d} " for d in s) + "\n"
        for n, s in (inputs or {}).items()
    )
    p = tmp_path / name
    p.write_text(head + text)
    return p


# ---- the command line in a subprocess -----------------------------------------------------------


def cli(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "graphconv.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        timeout=300,
    )


def one_line_error(proc) -> str:
    assert proc.returncode == 2, proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


# ---- comparing outputs behind a saturating last layer --------------------------------------------
#
# A network ending in Softmax (or Sigmoid, TanH) turns float32 rounding in its logits into output
# differences that say nothing about correctness. Softmax depends only on differences of logits:
# if logits z are perturbed by e, every probability changes by at most the factor exp(ptp(e))
# (ptp over the softmax axis), since p_i(z + e) = p_i(z) exp(e_i) / sum_j p_j(z) exp(e_j).
# ONNX's light SqueezeNet has 1000 tied logits of 9.5e9, where one float32 ulp is 1024: a GEMM
# kernel that rounds one channel differently moves the output from 0.001 to 0.024, both correct.
# The rule, wherever an output comes from such a layer:
#   1. the logits are compared with the oracle at the usual tolerance (they are sums: well
#      conditioned relative to their scale);
#   2. the layer itself is checked on the interpreter's own logits against its float64
#      definition (identical inputs, so only the layer's own rounding counts);
#   3. the output is compared with the oracle's at the usual tolerance plus the slack the measured
#      logit discrepancy allows (zero when the logits agree up to a common shift).

SATURATING = ("Softmax", "Sigmoid", "TanH")


def saturated_outputs(graph) -> dict[str, str]:
    """Graph outputs produced by a Softmax, Sigmoid or TanH layer -> that layer's input."""
    return {
        t: graph.producer[t].inputs[0]
        for t in graph.outputs
        if graph.producer[t].type in SATURATING
    }


def saturation(layer, z: np.ndarray) -> np.ndarray:
    """The layer's float64 definition applied to ``z``."""
    z = np.asarray(z, dtype=np.float64)
    if layer.type == "Softmax":
        e = np.exp(z - z.max(axis=layer.attrs.axis, keepdims=True))
        return e / e.sum(axis=layer.attrs.axis, keepdims=True)
    return 1 / (1 + np.exp(-z)) if layer.type == "Sigmoid" else np.tanh(z)


def saturation_slack(layer, ref_out, got_z, ref_z) -> np.ndarray:
    """Elementwise bound on how far the layer's output moves when its input goes from ``ref_z``
    (whose output is ``ref_out``) to ``got_z``."""
    e = np.asarray(got_z, dtype=np.float64) - np.asarray(ref_z, dtype=np.float64)
    if layer.type == "Softmax":  # only logit differences matter: a common shift cancels
        # p_i(z + e) <= p_i(z) exp(ptp e); a probability rounded to 0 in float32 was below the
        # smallest subnormal; two probabilities never differ by more than 1
        grow = np.expm1(np.minimum(np.ptp(e, axis=layer.attrs.axis, keepdims=True), 200.0))
        tiny = np.finfo(np.float32).smallest_subnormal
        return np.minimum((np.abs(ref_out) + tiny) * grow, 1.0)
    return np.abs(e) * (0.25 if layer.type == "Sigmoid" else 1.0)  # max slope 1/4, 1


def assert_saturated_close(layer, got, want, got_z, ref_z, *, rtol: float, atol: float):
    """Steps 2 and 3 above for the output ``got`` of ``layer`` (computed from ``got_z``) against
    the oracle's output ``want`` (computed from ``ref_z``); step 1 is the caller's comparison."""
    np.testing.assert_allclose(
        got,
        saturation(layer, got_z),
        rtol=rtol,
        atol=atol,
        err_msg=f"layer '{layer.name}' on the interpreter's own input",
    )
    want = np.asarray(want, dtype=np.float64)
    err = np.abs(np.asarray(got, dtype=np.float64) - want)
    slack = saturation_slack(layer, want, got_z, ref_z)
    bound = atol + rtol * np.abs(want) + slack
    worst = np.unravel_index(np.argmax(err - bound), err.shape)
    assert np.all(err <= bound), (
        f"layer '{layer.name}' ({layer.type}): error {err[worst]:.3g} at {worst} exceeds "
        f"{bound[worst]:.3g} (of which {slack[worst]:.3g} from the logit discrepancy)"
    )


def onnxruntime_tensors(model, feeds: dict, names) -> dict[str, np.ndarray]:
    """Any tensors of the ONNX ``model`` (graph outputs or intermediate), run by onnxruntime."""
    import onnx
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    m.graph.output.extend(
        onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None)
        for t in names
        if t not in have
    )
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return dict(zip(names, sess.run(list(names), feeds)))


# ---- random Convolution / Deconvolution cases, run three ways -----------------------------------
# (interpreter, onnxruntime, float64 oracle), agreeing to a relative error of CONV_TOL.

CONV_TOL = 1e-4

# opset: mostly the default, sometimes anything the exporter supports
opsets = st.one_of(st.just(17), st.integers(13, 21))


@st.composite
def channels(draw):
    """(C, O, group) covering plain, grouped, depthwise and channel-multiplier convolutions."""
    mode = draw(st.sampled_from(["plain", "grouped", "depthwise", "multiplier"]))
    if mode == "plain":
        return draw(st.integers(1, 6)), draw(st.integers(1, 6)), 1
    if mode == "grouped":
        g = draw(st.integers(2, 3))
        return g * draw(st.integers(1, 6 // g)), g * draw(st.integers(1, 6 // g)), g
    c = draw(st.integers(1, 6))
    if mode == "depthwise":
        return c, c, c
    return c, c * draw(st.integers(2, 3)), c


def _geometry(draw, n):
    kmax = 4 if n < 3 else 3
    k = tuple(draw(st.integers(1, kmax)) for _ in range(n))
    s = tuple(draw(st.integers(1, 4)) for _ in range(n))
    d = tuple(draw(st.integers(1, 3)) for _ in range(n))
    return k, s, d


@st.composite
def conv_case(draw, n):
    N = draw(st.integers(1, 2))
    C, Oc, g = draw(channels())
    k, s, d = _geometry(draw, n)
    maxsp = 9 if n < 3 else 5
    sp, pb, pe = [], [], []
    for i in range(n):
        ext = d[i] * (k[i] - 1) + 1
        h = draw(st.integers(1, maxsp))
        b = draw(st.integers(0, ext + 1))  # pads up to beyond the kernel extent
        e = draw(st.integers(max(0, ext - h - b), max(0, ext - h - b) + ext + 1))
        sp.append(h), pb.append(b), pe.append(e)
    return dict(
        N=N,
        C=C,
        O=Oc,
        group=g,
        kernel=k,
        stride=s,
        dilation=d,
        sp=tuple(sp),
        pads_begin=tuple(pb),
        pads_end=tuple(pe),
        bias=draw(st.booleans()),
        opset=draw(opsets),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


@st.composite
def deconv_case(draw, n):
    N = draw(st.integers(1, 2))
    C, Oc, g = draw(channels())
    k, s, d = _geometry(draw, n)
    maxsp = 9 if n < 3 else 5
    sp, pb, pe, op = [], [], [], []
    for i in range(n):
        ext = d[i] * (k[i] - 1) + 1
        h = draw(st.integers(1, maxsp))
        o = draw(st.integers(0, max(s[i], d[i]) - 1))
        room = s[i] * (h - 1) + o + ext - 1  # total crop that leaves >= 1 sample
        b = draw(st.integers(0, min(room, ext + s[i])))  # may exceed d(k-1): crops
        e = draw(st.integers(0, min(room - b, ext + s[i])))
        sp.append(h), pb.append(b), pe.append(e), op.append(o)
    return dict(
        N=N,
        C=C,
        O=Oc,
        group=g,
        kernel=k,
        stride=s,
        dilation=d,
        sp=tuple(sp),
        pads_begin=tuple(pb),
        pads_end=tuple(pe),
        output_padding=tuple(op),
        bias=draw(st.booleans()),
        opset=draw(opsets),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


def case_data(case, wshape):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["N"], case["C"]) + case["sp"]).astype(np.float32)
    w = rng.standard_normal(wshape).astype(np.float32)
    b = rng.standard_normal(case["O"]).astype(np.float32) if case["bias"] else None
    return x, w, b


def _check_three_ways(g, x, ref, opset):
    out_name = g.outputs[0]
    assert g.specs[out_name].shape == ref.shape, (g.specs[out_name].shape, ref.shape)
    ours = gc.run(g, {"data": x})[out_name]
    assert ours.dtype == np.float32
    O.assert_close(ours, ref, CONV_TOL, "interpreter vs oracle")
    model = gc.to_onnx(g, opset=opset)
    theirs = run_onnxruntime(model, {"data": x})[out_name]
    O.assert_close(theirs, ref, CONV_TOL, "onnxruntime vs oracle")
    O.assert_close(ours, theirs, CONV_TOL, "interpreter vs onnxruntime")


def conv_out_sp(case):
    return tuple(
        O.conv_out_len(*a)
        for a in zip(
            case["sp"],
            case["kernel"],
            case["stride"],
            case["dilation"],
            case["pads_begin"],
            case["pads_end"],
        )
    )


def deconv_out_sp(case):
    return tuple(
        O.deconv_out_len(*a)
        for a in zip(
            case["sp"],
            case["kernel"],
            case["stride"],
            case["dilation"],
            case["pads_begin"],
            case["pads_end"],
            case["output_padding"],
        )
    )


def check_conv(case):
    wshape = (case["O"], case["C"] // case["group"]) + case["kernel"]
    x, w, b = case_data(case, wshape)
    out_sp = conv_out_sp(case)
    ref = O.conv_direct(
        x,
        w,
        b,
        case["stride"],
        case["dilation"],
        case["pads_begin"],
        case["pads_end"],
        case["group"],
    )
    assert ref.shape == (case["N"], case["O"]) + out_sp
    bld = GraphBuilder("conv", seed=0)
    xin = bld.input("data", x.shape)
    attrs = ConvAttrs(
        num_output=case["O"],
        kernel=case["kernel"],
        stride=case["stride"],
        dilation=case["dilation"],
        pads_begin=case["pads_begin"],
        pads_end=case["pads_end"],
        group=case["group"],
        bias=case["bias"],
    )
    params = {"weight": w} if b is None else {"weight": w, "bias": b}
    bld.add("Convolution", xin, attrs, params=params, name="conv")
    _check_three_ways(bld.build(), x, ref, case["opset"])


def deconv_attrs(case) -> DeconvAttrs:
    """The DeconvAttrs a ``deconv_case`` describes."""
    return DeconvAttrs(
        num_output=case["O"],
        kernel=case["kernel"],
        stride=case["stride"],
        dilation=case["dilation"],
        pads_begin=case["pads_begin"],
        pads_end=case["pads_end"],
        output_padding=case["output_padding"],
        group=case["group"],
        bias=case["bias"],
    )


def deconv_reference(case, x, w, b):
    """The brute-force transposed convolution (``oracles.deconv_scatter``) with a case's
    geometry."""
    return O.deconv_scatter(
        x, w, b, case["stride"], case["dilation"], case["pads_begin"], case["pads_end"],
        case["output_padding"], case["group"],
    )  # fmt: skip


def check_deconv(case):
    wshape = (case["C"], case["O"] // case["group"]) + case["kernel"]
    x, w, b = case_data(case, wshape)
    out_sp = deconv_out_sp(case)
    ref = deconv_reference(case, x, w, b)
    assert ref.shape == (case["N"], case["O"]) + out_sp
    bld = GraphBuilder("deconv", seed=0)
    xin = bld.input("data", x.shape)
    attrs = deconv_attrs(case)
    params = {"weight": w} if b is None else {"weight": w, "bias": b}
    bld.add("Deconvolution", xin, attrs, params=params, name="deconv")
    _check_three_ways(bld.build(), x, ref, case["opset"])


@contextlib.contextmanager
def tiny_chunks():
    from graphconv.kernels import conv, transposed
    from graphconv.kernels import epilogue as base

    saved = (
        conv.CHUNK_ELEMENTS,
        conv.IM2COL_CHUNK,
        transposed.SERIAL_MACS,
        conv.ONE_PIECE_MACS,
        conv.MIN_COLUMNS,
        base.EPILOGUE_BLOCK,
    )
    conv.CHUNK_ELEMENTS, conv.IM2COL_CHUNK, transposed.SERIAL_MACS = 16, 16, 0
    conv.ONE_PIECE_MACS, conv.MIN_COLUMNS, base.EPILOGUE_BLOCK = 0, 1, 16
    try:
        yield
    finally:
        (
            conv.CHUNK_ELEMENTS,
            conv.IM2COL_CHUNK,
            transposed.SERIAL_MACS,
            conv.ONE_PIECE_MACS,
            conv.MIN_COLUMNS,
            base.EPILOGUE_BLOCK,
        ) = saved


# ONNX's light models (onnx/backend/test/data/light), used by the conformance and pass tests
LIGHT_MODELS = (
    "bvlc_alexnet",
    "densenet121",
    "inception_v1",
    "inception_v2",
    "resnet50",
    "shufflenet",
    "squeezenet",
    "vgg19",
    "zfnet512",
)


# ---- loading a real model quickly when its weight values do not matter -------------------------


class _MidRng:
    """Stands in for the seeded generators of a Caffe load: zeros for normal draws, the middle
    of the interval for uniform ones (no random numbers drawn)."""

    def standard_normal(self, size=None, dtype=np.float64):
        return np.zeros(size, dtype)

    def uniform(self, low=0.0, high=1.0, size=None):
        return np.full(size, (low + high) / 2)

    def random(self, size=None, dtype=np.float64):
        return np.full(size, 0.5, dtype)


def load_unweighted(path, input_shapes=None):
    """``gc.load`` of a prototxt without drawing its filler weights (fcn8s's fc6 alone is 100M
    normal draws, 10 s): shapes, MACs, drawings and receptive fields do not depend on them."""
    from unittest import mock

    def zeros(shape, fan_in, rng):
        z = np.zeros(shape, np.float32)  # untouched pages: no memory until read
        z.flags.writeable = False  # so the Layer keeps it instead of copying
        return z

    with (
        mock.patch("graphconv.frontends.caffe.reader.seeded_rng", lambda *a: _MidRng()),
        mock.patch("graphconv.registry.he_init", zeros),
        mock.patch("graphconv.frontends.caffe.fillers.he_init", zeros),
    ):
        return gc.load(path, input_shapes=input_shapes, caffe_fork=fork_of(path))


def fork_of(path) -> str | None:
    """The Caffe fork a caffe-zoo file was written for (None: BVLC): YOLOv3-tiny's pooling keeps
    13 as 13 only under the caffe-yolov3 fork's rounding (frontends/caffe/forks.py)."""
    return "caffe-yolov3" if Path(path).name.startswith("ChenYingpeng__caffe-yolov3") else None


# ---- the lowering passes' tests: one layer, its oracle, the export's ops and ranks --------------


def one_layer_graph(layer_type, attrs, shape, params=None, name="layer"):
    """A graph of one ``layer_type`` layer reading the input ``data`` of ``shape``."""
    b = GraphBuilder("g")
    b.add(layer_type, b.input("data", shape), attrs, params=params, name=name)
    return b.build()


def onnx_ops_and_rank(model) -> tuple[set[str], int]:
    """The op types of an exported model and the largest rank of any tensor in it (inputs,
    outputs, initializers and every inferred intermediate)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True).graph
    values = [*inferred.input, *inferred.output, *inferred.value_info]
    ranks = [len(v.type.tensor_type.shape.dim) for v in values]
    ranks += [len(t.dims) for t in model.graph.initializer]
    return {n.op_type for n in model.graph.node}, max(ranks)


def lowering_three_ways(before, after, x, ref, tol=1e-5, opset=17, exact=False):
    """interpreter(before), interpreter(after) and onnxruntime(export(after)) against ``ref``;
    bit-equal when ``exact``. Returns the exported model."""
    out = before.outputs[0]
    assert after.outputs == before.outputs
    model = gc.to_onnx(after, opset=opset)
    got = {
        "before": gc.run(before, {"data": x})[out],
        "after": gc.run(after, {"data": x})[out],
        "onnxruntime(after)": run_onnxruntime(model, {"data": x})[out],
    }
    for what, y in got.items():
        assert y.shape == ref.shape, (what, y.shape, ref.shape)
        if exact:
            np.testing.assert_array_equal(y, ref, err_msg=what)
        else:
            O.assert_close(y, ref, tol, f"{what} vs oracle")
    return model


def integer_deconv_case(case):
    """(graph, x, oracle output, weight) of a ``deconv_case`` with small-integer input, weights
    and bias: every sum is an integer below 2**24, exact in float32 in any order."""
    rng = np.random.default_rng(case["seed"])
    x = rng.integers(-2, 3, (case["N"], case["C"]) + case["sp"]).astype(np.float32)
    w = rng.integers(-2, 3, (case["C"], case["O"] // case["group"]) + case["kernel"])
    w = w.astype(np.float32)
    b = rng.integers(-2, 3, case["O"]).astype(np.float32) if case["bias"] else None
    params = {"weight": w, **({"bias": b} if b is not None else {})}
    g = one_layer_graph("Deconvolution", deconv_attrs(case), x.shape, params)
    return g, x, deconv_reference(case, x, w, b), w


def integer_conv_case(case):
    """(graph, x, oracle output) of a ``conv_case`` with small-integer data (exact sums)."""
    rng = np.random.default_rng(case["seed"])
    x = rng.integers(-2, 3, (case["N"], case["C"]) + case["sp"]).astype(np.float32)
    w = rng.integers(-2, 3, (case["O"], case["C"] // case["group"]) + case["kernel"])
    w = w.astype(np.float32)
    b = rng.integers(-2, 3, case["O"]).astype(np.float32) if case["bias"] else None
    fields = ("kernel", "stride", "dilation", "pads_begin", "pads_end", "group", "bias")
    attrs = ConvAttrs(num_output=case["O"], **{k: case[k] for k in fields})
    params = {"weight": w, **({"bias": b} if b is not None else {})}
    g = one_layer_graph("Convolution", attrs, x.shape, params)
    keys = ("stride", "dilation", "pads_begin", "pads_end", "group")
    return g, x, O.conv_direct(x, w, b, *(case[k] for k in keys))
