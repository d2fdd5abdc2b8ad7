"""Sanity checks of the brute-force oracles in ``oracles.py`` (no graphconv involved).

Hand-computed tiny examples plus identities that tie independent definitions together
(direct sum vs per-element loops, conv/deconv adjointness, deconv = conv of a zero-inserted
input with the flipped kernel, Caffe's output-size formula).
"""

import itertools

import numpy as np
import oracles as O
import pytest


def a1(*v):
    """A (1, 1, L) float64 array."""
    return np.array(v, dtype=np.float64).reshape(1, 1, -1)


# ---- convolution: hand-computed ------------------------------------------------------------------


def test_conv_1d_basic():
    y = O.conv_direct(a1(1, 2, 3), a1(1, 1), None, 1, 1, 0, 0, 1)
    np.testing.assert_array_equal(y, a1(3, 5))


def test_conv_1d_is_correlation_not_convolution():
    # correlation: y[p] = sum_t w[t] x[p+t]  -> [1*1+2*10, 2*1+3*10] = [21, 32]
    y = O.conv_direct(a1(1, 2, 3), a1(1, 10), None, 1, 1, 0, 0, 1)
    np.testing.assert_array_equal(y, a1(21, 32))


def test_conv_1d_pads_stride_dilation_bias():
    np.testing.assert_array_equal(
        O.conv_direct(a1(1, 2, 3), a1(1, 1), None, 1, 1, 1, 1, 1), a1(1, 3, 5, 3)
    )
    # asymmetric pads: 2 zeros in front, none behind
    np.testing.assert_array_equal(
        O.conv_direct(a1(1, 2, 3), a1(1, 1), None, 1, 1, 2, 0, 1), a1(0, 1, 3, 5)
    )
    np.testing.assert_array_equal(
        O.conv_direct(a1(1, 2, 3, 4, 5), a1(1), None, 2, 1, 0, 0, 1), a1(1, 3, 5)
    )
    # stride 2 on 6 samples, kernel 2: floor((6-2)/2)+1 = 3 outputs
    np.testing.assert_array_equal(
        O.conv_direct(a1(1, 2, 3, 4, 5, 6), a1(1, 1), None, 2, 1, 0, 0, 1), a1(3, 7, 11)
    )
    # dilation 2: taps at p and p+2
    np.testing.assert_array_equal(
        O.conv_direct(a1(1, 2, 3, 4, 5), a1(1, 1), None, 1, 2, 0, 0, 1), a1(4, 6, 8)
    )
    np.testing.assert_array_equal(
        O.conv_direct(a1(1, 2, 3), a1(1, 1), np.array([0.5]), 1, 1, 0, 0, 1), a1(3.5, 5.5)
    )


def test_conv_2d_hand():
    x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
    w = np.array([[1, 0], [0, -1]], dtype=np.float64).reshape(1, 1, 2, 2)
    # y[i, j] = x[i, j] - x[i+1, j+1] = -4 everywhere
    np.testing.assert_array_equal(
        O.conv_direct(x, w, None, 1, 1, 0, 0, 1), np.full((1, 1, 2, 2), -4.0)
    )
    # per-axis stride (2, 1)
    y = O.conv_direct(x, np.ones((1, 1, 1, 1)), None, (2, 1), 1, 0, 0, 1)
    np.testing.assert_array_equal(y, x[:, :, ::2, :])


def test_conv_groups_hand():
    # 2 input channels, group 2, 4 outputs: outputs 0,1 see only channel 0; 2,3 only channel 1
    x = np.stack([a1(1, 2, 3)[0, 0], a1(10, 20, 30)[0, 0]])[None]
    w = np.array([1.0, 2.0, 3.0, 4.0]).reshape(4, 1, 1)
    y = O.conv_direct(x, w, None, 1, 1, 0, 0, 2)
    np.testing.assert_array_equal(y[0], [[1, 2, 3], [2, 4, 6], [30, 60, 90], [40, 80, 120]])


def test_conv_output_size_formula():
    assert O.conv_out_len(5, 3, 1, 1, 0, 0) == 3
    assert O.conv_out_len(5, 3, 2, 1, 1, 1) == 3
    assert O.conv_out_len(7, 3, 2, 2, 0, 1) == 2  # ext 5: floor((8-5)/2)+1
    assert O.conv_out_len(2, 3, 1, 1, 0, 0) == 0  # kernel larger than input


@pytest.mark.parametrize("seed", range(12))
def test_conv_direct_matches_per_element_loops(seed):
    rng = np.random.default_rng(seed)
    n = 1 + seed % 3
    g = int(rng.integers(1, 3))
    C, Oc = g * int(rng.integers(1, 3)), g * int(rng.integers(1, 3))
    k = tuple(int(v) for v in rng.integers(1, 4, n))
    s = tuple(int(v) for v in rng.integers(1, 4, n))
    d = tuple(int(v) for v in rng.integers(1, 3, n))
    pb = tuple(int(v) for v in rng.integers(0, 4, n))
    pe = tuple(int(v) for v in rng.integers(0, 4, n))
    sp = tuple(int(v) for v in rng.integers(3, 7 if n < 3 else 5, n))
    if any(O.conv_out_len(sp[i], k[i], s[i], d[i], pb[i], pe[i]) < 1 for i in range(n)):
        sp = tuple(h + 8 for h in sp)
    x = rng.standard_normal((2, C) + sp)
    w = rng.standard_normal((Oc, C // g) + k)
    b = rng.standard_normal(Oc)
    y1 = O.conv_direct(x, w, b, s, d, pb, pe, g)
    y2 = O.conv_pointwise_loops(x, w, b, s, d, pb, pe, g)
    np.testing.assert_allclose(y1, y2, rtol=1e-12, atol=1e-12)


# ---- deconvolution: hand-computed ----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_deconv_scatter_matches_scalar_loops(seed):
    rng = np.random.default_rng(400 + seed)
    n = 1 + seed % 3
    g = int(rng.integers(1, 3))
    C, Oc = g * int(rng.integers(1, 3)), g * int(rng.integers(1, 3))
    k = tuple(int(v) for v in rng.integers(1, 4, n))
    s = tuple(int(v) for v in rng.integers(1, 4, n))
    d = tuple(int(v) for v in rng.integers(1, 3, n))
    pb = tuple(int(v) for v in rng.integers(0, 3, n))
    pe = tuple(int(v) for v in rng.integers(0, 3, n))
    op = tuple(int(rng.integers(0, max(s[i], d[i]))) for i in range(n))
    sp = tuple(int(v) for v in rng.integers(2, 5 if n < 3 else 4, n))
    x = rng.standard_normal((2, C) + sp)
    w = rng.standard_normal((C, Oc // g) + k)
    b = rng.standard_normal(Oc)
    y1 = O.deconv_scatter(x, w, b, s, d, pb, pe, op, g)
    y2 = O.deconv_scatter_loops(x, w, b, s, d, pb, pe, op, g)
    assert y1.shape == (2, Oc) + tuple(
        O.deconv_out_len(sp[i], k[i], s[i], d[i], pb[i], pe[i], op[i]) for i in range(n)
    )
    np.testing.assert_allclose(y1, y2, rtol=1e-12, atol=1e-12)


def test_deconv_1d_stride2_hand():
    y = O.deconv_scatter(a1(1, 2), a1(1, 1), None, 2, 1, 0, 0, 0, 1)
    np.testing.assert_array_equal(y, a1(1, 1, 2, 2))


def test_deconv_1d_overlap_pads_output_padding():
    # stride 1, kernel [1, 10]: full = [1, 10+2, 20] = [1, 12, 20]
    np.testing.assert_array_equal(
        O.deconv_scatter(a1(1, 2), a1(1, 10), None, 1, 1, 0, 0, 0, 1), a1(1, 12, 20)
    )
    # pads crop: begin 1, end 0
    np.testing.assert_array_equal(
        O.deconv_scatter(a1(1, 2), a1(1, 10), None, 1, 1, 1, 0, 0, 1), a1(12, 20)
    )
    # output padding adds samples at the end (zeros before bias)
    np.testing.assert_array_equal(
        O.deconv_scatter(a1(1, 2), a1(1, 1), None, 3, 1, 0, 0, 2, 1), a1(1, 1, 0, 2, 2, 0, 0)
    )
    np.testing.assert_array_equal(
        O.deconv_scatter(a1(1, 2), a1(1, 1), np.array([1.0]), 3, 1, 0, 0, 2, 1),
        a1(2, 2, 1, 3, 3, 1, 1),
    )
    # pads larger than the kernel extent crop into the interpolated samples
    # full = [5, 0, 0, 10, 0, 0, 15]; a 1-tap kernel has extent 1, yet pads 1 and 2 crop
    np.testing.assert_array_equal(
        O.deconv_scatter(a1(1, 2, 3), a1(5), None, 3, 1, 1, 2, 0, 1), a1(0, 0, 10, 0)
    )
    np.testing.assert_array_equal(
        O.deconv_scatter(a1(1, 2, 3), a1(5), None, 3, 1, 2, 3, 0, 1), a1(0, 10)
    )
    # dilation 2: taps at i*s and i*s+2
    np.testing.assert_array_equal(
        O.deconv_scatter(a1(1, 2), a1(1, 10), None, 1, 2, 0, 0, 0, 1), a1(1, 2, 10, 20)
    )


def test_deconv_groups_hand():
    # 2 channels, group 2, 1 output per group: deconv never mixes the groups
    x = np.array([[[1.0, 2.0], [10.0, 20.0]]])
    w = np.array([[[1.0]], [[3.0]]])  # [C=2, O/g=1, k=1]
    y = O.deconv_scatter(x, w, None, 1, 1, 0, 0, 0, 2)
    np.testing.assert_array_equal(y, [[[1, 2], [30, 60]]])


@pytest.mark.parametrize(
    "h,k,s,p,d",
    [
        (1, 1, 1, 0, 1),
        (4, 4, 2, 1, 1),
        (5, 3, 2, 1, 1),
        (3, 2, 2, 0, 1),
        (6, 16, 8, 4, 1),
        (7, 3, 1, 1, 2),
        (3, 5, 3, 2, 2),
    ],
)
def test_deconv_output_size_matches_caffe(h, k, s, p, d):
    x = np.ones((1, 1, h))
    y = O.deconv_scatter(x, np.ones((1, 1, k)), None, s, d, p, p, 0, 1)
    assert y.shape[-1] == O.caffe_deconv_out_len(h, k, s, p, d)
    assert y.shape[-1] == O.deconv_out_len(h, k, s, d, p, p, 0)


@pytest.mark.parametrize("seed", range(8))
def test_stride1_deconv_is_full_correlation_with_flipped_kernel(seed):
    rng = np.random.default_rng(100 + seed)
    n = 1 + seed % 3
    C, Oc = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    k = tuple(int(v) for v in rng.integers(1, 4, n))
    sp = tuple(int(v) for v in rng.integers(1, 5, n))
    x = rng.standard_normal((2, C) + sp)
    w = rng.standard_normal((C, Oc) + k)  # deconv layout
    y = O.deconv_scatter(x, w, None, 1, 1, 0, 0, 0, 1)
    flipped = np.flip(w, axis=tuple(range(2, 2 + n))).swapaxes(0, 1)  # conv layout [O, C, k]
    ref = O.conv_direct(x, flipped, None, 1, 1, tuple(q - 1 for q in k), tuple(q - 1 for q in k), 1)
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_deconv_is_conv_of_zero_inserted_input(seed):
    # deconv(x) = conv(zero_insert(x, s), flip(w)^T, stride 1, dilation d,
    #                  pads (ext-1-pb, ext-1-pe+op))   when pads <= ext-1
    rng = np.random.default_rng(200 + seed)
    n = 1 + seed % 3
    C, Oc = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    k = tuple(int(v) for v in rng.integers(1, 4, n))
    s = tuple(int(v) for v in rng.integers(1, 4, n))
    d = tuple(int(v) for v in rng.integers(1, 3, n))
    ext = tuple(d[i] * (k[i] - 1) + 1 for i in range(n))
    pb = tuple(int(rng.integers(0, ext[i])) for i in range(n))
    pe = tuple(int(rng.integers(0, ext[i])) for i in range(n))
    op = tuple(int(rng.integers(0, max(s[i], d[i]))) for i in range(n))
    sp = tuple(int(v) for v in rng.integers(2, 5, n))
    x = rng.standard_normal((1, C) + sp)
    w = rng.standard_normal((C, Oc) + k)
    y = O.deconv_scatter(x, w, None, s, d, pb, pe, op, 1)
    flipped = np.flip(w, axis=tuple(range(2, 2 + n))).swapaxes(0, 1)
    ref = O.conv_direct(
        O.zero_insert(x, s),
        flipped,
        None,
        1,
        d,
        tuple(ext[i] - 1 - pb[i] for i in range(n)),
        tuple(ext[i] - 1 - pe[i] + op[i] for i in range(n)),
        1,
    )
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_deconv_is_adjoint_of_conv(seed):
    # <conv(x; w), y> == <x, deconv(y; w)> with the same weight array (conv [O, C/g, k] is
    # deconv [Cin=O, Out/g=C/g, k]); output_padding restores the conv input length.
    rng = np.random.default_rng(300 + seed)
    n = 1 + seed % 3
    g = int(rng.integers(1, 3))
    C, Oc = g * int(rng.integers(1, 3)), g * int(rng.integers(1, 3))
    k = tuple(int(v) for v in rng.integers(1, 4, n))
    s = tuple(int(v) for v in rng.integers(1, 4, n))
    d = tuple(int(v) for v in rng.integers(1, 3, n))
    pb = tuple(int(v) for v in rng.integers(0, 4, n))
    pe = tuple(int(v) for v in rng.integers(0, 4, n))
    sp = tuple(int(v) for v in rng.integers(3, 7 if n < 3 else 5, n))
    sp = tuple(max(sp[i], d[i] * (k[i] - 1) + 1) for i in range(n))
    ext = tuple(d[i] * (k[i] - 1) + 1 for i in range(n))
    op = tuple((sp[i] + pb[i] + pe[i] - ext[i]) % s[i] for i in range(n))
    x = rng.standard_normal((2, C) + sp)
    w = rng.standard_normal((Oc, C // g) + k)
    cx = O.conv_direct(x, w, None, s, d, pb, pe, g)
    y = rng.standard_normal(cx.shape)
    dy = O.deconv_scatter(y, w, None, s, d, pb, pe, op, g)
    assert dy.shape == x.shape
    np.testing.assert_allclose(np.sum(cx * y), np.sum(x * dy), rtol=1e-10, atol=1e-10)


def test_deconv_dilation_equals_kernel_with_holes():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 2, 4, 3))
    w = rng.standard_normal((2, 3, 2, 3))
    d = (3, 2)
    holes = np.zeros((2, 3, 4, 5))
    holes[:, :, ::3, ::2] = w
    np.testing.assert_allclose(
        O.deconv_scatter(x, w, None, 2, d, (1, 0), (0, 2), (1, 0), 1),
        O.deconv_scatter(x, holes, None, 2, 1, (1, 0), (0, 2), (1, 0), 1),
        rtol=1e-12,
        atol=1e-12,
    )


# ---- resampling, padding, activation -------------------------------------------------------------


def test_zero_insert_hand():
    np.testing.assert_array_equal(O.zero_insert(a1(1, 2, 3), 2), a1(1, 0, 2, 0, 3))
    np.testing.assert_array_equal(O.zero_insert(a1(1, 2), 3), a1(1, 0, 0, 2))
    np.testing.assert_array_equal(O.zero_insert(a1(7), 4), a1(7))
    x = np.arange(1, 5, dtype=np.float64).reshape(1, 1, 2, 2)
    np.testing.assert_array_equal(O.zero_insert(x, (2, 1))[0, 0], [[1, 2], [0, 0], [3, 4]])


def test_upsample_hand():
    np.testing.assert_array_equal(O.upsample_nearest(a1(1, 2), (3,)), a1(1, 1, 1, 2, 2, 2))
    x = np.arange(6, dtype=np.float64).reshape(1, 1, 2, 3)
    y = O.upsample_nearest(x, (2, 3))
    assert y.shape == (1, 1, 4, 9)
    for i, j in itertools.product(range(4), range(9)):
        assert y[0, 0, i, j] == x[0, 0, i // 2, j // 3]


def test_pad_crop_hand():
    np.testing.assert_array_equal(O.pad_crop(a1(1, 2, 3), (1,), (-1,), 9.0), a1(9, 1, 2))
    np.testing.assert_array_equal(O.pad_crop(a1(1, 2, 3), (-2,), (2,), 0.5), a1(3, 0.5, 0.5))
    np.testing.assert_array_equal(O.pad_crop(a1(1, 2, 3), (0,), (0,)), a1(1, 2, 3))
    # crop more than the data at the front, then pad behind: only padding survives
    np.testing.assert_array_equal(O.pad_crop(a1(1, 2), (-3,), (2,), 7.0), a1(7))
    x = np.arange(1, 7, dtype=np.float64).reshape(1, 1, 2, 3)
    np.testing.assert_array_equal(
        O.pad_crop(x, (1, -1), (-1, 1), -1.0)[0, 0], [[-1, -1, -1], [2, 3, -1]]
    )
    with pytest.raises(ValueError):
        O.pad_crop(a1(1, 2), (-1,), (-1,))


def test_leaky_relu_hand():
    np.testing.assert_array_equal(O.leaky_relu(np.array([-2.0, 0.0, 3.0]), 0.5), [-1.0, 0.0, 3.0])
    np.testing.assert_array_equal(O.leaky_relu(np.array([-2.0, 3.0]), 0.0), [0.0, 3.0])


def test_rel_err():
    assert O.rel_err(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert O.rel_err(np.array([1.0, 2.1]), np.array([1.0, 2.0])) == pytest.approx(0.05)
    assert O.rel_err(np.zeros(3), np.zeros(3)) == 0.0
    with pytest.raises(AssertionError):
        O.assert_close(np.array([1.0]), np.array([2.0]))
    with pytest.raises(AssertionError):
        O.assert_close(np.zeros(2), np.zeros(3))
