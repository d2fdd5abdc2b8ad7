"""Pooling against a brute-force transcription of Caffe's PoolingLayer::Forward_cpu (BVLC master)
written here, and the exported graphs through onnxruntime (opsets 13, 17, 21 and random ones).

The oracle loops over every output position exactly as Caffe does: MAX starts from -FLT_MAX and
takes a sample only when strictly greater (its mask is the flat index h*W + w, -1 if none); AVE
sums the window clipped to the input and divides by the window clipped to [-p, H+p).
"""

from __future__ import annotations

import helpers as H
import numpy as np
import oracles as O
import pytest
from hypothesis import assume, event, given, note, settings
from hypothesis import strategies as st
from oracles import FLT_MAX, caffe_pool, caffe_pooled_len

import graphconv as gc
from graphconv import GraphBuilder
from graphconv.layers.pool import PoolAttrs
from graphconv.validate import run_onnxruntime

OPSETS = (13, 17, 21)
AVE_TOL = 1e-5
SETTINGS = {"deadline": None}


# ---- helpers -------------------------------------------------------------------------------------


def rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def pool_graph(shape, attrs):
    b = GraphBuilder("pool", seed=0)
    x = b.input("data", shape)
    b.add("Pooling", x, attrs, name="pool", n_outputs=2 if attrs.mask else 1)
    return b.build()


def check(g, x, top, mask=None, opsets=OPSETS, onnx=True):
    """Interpreter and onnxruntime agree with Caffe: bit-exact for MAX and masks; for AVE within
    1e-5 of the largest output (float32 sums in another order than Caffe's row-major one)."""
    refs = dict(zip(g.outputs, [top] if mask is None else [top, mask]))
    exact = mask is not None or g.layers[-1].attrs.method == "max"
    H.check(g, {"data": x}, refs, opsets=opsets, tol=AVE_TOL, exact=exact, onnx=onnx)


def write(tmp_path, body, shape=(1, 2, 5, 5)):
    return H.write(tmp_path, body, inputs={"data": shape})


def pool_layer(params, tops=("pool",), bottom="data", name="pool"):
    top = "".join(f'top: "{t}" ' for t in tops)
    return (
        f'layer {{ name: "{name}" type: "Pooling" bottom: "{bottom}" {top}\n'
        f"  pooling_param {{ {params} }} }}\n"
    )


# ---- the oracle itself ---------------------------------------------------------------------------


def test_oracle_hand_example():
    # 1-D, H=5, k=1, s=3, p=0 (SEMANTICS.md): Caffe has a third window past the input
    x = np.arange(5, dtype=np.float32).reshape(1, 1, 5)
    top, mask = caffe_pool(x, 1, 3, 0, "MAX")
    np.testing.assert_array_equal(top[0, 0], [0, 3, -FLT_MAX])
    np.testing.assert_array_equal(mask[0, 0], [0, 3, -1])
    # 2x2 average with pad 1 on a 2x2 ones image: every window holds one sample of four
    top, _ = caffe_pool(np.ones((1, 1, 2, 2), np.float32), 2, 2, 1, "AVE")
    np.testing.assert_array_equal(top, np.full((1, 1, 2, 2), 0.25, np.float32))
    assert caffe_pooled_len(13, 2, 1, 0) == 12 and caffe_pooled_len(5, 2, 2, 1) == 3


# ---- named cases ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["MAX", "AVE"])
def test_2x2_stride2_pad1_on_5x5_gives_3x3(tmp_path, method):
    # ceil((5 + 2 - 2) / 2) + 1 = 4, and the 4th window starts at 6 - 1 = 5 >= H: clipped to 3
    g = gc.load(write(tmp_path, pool_layer(f"pool: {method} kernel_size: 2 stride: 2 pad: 1")))
    assert g.specs["pool"].shape == (1, 2, 3, 3)
    x = rand((1, 2, 5, 5), 1)
    top, _ = caffe_pool(x, 2, 2, 1, method)
    check(g, x, top)


def test_ave_3x3_stride2_pad1_on_6x6(tmp_path):
    # ceil((6 + 2 - 3) / 2) + 1 = 4 windows at -1, 1, 3, 5; the last one covers [5, 8) but
    # Caffe's divisor stops at H + p = 7: 2 per axis instead of 3
    g = gc.load(
        write(tmp_path, pool_layer("pool: AVE kernel_size: 3 stride: 2 pad: 1"), (2, 3, 6, 6))
    )
    assert g.specs["pool"].shape == (2, 3, 4, 4)
    x = rand((2, 3, 6, 6), 2)
    top, _ = caffe_pool(x, 3, 2, 1, "AVE")
    # the corner window holds x[5, 5] alone (plus padding): divided by 2 * 2
    np.testing.assert_allclose(top[..., 3, 3], x[..., 5, 5] / 4, rtol=1e-6)
    check(g, x, top)
    ops = {n.op_type for n in gc.to_onnx(g).graph.node}
    assert "AveragePool" in ops


@pytest.mark.parametrize("method", ["MAX", "AVE"])
def test_round_mode_floor(tmp_path, method):
    g = gc.load(
        write(
            tmp_path,
            pool_layer(f"pool: {method} kernel_size: 3 stride: 2 round_mode: FLOOR"),
            (1, 2, 6, 7),
        )
    )
    # floor((6 - 3) / 2) + 1 = 2, floor((7 - 3) / 2) + 1 = 3; CEIL would give 3 and 3
    assert g.specs["pool"].shape == (1, 2, 2, 3)
    assert caffe_pooled_len(6, 3, 2, 0) == 3
    x = rand((1, 2, 6, 7), 3)
    top, _ = caffe_pool(x, 3, 2, 0, method, "FLOOR")
    check(g, x, top)


@pytest.mark.parametrize("method", ["MAX", "AVE"])
def test_global_pooling(tmp_path, method):
    g = gc.load(write(tmp_path, pool_layer(f"pool: {method} global_pooling: true"), (2, 3, 5, 7)))
    assert g.specs["pool"].shape == (2, 3, 1, 1)
    x = rand((2, 3, 5, 7), 4)
    top, _ = caffe_pool(x, (5, 7), 1, 0, method)
    check(g, x, top)
    ops = [n.op_type for n in gc.to_onnx(g).graph.node]
    assert ops == ["GlobalMaxPool" if method == "MAX" else "GlobalAveragePool"]


def test_global_max_pooling_with_mask(tmp_path):
    g = gc.load(
        write(
            tmp_path,
            pool_layer("pool: MAX global_pooling: true", tops=("pool", "mask")),
            (1, 3, 4, 6),
        )
    )
    x = rand((1, 3, 4, 6), 5)
    top, mask = caffe_pool(x, (4, 6), 1, 0, "MAX")
    check(g, x, top, mask)


def test_mask_top(tmp_path):
    g = gc.load(
        write(
            tmp_path,
            pool_layer("pool: MAX kernel_size: 3 stride: 2 pad: 1", tops=("pool", "pool_mask")),
            (2, 3, 7, 6),
        )
    )
    assert g.specs["pool_mask"].shape == g.specs["pool"].shape == (2, 3, 4, 4)
    x = rand((2, 3, 7, 6), 6)
    top, mask = caffe_pool(x, 3, 2, 1, "MAX")
    # the mask names the sample that won: x.flat[plane offset + mask] == top
    planes = x.reshape(6, -1)
    np.testing.assert_array_equal(
        np.take_along_axis(planes, mask.reshape(6, -1).astype(np.int64), 1).reshape(top.shape), top
    )
    check(g, x, top, mask)


def test_mask_ties_take_the_first_sample_in_scan_order():
    x = np.random.default_rng(7).integers(0, 3, (2, 2, 6, 6)).astype(np.float32)
    g = pool_graph(x.shape, PoolAttrs(kernel=(3, 2), stride=(2, 1), pad=(1, 1), mask=True))
    top, mask = caffe_pool(x, (3, 2), (2, 1), (1, 1), "MAX")
    assert len(np.unique(x)) == 3
    check(g, x, top, mask)


def test_nonfinite_inputs_follow_caffe_in_the_interpreter():
    # Caffe skips NaN (never '>') and never takes -inf over its -FLT_MAX start; onnxruntime
    # propagates NaN, so only the interpreter is held to this
    x = np.array(
        [[[[np.nan, 1, -np.inf, -np.inf], [2, np.nan, -np.inf, -np.inf]]]], dtype=np.float32
    )
    g = pool_graph(x.shape, PoolAttrs(kernel=2, stride=2, mask=True))
    top, mask = caffe_pool(x, 2, 2, 0, "MAX")
    np.testing.assert_array_equal(top[0, 0, 0], [2, -FLT_MAX])
    np.testing.assert_array_equal(mask[0, 0, 0], [4, -1])
    check(g, x, top, mask, onnx=False)
    g = pool_graph(x.shape, PoolAttrs(kernel=2, stride=2))
    check(g, x, top, onnx=False)


def test_yolov3_tiny_stride1_2x2_max_pool_on_13x13(tmp_path):
    # ChenYingpeng/caffe-yolov3 layer12-maxpool: kernel 2, stride 1, pad 0 on 13x13.
    # Caffe: ceil((13 - 2) / 1) + 1 = 12 (darknet pads to keep 13; Caffe does not)
    body = pool_layer(
        "stride: 1 pool: MAX kernel_size: 2 pad: 0",
        name="layer12-maxpool",
        tops=("layer12-maxpool",),
    )
    g = gc.load(write(tmp_path, body, (1, 4, 13, 13)))
    assert g.specs["layer12-maxpool"].shape == (1, 4, 12, 12)
    x = rand((1, 4, 13, 13), 8)
    top, _ = caffe_pool(x, 2, 1, 0, "MAX")
    assert top.shape == (1, 4, 12, 12)
    np.testing.assert_array_equal(
        top, np.maximum.reduce([x[..., :12, :12], x[..., 1:, :12], x[..., :12, 1:], x[..., 1:, 1:]])
    )
    check(g, x, top)


def test_max_windows_past_the_input(tmp_path):
    # SEMANTICS.md: H=5, k=1, s=3 gives Caffe 3 windows, ORT's ceil_mode 2; Caffe's third is
    # -FLT_MAX with mask -1. The export pools 2 windows and appends the third.
    g = gc.load(
        write(
            tmp_path,
            pool_layer(
                "pool: MAX kernel_h: 1 kernel_w: 2 stride_h: 3 stride_w: 3", tops=("pool", "mask")
            ),
            (1, 2, 5, 7),
        )
    )
    assert g.specs["pool"].shape == (1, 2, 3, 3)  # W: ceil(5/3)+1 = 3, the last at 6 < 7
    x = rand((1, 2, 5, 7), 9)
    top, mask = caffe_pool(x, (1, 2), 3, 0, "MAX")
    assert (top[..., 2, :] == -FLT_MAX).all() and (mask[..., 2, :] == -1).all()
    check(g, x, top, mask)


def test_ave_windows_past_the_input_are_rejected(tmp_path):
    with pytest.raises(gc.GraphError, match="divides that window by a count <= 0"):
        gc.load(write(tmp_path, pool_layer("pool: AVE kernel_size: 1 stride: 3"), (1, 1, 5, 5)))
    # FLOOR rounding has no such window
    g = gc.load(
        write(
            tmp_path,
            pool_layer("pool: AVE kernel_size: 1 stride: 3 round_mode: FLOOR"),
            (1, 1, 5, 5),
        )
    )
    assert g.specs["pool"].shape == (1, 1, 2, 2)


def test_kernel_larger_than_padded_input(tmp_path):
    # ceil((3 - 4) / 2) + 1 = 1 in Caffe's float arithmetic: one window clipped to the input
    g = gc.load(write(tmp_path, pool_layer("pool: AVE kernel_size: 4 stride: 2"), (1, 2, 3, 3)))
    assert g.specs["pool"].shape == (1, 2, 1, 1)
    x = rand((1, 2, 3, 3), 10)
    top, _ = caffe_pool(x, 4, 2, 0, "AVE")
    np.testing.assert_allclose(top[..., 0, 0], x.sum(axis=(2, 3)) / 9, rtol=1e-6)
    check(g, x, top)
    with pytest.raises(gc.GraphError, match="does not fit the padded input"):
        gc.load(write(tmp_path, pool_layer("pool: MAX kernel_size: 5 stride: 1"), (1, 2, 3, 3)))


def test_v1_pooling_layer(tmp_path):
    p = tmp_path / "v1.prototxt"
    p.write_text(
        'input: "data" input_dim: 1 input_dim: 2 input_dim: 6 input_dim: 6\n'
        'layers { name: "pool" type: POOLING bottom: "data" top: "pool"\n'
        "  pooling_param { pool: AVE kernel_size: 3 stride: 2 } }\n"
    )
    g = gc.load(p)
    assert g.layer("pool").type == "Pooling" and g.specs["pool"].shape == (1, 2, 3, 3)
    x = rand((1, 2, 6, 6), 11)
    check(g, x, caffe_pool(x, 3, 2, 0, "AVE")[0], opsets=(17,))


def test_non_square_kernel_pad_stride(tmp_path):
    g = gc.load(
        write(
            tmp_path,
            pool_layer(
                "pool: AVE kernel_h: 3 kernel_w: 2 pad_h: 2 pad_w: 1 stride_h: 2 stride_w: 3"
            ),
            (1, 2, 7, 8),
        )
    )
    x = rand((1, 2, 7, 8), 12)
    top, _ = caffe_pool(x, (3, 2), (2, 3), (2, 1), "AVE")
    assert g.specs["pool"].shape == top.shape
    check(g, x, top)


@pytest.mark.parametrize(
    "params,message",
    [
        ("pool: MAX kernel_size: 2 pad: 2", "smaller than kernel"),
        ("pool: MAX kernel_h: 2", "kernel_size OR kernel_h and kernel_w"),
        (
            "pool: MAX kernel_size: 2 kernel_h: 2 kernel_w: 2",
            "kernel_size OR kernel_h and kernel_w",
        ),
        ("pool: MAX kernel_size: 2 pad_h: 1", "pad OR pad_h and pad_w"),
        ("pool: MAX kernel_size: 2 stride: 2 stride_w: 1 stride_h: 1", "stride OR stride_h"),
        ("pool: MAX global_pooling: true kernel_size: 2", "must not be given"),
        ("pool: MAX global_pooling: true stride: 2", "stride 1 and pad 0"),
        ("pool: STOCHASTIC kernel_size: 2", "STOCHASTIC is not supported"),
        ("pool: MAX kernel_size: 0", "kernel must be positive"),
    ],
)
def test_caffe_rule_rejects(tmp_path, params, message):
    with pytest.raises(gc.GraphError, match=message) as info:
        gc.load(write(tmp_path, pool_layer(params)))
    assert "'pool'" in str(info.value) and "net.prototxt:" in str(info.value)


def test_ave_pooling_has_no_mask_top(tmp_path):
    with pytest.raises(gc.GraphError, match="1 top"):
        gc.load(write(tmp_path, pool_layer("pool: AVE kernel_size: 2", tops=("a", "b"))))


def test_attrs_validation():
    with pytest.raises(ValueError, match="method"):
        PoolAttrs(kernel=2, method="min")
    with pytest.raises(ValueError, match="round_mode"):
        PoolAttrs(kernel=2, round_mode="nearest")
    with pytest.raises(ValueError, match="only MAX pooling has a mask"):
        PoolAttrs(kernel=2, method="ave", mask=True)
    with pytest.raises(ValueError, match="needs a kernel"):
        PoolAttrs()
    with pytest.raises(ValueError, match="stride must be >= 1"):
        PoolAttrs(kernel=2, stride=0)
    with pytest.raises(gc.GraphError, match="does not fit a 3-D input"):
        pool_graph((1, 1, 4, 4, 4), PoolAttrs(kernel=(2, 2)))
    assert PoolAttrs(kernel=3, stride=(2, 1)).kernel == (3, 3)


def test_pspnet_sized_ave_window_is_the_mean():
    # PSPNet's pool1: AVE kernel 60 stride 60 on 2048x60x60 (speed is measured by the benchmark,
    # not here)
    from graphconv.registry import layer_type

    x = rand((1, 2048, 60, 60), 13)
    (y,) = layer_type("Pooling").run(PoolAttrs(kernel=60, stride=60, method="ave"), [x], {})
    np.testing.assert_allclose(y[0, :, 0, 0], x[0].mean(axis=(1, 2)), rtol=1e-4, atol=1e-6)


# ---- properties ----------------------------------------------------------------------------------


@st.composite
def pool_case(draw):
    n = draw(st.sampled_from([1, 2, 2, 2, 3]))
    kmax, hmax = (4, 9) if n < 3 else (3, 5)
    k = tuple(draw(st.integers(1, kmax)) for _ in range(n))
    s = tuple(draw(st.integers(1, 4)) for _ in range(n))
    p = tuple(draw(st.integers(0, ki - 1)) for ki in k)
    sp = tuple(draw(st.integers(1, hmax)) for _ in range(n))
    method = draw(st.sampled_from(["MAX", "AVE"]))
    round_mode = draw(st.sampled_from(["CEIL", "CEIL", "FLOOR"]))
    mask = method == "MAX" and draw(st.booleans())
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + sp
    opset = draw(st.one_of(st.just(17), st.integers(13, 21)))
    return shape, k, s, p, method, round_mode, mask, opset


@settings(max_examples=150, **SETTINGS)
@given(pool_case(), st.integers(0, 2**31 - 1), st.booleans())
def test_pooling_matches_caffe_and_onnxruntime(case, seed, integer_valued):
    shape, k, s, p, method, round_mode, mask, opset = case
    note(repr(case))
    out = [caffe_pooled_len(h, ki, si, pi, round_mode) for h, ki, si, pi in zip(shape[2:], k, s, p)]
    assume(all(o >= 1 for o in out))
    past = [(o - 1) * si - pi >= h for o, si, pi, h in zip(out, s, p, shape[2:])]
    attrs = PoolAttrs(kernel=k, stride=s, pad=p, method=method, round_mode=round_mode, mask=mask)
    overhang = [
        (o - 1) * si - pi + ki > h + pi for o, si, pi, ki, h in zip(out, s, p, k, shape[2:])
    ]
    event(
        f"{method} {len(k)}-D{' mask' if mask else ''}{' past-input' if any(past) else ''}"
        f"{' overhang' if any(overhang) else ''}"
    )
    if method == "AVE" and any(past):
        with pytest.raises(gc.GraphError, match="count <= 0"):
            pool_graph(shape, attrs)
        return
    rng = np.random.default_rng(seed)
    x = (rng.integers(-2, 3, shape) if integer_valued else rng.standard_normal(shape)).astype(
        np.float32
    )
    g = pool_graph(shape, attrs)
    top, ref_mask = caffe_pool(x, k, s, p, method, round_mode)
    check(g, x, top, ref_mask if mask else None, opsets=(opset,))


def per_axis_reference(x, plans, method, mask):
    """The N-D per-axis kernels with their int64 index arrays (not the 2-D mask kernel)."""
    import graphconv.kernels.pool as P

    if method == "ave":
        return [P.ave_pool(x, plans)]
    fits = P._mask_fits
    P._mask_fits = lambda plans: False
    try:
        v, i = P.max_pool(x, plans, mask)
    finally:
        P._mask_fits = fits
    return [v, i.astype(np.float32)] if mask else [v]


def equals_per_axis_by_blocks(kernel, x, plans, method, mask):
    """``kernel()`` (a list of outputs) equals the per-axis kernels bit for bit, in blocks of
    one channel and of several; returns its outputs."""
    import graphconv.kernels.pool as P

    block = P.TILE_BLOCK_BYTES
    try:
        for block_bytes in (1, 1 << 20):
            P.TILE_BLOCK_BYTES = block_bytes
            with np.errstate(all="ignore"):  # inf - inf and overflow in the sums
                got = kernel()
                want = per_axis_reference(x, plans, method, mask)
            for g_, w_ in zip(got, want, strict=True):
                assert g_.dtype == np.float32 and g_.shape == w_.shape
                np.testing.assert_array_equal(g_, w_)
                if method == "ave":  # (a max of -0.0 and 0.0 may be either, as with fmax)
                    assert (np.signbit(g_) == np.signbit(w_))[~np.isnan(w_)].all()
    finally:
        P.TILE_BLOCK_BYTES = block
    return got


def special_values(shape, rng, values):
    if values == "normal":
        return rng.standard_normal(shape).astype(np.float32)
    pool = (
        [-1.0, 0.0, 1.0]
        if values == "ties"
        else [np.nan, -np.inf, np.inf, -FLT_MAX, -0.0, 0.0, 1.0, -1.0]
    )
    return rng.choice(np.array(pool, dtype=np.float32), shape)


@settings(max_examples=150, **SETTINGS)
@given(
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 2),
    st.integers(1, 2),
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(1, 9),
    st.integers(1, 9),
    st.sampled_from(["ceil", "floor"]),
    st.integers(0, 2**31 - 1),
    st.sampled_from(["normal", "ties", "special"]),
)
def test_2d_mask_kernel_equals_the_per_axis_kernel(
    kh, kw, sh, sw, dh, dw, ph, pw, h, w, round_mode, seed, values
):
    """Overlapping, strided, padded and dilated 2-D max pooling with a mask: the uint8-tap
    kernel gives the bits of the per-axis kernel's int64 index passes (and Caffe's loops)."""
    import graphconv.kernels.pool as P
    from graphconv.layers.pool import pool_plan

    assume(ph < dh * (kh - 1) + 1 and pw < dw * (kw - 1) + 1)
    attrs = PoolAttrs(
        kernel=(kh, kw),
        stride=(sh, sw),
        pad=(ph, pw),
        dilation=(dh, dw),
        round_mode=round_mode,
        mask=True,
    )
    try:
        plans = pool_plan(attrs, (h, w))
    except ValueError:
        assume(False)
    x = special_values((2, 3, h, w), np.random.default_rng(seed), values)
    v, m = P.max_pool(x, plans, True)
    want = per_axis_reference(x, plans, "max", True)
    np.testing.assert_array_equal(v, want[0])
    np.testing.assert_array_equal(m, want[1])
    if values != "special":
        top, ref_mask = caffe_pool(
            x, (kh, kw), (sh, sw), (ph, pw), "MAX", round_mode.upper(), dilation=(dh, dw)
        )
        np.testing.assert_array_equal(v, top)
        np.testing.assert_array_equal(m, ref_mask)


# ---- the non-overlapping 2-D tile kernels against the general per-axis kernels -------------------


@st.composite
def tile_case(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))
    shape = (
        draw(st.integers(1, 2)),
        draw(st.integers(1, 5)),
        draw(st.integers(kh, 11)),
        draw(st.integers(kw, 11)),
    )
    method = draw(st.sampled_from(["max", "ave"]))
    mask = method == "max" and draw(st.booleans())
    return shape, (kh, kw), (ph, pw), method, draw(st.sampled_from(["ceil", "floor"])), mask


@settings(max_examples=150, **SETTINGS)
@given(tile_case(), st.integers(0, 2**31 - 1), st.sampled_from(["normal", "ties", "special"]))
def test_tile_kernels_equal_the_general_kernels_bit_for_bit(case, seed, values):
    """stride == kernel in 2-D runs the tile kernels: the same bits as the per-axis kernels
    (and Caffe's loops), NaN, -inf, -FLT_MAX, -0.0 and ties included; blocks of one channel
    or several. (Speed: SegNet's 2x2/2 with a mask on 64x360x480, 92 -> 22 ms.)"""
    import graphconv.kernels.pool as P
    from graphconv.layers.pool import pool_plan

    shape, k, p, method, round_mode, mask = case
    attrs = PoolAttrs(kernel=k, stride=k, pad=p, method=method, round_mode=round_mode, mask=mask)
    plans = pool_plan(attrs, shape[2:])
    assume(not (method == "ave" and any(q.past_input for q in plans)))
    assert P._tiled_2d(plans, method, mask)
    x = special_values(shape, np.random.default_rng(seed), values)
    got = equals_per_axis_by_blocks(
        lambda: P._pool_tiles_2d(x, plans, method, mask), x, plans, method, mask
    )
    if values != "special":
        top, ref_mask = caffe_pool(x, k, k, p, method.upper(), round_mode.upper())
        O.assert_close(
            got[0], top, AVE_TOL, "tiles"
        ) if method == "ave" else np.testing.assert_array_equal(got[0], top)
        if mask:
            np.testing.assert_array_equal(got[1], ref_mask)


# ---- the flat 2-D kernel (stride 1, narrow planes) against the per-axis kernels ------------------


@st.composite
def flat_case(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.sampled_from([1, 1, 2])), draw(st.sampled_from([1, 1, 2]))
    ph = draw(st.integers(0, dh * (kh - 1)))
    pw = draw(st.integers(0, dw * (kw - 1)))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    shape = (
        draw(st.integers(1, 2)),
        draw(st.integers(1, 5)),
        draw(st.integers(1, 13)),
        draw(st.integers(1, 13)),
    )
    method = draw(st.sampled_from(["max", "ave"]))
    return (
        shape,
        (kh, kw),
        (sh, sw),
        (ph, pw),
        (dh, dw),
        method,
        draw(st.sampled_from(["ceil", "floor"])),
    )


@settings(max_examples=200, **SETTINGS)
@given(flat_case(), st.integers(0, 2**31 - 1), st.sampled_from(["normal", "ties", "special"]))
def test_flat_kernel_equals_the_per_axis_kernels_bit_for_bit(case, seed, values):
    """2-D pooling without a mask by whole-block shifted passes over the flattened window
    region: the same bits as the per-axis kernels (and Caffe's loops), padded, strided,
    dilated, CEIL overhangs, NaN, -inf, -FLT_MAX, -0.0 and ties included; blocks of one
    channel or several."""
    import graphconv.kernels.pool as P
    from graphconv.layers.pool import pool_plan

    shape, k, s, p, d, method, round_mode = case
    attrs = PoolAttrs(kernel=k, stride=s, pad=p, dilation=d, method=method, round_mode=round_mode)
    try:
        plans = pool_plan(attrs, shape[2:])
    except ValueError:
        assume(False)
    x = special_values(shape, np.random.default_rng(seed), values)
    (got,) = equals_per_axis_by_blocks(
        lambda: [P._pool_flat_2d(x, plans, method)], x, plans, method, False
    )
    if values != "special":
        top, _ = caffe_pool(x, k, s, p, method.upper(), round_mode.upper(), dilation=d)
        O.assert_close(
            got, top, AVE_TOL, "flat"
        ) if method == "ave" else np.testing.assert_array_equal(got, top)


@pytest.mark.parametrize(
    "shape, kernel, stride, pad, mask, flat",
    [
        ((1, 4, 28, 28), 3, 1, 1, False, True),  # GoogLeNet's inception pools: 3x3/1 pad 1
        ((1, 4, 112, 112), 3, 1, 1, False, True),  # stride 1 at any size
        ((1, 4, 14, 14), 3, 2, 0, False, True),  # ShuffleNet's last 3x3/2: a narrow plane
        ((1, 4, 28, 28), 3, 2, 0, False, False),  # stride 2 on wider planes: per axis
        ((1, 4, 13, 13), 13, 1, 0, False, False),  # near-global windows: per axis
        ((1, 4, 28, 28), 3, 1, 1, True, False),  # with a mask: the mask kernels
    ],
)
def test_flat_kernel_dispatch(shape, kernel, stride, pad, mask, flat):
    """Which 2-D poolings run flat, and that those give Caffe's result through the layer."""
    import graphconv.kernels.pool as P
    from graphconv.layers.pool import pool_plan

    for method in ("max", "ave") if not mask else ("max",):
        attrs = PoolAttrs(kernel=kernel, stride=stride, pad=pad, method=method, mask=mask)
        plans = pool_plan(attrs, shape[2:])
        assert P._flat_2d(plans, method, mask) == flat
        x = rand(shape, 5)
        got = gc.layers.pool.Pooling().run(attrs, [x], {})
        top, ref_mask = caffe_pool(x, (kernel,) * 2, (stride,) * 2, (pad,) * 2, method.upper())
        O.assert_close(
            got[0], top, AVE_TOL, "pool"
        ) if method == "ave" else np.testing.assert_array_equal(got[0], top)
        if mask:
            np.testing.assert_array_equal(got[1], ref_mask)


# ---- windows that are the whole plane ------------------------------------------------------------


@pytest.mark.parametrize(
    "spatial, attrs, whole",
    [
        ((13, 13), dict(global_pooling=True), True),  # SqueezeNet's pool10
        ((7, 7), dict(kernel=7, stride=1), True),  # GoogLeNet's pool5/7x7_s1
        ((5, 6, 3), dict(global_pooling=True), True),  # 3-D
        ((9,), dict(global_pooling=True), True),  # 1-D
        ((7, 7), dict(kernel=7, stride=1, pad=1), False),  # padded: several windows
        ((7, 7), dict(kernel=4, stride=4, round_mode="floor"), False),
    ],
)
@pytest.mark.parametrize("values", ["normal", "special"])
def test_whole_plane_windows(spatial, attrs, whole, values):
    """A window over the whole plane runs as one reduction per channel: Caffe's result (AVE
    within rounding of its scan-order sum, MAX exactly: NaN skipped, -FLT_MAX where nothing
    beats it, never -0.0 from AVE)."""
    import graphconv.kernels.pool as P
    from graphconv.layers.pool import Pooling, pool_plan

    rng = np.random.default_rng(len(spatial))
    x = special_values((2, 3) + spatial, rng, values)
    if values == "special":
        x[0, 0] = np.nan
        x[0, 1] = -0.0
    for method in ("max", "ave"):
        a = PoolAttrs(method=method, **attrs)
        plans = pool_plan(a, spatial)
        assert P._whole_plane(plans) == whole
        with np.errstate(all="ignore"):
            (got,) = Pooling().run(a, [x], {})
            (want,) = per_axis_reference(x, plans, method, False)
        assert got.dtype == np.float32 and got.shape == want.shape
        if method == "max":
            np.testing.assert_array_equal(got, want)
        else:
            fin = np.isfinite(want)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
            np.testing.assert_allclose(got[fin], want[fin], rtol=1e-5, atol=1e-6)
            assert not np.signbit(got[got == 0]).any()
        if values == "normal" and len(spatial) == 2:
            k = tuple(p.kernel for p in plans)
            top, _ = caffe_pool(
                x,
                k,
                tuple(p.stride for p in plans),
                tuple(p.pad for p in plans),
                method.upper(),
                a.round_mode.upper(),
            )
            O.assert_close(
                got, top, AVE_TOL, "whole plane"
            ) if method == "ave" else np.testing.assert_array_equal(got, top)
        if values == "special" and whole:
            assert (
                got[0, 0].ravel()[0] == -FLT_MAX if method == "max" else np.isnan(got[0, 0]).all()
            )
            assert got[0, 1].ravel()[0] == 0.0  # -0.0 for MAX (Caffe takes -0.0 > -FLT_MAX)
            assert np.signbit(got[0, 1]).all() == (method == "max")


# ---- dilation (ONNX's dilations) -----------------------------------------------------------------


@st.composite
def dilated_case(draw):
    n = draw(st.sampled_from([1, 2, 2, 3]))
    kmax, hmax = (3, 10) if n < 3 else (2, 6)
    k = tuple(draw(st.integers(1, kmax)) for _ in range(n))
    d = tuple(draw(st.integers(1, 3)) for _ in range(n))
    assume(any(di > 1 and ki > 1 for di, ki in zip(d, k)))
    s = tuple(draw(st.integers(1, 3)) for _ in range(n))
    p = tuple(draw(st.integers(0, di * (ki - 1))) for ki, di in zip(k, d))
    sp = tuple(draw(st.integers(1, hmax)) for _ in range(n))
    method = draw(st.sampled_from(["MAX", "AVE"]))
    round_mode = draw(st.sampled_from(["CEIL", "FLOOR"]))
    mask = method == "MAX" and draw(st.booleans())
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + sp
    opset = draw(st.sampled_from([13, 17, 18, 19, 21]))
    return shape, k, s, p, d, method, round_mode, mask, opset


@settings(max_examples=120, **SETTINGS)
@given(dilated_case(), st.integers(0, 2**31 - 1), st.booleans())
def test_dilated_pooling_matches_the_loop_oracle_and_onnxruntime(case, seed, integer_valued):
    shape, k, s, p, d, method, round_mode, mask, opset = case
    note(repr(case))
    out = [
        caffe_pooled_len(h, ki, si, pi, round_mode, di)
        for h, ki, si, pi, di in zip(shape[2:], k, s, p, d)
    ]
    assume(all(o >= 1 for o in out))
    past = [(o - 1) * si - pi >= h for o, si, pi, h in zip(out, s, p, shape[2:])]
    attrs = PoolAttrs(
        kernel=k, stride=s, pad=p, dilation=d, method=method, round_mode=round_mode, mask=mask
    )
    event(f"{method} {len(k)}-D{' mask' if mask else ''} opset {opset}")
    if method == "AVE" and any(past):
        with pytest.raises(gc.GraphError, match="count <= 0"):
            pool_graph(shape, attrs)
        return
    rng = np.random.default_rng(seed)
    x = (rng.integers(-2, 3, shape) if integer_valued else rng.standard_normal(shape)).astype(
        np.float32
    )
    g = pool_graph(shape, attrs)
    top, ref_mask = caffe_pool(x, k, s, p, method, round_mode, dilation=d)
    check(g, x, top, ref_mask if mask else None, opsets=(opset,))


@pytest.mark.parametrize("method", ["MAX", "AVE"])
def test_dilated_2d_by_hand(method):
    # 3 taps two apart on 7, stride 2, pad 1: windows start at -1, 1 and 3, taps {-1, 1, 3},
    # {1, 3, 5}, {3, 5, 7}; -1 and 7 are padding (AVE counts them: 7 < H + p = 8)
    x = np.arange(49, dtype=np.float32).reshape(1, 1, 7, 7)  # the value is the flat index
    attrs = PoolAttrs(
        kernel=3, stride=2, pad=1, dilation=2, method=method.lower(), mask=method == "MAX"
    )
    g = pool_graph(x.shape, attrs)
    inside = [[1, 3], [1, 3, 5], [3, 5]]
    if method == "MAX":
        top = np.array(
            [[7 * max(r) + max(c) for c in inside] for r in inside], dtype=np.float32
        ).reshape(1, 1, 3, 3)
        check(g, x, top, top)
    else:
        top = np.array(
            [[sum(7 * i + j for i in r for j in c) / 9 for c in inside] for r in inside],
            dtype=np.float32,
        ).reshape(1, 1, 3, 3)
        check(g, x, top, opsets=(13, 17, 19, 21))


def test_dilation_attrs():
    a = PoolAttrs(kernel=(3, 2), stride=1, dilation=2)
    assert a.dilation == (2, 2)
    assert PoolAttrs(kernel=3).dilation == (1,)
    assert PoolAttrs(kernel=3, pad=4, dilation=3).pad == (4,)  # pad < extent 7
    with pytest.raises(ValueError, match="dilated kernel's extent"):
        PoolAttrs(kernel=3, pad=5, dilation=2)
    with pytest.raises(ValueError, match="dilation must be >= 1"):
        PoolAttrs(kernel=3, dilation=0)
    with pytest.raises(ValueError, match="and dilation 1"):
        PoolAttrs(global_pooling=True, dilation=2)


@settings(max_examples=40, **SETTINGS)
@given(
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(1, 9),
    st.sampled_from(["MAX", "AVE"]),
    st.sampled_from(["CEIL", "FLOOR"]),
)
def test_caffe_rule_shapes_match_caffe_formula(k, s, h, method, round_mode):
    # the Caffe rule end to end, on a 2-D input with the same geometry on both axes
    import tempfile
    from pathlib import Path

    for pad in range(k):
        want = caffe_pooled_len(h, k, s, pad, round_mode)
        body = pool_layer(
            f"pool: {method} kernel_size: {k} stride: {s} pad: {pad} round_mode: {round_mode}"
        )
        with tempfile.TemporaryDirectory() as d:
            path = write(Path(d), body, (1, 1, h, h))
            past = want >= 1 and (want - 1) * s - pad >= h
            if want < 1 or (method == "AVE" and past):
                with pytest.raises(gc.GraphError):
                    gc.load(path)
                continue
            assert gc.load(path).specs["pool"].shape == (1, 1, want, want)


# ---- why the export never uses ceil_mode ---------------------------------------------------------


def _ceil_mode_average_pool(h, k, s, p, opset=17):
    from onnx import TensorProto, helper

    node = helper.make_node(
        "AveragePool",
        ["x"],
        ["y"],
        kernel_shape=[k, k],
        strides=[s, s],
        pads=[p, p, p, p],
        ceil_mode=1,
        count_include_pad=1,
    )
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, h, h])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        ir_version=gc.export.ir_version_for(opset),
    )


def test_onnx_ceil_mode_shape_inference_disagrees_with_onnxruntime():
    # 5x5, k2 s2 p1: Caffe and onnxruntime drop the window starting in the end padding (3x3),
    # onnx's shape inference keeps it (4x4), so a ceil_mode export fails the strict shape check
    import onnx

    model = _ceil_mode_average_pool(5, 2, 2, 1)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    dims = [d.dim_value for d in inferred.graph.output[0].type.tensor_type.shape.dim]
    assert dims == [1, 1, 4, 4]
    x = rand((1, 1, 5, 5), 15)
    (y,) = run_onnxruntime(model, {"x": x}).values()
    top, _ = caffe_pool(x, 2, 2, 1, "AVE")
    assert y.shape == top.shape == (1, 1, 3, 3)
    # where the window counts agree, count_include_pad=1 is Caffe's divisor (SEMANTICS.md)
    O.assert_close(y, top, AVE_TOL, "onnxruntime ceil_mode AveragePool")
