"""passes.verify: every rewrite site checked on its own, exactly where the arithmetic allows.

Oracles: bit equality of the original layers against their replacement on small-integer inputs
and weights (float32 sums of integers below 2**24 are exact in any order), and the interpreter's
own semantics of the original layer. Each lowering pass gets a wrong rewrite injected (a missing
flip, an off-by-one pad, a dropped tap, ...); the exact check must catch every one, naming the
pass, the layer and the first differing element. Beside it, the whole graph compared on random
float inputs at a relative tolerance of 1e-4 (what ``verify=True`` and ``validate`` do) is
recorded: the table says honestly which bugs it also catches.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import ROOT, ZOO, zoo_files

import graphconv as gc
from graphconv import passes
from graphconv.passes.verify import summarize


def _graph(kind: str) -> gc.Graph:
    b = gc.GraphBuilder(kind, seed=3)
    if kind == "deconv":
        x = b.input("x", (1, 4, 6, 5))
        b.add(
            "Deconvolution",
            x,
            gc.DeconvAttrs(num_output=6, kernel=(3, 4), stride=(2, 3), pads=1, group=2),
            name="up",
        )
    elif kind == "upsample":
        x = b.input("x", (1, 3, 5, 4))
        b.add("Upsample", x, gc.UpsampleAttrs(scale=(2, 3)), name="up")
    elif kind == "dilated":
        x = b.input("x", (1, 4, 11, 9))
        b.add(
            "Convolution",
            x,
            gc.ConvAttrs(num_output=5, kernel=(3, 3), dilation=2, pads=2),
            name="atrous",
        )
    elif kind == "bn":
        x = b.input("x", (1, 3, 7, 7))
        y = b.add("Convolution", x, gc.ConvAttrs(num_output=4, kernel=(3, 3), pads=1), name="conv")
        y = b.add("BatchNorm", y, name="bn")
        b.add("Scale", y, gc.ScaleAttrs(bias=True), name="scale")
    elif kind == "separable":
        x = b.input("x", (1, 4, 9, 9))
        b.add(
            "SeparableConvolution",
            x,
            gc.SeparableAttrs(num_output=6, kernel=(3, 3), pads=1, multiplier=2),
            name="sep",
        )
    return b.build()


def _edit(module, edit):
    """Wrap a pass module's rule so that ``edit`` changes each replacement it makes."""
    rule = module._rule

    def wrong(layer, ctx):
        out = rule(layer, ctx)
        return edit(out) if isinstance(out, list) else out

    return wrong


def _params(layers, type_, fn, which=0):
    hits = [i for i, layer in enumerate(layers) if layer.type == type_]
    i = (
        max(hits, key=lambda j: layers[j].params["weight"].size)
        if which == "largest"
        else hits[which]
    )
    layers[i] = layers[i].replace(
        params={k: fn(v) if k == "weight" else v for k, v in layers[i].params.items()}
    )
    return layers


def _attrs(layers, type_, fn):
    """``fn`` applied to the attributes of the first layer of ``type_``."""
    i = next(i for i, layer in enumerate(layers) if layer.type == type_)
    return [*layers[:i], layers[i].replace(attrs=fn(layers[i].attrs)), *layers[i + 1 :]]


def _shift_pad(a):
    from graphconv.layers import PadAttrs

    return PadAttrs(tuple(v + 1 for v in a.pads_begin), tuple(v - 1 for v in a.pads_end))


def _drop_tap(w):
    w = w.copy()
    w[..., -1, -1] = 0
    return w


# (pass, graph, bug, edit of the replacement layers, whether 1e-4 on random floats catches it)
BUGS = [
    (
        "deconv-to-conv",
        "deconv",
        "weights not flipped",
        "deconv_to_conv",
        lambda ls: _params(ls, "Convolution", lambda w: np.flip(w, (2, 3)).copy()),
        True,
    ),
    (
        "deconv-to-conv",
        "deconv",
        "pad off by one",
        "deconv_to_conv",
        lambda ls: _attrs(ls, "Pad", _shift_pad),
        True,
    ),
    (
        "upsample-to-deconv",
        "upsample",
        "one kernel tap missing",
        "upsample_to_deconv",
        lambda ls: _params(ls, "Deconvolution", _drop_tap),
        True,
    ),
    (
        "dilated-to-dense",
        "dilated",
        "taps shifted by one",
        "dilated_to_dense",
        lambda ls: _params(ls, "Convolution", lambda w: np.roll(w, 1, axis=3)),
        True,
    ),
    (
        "deconv-to-subpixel",
        "deconv",
        "one phase flipped",
        "deconv_to_subpixel",
        lambda ls: _params(ls, "Convolution", lambda w: np.flip(w, (2, 3)).copy(), which="largest"),
        True,
    ),
    (
        "dilated-to-space-to-batch",
        "dilated",
        "pad off by one",
        "dilated_to_space_to_batch",
        lambda ls: _attrs(ls, "Pad", _shift_pad),
        True,
    ),
    ("split-separable", "separable", "one depthwise tap missing", "split_separable", None, True),
]


def _random_float_check(before, after) -> bool:
    """What a whole-graph tolerance check sees: True when it flags the rewrite."""
    from graphconv.validate import compare

    feeds = gc.random_feeds(before, seed=1)
    a, b = gc.run(before, feeds, fuse=False), gc.run(after, feeds)
    return any(not compare(b[t], a[t])[1] <= 1e-4 for t in before.outputs)


@pytest.mark.parametrize(
    "pass_name",
    [
        "deconv-to-conv",
        "upsample-to-deconv",
        "dilated-to-dense",
        "deconv-to-subpixel",
        "dilated-to-space-to-batch",
        "split-separable",
    ],
)
def test_correct_rewrites_are_bit_equal_on_integers(pass_name):
    kind = {
        "deconv-to-conv": "deconv",
        "upsample-to-deconv": "upsample",
        "dilated-to-dense": "dilated",
        "deconv-to-subpixel": "deconv",
        "dilated-to-space-to-batch": "dilated",
        "split-separable": "separable",
    }[pass_name]
    after, checks = passes.apply_checked(_graph(kind), [pass_name])
    assert len(checks) == 1
    (c,) = checks
    assert c.mode == "exact" and c.ok and c.max_abs == 0, c.line()
    assert (
        passes.apply(_graph(kind), [pass_name], verify="exact").count_types() == after.count_types()
    )


@pytest.mark.parametrize("bug", BUGS, ids=lambda b: f"{b[0]}:{b[2]}")
def test_exact_check_catches_an_injected_wrong_rewrite(bug, monkeypatch):
    import importlib

    pass_name, kind, what, module_name, edit, float_catches = bug
    module = importlib.import_module(f"graphconv.passes.{module_name}")
    if module_name == "split_separable":
        make = module._rule_for

        def wrong_for(rank, tol):
            rule = make(rank, tol)

            def wrong(layer, ctx):
                out = rule(layer, ctx)
                if isinstance(out, list):
                    out = _params(out, "Convolution", _drop_tap)
                return out

            return wrong

        monkeypatch.setattr(module, "_rule_for", wrong_for)
    else:
        monkeypatch.setattr(module, "_rule", _edit(module, edit))
    graph = _graph(kind)
    after, checks = passes.apply_checked(graph, [pass_name])
    (c,) = checks
    assert c.mode == "exact" and not c.ok, c.line()
    assert c.pass_name == pass_name and "first differs at (" in c.detail
    with pytest.raises(gc.GraphconvError, match=f"{pass_name}: layer '"):
        passes.apply(graph, [pass_name], verify="exact")
    # the whole-graph float check, for comparison (see the module docstring)
    assert _random_float_check(graph, after) == float_catches


def test_non_integer_site_is_checked_by_tolerance_and_says_why():
    after, checks = passes.apply_checked(_graph("bn"), ["fold-batchnorm"])
    (c,) = checks
    assert c.mode == "tolerance" and c.ok and "BatchNorm" in c.detail
    # BatchNorm folded into float32 weights: reassociated float32 arithmetic, ~1e-7 relative
    assert c.rel < 1e-5
    assert "checked by tolerance" in c.line()


def test_lossy_split_fails_its_site_check():
    g = gc.load(ROOT / "models" / "fcn_tiny.prototxt")
    _, checks = passes.apply_checked(g, ["split-separable:rank=1"])
    assert checks and all(c.mode == "tolerance" and not c.ok for c in checks)
    with pytest.raises(gc.GraphconvError, match="split-separable: layer '"):
        passes.apply(g, ["split-separable:rank=1"], verify="exact")


EXACT_LOWERINGS = [
    ["upsample-to-deconv", "deconv-to-conv"],
    ["deconv-to-subpixel", "dilated-to-space-to-batch"],
]
DENSE_BYTES = 200_000_000  # dilated-to-dense materialises zero-inserted kernels: dilation8's
#                            fc6 (4096x512, 7x7 at dilation 4 -> 25x25) would take 5 GB


def _dense_bytes(graph) -> int:
    import math

    return sum(
        4
        * layer.params["weight"].size
        // math.prod(layer.attrs.kernel)
        * math.prod(layer.attrs.extent)
        for layer in graph.layers
        if layer.type == "Convolution" and any(d > 1 for d in layer.attrs.dilation)
    )


@pytest.mark.parametrize(
    "path",
    (zoo_files() if ZOO.is_dir() else [None]),
    ids=lambda p: p.stem.split("__", 1)[1][:40] if p else "none",
)
def test_every_zoo_rewrite_site_is_checked_exactly(path):
    if path is None:
        zoo_files()
    # YOLOv3-tiny loads only under its fork's pooling rounding (test_caffe_zoo.py)
    fork = "caffe-yolov3" if path.name.startswith("ChenYingpeng__caffe-yolov3") else None
    graph = gc.load(path, caffe_fork=fork)
    pipelines = list(EXACT_LOWERINGS)
    if _dense_bytes(graph) <= DENSE_BYTES:
        pipelines.append(["dilated-to-dense"])
    for names in pipelines:
        _, checks = passes.apply_checked(graph, names)
        assert all(c.mode == "exact" and c.ok for c in checks), summarize(checks)
