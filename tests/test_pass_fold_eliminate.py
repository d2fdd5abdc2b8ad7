"""fold-batchnorm, eliminate-identity, eliminate-dead.

Oracle: the BatchNorm/Scale formulas written out here in float64 on top of the brute-force
convolution / deconvolution / matrix product of oracles.py, and onnxruntime on the export.
"""

from __future__ import annotations

import numpy as np
import oracles as O
import pytest
from helpers import SETTINGS, write
from hypothesis import given, note, settings
from hypothesis import strategies as st
from oracles import bn_reference

import graphconv as gc
from graphconv import passes
from graphconv.layers.activation import DropoutAttrs
from graphconv.layers.linear import InnerProductAttrs
from graphconv.layers.norm import BatchNormAttrs, ScaleAttrs
from graphconv.layers.tensor import SplitAttrs
from graphconv.validate import run_onnxruntime

TOL = 1e-5


@settings(max_examples=60, **SETTINGS)
@given(st.data())
def test_fold_batchnorm_random(data):
    kind = data.draw(st.sampled_from(["Convolution", "Deconvolution", "InnerProduct"]))
    rng = np.random.default_rng(data.draw(st.integers(0, 10**6)))
    g = data.draw(st.sampled_from([1, 2]))
    c, o = 2 * data.draw(st.integers(1, 3)), 2 * data.draw(st.integers(1, 3))
    x = rng.standard_normal((2, c, 5, 6)).astype(np.float32)
    bias = data.draw(st.booleans())
    b = rng.standard_normal(o).astype(np.float32) if bias else None
    if kind == "Convolution":
        attrs = gc.ConvAttrs(num_output=o, kernel=(3, 2), pads=1, stride=(1, 2), group=g, bias=bias)
        w = rng.standard_normal((o, c // g, 3, 2)).astype(np.float32)
        z = O.conv_direct(x, w, b, (1, 2), (1, 1), (1, 1), (1, 1), g)
    elif kind == "Deconvolution":
        attrs = gc.DeconvAttrs(num_output=o, kernel=(3, 2), pads=1, stride=2, group=g, bias=bias)
        w = rng.standard_normal((c, o // g, 3, 2)).astype(np.float32)
        z = O.deconv_scatter(x, w, b, (2, 2), (1, 1), (1, 1), (1, 1), (0, 0), g)
    else:
        attrs = InnerProductAttrs(num_output=o, bias=bias)
        w = rng.standard_normal((o, c * 30)).astype(np.float32)
        z = x.reshape(2, -1).astype(np.float64) @ w.T.astype(np.float64) + (b if bias else 0)
    affine = data.draw(st.booleans())
    with_scale = data.draw(st.booleans())
    bn = {"mean": rng.standard_normal(o), "variance": rng.uniform(0.2, 2, o)}
    if affine:
        bn.update(scale=rng.uniform(0.5, 2, o), bias=rng.standard_normal(o))
    bn = {k: v.astype(np.float32) for k, v in bn.items()}
    sc = {
        "scale": rng.uniform(-2, 2, o).astype(np.float32),
        "bias": rng.standard_normal(o).astype(np.float32),
    }
    note((kind, g, bias, affine, with_scale))
    bld = gc.GraphBuilder("f")
    t = bld.input("data", x.shape)
    t = bld.add(kind, t, attrs, params={"weight": w, **({"bias": b} if bias else {})}, name="layer")
    t = bld.add("BatchNorm", t, BatchNormAttrs(eps=1e-3, affine=affine), params=bn, name="bn")
    if with_scale:
        t = bld.add("Scale", t, ScaleAttrs(axis=1, bias=True), params=sc, name="sc")
    before = bld.build()
    after = passes.apply(before, ["fold-batchnorm"])
    assert after.count_types() == {"Input": 1, kind: 1}
    ref = bn_reference(
        z,
        bn["mean"],
        bn["variance"],
        np.float32(1e-3),
        bn.get("scale"),
        bn.get("bias"),
        sc["scale"] if with_scale else None,
        sc["bias"] if with_scale else None,
    )
    out = before.outputs[0]
    assert after.outputs == (out,)
    O.assert_close(gc.run(before, {"data": x})[out], ref, 1e-4, "before")
    O.assert_close(gc.run(after, {"data": x})[out], ref, TOL, "after")
    O.assert_close(run_onnxruntime(gc.to_onnx(after), {"data": x})[out], ref, TOL, "onnxruntime")


def test_fold_skips_shared_or_batch_statistics():
    b = gc.GraphBuilder("s")
    x = b.input("data", (1, 2, 4, 4))
    c = b.add("Convolution", x, gc.ConvAttrs(num_output=2, kernel=(1, 1)), name="conv")
    b.add("BatchNorm", c, BatchNormAttrs(), name="bn")
    b.add("ReLU", c, name="side")  # conv output has two consumers: cannot fold
    g = b.build()
    assert passes.apply(g, ["fold-batchnorm"]).count_types() == g.count_types()
    b = gc.GraphBuilder("s")
    x = b.input("data", (2, 2, 4, 4))
    c = b.add("Convolution", x, gc.ConvAttrs(num_output=2, kernel=(1, 1)), name="conv")
    b.add("BatchNorm", c, BatchNormAttrs(statistics="batch"), name="bn")
    g = b.build()
    after = passes.apply(g, ["fold-batchnorm"])
    assert after.count_types() == g.count_types()
    assert any("batch statistics" in n for n in after.notes)


def test_eliminate_identity_and_dead():
    b = gc.GraphBuilder("e")
    x = b.input("data", (1, 3, 6, 6))
    c = b.add("Convolution", x, gc.ConvAttrs(num_output=4, kernel=(3, 3)), name="conv")
    d = b.add("Dropout", c, DropoutAttrs(0.5), name="drop")
    s1, s2 = b.add("Split", d, SplitAttrs(2), n_outputs=2, name="split")
    r = b.add("ReLU", s1, name="relu")
    b.add("ReLU", s2, name="unused_branch")
    last = b.add("Dropout", r, DropoutAttrs(0.5), name="final_drop")
    g = b.build(outputs=[last])
    xs = np.random.default_rng(0).standard_normal((1, 3, 6, 6)).astype(np.float32)
    w, bias = g.layer("conv").params["weight"], g.layer("conv").params["bias"]
    ref = np.maximum(O.conv_direct(xs, w, bias, (1, 1), (1, 1), (0, 0), (0, 0), 1), 0)
    after = passes.apply(g, ["eliminate-identity", "eliminate-dead"])
    # the final Dropout names a graph output, so it stays; the dead branch goes
    assert after.count_types() == {"Input": 1, "Convolution": 1, "ReLU": 1, "Dropout": 1}
    assert after.layer("relu").inputs == ("conv",)
    O.assert_close(gc.run(after, {"data": xs})[last], ref, TOL)
    O.assert_close(run_onnxruntime(gc.to_onnx(after), {"data": xs})[last], ref, TOL)


@pytest.mark.parametrize(
    "name",
    [
        "shicai__MobileNet-Caffe__mobilenet_deploy.prototxt",
        "Yuelong-Yu__ERFNet-Caffe__prototxts_erfnet_deploy.prototxt",
    ],
)
def test_fold_on_zoo_models(name, zoo):
    g = gc.load(zoo / name, input_shapes={"data": (1, 3, 128, 256)} if "ERF" in name else None)
    after = passes.apply(g, ["fold-batchnorm", "eliminate-identity", "eliminate-dead"], verify=True)
    for layer in after.layers:  # only BatchNorms after a non-foldable layer remain
        if layer.type == "BatchNorm":
            assert after.producer[layer.inputs[0]].type not in ("Convolution", "Deconvolution")
    assert after.count_types().get("BatchNorm", 0) < g.count_types()["BatchNorm"]
    report = gc.validate(after)
    assert report.ok, report.lines()


def test_eliminate_identity_removes_onnx_identity():
    from graphconv.layers.activation import IdentityAttrs

    b = gc.GraphBuilder("i")
    x = b.input("data", (1, 2, 3, 3))
    i = b.add("Identity", x, IdentityAttrs(), name="id")
    r = b.add("ReLU", i, name="relu")
    g = b.build(outputs=[r])
    after = passes.apply(g, ["eliminate-identity"])
    assert after.count_types() == {"Input": 1, "ReLU": 1}
    xs = np.random.default_rng(1).standard_normal((1, 2, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(gc.run(after, {"data": xs})[r], np.maximum(xs, 0))


def test_fold_leaves_inner_product_on_another_axis_alone():
    """InnerProduct with axis 2 keeps axis 1 (C) in its output: the BatchNorm after it acts on
    C, not on the num_output features, so folding it into the weights would be wrong (even when
    C equals num_output). Neither the pass nor the interpreter's fusion folds it."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 3, 5)).astype(np.float32)
    w = rng.standard_normal((4, 15)).astype(np.float32)
    bn = {"mean": rng.standard_normal(4), "variance": rng.uniform(0.2, 2, 4)}
    bn = {k: v.astype(np.float32) for k, v in bn.items()}
    bld = gc.GraphBuilder("ip2")
    t = bld.add(
        "InnerProduct",
        bld.input("data", x.shape),
        InnerProductAttrs(4, bias=False, axis=2),
        params={"weight": w},
        name="ip",
    )
    bld.add("BatchNorm", t, BatchNormAttrs(eps=1e-3), params=bn, name="bn")
    g = bld.build()
    assert passes.apply(g, ["fold-batchnorm"]).count_types() == g.count_types()
    z = x.reshape(2, 4, 15).astype(np.float64) @ w.T.astype(np.float64)
    ref = bn_reference(z, bn["mean"], bn["variance"], np.float32(1e-3))
    O.assert_close(gc.run(g, {"data": x})[g.outputs[0]], ref, 1e-4)
    after = passes.apply(g, ["fold-batchnorm"])
    assert any(
        "left BatchNorm 'bn' in place: InnerProduct 'ip' has axis 2" in n for n in after.notes
    )


# Conv -> BatchNorm -> Scale -> BN (caffe-segnet INFERENCE, loads as Scale) -> Scale -> ReLU,
# every one in place on blob "conv": the IR names the versions conv#1 ... conv#5, conv.
CHAIN = """
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv"
        batch_norm_param { use_global_stats: true eps: 0 } }
layer { name: "sc" type: "Scale" bottom: "conv" top: "conv" scale_param { bias_term: true } }
layer { name: "segbn" type: "BN" bottom: "conv" top: "conv" bn_param { bn_mode: INFERENCE } }
layer { name: "sc2" type: "Scale" bottom: "conv" top: "conv" scale_param { bias_term: false } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
"""


def _dyadic_chain(g, rng):
    """``g`` with integer convolution weights and power-of-two affine factors (BatchNorm
    variance 4^k with eps 0, so 1/sqrt(var) is 2^-k): every product and sum stays a short
    dyadic number, exact in float32 in any order."""
    pow2 = lambda n: rng.choice([-2.0, -0.5, 0.5, 1.0, 2.0], n)  # noqa: E731
    params = {
        "conv": {"weight": rng.integers(-2, 3, (4, 2, 3, 3)), "bias": rng.integers(-2, 3, 4)},
        "bn": {"mean": rng.integers(-2, 3, 4), "variance": rng.choice([0.25, 1.0, 4.0], 4)},
        "sc": {"scale": pow2(4), "bias": rng.integers(-4, 5, 4) / 2},
        "segbn": {"scale": pow2(4), "bias": rng.integers(-4, 5, 4) / 4},
        "sc2": {"scale": pow2(4)},
    }
    return g.replace(
        layers=tuple(
            layer.replace(params={k: np.float32(v) for k, v in params[layer.name].items()})
            if layer.name in params
            else layer
            for layer in g.layers
        )
    )


def test_fold_an_in_place_chain_of_four_maps_bit_exactly(tmp_path):
    """The whole chain folds through the in-place versions: the folded convolution writes the
    tensor the ReLU read (conv#5), and on integer inputs with power-of-two factors the folded
    graph, the original run layer by layer, and the float64 oracle agree bit for bit."""
    rng = np.random.default_rng(3)
    g = _dyadic_chain(gc.load(write(tmp_path, CHAIN, inputs={"data": (1, 2, 5, 6)})), rng)
    assert [layer.outputs[0] for layer in g.layers[1:]] == [f"conv#{i}" for i in range(1, 6)] + [
        "conv"
    ]
    after = passes.apply(g, ["fold-batchnorm"])
    assert after.count_types() == {"Input": 1, "Convolution": 1, "ReLU": 1}
    assert after.layer("conv").outputs == ("conv#5",) and after.layer("relu").inputs == ("conv#5",)
    assert "fold-batchnorm: rewrote 1 layer(s)" in after.notes
    x = rng.integers(-2, 3, (1, 2, 5, 6)).astype(np.float32)
    p = {layer.name: layer.params for layer in g.layers}
    z = O.conv_direct(x, p["conv"]["weight"], p["conv"]["bias"], (1, 1), (1, 1), (1, 1), (1, 1), 1)
    y = bn_reference(z, p["bn"]["mean"], p["bn"]["variance"], 0.0)
    for name in ("sc", "segbn", "sc2"):
        shift = p[name].get("bias", np.zeros(4))
        y = bn_reference(y, np.zeros(4), np.ones(4), 0.0, p[name]["scale"], shift)
    ref = np.maximum(y, 0)
    assert np.array_equal(ref, np.round(ref * 64) / 64)  # short dyadic numbers: exact in float32
    ours = gc.run(after, {"data": x})["conv"]
    np.testing.assert_array_equal(ours, ref.astype(np.float32))
    np.testing.assert_array_equal(gc.run(g, {"data": x}, fuse=False)["conv"], ours)


def _note_for(g, layer):
    after = passes.apply(g, ["fold-batchnorm"])
    found = [n for n in after.notes if f"'{layer}' in place" in n]
    assert len(found) == 1, after.notes
    return found[0]


def test_fold_notes_every_chain_it_leaves_and_why():
    """One note per chain left alone (its head), naming the reason."""
    conv = gc.ConvAttrs(num_output=2, kernel=(1, 1))

    def net(build):
        b = gc.GraphBuilder("n")
        outputs = build(b, b.input("data", (1, 2, 4, 4)))
        return b.build(outputs=outputs if isinstance(outputs, list) else None)

    def shared(b, x):
        c = b.add("Convolution", x, conv, name="conv")
        b.add("BatchNorm", c, BatchNormAttrs(), name="bn")
        b.add("ReLU", c, name="side")

    assert "'conv' is also read by 'side'" in _note_for(net(shared), "bn")

    def output(b, x):
        c = b.add("Convolution", x, conv, name="conv")
        return [b.add("Scale", c, ScaleAttrs(), name="sc"), c]

    assert "'conv' is a graph output" in _note_for(net(output), "sc")

    def output_inside(b, x):
        c = b.add("Convolution", x, conv, name="conv")
        n = b.add("BatchNorm", c, BatchNormAttrs(), name="bn")
        return [b.add("Scale", n, ScaleAttrs(), name="sc"), n]

    g = net(output_inside)  # the BatchNorm folds, up to the graph output it writes
    assert passes.apply(g, ["fold-batchnorm"]).count_types() == {
        "Input": 1,
        "Convolution": 1,
        "Scale": 1,
    }
    assert f"'{g.layer('bn').outputs[0]}' is a graph output" in _note_for(g, "sc")

    def batch(b, x):
        c = b.add("Convolution", x, conv, name="conv")
        n = b.add("BatchNorm", c, BatchNormAttrs(statistics="batch"), name="bn")
        b.add("Scale", n, ScaleAttrs(), name="sc")  # the same chain: no second note

    g = net(batch)
    assert "batch statistics" in _note_for(g, "bn")
    assert not any("'sc'" in n for n in passes.apply(g, ["fold-batchnorm"]).notes)

    def two_inputs(b, x):
        c = b.add("Convolution", x, conv, name="conv")
        n = b.add("BatchNorm", c, BatchNormAttrs(), name="bn")
        s = b.add("Scale", [n, x], ScaleAttrs(axis=0, num_axes=-1), name="sc")
        b.add("ReLU", s, name="relu")

    g = net(two_inputs)  # the BatchNorm folds; the Scale after it is a chain of its own
    after = passes.apply(g, ["fold-batchnorm"])
    assert after.count_types() == {"Input": 1, "Convolution": 1, "Scale": 1, "ReLU": 1}
    assert "second input" in _note_for(g, "sc")

    def after_concat(b, x):
        c = b.add("Concat", [x, x], name="cat")
        b.add("BatchNorm", c, BatchNormAttrs(), name="bn")

    assert "follows Concat 'cat'" in _note_for(net(after_concat), "bn")
    assert "reads graph input 'data'" in _note_for(
        net(lambda b, x: b.add("Scale", x, ScaleAttrs(), name="sc")), "sc"
    )
