"""graphconv explain: the drawn grids have the sizes brute force gives, the SVGs parse as XML.

Oracles: tests/oracles/geometry.py (windows counted one at a time, a transposed convolution by
scattering every product) for the output sizes and the cells one input sample reaches;
xml.etree for the SVG.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from helpers import ROOT, cli
from oracles.geometry import caffe_pool_windows, conv_windows, scatter_deconv

import graphconv as gc
from graphconv.errors import UsageError
from graphconv.explain import CELL, GAP, from_layer, parse_spec, svg, text

NS = {"s": "http://www.w3.org/2000/svg"}

SPECS = [
    "conv k=3 s=1 p=1",
    "conv k=3 s=2 p=1 n=7",
    "conv1d k=5 s=3 p=2 n=11",
    "dilated k=3 d=2",
    "dilated k=3 d=3 p=3 n=8",
    "pool k=2 s=2",
    "deconv k=3 s=2 p=1 d=1",
    "deconv k=4 s=2 p=1",
    "deconv1d k=3 s=3 p=0 d=2",
    "deconv k=3 s=2 p=3 n=5",  # pads beyond d(k-1): the lowering crops
    "deconv k=3 s=2 p=1 op=1 n=3",
]


def panel(root, name):
    return root.find(f".//s:g[@id='{name}']", NS)


def cells(group, cls):
    return group.findall(f"s:rect[@class='{cls}']", NS)


def grid_shape(rects) -> tuple[int, ...]:
    """(rows, cols) of a grid of cells read back from their coordinates."""
    ys = sorted({float(r.get("y")) for r in rects})
    xs = sorted({float(r.get("x")) for r in rects})
    return len(ys), len(xs)


def expected_out(spec) -> tuple[int, ...]:
    outs = []
    for a in spec.axes:
        if spec.kind == "deconv":
            outs.append(len(scatter_deconv(np.ones(a.n), np.ones(a.k), a.s, a.d, a.pb, a.pe, a.op)))
        else:
            outs.append(conv_windows(a.n, a.k, a.s, a.d, a.pb, a.pe))
    return tuple(outs)


@pytest.mark.parametrize("desc", SPECS)
def test_drawn_grids_have_the_brute_force_sizes(desc):
    spec = parse_spec(desc)
    out = expected_out(spec)
    assert spec.out() == out
    root = ET.fromstring(svg(spec, animate=True))
    direct = panel(root, "direct")
    rank = len(spec.axes)
    want = (1, out[0]) if rank == 1 else out
    assert grid_shape(cells(direct, "out")) == want
    ins = cells(direct, "in")
    assert len(ins) == math.prod(a.n for a in spec.axes)
    if spec.kind != "deconv":
        pads = cells(direct, "pad")
        padded = math.prod(a.n + a.pb + a.pe for a in spec.axes)
        assert len(ins) + len(pads) == padded
        taps = direct.findall(".//s:rect[@class='tap']", NS)
        assert len(taps) == math.prod(a.k for a in spec.axes)
        return
    # the footprint of the centre input sample: where scattering that one sample lands
    a = spec.axes[-1]
    x = np.zeros(a.n)
    x[a.n // 2] = 1
    hit = np.flatnonzero(scatter_deconv(x, np.ones(a.k), a.s, a.d, 0, 0, 0))
    taps = direct.findall(".//s:rect[@class='tap']", NS)
    cols = sorted({round((float(t.get("x")) - 3) / (CELL + GAP), 6) for t in taps})
    first = min(float(r.get("x")) for r in cells(direct, "out") + cells(direct, "crop"))
    assert [c - first / (CELL + GAP) for c in cols] == pytest.approx(list(hit))
    lowered = panel(root, "deconv-to-conv")
    assert grid_shape(cells(lowered, "out")) == want
    kept = math.prod(a.n for a in spec.axes)  # every input sample, less any cropped
    assert len(cells(lowered, "in")) <= kept
    if all(a.pb <= a.d * (a.k - 1) and a.pe - a.op <= a.d * (a.k - 1) for a in spec.axes):
        assert len(cells(lowered, "in")) == kept
    sub = panel(root, "deconv-to-subpixel")
    assert grid_shape(cells(sub, "phase")) == want


def test_dilated_dense_kernel():
    root = ET.fromstring(svg(parse_spec("dilated k=3 d=2")))
    dense = panel(root, "dilated-to-dense")
    assert len(cells(dense, "tapcell")) == 9 and len(cells(dense, "dense0")) == 25 - 9


def test_text_form():
    t = text(parse_spec("deconv k=3 s=2 p=1 d=1"))
    assert "input 4 -> output 7" in t
    assert "deconv-to-conv: insert 1 zero(s)" in t and "phase 1" in t
    assert ". x 0 x 0 x 0 x ." in t  # padding 1, samples, inserted zeros
    t = text(parse_spec("dilated1d k=3 d=2"))
    assert "k   k   k" in t and "dilated-to-dense" in t


@pytest.mark.parametrize(
    "desc", ["blur k=3", "conv k=3 q=1", "conv k=x", "deconv k=3 s=2 op=2", "conv k=9 n=3", ""]
)
def test_bad_descriptions(desc):
    with pytest.raises(UsageError):
        parse_spec(desc)


def test_model_layers():
    g = gc.load(ROOT / "models" / "fcn_tiny.prototxt")
    spec = from_layer(g, "up1")  # 16x24 input: drawn at a small size, same arithmetic
    assert spec.kind == "deconv" and spec.model_size == (16, 24)
    assert [(a.k, a.s, a.pb) for a in spec.axes] == [(4, 2, 1), (4, 2, 1)]
    w = gc.load(ROOT / "models" / "wavenet_dilated_1d.prototxt")
    spec = from_layer(w, "dil4")
    assert len(spec.axes) == 1 and spec.axes[0].d == 4
    ET.fromstring(svg(spec))
    with pytest.raises(UsageError):
        from_layer(g, "relu1")


def test_pooling_counts_caffe_windows():
    b = gc.GraphBuilder("p")
    x = b.input("x", (1, 2, 7, 7))
    b.add("Pooling", x, gc.PoolAttrs(kernel=3, stride=2, pad=1))
    spec = from_layer(b.build(), b.layers[-1].name)
    assert spec.out() == (caffe_pool_windows(7, 3, 2, 1, "ceil"),) * 2


def test_cli(tmp_path, capsys):
    out = tmp_path / "e.svg"
    r = cli("explain", "deconv k=3 s=2 p=1 d=1", "-o", out, "--animate")
    assert r.returncode == 0, r.stderr
    root = ET.parse(out).getroot()
    assert root.find(".//s:animateTransform", NS) is not None

    from graphconv.cli import main  # in process: the same code without the start-up

    model = str(ROOT / "models" / "fcn_tiny.prototxt")
    assert main(["explain", model, "down1"]) == 0
    assert "k=3 s=2" in capsys.readouterr().out
    assert main(["explain", model, "nope", "-o", str(tmp_path / "x.svg")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "x.svg").exists()


@pytest.mark.parametrize("path", sorted((ROOT / "models").glob("*.prototxt")), ids=lambda p: p.stem)
def test_every_windowed_layer_of_the_bundled_models(path):
    g = gc.load(path)
    names = [la.name for la in g.layers if la.type in ("Convolution", "Deconvolution", "Pooling")]
    assert names
    for name in names:
        spec = from_layer(g, name)
        assert spec.out() == expected_out(spec)
        ET.fromstring(svg(spec))
        assert text(spec).startswith(spec.kind)
