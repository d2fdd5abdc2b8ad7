"""graphconv draw (graphconv.draw and the CLI): the drawings parse as XML and show the graph.

Oracles: xml.etree (the SVG and the HTML's drawing parse), the graph's own layer and tensor
lists counted independently of the drawing, and geometry read back from the SVG (every arrow
runs downwards, no two boxes overlap).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest
from helpers import ROOT, ZOO, cli, load_unweighted, zoo_files

import graphconv as gc
from graphconv.draw import BOX_H, BOX_W, MAX_CHARS, compare_svg, graph_svg, html_page
from graphconv.errors import UsageError
from graphconv.explain import from_layer
from graphconv.explain import svg as explain_svg
from graphconv.explain import text as explain_text
from graphconv.passes import apply_recorded
from graphconv.summary import csv_text, summarize

WINDOWED = ("Convolution", "Deconvolution", "Pooling", "SeparableConvolution")

NS = {"s": "http://www.w3.org/2000/svg"}
MODELS = sorted((ROOT / "models").glob("*.prototxt"))


def boxes(svg: str) -> dict[str, tuple[float, float, str, str]]:
    """Layer name -> (x, y, fill, stroke) read back from the drawing."""
    root = ET.fromstring(svg)
    out = {}
    for g in root.iterfind(".//s:g[@class='layer']", NS):
        name = g.get("data-info").split(" (", 1)[0]
        r = g.find("s:rect", NS)
        out[name] = (float(r.get("x")), float(r.get("y")), r.get("fill"), r.get("stroke"))
    return out


def assert_readable(graph, svg: str) -> None:
    found = boxes(svg)
    assert list(found) == [la.name for la in graph.layers]
    edges = ET.fromstring(svg).findall(".//s:path[@class='edge']", NS)
    producer = {t: la.name for la in graph.layers for t in la.outputs}
    assert len(edges) == sum(len({producer[t] for t in la.inputs}) for la in graph.layers)
    for la in graph.layers:  # top to bottom: every input's box is on a higher row
        for t in la.inputs:
            assert found[producer[t]][1] + BOX_H < found[la.name][1], (la.name, t)
    rows: dict[float, list[float]] = {}
    for x, y, _, _ in found.values():
        rows.setdefault(y, []).append(x)
    for xs in rows.values():  # no overlap within a row
        xs.sort()
        assert all(b - a >= BOX_W for a, b in zip(xs, xs[1:]))
    for text in ET.fromstring(svg).iterfind(".//s:text", NS):
        assert len(text.text) <= MAX_CHARS or text.get("class") == "title"


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_every_bundled_model(path):
    g = gc.load(path)
    svg = graph_svg(g, title=g.name)
    assert_readable(g, svg)
    assert svg == graph_svg(gc.load(path), title=g.name)  # deterministic


def test_highlight_and_tooltips():
    g = gc.load(ROOT / "models" / "fcn_tiny.prototxt")
    svg = graph_svg(g, highlight=["up1"])
    found = boxes(svg)
    assert found["up1"][2] == "#ff4d4d" and found["up2"][2] != "#ff4d4d"
    root = ET.fromstring(svg)
    titles = [t.text for t in root.iterfind(".//s:g/s:title", NS)]
    up1 = next(t for t in titles if t.startswith("up1 "))
    assert "kernel (4, 4)" in up1 and "stride (2, 2)" in up1 and "1x32x32x48" in up1


def test_compare_outlines_what_the_passes_made():
    g = gc.load(ROOT / "models" / "upsample_vs_deconv.prototxt")
    after, sites = apply_recorded(g, ["upsample-to-deconv", "deconv-to-conv"])
    svg = compare_svg(g, after, sites, "upsample-to-deconv,deconv-to-conv")
    root = ET.fromstring(svg)
    groups = root.findall(".//s:g[@class='layer']", NS)
    assert len(groups) == len(g.layers) + len(after.layers)
    outlined = {
        grp.get("data-info").split(" (", 1)[0]
        for grp in groups
        if grp.find("s:rect", NS).get("stroke") == "#cc0000"
    }
    new = {la.name for la in after.layers} - {la.name for la in g.layers}
    assert outlined == new and len(new) == 6


def test_html_is_self_contained():
    g = gc.load(ROOT / "models" / "fcn_tiny.prototxt")
    page = html_page(graph_svg(g), "fcn_tiny")
    assert "<script>" in page and "wheel" in page
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", page)
    svg = page[page.index("<svg") : page.index("</svg>") + 6]
    assert len(boxes(svg)) == len(g.layers)


def test_cli(tmp_path):
    from graphconv.cli import main  # in process below: the same code without the start-up

    out = tmp_path / "g.html"
    r = cli("draw", ROOT / "models" / "fcn_tiny.prototxt", "-o", out)
    assert r.returncode == 0, r.stderr
    assert "<svg" in out.read_text()
    model = str(ROOT / "models" / "fcn_tiny.prototxt")
    out = tmp_path / "c.svg"
    assert main(["draw", model, "-o", str(out), "--passes", "deconv-to-conv", "--compare"]) == 0
    ET.parse(out)
    for bad in (["-o", str(tmp_path / "g.png")], ["-o", str(tmp_path / "x.svg"), "--compare"]):
        assert main(["draw", model, *bad]) == 2
    assert not (tmp_path / "g.png").exists() and not (tmp_path / "x.svg").exists()


def _zoo():
    return zoo_files() if ZOO.is_dir() else [None]


@pytest.mark.parametrize(
    "path", _zoo(), ids=lambda p: p.stem.split("__", 1)[1][:40] if p else "none"
)
def test_zoo_models_draw_summarize_explain(path):
    """Every caffe-zoo model draws readably (ERFNet has 294 layers, GoogLeNet 143), and (loaded
    once here for all three) summarizes and explains every windowed layer it has."""
    if path is None:
        zoo_files()
    g = load_unweighted(path)  # a drawing does not depend on weight values
    assert_readable(g, graph_svg(g, title=g.name))
    s = summarize(g)
    assert [r["name"] for r in s["layers"]] == [la.name for la in g.layers]
    assert s["totals"]["params"] == sum(p.size for la in g.layers for p in la.params.values())
    json.dumps(s)
    assert len(csv_text(s).splitlines()) == len(g.layers) + 1
    drawn, seen = 0, set()
    for la in g.layers:
        key = (la.type, la.attrs, g.specs[la.inputs[0]].shape[2:] if la.inputs else ())
        if la.type not in WINDOWED or key in seen:
            continue
        seen.add(key)
        try:
            spec = from_layer(g, la.name)
        except UsageError as e:  # PSPNet's 60x60 pyramid pooling: said, not drawn
            assert "too large to draw" in str(e) and "\n" not in str(e)
            continue
        ET.fromstring(explain_svg(spec))
        assert explain_text(spec).startswith(spec.kind)
        drawn += 1
    assert drawn > 0


_DOM_STUB = """
function el() {
  return {handlers: {}, attrs: {}, textContent: '',
          addEventListener(t, f) { this.handlers[t] = f; },
          getAttribute(a) { return this.attrs[a]; }};
}
const svg = el(), layer = el(), info = el(), win = el();
const buttons = {in: el(), out: el(), fit: el()};
svg.viewBox = {baseVal: {x: 0, y: 0, width: 100, height: 200}};
svg.getBoundingClientRect = () => ({left: 0, top: 0, width: 100, height: 200});
layer.attrs['data-info'] = 'conv1 (Convolution)';
global.document = {querySelector: () => svg, querySelectorAll: () => [layer],
                   getElementById: (id) => id === 'info' ? info : buttons[id]};
global.window = win;
"""
_DRIVE = """
const b = svg.viewBox.baseVal, seen = {};
svg.handlers.wheel({deltaY: -1, clientX: 50, clientY: 100, preventDefault() {}});
seen.zoomed = [b.x, b.y, b.width, b.height];
svg.handlers.mousedown({clientX: 10, clientY: 10});
win.handlers.mousemove({clientX: 30, clientY: 10});
win.handlers.mouseup({});
seen.panned = [b.x, b.y];
layer.handlers.mouseenter();
seen.info = info.textContent;
buttons.fit.onclick();
seen.fit = [b.x, b.y, b.width, b.height];
buttons.in.onclick();
seen.in = b.width;
console.log(JSON.stringify(seen));
"""


def test_html_script_pans_zooms_and_shows_attributes(tmp_path):
    """The page's script, run in node against a minimal DOM stand-in: the wheel zooms about the
    pointer, a drag pans, hovering shows the layer's attributes, the buttons zoom and fit."""
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the HTML page's script is not run")
    g = gc.load(ROOT / "models" / "fcn_tiny.prototxt")
    page = html_page(graph_svg(g), "fcn_tiny")
    script = page[page.index("<script>") + 8 : page.index("</script>")]
    js = tmp_path / "page.js"
    js.write_text(_DOM_STUB + script + _DRIVE)
    seen = json.loads(subprocess.run([node, js], capture_output=True, text=True, check=True).stdout)
    x, y, w, h = seen["zoomed"]
    assert w < 100 and h < 200 and x > 0 and y > 0  # zoomed in about the centre (50, 100)
    assert abs((x + w / 2) - 50) < 1e-9 and abs((y + h / 2) - 100) < 1e-9
    assert seen["panned"][0] < x and seen["panned"][1] == y  # dragged right: the view moves left
    assert seen["info"] == "conv1 (Convolution)"
    assert seen["fit"] == [0, 0, 100, 200] and seen["in"] < 100
