"""Max-unpooling (caffe-segnet's two-bottom Upsample) and Interp (PSPNet/DeepLab bilinear with
aligned corners) against brute-force transcriptions of the fork layers' forward passes written
here, and through onnxruntime (opsets 13, 17, 21 and random ones).

Oracles:
  caffe_unpool  caffe-segnet UpsampleLayer::Forward_cpu: zeros, then for each input sample i in
                order, top[mask[i]] = bottom[i] (later writes win), per channel plane.
  caffe_interp  caffe_cpu_interp2 (George Papandreou's interp.cpp as shipped by PSPNet): float32
                ratio (H1-1)/(H2-1) (0 when H2 == 1), truncated source index, the next sample
                unless at the edge, weights h0/h1 and w0/w1 combined as h0(w0 a + w1 b) + ...
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import helpers as H
import numpy as np
import oracles as O
import pytest
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st
from oracles import caffe_interp, caffe_pool, caffe_pooled_len, caffe_unpool, textbook_bilinear

import graphconv as gc
from graphconv import GraphBuilder
from graphconv.layers.pool import PoolAttrs
from graphconv.layers.resample import InterpAttrs, MaxUnpoolAttrs

OPSETS = (13, 17, 21)
SETTINGS = {"deadline": None}


# ---- helpers -------------------------------------------------------------------------------------


def rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def write(tmp_path, body, inputs):
    return H.write(tmp_path, body, inputs=inputs)


def check(g, feeds, refs, tol=0.0, opsets=OPSETS):
    """``refs``: tensor -> expected (outputs or intermediate tensors). tol 0 means bit-exact."""
    H.check(g, feeds, refs, opsets=opsets, tol=tol, exact=tol == 0.0)


def layer(name, type_, bottoms, tops, params=""):
    b = "".join(f'bottom: "{t}" ' for t in bottoms)
    t = "".join(f'top: "{t}" ' for t in tops)
    return f'layer {{ name: "{name}" type: "{type_}" {b}{t}\n  {params} }}\n'


# ---- max-unpooling -------------------------------------------------------------------------------


def test_oracle_unpool_hand_example():
    x = np.array([[[[1, 2], [3, 4]]]], np.float32)
    mask = np.array([[[[0, 3], [3, 8]]]], np.float32)
    np.testing.assert_array_equal(
        caffe_unpool(x, mask, (3, 3))[0, 0], [[1, 0, 0], [3, 0, 0], [0, 0, 4]]
    )  # 3 overwrote 2


def segnet_net(pool_params, up_params):
    return layer(
        "pool4", "Pooling", ["data"], ["pool4", "pool4_mask"], f"pooling_param {{ {pool_params} }}"
    ) + layer(
        "upsample4",
        "Upsample",
        ["pool4", "pool4_mask"],
        ["upsample4"],
        f"upsample_param {{ {up_params} }}",
    )


@pytest.mark.parametrize(
    "up_params",
    [
        "scale: 2 pad_out_h: true",
        "upsample_h: 45 upsample_w: 60",
        "scale_h: 2 scale_w: 2 pad_out_h: true",
    ],
)
def test_segnet_pool_unpool_round_trip(tmp_path, up_params):
    # SegNet basic camvid pool4/upsample4: 45x60 -> 23x30 (CEIL) -> 45x60
    shape = (1, 3, 45, 60)
    g = gc.load(
        write(
            tmp_path, segnet_net("pool: MAX kernel_size: 2 stride: 2", up_params), {"data": shape}
        )
    )
    assert g.layer("upsample4").type == "MaxUnpool"
    assert g.specs["pool4"].shape == (1, 3, 23, 30) and g.specs["upsample4"].shape == shape
    x = rand(shape, 1)
    top, mask = caffe_pool(x, 2, 2, 0, "MAX")
    up = caffe_unpool(top, mask, (45, 60))
    # round trip: every window's maximum back in place, zeros elsewhere
    kept = up != 0
    np.testing.assert_array_equal(up[kept], x[kept])
    assert kept.sum() == top.size
    check(g, {"data": x}, {"pool4": top, "pool4_mask": mask, "upsample4": up})


def test_enet_upsample_scale2_with_mask(tmp_path):
    # ENet: upsample4_0_4 takes a decoder feature map and the encoder's pool2_0_4_mask
    body = layer(
        "pool2_0_4",
        "Pooling",
        ["data"],
        ["pool2_0_4", "pool2_0_4_mask"],
        "pooling_param { pool: MAX kernel_size: 2 stride: 2 }",
    ) + layer(
        "upsample4_0_4",
        "Upsample",
        ["conv4_0_4", "pool2_0_4_mask"],
        ["upsample4_0_4"],
        "upsample_param { scale: 2 }",
    )
    g = gc.load(write(tmp_path, body, {"data": (1, 4, 8, 12), "conv4_0_4": (1, 4, 4, 6)}))
    assert g.specs["upsample4_0_4"].shape == (1, 4, 8, 12)
    feeds = {"data": rand((1, 4, 8, 12), 2), "conv4_0_4": rand((1, 4, 4, 6), 3)}
    _, mask = caffe_pool(feeds["data"], 2, 2, 0, "MAX")
    check(g, feeds, {"upsample4_0_4": caffe_unpool(feeds["conv4_0_4"], mask, (8, 12))})


def test_unpool_overlapping_windows_last_write_wins(tmp_path):
    # 3x3 stride 2 pad 1 windows overlap, so one input position can be several windows' argmax
    body = layer(
        "pool",
        "Pooling",
        ["data"],
        ["pool", "mask"],
        "pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 }",
    ) + layer(
        "up", "Upsample", ["feat", "mask"], ["up"], "upsample_param { upsample_h: 7 upsample_w: 7 }"
    )
    x = np.random.default_rng(4).integers(0, 2, (2, 3, 7, 7)).astype(np.float32)
    g = gc.load(write(tmp_path, body, {"data": x.shape, "feat": (2, 3, 4, 4)}))
    feat = rand((2, 3, 4, 4), 5)
    _, mask = caffe_pool(x, 3, 2, 1, "MAX")
    per_plane = mask.reshape(6, -1)
    assert any(len(set(r)) < len(r) for r in per_plane.tolist())  # duplicates do occur
    check(g, {"data": x, "feat": feat}, {"up": caffe_unpool(feat, mask, (7, 7))})


@settings(max_examples=60, **SETTINGS)
@given(
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 9),
    st.integers(1, 9),
    st.integers(0, 2),
    st.integers(0, 2),
    st.integers(1, 2),
    st.integers(1, 3),
    st.integers(13, 21),
    st.integers(0, 2**31 - 1),
)
def test_unpool_sizes(k, s, h, w, extra_h, extra_w, n, c, opset, seed):
    # MAX pool (CEIL) with a mask, then unpool other values to the pooled input's size or more
    shape = (n, c, h, w)
    pooled = (caffe_pooled_len(h, k, s, 0), caffe_pooled_len(w, k, s, 0))
    assume(min(pooled) >= 1)
    size = (h + extra_h, w + extra_w)
    note(repr((shape, k, s, size)))
    b = GraphBuilder("t")
    x = b.input("data", shape)
    _, m = b.add("Pooling", x, PoolAttrs(kernel=k, stride=s, mask=True), n_outputs=2)
    feat = b.input("feat", (n, c) + pooled)
    b.add("MaxUnpool", [feat, m], MaxUnpoolAttrs(size=size), name="up")
    g = b.build(outputs=["up"])
    feeds = {"data": rand(shape, seed), "feat": rand((n, c) + pooled, seed + 1)}
    _, mask = caffe_pool(feeds["data"], k, s, 0, "MAX")
    if (mask < 0).any():  # a window past the input (k < s): Caffe would write top[-1]
        with pytest.raises(gc.GraphError, match="mask index -1 is out of range"):
            gc.run(g, feeds)
        return
    check(g, feeds, {"up": caffe_unpool(feeds["feat"], mask, size)}, opsets=(opset,))


def test_unpool_mask_out_of_range_fails_like_caffe():
    b = GraphBuilder("t")
    x = b.input("data", (1, 1, 8, 8))
    v, m = b.add("Pooling", x, PoolAttrs(kernel=2, stride=2, mask=True), n_outputs=2)
    b.add("MaxUnpool", [v, m], MaxUnpoolAttrs(size=(5, 5)), name="up")
    g = b.build(outputs=["up"])
    with pytest.raises(gc.GraphError, match="out of range for the 5x5 output plane") as info:
        gc.run(g, {"data": np.arange(64, dtype=np.float32).reshape(1, 1, 8, 8)})
    assert "'up'" in str(info.value)


def test_unpool_smaller_than_input_has_no_onnx_form():
    b = GraphBuilder("t")
    x = b.input("data", (1, 1, 4, 4))
    m = b.input("mask", (1, 1, 4, 4))
    b.add("MaxUnpool", [x, m], MaxUnpoolAttrs(size=(3, 8)), name="up")
    g = b.build()
    feeds = {
        "data": rand((1, 1, 4, 4), 6),
        "mask": np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4),
    }
    np.testing.assert_array_equal(
        gc.run(g, feeds)["up"], caffe_unpool(feeds["data"], feeds["mask"], (3, 8))
    )
    with pytest.raises(gc.GraphError, match="smaller than the input"):
        gc.to_onnx(g)


@pytest.mark.parametrize(
    "up_params,message",
    [
        ("scale: 3 pad_out_h: true", "pad_out_h needs scale_h == 2"),
        ("scale: 1", "scale must be > 1"),
        ("scale_h: 2", "scale OR scale_h and scale_w"),
        ("scale: 2 scale_h: 2 scale_w: 2", "scale OR scale_h and scale_w"),
        ("upsample_h: 1 upsample_w: 4", "must be > 1"),
    ],
)
def test_unpool_rule_rejects(tmp_path, up_params, message):
    body = segnet_net("pool: MAX kernel_size: 2 stride: 2", up_params)
    with pytest.raises(gc.GraphError, match=message) as info:
        gc.load(write(tmp_path, body, {"data": (1, 1, 8, 8)}))
    assert "'upsample4'" in str(info.value)


def test_unpool_rule_lone_upsample_h_is_ignored_as_in_caffe(tmp_path):
    # caffe-segnet uses upsample_h/upsample_w only as a pair; otherwise scale applies
    body = segnet_net("pool: MAX kernel_size: 2 stride: 2", "upsample_h: 9 scale: 3")
    g = gc.load(write(tmp_path, body, {"data": (1, 1, 8, 8)}))
    assert g.specs["upsample4"].shape == (1, 1, 12, 12)


def test_unpool_rule_checks_bottom_shapes(tmp_path):
    body = layer(
        "pool",
        "Pooling",
        ["data"],
        ["pool", "mask"],
        "pooling_param { pool: MAX kernel_size: 2 stride: 2 }",
    ) + layer("up", "Upsample", ["feat", "mask"], ["up"], "upsample_param { scale: 2 }")
    with pytest.raises(gc.GraphError, match="bottoms differ in shape"):
        gc.load(write(tmp_path, body, {"data": (1, 2, 8, 8), "feat": (1, 2, 4, 5)}))


def test_one_bottom_upsample_stays_nearest(tmp_path):
    g = gc.load(
        write(
            tmp_path,
            layer("up", "Upsample", ["data"], ["up"], "upsample_param { scale: 2 }"),
            {"data": (1, 2, 3, 4)},
        )
    )
    assert g.layer("up").type == "Upsample" and g.layer("up").attrs == gc.UpsampleAttrs((2, 2))
    x = rand((1, 2, 3, 4), 7)
    check(g, {"data": x}, {"up": O.upsample_nearest(x, (2, 2))}, opsets=(17,))


def test_unpool_attrs_validation():
    assert MaxUnpoolAttrs(scale=2, pad_out=1).out_spatial((23, 30)) == (45, 59)
    assert MaxUnpoolAttrs(scale=(2, 3), pad_out=(1, 0)).out_spatial((4, 5)) == (7, 15)
    with pytest.raises(ValueError, match="pad_out"):
        MaxUnpoolAttrs(scale=2, pad_out=2)
    with pytest.raises(ValueError, match="scale"):
        MaxUnpoolAttrs(scale=0)
    b = GraphBuilder("t")
    x = b.input("data", (1, 1, 4, 4))
    m = b.input("mask", (1, 1, 4, 3))
    with pytest.raises(gc.GraphError, match="differ in shape"):
        b.add("MaxUnpool", [x, m], MaxUnpoolAttrs())


# ---- Interp --------------------------------------------------------------------------------------


def test_oracle_interp_agrees_with_textbook_bilinear():
    x = rand((2, 3, 4, 5), 8)
    for out in [(8, 8), (4, 9), (1, 3), (3, 1), (7, 2), (4, 5)]:
        O.assert_close(caffe_interp(x, out), textbook_bilinear(x, out), 1e-6, str(out))


def test_interp_4x4_to_8x8(tmp_path):
    g = gc.load(
        write(
            tmp_path,
            layer("interp", "Interp", ["data"], ["interp"], "interp_param { height: 8 width: 8 }"),
            {"data": (2, 3, 4, 4)},
        )
    )
    x = rand((2, 3, 4, 4), 9)
    ref = caffe_interp(x, (8, 8))
    # corners are aligned: the four input corners reappear exactly
    np.testing.assert_array_equal(ref[..., ::7, ::7], x[..., ::3, ::3])
    O.assert_close(ref, textbook_bilinear(x, (8, 8)), 1e-6, "oracle vs textbook")
    np.testing.assert_allclose(gc.run(g, {"data": x})["interp"], ref, rtol=0, atol=1e-6)
    check(g, {"data": x}, {"interp": ref}, tol=1e-6)
    node = next(n for n in gc.to_onnx(g).graph.node if n.op_type == "Resize")
    attrs = {a.name: a.s.decode() for a in node.attribute if a.s}
    assert attrs == {"mode": "linear", "coordinate_transformation_mode": "align_corners"}


@pytest.mark.parametrize(
    "params,shape,out",
    [
        ("zoom_factor: 2", (5, 7), (9, 13)),  # H + (H-1)(z-1)
        ("zoom_factor: 8", (60, 60), (473, 473)),  # PSPNet conv6_interp: 60 -> 473
        ("shrink_factor: 2", (5, 8), (3, 4)),  # (H-1)/s + 1
        ("shrink_factor: 3 zoom_factor: 2", (10, 7), (7, 5)),  # shrink to 4x3, then zoom
        ("zoom_factor: 2 height: 3 width: 3", (4, 4), (7, 7)),  # zoom alone beats height/width
        ("shrink_factor: 2 height: 9 width: 9", (5, 5), (3, 3)),
        ("height: 3 width: 11", (6, 4), (3, 11)),  # down on H, up on W
        ("height: 1 width: 1", (4, 6), (1, 1)),
    ],
)
def test_interp_size_rules(tmp_path, params, shape, out):
    g = gc.load(
        write(
            tmp_path,
            layer("interp", "Interp", ["data"], ["interp"], f"interp_param {{ {params} }}"),
            {"data": (1, 2) + shape},
        )
    )
    assert g.specs["interp"].shape == (1, 2) + out
    if max(out) < 100:
        x = rand((1, 2) + shape, 10)
        check(g, {"data": x}, {"interp": caffe_interp(x, out)}, tol=1e-5)


def test_interp_size_from_second_bottom(tmp_path):
    g = gc.load(
        write(
            tmp_path,
            layer("interp", "Interp", ["data", "ref"], ["interp"]),
            {"data": (1, 2, 3, 5), "ref": (1, 7, 6, 4)},
        )
    )
    assert g.specs["interp"].shape == (1, 2, 6, 4)
    feeds = {"data": rand((1, 2, 3, 5), 11), "ref": rand((1, 7, 6, 4), 12)}
    check(g, feeds, {"interp": caffe_interp(feeds["data"], (6, 4))}, tol=1e-5)


@pytest.mark.parametrize(
    "params,message",
    [
        ("pad_beg: -1 height: 4 width: 4", "pad_beg/pad_end"),
        ("pad_end: 1 zoom_factor: 2", "pad_beg/pad_end"),
        ("", "needs zoom_factor, shrink_factor, or height and width"),
        ("height: 5", "needs zoom_factor, shrink_factor, or height and width"),
        ("zoom_factor: 0", "zoom_factor must be >= 1"),
        ("height: 0 width: 3", "must be positive"),
    ],
)
def test_interp_rule_rejects(tmp_path, params, message):
    with pytest.raises(gc.GraphError, match=message):
        gc.load(
            write(
                tmp_path,
                layer("interp", "Interp", ["data"], ["interp"], f"interp_param {{ {params} }}"),
                {"data": (1, 2, 4, 4)},
            )
        )


def test_interp_attrs_validation():
    with pytest.raises(ValueError, match="not both"):
        InterpAttrs(size=(3, 3), zoom_factor=2)
    with pytest.raises(ValueError, match="shrink_factor"):
        InterpAttrs(shrink_factor=0)
    b = GraphBuilder("t")
    x = b.input("data", (1, 1, 4, 4))
    r = b.input("ref", (1, 1, 8, 8))
    with pytest.raises(gc.GraphError, match="must be left unset"):
        b.add("Interp", [x, r], InterpAttrs(zoom_factor=2))


@settings(max_examples=80, **SETTINGS)
@given(
    st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 7), st.integers(1, 7)),
    st.tuples(st.integers(1, 12), st.integers(1, 12)),
    st.integers(13, 21),
    st.integers(0, 2**31 - 1),
)
def test_interp_matches_caffe_and_onnxruntime(shape, out, opset, seed):
    note(repr((shape, out, opset)))
    b = GraphBuilder("t")
    x = b.input("data", shape)
    b.add("Interp", x, InterpAttrs(size=out), name="interp")
    g = b.build()
    xv = rand(shape, seed)
    check(g, {"data": xv}, {"interp": caffe_interp(xv, out)}, tol=1e-5, opsets=(opset,))


# ---- PSPNet's pyramid pooling module -------------------------------------------------------------


def test_pspnet_pyramid_pool_and_interp_back(tmp_path):
    # conv5_3_pool{1,2,3,6}: AVE kernel = stride = 60/30/20/10 on 60x60, Interp back to 60x60
    body = ""
    for level, k in (("1", 60), ("2", 30), ("3", 20), ("6", 10)):
        body += layer(
            f"pool{level}",
            "Pooling",
            ["conv5_3"],
            [f"pool{level}"],
            f"pooling_param {{ pool: AVE kernel_size: {k} stride: {k} }}",
        )
        body += layer(
            f"pool{level}_interp",
            "Interp",
            [f"pool{level}"],
            [f"pool{level}_interp"],
            "interp_param { height: 60 width: 60 }",
        )
    g = gc.load(write(tmp_path, body, {"conv5_3": (1, 4, 60, 60)}))
    x = rand((1, 4, 60, 60), 13)
    refs = {}
    for level, k in (("1", 60), ("2", 30), ("3", 20), ("6", 10)):
        pooled, _ = caffe_pool(x, k, k, 0, "AVE")
        n = 60 // k
        assert g.specs[f"pool{level}"].shape == (1, 4, n, n) == pooled.shape
        np.testing.assert_allclose(
            pooled, x.reshape(1, 4, n, k, n, k).mean(axis=(3, 5)), rtol=1e-4, atol=1e-6
        )
        refs[f"pool{level}"] = pooled
        refs[f"pool{level}_interp"] = caffe_interp(pooled, (60, 60))
        assert g.specs[f"pool{level}_interp"].shape == (1, 4, 60, 60)
    # pool1 is a global average, so its interpolation is constant per channel
    np.testing.assert_array_equal(
        refs["pool1_interp"], np.broadcast_to(refs["pool1"], (1, 4, 60, 60))
    )
    check(g, {"conv5_3": x}, refs, tol=1e-5)
    report = gc.validate(g)
    assert report.ok, report.lines()


def test_prototxt_rules_through_tempfiles_are_isolated():
    # the Interp rule takes shapes from the reader: the same layer on two inputs differs
    for shape, want in (((1, 1, 4, 4), (1, 1, 7, 7)), ((1, 1, 3, 9), (1, 1, 5, 17))):
        with tempfile.TemporaryDirectory() as d:
            g = gc.load(
                write(
                    Path(d),
                    layer("i", "Interp", ["data"], ["i"], "interp_param { zoom_factor: 2 }"),
                    {"data": shape},
                )
            )
            assert g.specs["i"].shape == want
