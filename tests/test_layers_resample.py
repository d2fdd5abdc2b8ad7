"""Upsample, ZeroInsert, Pad and ReLU against independent NumPy constructions, and the same
graphs through onnxruntime."""

import helpers as H
import numpy as np
import oracles as O
import pytest
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st
from oracles import pad_reference

import graphconv as gc
from graphconv import GraphBuilder, PadAttrs, ReLUAttrs, UpsampleAttrs, ZeroInsertAttrs

SETTINGS = dict(deadline=None)
opsets = st.one_of(st.just(17), st.integers(13, 21))


def one_layer(type_, shape, attrs, name="layer"):
    b = GraphBuilder("t", seed=0)
    x = b.input("data", shape)
    b.add(type_, x, attrs, name=name)
    return b.build()


def check(g, x, ref, opset=17, exact=True):
    """Interpreter and onnxruntime both equal ``ref`` (bit-exact for pure data movement)."""
    if exact:
        H.check(g, {"data": x}, ref.astype(np.float32), opsets=(opset,), exact=True)
    else:
        H.check(g, {"data": x}, ref, opsets=(opset,), tol=1e-6)


def spatial(n, lo=1):
    hi = 7 if n < 3 else 4
    return st.tuples(*[st.integers(lo, hi)] * n)


def rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---- Upsample ------------------------------------------------------------------------------------


@st.composite
def upsample_case(draw):
    n = draw(st.integers(1, 3))
    sp = draw(spatial(n))
    f = tuple(draw(st.integers(1, 4)) for _ in range(n))
    return (draw(st.integers(1, 2)), draw(st.integers(1, 4))) + sp, f, draw(opsets)


@settings(max_examples=120, **SETTINGS)
@given(upsample_case(), st.integers(0, 2**31 - 1))
def test_upsample_matches_np_repeat(case, seed):
    shape, f, opset = case
    note(repr(case))
    x = rand(shape, seed)
    ref = x
    for axis, k in enumerate(f):
        ref = np.repeat(ref, k, axis=2 + axis)
    check(one_layer("Upsample", shape, UpsampleAttrs(scale=f)), x, ref, opset)


@pytest.mark.parametrize(
    "shape,f",
    [
        ((1, 2, 5), (2,)),
        ((1, 1, 3, 4), (2, 3)),
        ((2, 3, 2, 3, 4), (3, 1, 2)),
        ((1, 1, 1, 1), (4, 4)),
        ((1, 2, 3, 3), (1, 1)),
    ],
)
def test_upsample_index_definition(shape, f):
    # y[..., i, j] = x[..., i // fh, j // fw]
    x = rand(shape, 0)
    n = len(f)
    out_sp = tuple(h * k for h, k in zip(shape[2:], f))
    idx = np.ix_(*[np.arange(o) // k for o, k in zip(out_sp, f)])
    ref = x[(slice(None), slice(None)) + idx]
    assert ref.shape == shape[:2] + out_sp and n == len(shape) - 2
    np.testing.assert_array_equal(ref, O.upsample_nearest(x, f))
    for opset in (13, 21):
        check(one_layer("Upsample", shape, UpsampleAttrs(scale=f)), x, ref, opset)


def test_upsample_rejects_bad_scales():
    with pytest.raises(gc.GraphError) as info:
        one_layer("Upsample", (1, 1, 4, 4), UpsampleAttrs(scale=(2,)), name="up")
    assert "'up'" in str(info.value)
    with pytest.raises(ValueError):
        UpsampleAttrs(scale=(0, 2))
    with pytest.raises(ValueError):
        UpsampleAttrs(scale=(2, 2), mode="bilinear")


# ---- ZeroInsert ----------------------------------------------------------------------------------


@st.composite
def zero_insert_case(draw):
    n = draw(st.integers(1, 3))
    sp = draw(spatial(n))
    s = tuple(draw(st.integers(1, 4)) for _ in range(n))
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + sp, s, draw(opsets)


@settings(max_examples=100, **SETTINGS)
@given(zero_insert_case(), st.integers(0, 2**31 - 1))
def test_zero_insert(case, seed):
    shape, s, opset = case
    note(repr(case))
    x = rand(shape, seed)
    # construction: zeros of size s(H-1)+1, the input at every s-th position
    out_sp = tuple(st_ * (h - 1) + 1 for st_, h in zip(s, shape[2:]))
    ref = np.zeros(shape[:2] + out_sp, dtype=np.float32)
    ref[(slice(None), slice(None)) + tuple(slice(None, None, st_) for st_ in s)] = x
    np.testing.assert_array_equal(ref, O.zero_insert(x, s))
    # everything off the s-grid is zero, the grid holds x
    mask = np.ones(out_sp, dtype=bool)
    mask[tuple(slice(None, None, st_) for st_ in s)] = False
    assert not ref[..., mask].any()
    g = one_layer("ZeroInsert", shape, ZeroInsertAttrs(stride=s))
    check(g, x, ref, opset)


def test_zero_insert_hand():
    x = np.array([[[1, 2, 3]]], dtype=np.float32)
    g = one_layer("ZeroInsert", x.shape, ZeroInsertAttrs(stride=(3,)))
    check(g, x, np.array([[[1, 0, 0, 2, 0, 0, 3]]], dtype=np.float32))


# ---- Pad -----------------------------------------------------------------------------------------


@st.composite
def pad_case(draw):
    n = draw(st.integers(1, 3))
    sp = draw(spatial(n))
    pb, pe = [], []
    for h in sp:
        b = draw(st.integers(-h - 1, 3))  # crop (even past the data) or grow
        e = draw(st.integers(max(-h - 3, 1 - h - b), 3))  # keep h + b + e >= 1
        pb.append(b), pe.append(e)
    value = draw(st.sampled_from([0.0, 1.5, -2.0, 7.25]))
    return (
        (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + sp,
        tuple(pb),
        tuple(pe),
        value,
        draw(opsets),
    )


def crops_leave_data(shape, pb, pe):
    return all(max(0, -b) + max(0, -e) < h for h, b, e in zip(shape[2:], pb, pe))


@settings(max_examples=150, **SETTINGS)
@given(pad_case(), st.integers(0, 2**31 - 1))
def test_pad_and_crop(case, seed):
    shape, pb, pe, value, opset = case
    note(repr(case))
    x = rand(shape, seed)
    ref = O.pad_crop(x, pb, pe, value)
    assert ref.shape == shape[:2] + tuple(h + b + e for h, b, e in zip(shape[2:], pb, pe))
    if crops_leave_data(shape, pb, pe):  # a second, slicing-based definition agrees
        np.testing.assert_array_equal(ref, pad_reference(x, pb, pe, value))
    check(one_layer("Pad", shape, PadAttrs(pads_begin=pb, pads_end=pe, value=value)), x, ref, opset)


@settings(max_examples=80, **SETTINGS)
@given(pad_case(), st.integers(0, 2**31 - 1))
def test_pad_and_crop_leaving_data(case, seed):
    # the same, restricted to crops that leave input samples on every axis
    shape, pb, pe, value, opset = case
    note(repr(case))
    assume(crops_leave_data(shape, pb, pe))
    x = rand(shape, seed)
    ref = pad_reference(x, pb, pe, value)
    np.testing.assert_array_equal(ref, O.pad_crop(x, pb, pe, value))
    check(one_layer("Pad", shape, PadAttrs(pads_begin=pb, pads_end=pe, value=value)), x, ref, opset)


@pytest.mark.parametrize(
    "shape,pb,pe,value",
    [
        ((1, 1, 3), (1,), (-1,), 9.0),
        ((1, 2, 4, 5), (-1, 2), (2, -3), -1.0),
        ((2, 1, 3, 3, 3), (-2, 0, 1), (1, -2, 0), 0.5),
        ((1, 1, 5), (-4,), (0,), 3.0),
        ((1, 1, 4, 4), (2, 2), (2, 2), 0.0),
    ],
)
def test_pad_fixed(shape, pb, pe, value):
    x = rand(shape, 1)
    ref = O.pad_crop(x, pb, pe, value)
    np.testing.assert_array_equal(ref, pad_reference(x, pb, pe, value))
    check(one_layer("Pad", shape, PadAttrs(pads_begin=pb, pads_end=pe, value=value)), x, ref)


@pytest.mark.parametrize("h,pb,pe", [(2, -3, 2), (3, 2, -4), (1, 2, -2), (1, -1, 1), (2, -2, 1)])
def test_pad_crop_past_the_data(h, pb, pe):
    # One end crops at least the whole axis and the other end pads it back: the output length
    # h + pb + pe is >= 1 and, by y[i] = x[i - pb] (as in ONNX Pad), holds only the pad value.
    # E.g. h=2, pb=-3, pe=+2: [x0, x1, v, v] with 3 cut from the front -> [v]; h=3, pb=+2,
    # pe=-4: [v, v, x0, x1, x2] with 4 cut from the back -> [v]. onnxruntime agrees.
    x = rand((1, 1, h), 2)
    value = 4.0
    ref = O.pad_crop(x, (pb,), (pe,), value)
    assert ref.shape == (1, 1, h + pb + pe)
    assert np.all(ref == value)
    g = one_layer(
        "Pad", x.shape, PadAttrs(pads_begin=(pb,), pads_end=(pe,), value=value), name="pad"
    )
    assert g.specs["pad"].shape == ref.shape
    check(g, x, ref)


def test_pad_crop_to_nothing_rejected():
    with pytest.raises(gc.GraphError) as info:
        one_layer(
            "Pad", (1, 1, 3, 3), PadAttrs(pads_begin=(0, -2), pads_end=(0, -1)), name="cropper"
        )
    assert "'cropper'" in str(info.value)


# ---- ReLU ----------------------------------------------------------------------------------------


@settings(max_examples=60, **SETTINGS)
@given(
    st.sampled_from([0.0, 0.01, 0.1, 0.5, -0.3, 1.0, 2.5]),
    st.integers(1, 3),
    st.integers(0, 2**31 - 1),
    opsets,
)
def test_relu_negative_slope(slope, n, seed, opset):
    shape = (2, 3) + (4,) * n
    x = rand(shape, seed)
    x.flat[0], x.flat[1] = 0.0, -0.0
    ref = np.maximum(x.astype(np.float64), 0) + slope * np.minimum(x.astype(np.float64), 0)
    np.testing.assert_allclose(ref, O.leaky_relu(x, slope))
    g = one_layer("ReLU", shape, ReLUAttrs(negative_slope=slope))
    check(g, x, ref, opset, exact=False)


def test_relu_default_is_plain_max():
    x = np.array([[[-3.0, -0.5, 0.0, 0.5, 3.0]]], dtype=np.float32)
    g = one_layer("ReLU", x.shape, None)
    check(g, x, np.array([[[0, 0, 0, 0.5, 3.0]]], dtype=np.float32))


def test_relu_after_conv_chain():
    # a small chain through several layer types, vs composing the oracles
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 5, 4)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    b = GraphBuilder("chain")
    t = b.input("data", x.shape)
    t = b.add("Pad", t, PadAttrs(pads_begin=(1, -1), pads_end=(0, 2), value=0.25))
    t = b.add(
        "Convolution",
        t,
        gc.ConvAttrs(num_output=3, kernel=(3, 3), stride=(1, 2)),
        params={"weight": w, "bias": bias},
    )
    t = b.add("ReLU", t, ReLUAttrs(negative_slope=0.2))
    t = b.add("ZeroInsert", t, ZeroInsertAttrs(stride=(2, 1)))
    t = b.add("Upsample", t, UpsampleAttrs(scale=(1, 3)))
    g = b.build()
    ref = O.pad_crop(x.astype(np.float64), (1, -1), (0, 2), 0.25)
    ref = O.conv_direct(ref, w, bias, (1, 2), 1, 0, 0, 1)
    ref = O.leaky_relu(ref, 0.2)
    ref = O.upsample_nearest(O.zero_insert(ref, (2, 1)), (1, 3))
    check(g, x, ref, exact=False)
