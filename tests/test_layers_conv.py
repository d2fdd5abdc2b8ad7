"""Property tests of Convolution and Deconvolution (1-D/2-D/3-D).

Each random configuration is built with explicit random weights, then run three ways: the
graphconv interpreter, onnxruntime on ``to_onnx(graph)``, and the float64 brute-force oracle in
``oracles.py``. All three must agree to a relative error of 1e-4 (max abs error / max |ref|).
"""

import contextlib

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import graphconv as gc
from graphconv import ConvAttrs, DeconvAttrs, GraphBuilder
from graphconv.validate import run_onnxruntime

import oracles as O

TOL = 1e-4
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])

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
        b = draw(st.integers(0, ext + 1))            # pads up to beyond the kernel extent
        e = draw(st.integers(max(0, ext - h - b), max(0, ext - h - b) + ext + 1))
        sp.append(h), pb.append(b), pe.append(e)
    return dict(N=N, C=C, O=Oc, group=g, kernel=k, stride=s, dilation=d, sp=tuple(sp),
                pads_begin=tuple(pb), pads_end=tuple(pe), bias=draw(st.booleans()),
                opset=draw(opsets), seed=draw(st.integers(0, 2**31 - 1)))


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
        room = s[i] * (h - 1) + o + ext - 1          # total crop that leaves >= 1 sample
        b = draw(st.integers(0, min(room, ext + s[i])))   # may exceed d(k-1): crops
        e = draw(st.integers(0, min(room - b, ext + s[i])))
        sp.append(h), pb.append(b), pe.append(e), op.append(o)
    return dict(N=N, C=C, O=Oc, group=g, kernel=k, stride=s, dilation=d, sp=tuple(sp),
                pads_begin=tuple(pb), pads_end=tuple(pe), output_padding=tuple(op),
                bias=draw(st.booleans()), opset=draw(opsets),
                seed=draw(st.integers(0, 2**31 - 1)))


def _data(case, wshape):
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
    O.assert_close(ours, ref, TOL, "interpreter vs oracle")
    model = gc.to_onnx(g, opset=opset)
    theirs = run_onnxruntime(model, {"data": x})[out_name]
    O.assert_close(theirs, ref, TOL, "onnxruntime vs oracle")
    O.assert_close(ours, theirs, TOL, "interpreter vs onnxruntime")


def conv_out_sp(case):
    return tuple(O.conv_out_len(*a) for a in zip(
        case["sp"], case["kernel"], case["stride"], case["dilation"], case["pads_begin"],
        case["pads_end"]))


def deconv_out_sp(case):
    return tuple(O.deconv_out_len(*a) for a in zip(
        case["sp"], case["kernel"], case["stride"], case["dilation"], case["pads_begin"],
        case["pads_end"], case["output_padding"]))


def check_conv(case):
    wshape = (case["O"], case["C"] // case["group"]) + case["kernel"]
    x, w, b = _data(case, wshape)
    out_sp = conv_out_sp(case)
    ref = O.conv_direct(x, w, b, case["stride"], case["dilation"], case["pads_begin"],
                        case["pads_end"], case["group"])
    assert ref.shape == (case["N"], case["O"]) + out_sp
    bld = GraphBuilder("conv", seed=0)
    xin = bld.input("data", x.shape)
    attrs = ConvAttrs(num_output=case["O"], kernel=case["kernel"], stride=case["stride"],
                      dilation=case["dilation"], pads_begin=case["pads_begin"],
                      pads_end=case["pads_end"], group=case["group"], bias=case["bias"])
    params = {"weight": w} if b is None else {"weight": w, "bias": b}
    bld.add("Convolution", xin, attrs, params=params, name="conv")
    _check_three_ways(bld.build(), x, ref, case["opset"])


def check_deconv(case):
    wshape = (case["C"], case["O"] // case["group"]) + case["kernel"]
    x, w, b = _data(case, wshape)
    out_sp = deconv_out_sp(case)
    ref = O.deconv_scatter(x, w, b, case["stride"], case["dilation"], case["pads_begin"],
                           case["pads_end"], case["output_padding"], case["group"])
    assert ref.shape == (case["N"], case["O"]) + out_sp
    bld = GraphBuilder("deconv", seed=0)
    xin = bld.input("data", x.shape)
    attrs = DeconvAttrs(num_output=case["O"], kernel=case["kernel"], stride=case["stride"],
                        dilation=case["dilation"], pads_begin=case["pads_begin"],
                        pads_end=case["pads_end"], output_padding=case["output_padding"],
                        group=case["group"], bias=case["bias"])
    params = {"weight": w} if b is None else {"weight": w, "bias": b}
    bld.add("Deconvolution", xin, attrs, params=params, name="deconv")
    _check_three_ways(bld.build(), x, ref, case["opset"])


# ---- random configurations -----------------------------------------------------------------------

@settings(max_examples=100, **SETTINGS)
@given(conv_case(1))
def test_conv_1d(case):
    note(repr(case))
    assume(min(conv_out_sp(case)) >= 1)
    check_conv(case)


@settings(max_examples=200, **SETTINGS)
@given(conv_case(2))
def test_conv_2d(case):
    note(repr(case))
    assume(min(conv_out_sp(case)) >= 1)
    check_conv(case)


@settings(max_examples=100, **SETTINGS)
@given(conv_case(3))
def test_conv_3d(case):
    note(repr(case))
    assume(min(conv_out_sp(case)) >= 1)
    check_conv(case)


@settings(max_examples=100, **SETTINGS)
@given(deconv_case(1))
def test_deconv_1d(case):
    note(repr(case))
    assume(min(deconv_out_sp(case)) >= 1)
    check_deconv(case)


@settings(max_examples=200, **SETTINGS)
@given(deconv_case(2))
def test_deconv_2d(case):
    note(repr(case))
    assume(min(deconv_out_sp(case)) >= 1)
    check_deconv(case)


@settings(max_examples=100, **SETTINGS)
@given(deconv_case(3))
def test_deconv_3d(case):
    note(repr(case))
    assume(min(deconv_out_sp(case)) >= 1)
    check_deconv(case)


# ---- fixed configurations worth pinning --------------------------------------------------------

def _case(**kw):
    base = dict(N=1, C=2, O=2, group=1, bias=True, opset=17, seed=1)
    base.update(kw)
    n = len(base["sp"])
    for key, default in (("stride", 1), ("dilation", 1), ("pads_begin", 0), ("pads_end", 0),
                         ("output_padding", 0)):
        v = base.get(key, default)
        base[key] = (v,) * n if isinstance(v, int) else tuple(v)
    return base


@pytest.mark.parametrize("case", [
    # the example of the API description
    _case(C=4, O=4, group=2, sp=(6, 7), kernel=(3, 2), stride=(2, 1), dilation=(1, 2),
          pads_begin=(1, 0), pads_end=(2, 3)),
    # depthwise and channel multiplier
    _case(C=3, O=3, group=3, sp=(5, 5), kernel=(3, 3), pads_begin=1, pads_end=1),
    _case(C=3, O=9, group=3, sp=(5, 4), kernel=(2, 3), stride=2, pads_begin=(0, 2), pads_end=1),
    # pads far beyond the kernel: outputs that see only padding are just the bias
    _case(sp=(3,), kernel=(1,), pads_begin=3, pads_end=4, stride=2),
    # 3-D anisotropic
    _case(C=2, O=4, group=2, sp=(3, 4, 5), kernel=(1, 2, 3), stride=(1, 2, 3), dilation=(2, 1, 1),
          pads_begin=(0, 1, 2), pads_end=(1, 0, 3)),
], ids=["api-example", "depthwise", "multiplier", "pad-only-outputs", "3d"])
def test_conv_fixed(case):
    check_conv(case)


@pytest.mark.parametrize("case", [
    # the example of the API description (conv output 3x7 -> deconv)
    _case(C=4, O=4, group=2, sp=(3, 7), kernel=(4, 3), stride=(2, 3), pads_begin=(1, 0),
          pads_end=(3, 1), output_padding=(1, 2)),
    # classic FCN-style 2x upsampling deconv, depthwise
    _case(C=3, O=3, group=3, sp=(4, 4), kernel=(4, 4), stride=2, pads_begin=1, pads_end=1),
    # output_padding >= stride (allowed because dilation > stride)
    _case(sp=(4,), kernel=(2,), stride=1, dilation=3, output_padding=2),
    _case(sp=(3, 3), kernel=(2, 2), stride=(1, 2), dilation=(3, 3), output_padding=(2, 2),
          pads_end=(1, 0)),
    _case(sp=(3, 3), kernel=(2, 2), stride=(1, 2), dilation=(3, 3), output_padding=(2, 2),
          bias=False),
    # pads beyond the kernel extent crop into the zero-inserted samples
    _case(sp=(3,), kernel=(1,), stride=4, pads_begin=2, pads_end=5),
    _case(C=2, O=6, group=2, sp=(2, 3, 2), kernel=(2, 1, 3), stride=(3, 2, 1), dilation=(1, 2, 2),
          pads_begin=(2, 0, 1), pads_end=(0, 3, 0), output_padding=(2, 1, 1)),
    # output_padding >= stride where pads_begin crops the whole ConvTranspose extent, so the
    # only output samples are the output_padding ones (value: the bias). Valid graph, out = 1.
    _case(C=1, O=1, sp=(1,), kernel=(1,), stride=1, dilation=2, pads_begin=1, output_padding=1),
    _case(C=1, O=1, sp=(1, 5), kernel=(2, 1), stride=(1, 3), dilation=(3, 3), pads_begin=(4, 0),
          pads_end=(0, 1), output_padding=(2, 2)),
], ids=["api-example", "fcn-depthwise", "op-ge-stride-1d", "op-ge-stride-2d-pe",
        "op-ge-stride-2d-nobias", "pads-beyond-extent", "3d", "op-ge-stride-crop-all-1d",
        "op-ge-stride-crop-all-2d"])
def test_deconv_fixed(case):
    check_deconv(case)


# ---- configurations whose output would be empty are rejected -------------------------------------

@st.composite
def empty_conv_case(draw):
    n = draw(st.integers(1, 3))
    k, s, d = _geometry(draw, n)
    axis = draw(st.integers(0, n - 1))
    ext = [d[i] * (k[i] - 1) + 1 for i in range(n)]
    # make one axis too short: H + pb + pe < ext  (needs ext >= 2)
    assume(ext[axis] >= 2)
    sp, pb, pe = [], [], []
    for i in range(n):
        if i == axis:
            total = draw(st.integers(1, ext[i] - 1))          # H + pb + pe
            h = draw(st.integers(1, total))
            b = draw(st.integers(0, total - h))
            sp.append(h), pb.append(b), pe.append(total - h - b)
        else:
            sp.append(ext[i]), pb.append(0), pe.append(0)
    return n, k, s, d, tuple(sp), tuple(pb), tuple(pe)


@settings(max_examples=60, **SETTINGS)
@given(empty_conv_case())
def test_conv_empty_output_is_rejected(case):
    n, k, s, d, sp, pb, pe = case
    assert any(O.conv_out_len(*a) < 1 for a in zip(sp, k, s, d, pb, pe))
    bld = GraphBuilder("bad")
    x = bld.input("data", (1, 2) + sp)
    with pytest.raises(gc.GraphError) as info:
        bld.add("Convolution", x, ConvAttrs(num_output=2, kernel=k, stride=s, dilation=d,
                                            pads_begin=pb, pads_end=pe), name="too_big")
    assert "too_big" in str(info.value)


@st.composite
def empty_deconv_case(draw):
    n = draw(st.integers(1, 3))
    k, s, d = _geometry(draw, n)
    axis = draw(st.integers(0, n - 1))
    sp, pb, pe, op = [], [], [], []
    for i in range(n):
        ext = d[i] * (k[i] - 1) + 1
        h = draw(st.integers(1, 5))
        o = draw(st.integers(0, max(s[i], d[i]) - 1))
        full = s[i] * (h - 1) + o + ext
        if i == axis:       # crop everything (or more)
            total = draw(st.integers(full, full + 3))
            b = draw(st.integers(0, total))
            sp.append(h), pb.append(b), pe.append(total - b), op.append(o)
        else:
            sp.append(h), pb.append(0), pe.append(0), op.append(o)
    return n, k, s, d, tuple(sp), tuple(pb), tuple(pe), tuple(op)


@settings(max_examples=60, **SETTINGS)
@given(empty_deconv_case())
def test_deconv_empty_output_is_rejected(case):
    n, k, s, d, sp, pb, pe, op = case
    assert any(O.deconv_out_len(*a) < 1 for a in zip(sp, k, s, d, pb, pe, op))
    bld = GraphBuilder("bad")
    x = bld.input("data", (1, 2) + sp)
    with pytest.raises(gc.GraphError) as info:
        bld.add("Deconvolution", x, DeconvAttrs(num_output=2, kernel=k, stride=s, dilation=d,
                                                pads_begin=pb, pads_end=pe, output_padding=op),
                name="crops_all")
    assert "crops_all" in str(info.value)


def test_deconv_output_padding_range_checked():
    # 0 <= op < max(stride, dilation)
    DeconvAttrs(num_output=1, kernel=2, stride=1, dilation=3, output_padding=2)
    for kw in (dict(stride=2, output_padding=2), dict(stride=1, dilation=3, output_padding=3),
               dict(stride=2, output_padding=-1)):
        with pytest.raises(ValueError, match="output_padding"):
            DeconvAttrs(num_output=1, kernel=2, **kw)


# ---- the chunked, threaded kernel paths ------------------------------------------------------------
# Real layers are split into row/channel chunks spread over threads; the small cases above run as
# one piece. Shrinking the thresholds makes every case here go through the chunked code.

@contextlib.contextmanager
def tiny_chunks():
    from graphconv.kernels import conv, transposed
    from graphconv.kernels import epilogue as base

    saved = (conv.CHUNK_ELEMENTS, conv.IM2COL_CHUNK, transposed.SERIAL_MACS, conv.ONE_PIECE_MACS,
             conv.MIN_COLUMNS, base.EPILOGUE_BLOCK)
    conv.CHUNK_ELEMENTS, conv.IM2COL_CHUNK, transposed.SERIAL_MACS = 16, 16, 0
    conv.ONE_PIECE_MACS, conv.MIN_COLUMNS, base.EPILOGUE_BLOCK = 0, 1, 16
    try:
        yield
    finally:
        (conv.CHUNK_ELEMENTS, conv.IM2COL_CHUNK, transposed.SERIAL_MACS, conv.ONE_PIECE_MACS,
         conv.MIN_COLUMNS, base.EPILOGUE_BLOCK) = saved


@settings(max_examples=80, **SETTINGS)
@given(conv_case(2))
def test_conv_2d_chunked(case):
    note(repr(case))
    assume(min(conv_out_sp(case)) >= 1)
    with tiny_chunks():
        check_conv(case)


@settings(max_examples=40, **SETTINGS)
@given(conv_case(3))
def test_conv_3d_chunked(case):
    note(repr(case))
    assume(min(conv_out_sp(case)) >= 1)
    with tiny_chunks():
        check_conv(case)


@settings(max_examples=80, **SETTINGS)
@given(deconv_case(2))
def test_deconv_2d_chunked(case):
    note(repr(case))
    assume(min(deconv_out_sp(case)) >= 1)
    with tiny_chunks():
        check_deconv(case)


@pytest.mark.parametrize("shape", [(1, 6, 9, 7), (2, 4, 5, 6)])
def test_depthwise_chunked_multiplier(shape):
    case = dict(N=shape[0], C=shape[1], O=2 * shape[1], group=shape[1], sp=shape[2:],
                kernel=(3, 3), stride=(2, 1), dilation=(1, 2), pads_begin=(1, 2),
                pads_end=(0, 1), bias=True, opset=17, seed=3)
    with tiny_chunks():
        check_conv(case)


@pytest.mark.parametrize("kernel,stride,group,sp", [
    ((2, 2), (2, 2), 1, (5, 7)),         # ENet/ERFNet's final k2 s2: one transposed copy
    ((2, 3), (2, 3), 2, (4, 3)),
    ((3,), (3,), 1, (6,)),
    ((2, 2, 2), (2, 2, 2), 3, (2, 3, 2)),
    ((63, 63), (32, 32), 4, (3, 2)),     # FCN-AlexNet's shape of kernel: padded to 64 taps
])
@pytest.mark.parametrize("chunked", [False, True])
def test_deconv_kernel_multiple_of_stride(kernel, stride, group, sp, chunked):
    n = len(kernel)
    case = dict(N=2, C=2 * group, O=3 * group, group=group, sp=sp, kernel=kernel, stride=stride,
                dilation=(1,) * n, pads_begin=(0,) * n, pads_end=(0,) * n,
                output_padding=(0,) * n, bias=True, opset=17, seed=11)
    with tiny_chunks() if chunked else contextlib.nullcontext():
        check_deconv(case)


def test_deconv_kernel_below_stride_fills_the_gaps():
    # k 2 < s 4 with output padding that makes the output exactly S*s long: the direct path
    # must write the zero taps (positions 2 and 3 of each stride block) too
    case = dict(N=1, C=2, O=2, group=1, sp=(4,), kernel=(2,), stride=(4,), dilation=(1,),
                pads_begin=(0,), pads_end=(1,), output_padding=(3,), bias=False, opset=13,
                seed=830332)
    check_deconv(case)


# ---- depthwise by blocks of channels (_depthwise): flat runs at stride 1, im2col blocks else -----

@pytest.mark.parametrize("N,mult,kernel,stride,dilation,sp,pads", [
    (1, 1, (3, 3), (1, 1), (1, 1), (14, 14), (1, 1)),    # MobileNet's stride-1 block
    (2, 2, (3, 5), (1, 1), (2, 1), (13, 17), (2, 3)),    # multiplier, dilated rows
    (1, 1, (5, 5), (1, 1), (2, 2), (9, 12), (4, 4)),     # dilated, padded beyond the input
    (1, 3, (1, 3), (1, 1), (1, 1), (10, 11), (0, 1)),
    (1, 1, (3, 1), (1, 1), (3, 1), (10, 11), (3, 0)),    # 3x1, dilated
    (2, 1, (4,), (1,), (2,), (29,), (3,)),
    (1, 2, (3, 2, 3), (1, 1, 1), (1, 1, 2), (5, 6, 7), (1, 0, 2)),
    (1, 1, (3, 9), (1, 1), (1, 1), (6, 10), (1, 0)),     # 5x the work computed flat: im2col
    (1, 1, (3, 3), (2, 2), (1, 1), (15, 14), (1, 1)),    # MobileNet's stride-2 block
    (2, 2, (3, 5), (2, 3), (2, 1), (13, 17), (2, 3)),    # strided, multiplier, dilated
    (1, 1, (2, 3, 3), (1, 2, 1), (1, 1, 2), (5, 7, 9), (1, 0, 2)),
])
def test_depthwise_path(monkeypatch, N, mult, kernel, stride, dilation, sp, pads):
    """One-channel-per-group convolutions take the blocked depthwise kernel (checked by a spy):
    against conv_direct and onnxruntime, whole and in blocks of one channel."""
    from graphconv.kernels import conv
    calls = []
    real = conv._depthwise
    monkeypatch.setattr(conv, "_depthwise", lambda *a: calls.append(1) or real(*a))
    C = 5
    case = dict(N=N, C=C, O=mult * C, group=C, sp=sp, kernel=kernel, stride=stride,
                dilation=dilation, pads_begin=pads, pads_end=tuple(p // 2 for p in pads),
                bias=True, opset=17, seed=11)
    check_conv(case)
    with tiny_chunks():
        check_conv(case)
    assert len(calls) == 2
