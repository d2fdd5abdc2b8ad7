"""Property tests of Convolution and Deconvolution (1-D/2-D/3-D).

Each random configuration is built with explicit random weights, then run three ways: the
graphconv interpreter, onnxruntime on ``to_onnx(graph)``, and the float64 brute-force oracle in
``oracles.py``. All three must agree to a relative error of 1e-4 (max abs error / max |ref|).
"""

import contextlib

import oracles as O
import pytest
from helpers import (
    SETTINGS,
    _geometry,
    check_conv,
    check_deconv,
    conv_case,
    conv_out_sp,
    deconv_case,
    deconv_out_sp,
    tiny_chunks,
)
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

import graphconv as gc
from graphconv import ConvAttrs, DeconvAttrs, GraphBuilder

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
    for key, default in (
        ("stride", 1),
        ("dilation", 1),
        ("pads_begin", 0),
        ("pads_end", 0),
        ("output_padding", 0),
    ):
        v = base.get(key, default)
        base[key] = (v,) * n if isinstance(v, int) else tuple(v)
    return base


@pytest.mark.parametrize(
    "case",
    [
        # the example of the API description
        _case(
            C=4,
            O=4,
            group=2,
            sp=(6, 7),
            kernel=(3, 2),
            stride=(2, 1),
            dilation=(1, 2),
            pads_begin=(1, 0),
            pads_end=(2, 3),
        ),
        # depthwise and channel multiplier
        _case(C=3, O=3, group=3, sp=(5, 5), kernel=(3, 3), pads_begin=1, pads_end=1),
        _case(C=3, O=9, group=3, sp=(5, 4), kernel=(2, 3), stride=2, pads_begin=(0, 2), pads_end=1),
        # pads far beyond the kernel: outputs that see only padding are just the bias
        _case(sp=(3,), kernel=(1,), pads_begin=3, pads_end=4, stride=2),
        # 3-D anisotropic
        _case(
            C=2,
            O=4,
            group=2,
            sp=(3, 4, 5),
            kernel=(1, 2, 3),
            stride=(1, 2, 3),
            dilation=(2, 1, 1),
            pads_begin=(0, 1, 2),
            pads_end=(1, 0, 3),
        ),
    ],
    ids=["api-example", "depthwise", "multiplier", "pad-only-outputs", "3d"],
)
def test_conv_fixed(case):
    check_conv(case)


@pytest.mark.parametrize(
    "case",
    [
        # the example of the API description (conv output 3x7 -> deconv)
        _case(
            C=4,
            O=4,
            group=2,
            sp=(3, 7),
            kernel=(4, 3),
            stride=(2, 3),
            pads_begin=(1, 0),
            pads_end=(3, 1),
            output_padding=(1, 2),
        ),
        # classic FCN-style 2x upsampling deconv, depthwise
        _case(C=3, O=3, group=3, sp=(4, 4), kernel=(4, 4), stride=2, pads_begin=1, pads_end=1),
        # output_padding >= stride (allowed because dilation > stride)
        _case(sp=(4,), kernel=(2,), stride=1, dilation=3, output_padding=2),
        _case(
            sp=(3, 3),
            kernel=(2, 2),
            stride=(1, 2),
            dilation=(3, 3),
            output_padding=(2, 2),
            pads_end=(1, 0),
        ),
        _case(
            sp=(3, 3),
            kernel=(2, 2),
            stride=(1, 2),
            dilation=(3, 3),
            output_padding=(2, 2),
            bias=False,
        ),
        # pads beyond the kernel extent crop into the zero-inserted samples
        _case(sp=(3,), kernel=(1,), stride=4, pads_begin=2, pads_end=5),
        _case(
            C=2,
            O=6,
            group=2,
            sp=(2, 3, 2),
            kernel=(2, 1, 3),
            stride=(3, 2, 1),
            dilation=(1, 2, 2),
            pads_begin=(2, 0, 1),
            pads_end=(0, 3, 0),
            output_padding=(2, 1, 1),
        ),
        # output_padding >= stride where pads_begin crops the whole ConvTranspose extent, so the
        # only output samples are the output_padding ones (value: the bias). Valid graph, out = 1.
        _case(C=1, O=1, sp=(1,), kernel=(1,), stride=1, dilation=2, pads_begin=1, output_padding=1),
        _case(
            C=1,
            O=1,
            sp=(1, 5),
            kernel=(2, 1),
            stride=(1, 3),
            dilation=(3, 3),
            pads_begin=(4, 0),
            pads_end=(0, 1),
            output_padding=(2, 2),
        ),
    ],
    ids=[
        "api-example",
        "fcn-depthwise",
        "op-ge-stride-1d",
        "op-ge-stride-2d-pe",
        "op-ge-stride-2d-nobias",
        "pads-beyond-extent",
        "3d",
        "op-ge-stride-crop-all-1d",
        "op-ge-stride-crop-all-2d",
    ],
)
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
            total = draw(st.integers(1, ext[i] - 1))  # H + pb + pe
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
        bld.add(
            "Convolution",
            x,
            ConvAttrs(num_output=2, kernel=k, stride=s, dilation=d, pads_begin=pb, pads_end=pe),
            name="too_big",
        )
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
        if i == axis:  # crop everything (or more)
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
        bld.add(
            "Deconvolution",
            x,
            DeconvAttrs(
                num_output=2,
                kernel=k,
                stride=s,
                dilation=d,
                pads_begin=pb,
                pads_end=pe,
                output_padding=op,
            ),
            name="crops_all",
        )
    assert "crops_all" in str(info.value)


def test_deconv_output_padding_range_checked():
    # 0 <= op < max(stride, dilation)
    DeconvAttrs(num_output=1, kernel=2, stride=1, dilation=3, output_padding=2)
    for kw in (
        dict(stride=2, output_padding=2),
        dict(stride=1, dilation=3, output_padding=3),
        dict(stride=2, output_padding=-1),
    ):
        with pytest.raises(ValueError, match="output_padding"):
            DeconvAttrs(num_output=1, kernel=2, **kw)


# ---- the chunked, threaded kernel paths ----------------------------------------------------------
# Real layers are split into row/channel chunks spread over threads; the small cases above run as
# one piece. Shrinking the thresholds makes every case here go through the chunked code.


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
    case = dict(
        N=shape[0],
        C=shape[1],
        O=2 * shape[1],
        group=shape[1],
        sp=shape[2:],
        kernel=(3, 3),
        stride=(2, 1),
        dilation=(1, 2),
        pads_begin=(1, 2),
        pads_end=(0, 1),
        bias=True,
        opset=17,
        seed=3,
    )
    with tiny_chunks():
        check_conv(case)


@pytest.mark.parametrize(
    "kernel,stride,group,sp",
    [
        ((2, 2), (2, 2), 1, (5, 7)),  # ENet/ERFNet's final k2 s2: one transposed copy
        ((2, 3), (2, 3), 2, (4, 3)),
        ((3,), (3,), 1, (6,)),
        ((2, 2, 2), (2, 2, 2), 3, (2, 3, 2)),
        ((63, 63), (32, 32), 4, (3, 2)),  # FCN-AlexNet's shape of kernel: padded to 64 taps
    ],
)
@pytest.mark.parametrize("chunked", [False, True])
def test_deconv_kernel_multiple_of_stride(kernel, stride, group, sp, chunked):
    n = len(kernel)
    case = dict(
        N=2,
        C=2 * group,
        O=3 * group,
        group=group,
        sp=sp,
        kernel=kernel,
        stride=stride,
        dilation=(1,) * n,
        pads_begin=(0,) * n,
        pads_end=(0,) * n,
        output_padding=(0,) * n,
        bias=True,
        opset=17,
        seed=11,
    )
    with tiny_chunks() if chunked else contextlib.nullcontext():
        check_deconv(case)


def test_deconv_kernel_below_stride_fills_the_gaps():
    # k 2 < s 4 with output padding that makes the output exactly S*s long: the direct path
    # must write the zero taps (positions 2 and 3 of each stride block) too
    case = dict(
        N=1,
        C=2,
        O=2,
        group=1,
        sp=(4,),
        kernel=(2,),
        stride=(4,),
        dilation=(1,),
        pads_begin=(0,),
        pads_end=(1,),
        output_padding=(3,),
        bias=False,
        opset=13,
        seed=830332,
    )
    check_deconv(case)


# ---- depthwise by blocks of channels (_depthwise): flat runs at stride 1, im2col blocks else -----


@pytest.mark.parametrize(
    "N,mult,kernel,stride,dilation,sp,pads",
    [
        (1, 1, (3, 3), (1, 1), (1, 1), (14, 14), (1, 1)),  # MobileNet's stride-1 block
        (2, 2, (3, 5), (1, 1), (2, 1), (13, 17), (2, 3)),  # multiplier, dilated rows
        (1, 1, (5, 5), (1, 1), (2, 2), (9, 12), (4, 4)),  # dilated, padded beyond the input
        (1, 3, (1, 3), (1, 1), (1, 1), (10, 11), (0, 1)),
        (1, 1, (3, 1), (1, 1), (3, 1), (10, 11), (3, 0)),  # 3x1, dilated
        (2, 1, (4,), (1,), (2,), (29,), (3,)),
        (1, 2, (3, 2, 3), (1, 1, 1), (1, 1, 2), (5, 6, 7), (1, 0, 2)),
        (1, 1, (3, 9), (1, 1), (1, 1), (6, 10), (1, 0)),  # 5x the work computed flat: im2col
        (1, 1, (3, 3), (2, 2), (1, 1), (15, 14), (1, 1)),  # MobileNet's stride-2 block
        (2, 2, (3, 5), (2, 3), (2, 1), (13, 17), (2, 3)),  # strided, multiplier, dilated
        (1, 1, (2, 3, 3), (1, 2, 1), (1, 1, 2), (5, 7, 9), (1, 0, 2)),
    ],
)
def test_depthwise_path(monkeypatch, N, mult, kernel, stride, dilation, sp, pads):
    """One-channel-per-group convolutions take the blocked depthwise kernel (checked by a spy):
    against conv_direct and onnxruntime, whole and in blocks of one channel."""
    from graphconv.kernels import conv

    calls = []
    real = conv._depthwise
    monkeypatch.setattr(conv, "_depthwise", lambda *a: calls.append(1) or real(*a))
    C = 5
    case = dict(
        N=N,
        C=C,
        O=mult * C,
        group=C,
        sp=sp,
        kernel=kernel,
        stride=stride,
        dilation=dilation,
        pads_begin=pads,
        pads_end=tuple(p // 2 for p in pads),
        bias=True,
        opset=17,
        seed=11,
    )
    check_conv(case)
    with tiny_chunks():
        check_conv(case)
    assert len(calls) == 2
