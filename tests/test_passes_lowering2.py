"""The profile-limit lowerings: limit-stride, split-large-kernel, explicit-pad (and
inner-product-to-conv).

Oracles: the brute-force direct convolution and scatter-add transposed convolution
(oracles.conv_direct, deconv_scatter), Caffe's pooling written out (oracles.caffe_pool), and
onnxruntime on the export. Convolution data are small integers, so every engine must equal the
oracle bit for bit; each rewrite site is also checked on its own (``verify="exact"``). After a
pass, no layer may exceed the limit it enforces (or it is left with a note saying why).

Injected bugs: every new lowering pass (here and in the test_pass_* files) gets one wrong edit
of its replacement (a weight off by one, a pad shifted, Concat inputs swapped, a term added
twice); the exact site check must flag each, naming the first differing element.
"""

from __future__ import annotations

import importlib

import numpy as np
import oracles as O
import pytest
from helpers import (
    SETTINGS,
    conv_case,
    conv_out_sp,
    deconv_case,
    deconv_out_sp,
    integer_conv_case,
    integer_deconv_case,
    one_layer_graph,
)
from helpers import lowering_three_ways as three_ways
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

import graphconv as gc
from graphconv import passes


def _windowed(g):
    return [lay for lay in g.layers if lay.type in ("Convolution", "Deconvolution", "Pooling")]


@settings(max_examples=40, **SETTINGS)
@given(st.integers(1, 3).flatmap(conv_case), st.integers(1, 3), st.sampled_from(["slice", "conv"]))
def test_limit_stride_on_convolutions(case, limit, subsample):
    note(repr(case))
    assume(min(conv_out_sp(case)) >= 1 and max(case["stride"]) > limit)
    g, x, ref = integer_conv_case(case)
    after = passes.apply(g, [f"limit-stride:max={limit}:subsample={subsample}"], verify="exact")
    if subsample == "conv" and any("prime factor is larger" in n for n in after.notes):
        assert limit == 1 or any(s % 3 == 0 or s % 5 == 0 for s in case["stride"])
        return
    assert all(s <= limit for lay in _windowed(after) for s in lay.attrs.stride)
    assert ("StridedSlice" in after.count_types()) == (subsample == "slice")
    model = three_ways(g, after, x, ref, opset=case["opset"], exact=True)
    if subsample == "conv":
        assert {node.op_type for node in model.graph.node} == {"Conv"}


@settings(max_examples=30, **SETTINGS)
@given(st.integers(1, 3).flatmap(deconv_case), st.integers(1, 3))
def test_limit_stride_on_deconvolutions_inserts_zeros_first(case, limit):
    note(repr(case))
    assume(min(deconv_out_sp(case)) >= 1 and max(case["stride"]) > limit)
    g, x, ref, _ = integer_deconv_case(case)
    after = passes.apply(g, [f"limit-stride:max={limit}"], verify="exact")
    if after.count_types()["Deconvolution"] == 1:  # left in place: say why, and be right
        (why,) = [n for n in after.notes if "left Deconvolution" in n]
        primes = [
            p
            for s in case["stride"]
            for p in range(2, s + 1)
            if s % p == 0 and all(p % q for q in range(2, p))
        ]
        assert ("prime factor" in why and max(primes) > limit) or "output_padding" in why
        return
    assert all(s <= limit for lay in _windowed(after) for s in lay.attrs.stride)
    three_ways(g, after, x, ref, opset=case["opset"], exact=True)


@settings(max_examples=40, **SETTINGS)
@given(st.integers(1, 3).flatmap(conv_case), st.integers(1, 3))
def test_split_large_kernel(case, limit):
    note(repr(case))
    assume(min(conv_out_sp(case)) >= 1 and max(case["kernel"]) > limit)
    g, x, ref = integer_conv_case(case)
    after = passes.apply(g, [f"split-large-kernel:max={limit}"], verify="exact")
    if "Convolution" in after.count_types() and any(
        "only ever meet the padding" in n for n in after.notes
    ):
        return  # some piece would read padding only: left whole, as the note says
    convs = [lay for lay in after.layers if lay.type == "Convolution"]
    assert all(k <= limit for c in convs for k in c.attrs.kernel)
    expected = np.prod([-(-k // limit) for k in case["kernel"]])
    assert len(convs) == expected and after.count_types()["Binary"] == expected - 1
    assert sum(c.params["weight"].size for c in convs) == np.prod(
        (case["O"], case["C"] // case["group"]) + case["kernel"]
    )
    model = three_ways(g, after, x, ref, opset=case["opset"], exact=True)
    assert {n.op_type for n in model.graph.node} <= {"Conv", "Pad", "Add"}


@settings(max_examples=40, **SETTINGS)
@given(st.integers(1, 3).flatmap(conv_case), st.integers(0, 2))
def test_explicit_pad_on_convolutions(case, limit):
    note(repr(case))
    assume(min(conv_out_sp(case)) >= 1)
    assume(max(case["pads_begin"] + case["pads_end"]) > limit)
    g, x, ref = integer_conv_case(case)
    after = passes.apply(g, [f"explicit-pad:max={limit}"], verify="exact")
    assert after.count_types()["Pad"] == 1
    (conv,) = _windowed(after)
    assert max(conv.attrs.pads_begin + conv.attrs.pads_end) <= limit
    three_ways(g, after, x, ref, opset=case["opset"], exact=True)


@settings(max_examples=30, **SETTINGS)
@given(st.integers(1, 3).flatmap(deconv_case), st.integers(0, 2))
def test_explicit_pad_on_deconvolutions_crops_after(case, limit):
    note(repr(case))
    assume(min(deconv_out_sp(case)) >= 1)
    assume(max(case["pads_begin"] + case["pads_end"]) > limit)
    g, x, ref, _ = integer_deconv_case(case)
    after = passes.apply(g, [f"explicit-pad:max={limit}"], verify="exact")
    (deconv,) = _windowed(after)
    assert max(deconv.attrs.pads_begin + deconv.attrs.pads_end) <= limit
    assert after.layers[-1].type == "Pad"
    three_ways(g, after, x, ref, opset=case["opset"], exact=True)


@settings(max_examples=30, **SETTINGS)
@given(st.data())
def test_limit_stride_on_caffe_pooling(data):
    n = data.draw(st.integers(1, 3))
    k = data.draw(st.integers(1, 4))
    s = data.draw(st.integers(2, 4))
    p = data.draw(st.integers(0, k - 1))
    method = data.draw(st.sampled_from(["MAX", "AVE"]))
    rounding = data.draw(st.sampled_from(["CEIL", "FLOOR"]))
    sp = tuple(data.draw(st.integers(k, 9 if n < 3 else 5)) for _ in range(n))
    x = np.random.default_rng(data.draw(st.integers(0, 999))).standard_normal((1, 2) + sp)
    x = x.astype(np.float32)
    attrs = gc.PoolAttrs(
        kernel=(k,) * n, stride=(s,) * n, pad=(p,) * n, method=method, round_mode=rounding
    )
    try:
        g = one_layer_graph("Pooling", attrs, x.shape)
    except gc.GraphconvError:  # a configuration Caffe refuses (an empty last AVE window)
        assume(False)
    after = passes.apply(g, ["limit-stride:max=1"])
    if "StridedSlice" not in after.count_types():
        assert any("past the last one" in t for t in after.notes)
        assert rounding == "CEIL"
        return
    assert all(v == 1 for v in _windowed(after)[0].attrs.stride)
    ref, _ = O.caffe_pool(x, (k,) * n, (s,) * n, (p,) * n, method, rounding)
    # the oracle sums in float64, the kernels in float32 in another order: up to k^n = 64
    # terms, so rounding up to 64 * 2^-24 = 3.8e-6 of the window's sum of |x|, which can exceed
    # the largest |output| by a small factor on normal inputs (1.4e-6 was seen): 1e-5
    three_ways(g, after, x, ref.astype(np.float32), tol=1e-5)
    np.testing.assert_array_equal(
        gc.run(after, {"data": x})[g.outputs[0]], gc.run(g, {"data": x})[g.outputs[0]]
    )


# ---- injected bugs: the exact site check catches a wrong replacement ---------------------------


def _bump_first(type_, fix):
    """An edit of a replacement: ``fix`` applied to the attrs or params of its first ``type_``."""

    def edit(layers):
        i = next(i for i, lay in enumerate(layers) if lay.type == type_)
        return [*layers[:i], fix(layers[i]), *layers[i + 1 :]]

    return edit


def _weight_plus_one(layer):
    p = dict(layer.params)
    key = "weight" if "weight" in p else "constant"
    p[key] = p[key].copy()
    p[key].flat[-1] += 1
    return layer.replace(params=p)


def _pad_shift(layer):
    import dataclasses

    a = layer.attrs
    return layer.replace(
        attrs=dataclasses.replace(
            a,
            pads_begin=tuple(v + 1 for v in a.pads_begin),
            pads_end=tuple(v - 1 for v in a.pads_end),
        )
    )


def _bug_graph(kind):
    b = gc.GraphBuilder(kind, seed=5)
    x = b.input("data", (1, 4, 7, 6))
    if kind == "conv":
        attrs = gc.ConvAttrs(num_output=4, kernel=(5, 4), stride=(3, 2), pads=3, group=2)
        b.add("Convolution", x, attrs, name="layer")
    elif kind == "deconv":
        attrs = gc.DeconvAttrs(
            num_output=4,
            kernel=(3, 1),
            stride=(2, 3),
            dilation=(2, 1),
            pads_begin=(0, 1),
            pads_end=(3, 0),
            output_padding=(1, 2),
            group=2,
        )
        b.add("Deconvolution", x, attrs, name="layer")
    elif kind == "pad":
        b.add("Pad", x, gc.PadAttrs((2, -1), (-2, 1)), name="layer")
    elif kind == "resize":
        from graphconv.layers.resize import ResizeAttrs

        attrs = ResizeAttrs(sizes=(1, 4, 10, 13), mode="nearest", nearest_mode="floor")
        b.add("Resize", x, attrs, name="layer")
    else:
        b.add("Scale", x, gc.ScaleAttrs(bias=True), name="layer")
    return b.build()


BUGS = [
    ("deconv-to-subpixel", "deconv", "Convolution", _weight_plus_one),
    (
        "deconv-to-subpixel:interleave=rank4",
        "deconv",
        "Concat",
        lambda lay: lay.replace(inputs=lay.inputs[::-1]),
    ),
    ("deconv-to-subpixel", "deconv", "ConstantBinary", _weight_plus_one),
    ("split-grouped-deconv", "deconv", "Deconvolution", _weight_plus_one),
    ("remove-output-padding", "deconv", "Pad", _pad_shift),
    ("limit-stride:max=1", "conv", "Convolution", _weight_plus_one),
    (
        "split-large-kernel:max=2",
        "conv",
        "Binary",
        lambda lay: lay.replace(inputs=lay.inputs[:1] * 2),
    ),
    ("explicit-pad:max=1", "conv", "Pad", _pad_shift),
    ("explicit-pad:max=0", "deconv", "Pad", _pad_shift),
    ("batchnorm-to-affine", "scale", "ConstantBinary", _weight_plus_one),
    ("resize-to-conv", "resize", "Convolution", _weight_plus_one),
    ("pad-to-conv", "pad", "Convolution", _weight_plus_one),
]


@pytest.mark.parametrize(
    "spec, kind, type_, fix", BUGS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_exact_check_catches_an_injected_bug(spec, kind, type_, fix, monkeypatch):
    from graphconv.passes import _rewrite

    real = _rewrite.rewrite
    edit = _bump_first(type_, fix)

    def wrong(graph, rule, pass_name):
        def bad(layer, ctx):
            out = rule(layer, ctx)
            return edit(out) if isinstance(out, list) else out

        return real(graph, bad, pass_name)

    g = _bug_graph(kind)
    good, checks = passes.apply_checked(g, [spec])
    assert checks and all(c.ok and c.mode == "exact" for c in checks), [c.line() for c in checks]
    module = passes.registry()[spec.split(":")[0]].__module__
    monkeypatch.setattr(importlib.import_module(module), "rewrite", wrong)
    _, checks = passes.apply_checked(g, [spec])
    (c,) = checks
    assert c.mode == "exact" and not c.ok and "first differs at (" in c.detail, c.line()


@pytest.mark.parametrize(
    "spec, message",
    [
        ("limit-stride:max=two", "option max=two is not an integer"),
        ("limit-stride:max=0", "max=0 must be >= 1"),
        ("split-large-kernel:size=3", r"has no option 'size' \(options: max=INT\)"),
        ("explicit-pad:max=-1", "max=-1 must be >= 0"),
        ("bilinear-to-deconv:exact=2", "exact=2 must be 0 or 1"),
        ("deconv-to-subpixel:interleave=1", "interleave=1 is not one of"),
        ("batchnorm-to-affine:form=dense", "form=dense is not one of mul-add, conv"),
        ("deconv-to-subpixel:bias-only=zero", "bias-only=zero is not one of pad, conv"),
        ("resize-to-conv:max=1", "takes no options"),
    ],
)
def test_options_are_checked(spec, message):
    g = one_layer_graph("Convolution", gc.ConvAttrs(num_output=1, kernel=(1,)), (1, 1, 3))
    with pytest.raises(gc.UsageError, match=message):
        passes.apply(g, [spec])


@settings(max_examples=25, **SETTINGS)
@given(st.integers(0, 3), st.integers(1, 3), st.integers(1, 4), st.booleans(), st.integers(0, 999))
def test_inner_product_to_conv(n, c, m, bias, seed):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 3)), c) + tuple(int(v) for v in rng.integers(1, 4, n))
    k = int(np.prod(shape[1:]))
    w = rng.integers(-2, 3, (m, k)).astype(np.float32)
    b = rng.integers(-2, 3, m).astype(np.float32) if bias else None
    params = {"weight": w, **({"bias": b} if bias else {})}
    g = one_layer_graph("InnerProduct", gc.InnerProductAttrs(m, bias=bias), shape, params)
    after = passes.apply(g, ["inner-product-to-conv"], verify="exact")
    assert "InnerProduct" not in after.count_types() and after.count_types()["Convolution"] == 1
    x = rng.integers(-2, 3, shape).astype(np.float32)
    ref = O.inner_product(x, w, b, 1)
    model = three_ways(g, after, x, ref, exact=True)
    assert {node.op_type for node in model.graph.node} <= {"Conv", "Reshape"}


ZOO_CASES = {
    "BVLC__caffe__models_bvlc_googlenet_deploy": [
        "limit-stride:max=1",
        "split-large-kernel:max=3",
        "explicit-pad:max=0",
        "inner-product-to-conv",
    ],
    "TimoSaemann__ENet__prototxts_enet_deploy_final": [
        "batchnorm-to-affine",
        "split-large-kernel:max=3",
    ],
    "shicai__MobileNet-Caffe__mobilenet_deploy": ["batchnorm-to-affine", "limit-stride:max=1"],
}


@pytest.mark.parametrize("model", sorted(ZOO_CASES))
def test_real_models_every_site_checked(model):
    """Each pass on a real model: every rewrite site agrees with its original (bit-equal where
    it stays on integers), and the limit the pass enforces holds or is named in a note."""
    from helpers import ZOO, zoo_files

    zoo_files()  # skips (fails under CI) without the caffe-zoo folder
    g = gc.load(ZOO / f"{model}.prototxt", seed=0)
    for spec in ZOO_CASES[model]:
        after, checks = passes.apply_checked(g, [spec])
        assert checks and all(c.ok for c in checks), [c.line() for c in checks if not c.ok]
        name, _, limit = spec.partition(":max=")
        left = {n.split("'")[1] for n in after.notes if n.startswith(f"{name}: left")}
        kept = [lay for lay in _windowed(after) if lay.name not in left]
        if name == "limit-stride":
            assert all(s <= int(limit) for lay in kept for s in lay.attrs.stride)
        elif name == "split-large-kernel":
            convs = [lay for lay in kept if lay.type == "Convolution"]
            assert all(k <= int(limit) for lay in convs for k in lay.attrs.kernel)
        elif name == "explicit-pad":
            convs = [lay for lay in kept if lay.type != "Pooling"]
            assert all(
                p <= int(limit) for c in convs for p in c.attrs.pads_begin + c.attrs.pads_end
            )
        elif name == "inner-product-to-conv":
            assert "InnerProduct" not in after.count_types()
        else:
            assert not {"BatchNorm", "Scale"} & set(after.count_types())


@settings(max_examples=30, **SETTINGS)
@given(st.data())
def test_pad_to_conv(data):
    n = data.draw(st.integers(1, 3))
    sp = tuple(data.draw(st.integers(1, 6 if n < 3 else 4)) for _ in range(n))
    pb = tuple(data.draw(st.integers(-h + 1, 3)) for h in sp)
    pe = tuple(data.draw(st.integers(-(h + b) + 1 if b < 0 else -h + 1, 3)) for h, b in zip(sp, pb))
    assume(all(h + b + e >= 1 for h, b, e in zip(sp, pb, pe)))
    shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3))) + sp
    g = one_layer_graph("Pad", gc.PadAttrs(pb, pe), shape)
    after = passes.apply(g, ["pad-to-conv"], verify="exact")
    assert after.count_types() == {"Input": 1, "Convolution": 1}
    x = np.random.default_rng(data.draw(st.integers(0, 999))).standard_normal(shape)
    x = x.astype(np.float32)
    ref = O.pad_reference(x, pb, pe, 0.0)
    model = three_ways(g, after, x, ref, exact=True)
    assert {node.op_type for node in model.graph.node} == {"Conv"}
