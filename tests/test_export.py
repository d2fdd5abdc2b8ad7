"""ONNX export: opsets, model metadata, value_info, initializer naming, the ZeroInsert lowering
and the output_padding >= stride workaround, always checked in onnxruntime and against the
brute-force oracles."""

import numpy as np
import onnx
import oracles as O
import pytest
from onnx import numpy_helper

import graphconv as gc
from graphconv import (
    ConvAttrs,
    DeconvAttrs,
    GraphBuilder,
    PadAttrs,
    ReLUAttrs,
    UpsampleAttrs,
    ZeroInsertAttrs,
)
from graphconv.validate import run_onnxruntime

TOL = 1e-4


def rng_arrays(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def conv_deconv_upsample():
    """data 1x2x6x5 -> grouped dilated conv -> grouped deconv with output_padding -> upsample."""
    x, cw, cb, dw, db = rng_arrays(0, (1, 2, 6, 5), (4, 1, 3, 2), (4,), (4, 2, 4, 3), (4,))
    b = GraphBuilder("cdu")
    t = b.input("data", x.shape)
    t = b.add(
        "Convolution",
        t,
        ConvAttrs(
            num_output=4,
            kernel=(3, 2),
            stride=(2, 1),
            dilation=(1, 2),
            pads_begin=(1, 0),
            pads_end=(2, 3),
            group=2,
        ),
        params={"weight": cw, "bias": cb},
        name="conv",
    )
    t = b.add(
        "Deconvolution",
        t,
        DeconvAttrs(
            num_output=4,
            kernel=(4, 3),
            stride=(2, 3),
            pads_begin=(1, 0),
            pads_end=(3, 1),
            output_padding=(1, 2),
            group=2,
        ),
        params={"weight": dw, "bias": db},
        name="deconv",
    )
    b.add("Upsample", t, UpsampleAttrs(scale=(2, 3)), name="up")
    g = b.build()
    ref = O.conv_direct(x, cw, cb, (2, 1), (1, 2), (1, 0), (2, 3), 2)
    ref = O.deconv_scatter(ref, dw, db, (2, 3), 1, (1, 0), (3, 1), (1, 2), 2)
    ref = O.upsample_nearest(ref, (2, 3))
    return g, x, ref


def every_type_graph():
    """One of each layer type, with two outputs."""
    x, cw, cb, dw = rng_arrays(1, (2, 3, 5, 4), (6, 1, 3, 3), (6,), (6, 2, 2, 2))
    b = GraphBuilder("every")
    t = b.input("data", x.shape)
    p = b.add("Pad", t, PadAttrs(pads_begin=(1, -1), pads_end=(-1, 2), value=0.5), name="pad")
    c = b.add(
        "Convolution",
        p,
        ConvAttrs(num_output=6, kernel=(3, 3), pads=1, group=3),
        params={"weight": cw, "bias": cb},
        name="conv",
    )
    r = b.add("ReLU", c, ReLUAttrs(negative_slope=0.1), name="relu")
    z = b.add("ZeroInsert", r, ZeroInsertAttrs(stride=(2, 3)), name="zins")
    b.add(
        "Deconvolution",
        r,
        DeconvAttrs(num_output=4, kernel=(2, 2), stride=2, group=2, bias=False),
        params={"weight": dw},
        name="deconv",
    )
    b.add("Upsample", z, UpsampleAttrs(scale=(1, 2)), name="up")
    g = b.build()
    ref = O.pad_crop(x.astype(np.float64), (1, -1), (-1, 2), 0.5)
    ref = O.leaky_relu(O.conv_direct(ref, cw, cb, 1, 1, 1, 1, 3), 0.1)
    refs = {
        "deconv": O.deconv_scatter(ref, dw, None, 2, 1, 0, 0, 0, 2),
        "up": O.upsample_nearest(O.zero_insert(ref, (2, 3)), (1, 2)),
    }
    return g, x, refs


# ---- opsets --------------------------------------------------------------------------------------


@pytest.mark.parametrize("opset", range(13, 22))
def test_every_supported_opset_exports_and_runs(opset):
    g, x, ref = conv_deconv_upsample()
    model = gc.to_onnx(g, opset=opset)
    onnx.checker.check_model(model)
    assert model.ir_version <= 10
    assert [(o.domain, o.version) for o in model.opset_import] == [("", opset)]
    theirs = run_onnxruntime(model, {"data": x})["up"]
    ours = gc.run(g, {"data": x})["up"]
    assert g.specs["up"].shape == ref.shape
    O.assert_close(theirs, ref, TOL, "onnxruntime vs oracle")
    O.assert_close(ours, ref, TOL, "interpreter vs oracle")
    O.assert_close(ours, theirs, TOL, "interpreter vs onnxruntime")


@pytest.mark.parametrize("opset", [13, 17, 21])
def test_every_layer_type_exports_and_runs(opset):
    g, x, refs = every_type_graph()
    assert set(g.outputs) == {"deconv", "up"}
    model = gc.to_onnx(g, opset=opset)
    onnx.checker.check_model(model)
    theirs = run_onnxruntime(model, {"data": x})
    ours = gc.run(g, {"data": x})
    for name, ref in refs.items():
        O.assert_close(theirs[name], ref, TOL, f"onnxruntime {name}")
        O.assert_close(ours[name], ref, TOL, f"interpreter {name}")


@pytest.mark.parametrize("opset", [0, 11, 12, 22, 23])
def test_unsupported_opsets_raise(opset):
    g, _, _ = conv_deconv_upsample()
    with pytest.raises(gc.ExportError, match=str(opset)):
        gc.to_onnx(g, opset=opset)


# ---- model contents ------------------------------------------------------------------------------


def _dims(vi):
    return tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)


def test_value_info_inputs_and_outputs_carry_graph_shapes():
    g, _, _ = every_type_graph()
    model = gc.to_onnx(g)
    vis = {v.name: _dims(v) for v in model.graph.value_info}
    outs = {v.name: _dims(v) for v in model.graph.output}
    ins = {v.name: _dims(v) for v in model.graph.input if v.name in g.specs}
    assert ins == {"data": g.specs["data"].shape}
    assert outs == {t: g.specs[t].shape for t in g.outputs}
    inner = {t for t in g.specs if t not in g.outputs and t != "data"}
    assert inner == {"pad", "conv", "relu", "zins"}
    for t in inner:
        assert vis[t] == g.specs[t].shape, t
    # and graphconv's shapes are what onnx infers by itself
    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    del bare.graph.value_info[:]
    inferred = onnx.shape_inference.infer_shapes(bare, strict_mode=True, data_prop=True)
    got = {v.name: _dims(v) for v in inferred.graph.value_info if v.name in inner}
    assert got == {t: g.specs[t].shape for t in inner}


def test_initializers_are_named_after_their_layer_and_hold_the_params():
    g, _, _ = every_type_graph()
    model = gc.to_onnx(g)
    layer_names = [layer.name for layer in g.layers]
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    assert inits
    for name in inits:
        assert any(name.startswith(ln) for ln in layer_names), name
    np.testing.assert_array_equal(inits["conv.weight"], g.layer("conv").params["weight"])
    np.testing.assert_array_equal(inits["conv.bias"], g.layer("conv").params["bias"])
    np.testing.assert_array_equal(inits["deconv.weight"], g.layer("deconv").params["weight"])
    assert not any(n.startswith("deconv.bias") for n in inits)  # bias=False


def test_node_names_unique_and_tensor_names_preserved():
    g, _, _ = every_type_graph()
    model = gc.to_onnx(g)
    names = [n.name for n in model.graph.node]
    assert len(names) == len(set(names))
    produced = {o for n in model.graph.node for o in n.output}
    assert set(g.specs) - {"data"} <= produced


def test_zero_insert_export_uses_no_convtranspose_or_resize():
    (x,) = rng_arrays(3, (1, 2, 3, 4, 2))
    b = GraphBuilder("zi")
    t = b.input("data", x.shape)
    b.add("ZeroInsert", t, ZeroInsertAttrs(stride=(2, 3, 4)), name="zi")
    g = b.build()
    model = gc.to_onnx(g)
    ops = {n.op_type for n in model.graph.node}
    assert not ops & {"ConvTranspose", "Resize", "Upsample", "Conv"}, ops
    out = run_onnxruntime(model, {"data": x})["zi"]
    np.testing.assert_array_equal(out, O.zero_insert(x, (2, 3, 4)))


def test_upsample_exports_as_resize():
    g, _, _ = conv_deconv_upsample()
    ops = [n.op_type for n in gc.to_onnx(g).graph.node]
    assert ops == ["Conv", "ConvTranspose", "Resize"]


def test_extra_outputs_expose_intermediates():
    g, x, _ = conv_deconv_upsample()
    model = gc.to_onnx(g, extra_outputs=["conv", "deconv"])
    theirs = run_onnxruntime(model, {"data": x})
    assert set(theirs) == {"up", "conv", "deconv"}
    _, cw, cb = rng_arrays(0, (1, 2, 6, 5), (4, 1, 3, 2), (4,))
    O.assert_close(theirs["conv"], O.conv_direct(x, cw, cb, (2, 1), (1, 2), (1, 0), (2, 3), 2), TOL)


def test_save_roundtrip(tmp_path):
    from graphconv.export import save

    g, x, ref = conv_deconv_upsample()
    path = tmp_path / "m.onnx"
    save(gc.to_onnx(g), str(path))
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded)
    O.assert_close(run_onnxruntime(loaded, {"data": x})["up"], ref, TOL)
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


# ---- Deconvolution with output_padding >= stride -------------------------------------------------


def _deconv_graph(shape, w, b, **attrs):
    bld = GraphBuilder("dc")
    t = bld.input("data", shape)
    params = {"weight": w} if b is None else {"weight": w, "bias": b}
    bld.add("Deconvolution", t, DeconvAttrs(**attrs), params=params, name="dc")
    return bld.build()


@pytest.mark.parametrize(
    "cfg",
    [
        # s=1, d=3, op=2: allowed (op < max(s, d)) though onnxruntime requires op < s
        dict(sp=(4,), k=(2,), s=(1,), d=(3,), pb=(0,), pe=(0,), op=(2,), bias=True),
        dict(sp=(4,), k=(2,), s=(1,), d=(3,), pb=(0,), pe=(0,), op=(2,), bias=False),
        # part of output_padding folds into pads_end, the rest is zero extension
        dict(sp=(3, 4), k=(2, 3), s=(1, 2), d=(3, 3), pb=(1, 0), pe=(1, 2), op=(2, 2), bias=True),
        # mixed: one axis op < s, the other op >= s
        dict(
            sp=(3, 2, 3),
            k=(2, 2, 1),
            s=(2, 1, 1),
            d=(1, 3, 2),
            pb=(0, 1, 0),
            pe=(0, 0, 0),
            op=(1, 2, 1),
            bias=True,
            g=2,
        ),
        # pads_begin crops the whole ConvTranspose extent: only the output_padding sample remains
        dict(sp=(1,), k=(1,), s=(1,), d=(2,), pb=(1,), pe=(0,), op=(1,), bias=True),
        dict(sp=(2,), k=(2,), s=(1,), d=(3,), pb=(5,), pe=(0,), op=(2,), bias=False),
    ],
    ids=[
        "1d-bias",
        "1d-nobias",
        "2d-fold",
        "3d-mixed-grouped",
        "crop-all-1d-bias",
        "crop-all-1d-nobias",
    ],
)
@pytest.mark.parametrize("opset", [13, 17, 21])
def test_deconv_output_padding_ge_stride(cfg, opset):
    n = len(cfg["sp"])
    g_ = cfg.get("g", 1)
    C, Oc = 2, 4
    x, w, b = rng_arrays(4, (1, C) + cfg["sp"], (C, Oc // g_) + cfg["k"], (Oc,))
    b = b if cfg["bias"] else None
    assert any(o >= s for o, s in zip(cfg["op"], cfg["s"]))
    assert all(o < max(s, d) for o, s, d in zip(cfg["op"], cfg["s"], cfg["d"]))
    ref = O.deconv_scatter(x, w, b, cfg["s"], cfg["d"], cfg["pb"], cfg["pe"], cfg["op"], g_)
    g = _deconv_graph(
        x.shape,
        w,
        b,
        num_output=Oc,
        kernel=cfg["k"],
        stride=cfg["s"],
        dilation=cfg["d"],
        pads_begin=cfg["pb"],
        pads_end=cfg["pe"],
        output_padding=cfg["op"],
        group=g_,
        bias=cfg["bias"],
    )
    assert g.specs["dc"].shape == ref.shape and len(ref.shape) == n + 2
    O.assert_close(gc.run(g, {"data": x})["dc"], ref, TOL, "interpreter")
    model = gc.to_onnx(g, opset=opset)
    for node in model.graph.node:
        if node.op_type == "ConvTranspose":
            attrs = {a.name: list(a.ints) for a in node.attribute}
            assert all(
                o < s for o, s in zip(attrs.get("output_padding", [0] * n), attrs["strides"])
            )
    O.assert_close(run_onnxruntime(model, {"data": x})["dc"], ref, TOL, "onnxruntime")
