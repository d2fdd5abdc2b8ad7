"""The Winograd F(2, 3) kernel (graphconv/kernels/winograd.py) against the float64 brute-force
oracle, on every kernel it supports (3 or 1 taps per axis, 1-D to 3-D, dilated, grouped, padded
asymmetrically, odd sizes that crop, many chunks on the threads), and the Convolution layers that
dispatch to it against the oracle and onnxruntime."""

import contextlib

import numpy as np
import oracles as O
import pytest
from helpers import check_conv
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from graphconv.geometry import conv_output_size
from graphconv.kernels import winograd
from graphconv.kernels.conv import conv_forward
from graphconv.layers.conv import ConvAttrs

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextlib.contextmanager
def tiny_chunks():
    """One block per chunk and no floor on a product's columns: many chunks on the threads."""
    saved = winograd.CHUNK_ELEMENTS, winograd.MIN_TILES
    winograd.CHUNK_ELEMENTS, winograd.MIN_TILES = 1, 1
    try:
        yield
    finally:
        winograd.CHUNK_ELEMENTS, winograd.MIN_TILES = saved


@st.composite
def cases(draw):
    n = draw(st.integers(1, 3))
    k = tuple(draw(st.sampled_from([1, 3])) for _ in range(n))
    if 3 not in k:
        k = (3,) + k[1:]
    d = tuple(draw(st.integers(1, 3)) for _ in range(n))
    g = draw(st.integers(1, 2))
    c, o = g * draw(st.integers(1, 3)), g * draw(st.integers(1, 3))
    sp = tuple(draw(st.integers(1, 12 if n < 3 else 6)) for _ in range(n))
    pb = tuple(draw(st.integers(0, 3)) for _ in range(n))
    pe = tuple(draw(st.integers(0, 3)) for _ in range(n))
    assume(all(s + b + e >= dd * (kk - 1) + 1 for s, b, e, dd, kk in zip(sp, pb, pe, d, k)))
    return dict(
        N=draw(st.integers(1, 2)),
        C=c,
        O=o,
        group=g,
        sp=sp,
        kernel=k,
        dilation=d,
        pads_begin=pb,
        pads_end=pe,
        chunked=draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
    )


def run_kernel(case):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["N"], case["C"]) + case["sp"]).astype(np.float32)
    w = rng.standard_normal((case["O"], case["C"] // case["group"]) + case["kernel"]).astype(
        np.float32
    )
    b = rng.standard_normal(case["O"]).astype(np.float32)
    a = ConvAttrs(
        num_output=case["O"],
        kernel=case["kernel"],
        dilation=case["dilation"],
        pads_begin=case["pads_begin"],
        pads_end=case["pads_end"],
        group=case["group"],
    )
    out_sp = tuple(
        conv_output_size(h, k, 1, d, p, q)
        for h, k, d, p, q in zip(
            case["sp"], case["kernel"], case["dilation"], case["pads_begin"], case["pads_end"]
        )
    )

    def finish(out):
        out += b.reshape((-1,) + (1,) * (out.ndim - 1))

    with tiny_chunks() if case["chunked"] else contextlib.nullcontext():
        y = winograd.forward(x, w, b, a, out_sp, finish)
    ref = O.conv_direct(
        x, w, b, 1, case["dilation"], case["pads_begin"], case["pads_end"], case["group"]
    )
    return y, ref


@settings(max_examples=150, **SETTINGS)
@given(cases())
def test_kernel_matches_direct_convolution(case):
    note(repr(case))
    y, ref = run_kernel(case)
    assert y.shape == ref.shape
    O.assert_close(y, ref, tol=1e-5, what="winograd")


@pytest.mark.parametrize(
    "kernel,dilation",
    [
        ((3, 3), (1, 1)),
        ((3, 3), (2, 3)),
        ((3, 1), (1, 1)),
        ((1, 3), (2, 2)),
        ((3,), (2,)),
        ((3, 3, 3), (1, 2, 1)),
    ],
)
def test_kernel_examples(kernel, dilation):
    n = len(kernel)
    sp = (9, 8, 7)[:n] if n == 3 else (13, 10)[:n]
    case = dict(
        N=2,
        C=6,
        O=4,
        group=2,
        sp=sp,
        kernel=kernel,
        dilation=dilation,
        pads_begin=(1,) * n,
        pads_end=(2,) * n,
        chunked=True,
        seed=5,
    )
    y, ref = run_kernel(case)
    O.assert_close(y, ref, tol=1e-5, what="winograd")


def test_weights_transform_is_cached_per_array():
    w = np.random.default_rng(0).standard_normal((4, 2, 3, 3)).astype(np.float32)
    u = winograd._weights(w, 1)
    assert winograd._weights(w, 1) is u
    assert winograd._weights(w.copy(), 1) is not u
    # (16, g, og, cg): G w G^T of the first output/input channel pair, from the definition
    G = winograd._G
    np.testing.assert_allclose(
        u[:, 0, 0, 0].reshape(4, 4), G @ w[0, 0].astype(np.float64) @ G.T, rtol=1e-6
    )


def test_dispatch_rule():
    assert winograd.applies((3, 3), (1, 1), 128, 256, (28, 28))
    assert not winograd.applies((3, 3), (2, 2), 128, 256, (28, 28))  # strided
    assert not winograd.applies((3, 1), (1, 1), 128, 256, (28, 28))  # 3x1 saves too little
    assert not winograd.applies((3, 3), (1, 1), 64, 256, (28, 28))  # few channels
    assert not winograd.applies((3, 3), (1, 1), 512, 512, (13, 13))  # few tiles
    assert not winograd.applies((3,), (1,), 512, 512, (4096,))  # 1-D


@pytest.mark.parametrize(
    "sp,dilation,group", [((28, 28), (1, 1), 1), ((29, 31), (2, 3), 1), ((27, 30), (1, 1), 2)]
)
def test_convolution_layer_runs_winograd(sp, dilation, group):
    """Layers the interpreter sends to the kernel, checked against the oracle and onnxruntime."""
    c = 128 * group
    case = dict(
        N=1,
        C=c,
        O=c,
        group=group,
        sp=sp,
        kernel=(3, 3),
        stride=(1, 1),
        dilation=dilation,
        pads_begin=dilation,
        pads_end=(0, 2),
        bias=True,
        opset=17,
        seed=11,
    )
    out_sp = tuple(
        conv_output_size(h, 3, 1, d, p, 2 if i else 0)
        for i, (h, d, p) in enumerate(zip(sp, dilation, dilation))
    )
    assert winograd.applies(case["kernel"], case["stride"], 128, 128, out_sp)
    check_conv(case)


def test_epilogue_runs_on_winograd_chunks():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 128, 30, 30)).astype(np.float32)
    w = rng.standard_normal((128, 128, 3, 3)).astype(np.float32) * 0.05
    b = rng.standard_normal(128).astype(np.float32)
    a = ConvAttrs(num_output=128, kernel=(3, 3), pads=1)
    seen = []

    def relu(block, ch):
        seen.append(block.shape)
        np.maximum(block, 0, out=block)

    with tiny_chunks():
        y = conv_forward(x, w, b, a, relu)
    ref = np.maximum(O.conv_direct(x, w, b, 1, 1, 1, 1, 1), 0)
    O.assert_close(y, ref, tol=1e-5, what="winograd + relu")
    assert len(seen) > 1 and sum(s[1] for s in seen) == 30 * 30
