"""Drawings of a layer graph as SVG or a self-contained HTML page, in pure Python.

Each layer is a box (name, type, key attributes, output shape) placed on the row of its depth
(the longest path from an input, from the topological order networkx gives) and ordered within
the row by the mean position of its inputs, so branches stay beside each other; arrows run top
to bottom. Every box carries its full attributes as a tooltip (an SVG ``<title>``); the HTML page
adds panning (drag), zooming (wheel, or the + / - / fit buttons) and a panel showing the
attributes of the layer under the pointer, with inline script and no external resource.

:func:`draw_graph` writes one graph (``highlight``: layer names to mark, e.g. the first layer
that diverges in ``validate``); :func:`draw_compare` writes before and after a rewrite side by
side with the layers a pass made outlined. The output is deterministic: the same graph gives
the same bytes.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable, Sequence
from xml.sax.saxutils import escape, quoteattr

from .ir import Graph, Layer

BOX_W, BOX_H = 190, 50  # a layer's box
GAP_X, GAP_Y = 24, 34  # between boxes, between rows
EDGE_W = 8  # the slot an edge takes in a row it passes
MARGIN = 20
MAX_CHARS = 30  # longer names are shortened in the box (the tooltip has them in full)

# fill colour by layer family; types not listed are grey
_FAMILY = {
    "Convolution": "#cfe2f3",
    "SeparableConvolution": "#cfe2f3",
    "Deconvolution": "#f9cb9c",
    "Upsample": "#fce5cd",
    "MaxUnpool": "#fce5cd",
    "Interp": "#fce5cd",
    "Resize": "#fce5cd",
    "ZeroInsert": "#fce5cd",
    "Pooling": "#d9ead3",
    "InnerProduct": "#b4a7d6",
    "BatchNorm": "#ead1dc",
    "Scale": "#ead1dc",
    "LRN": "#ead1dc",
    "Input": "#ffffff",
    "Eltwise": "#fff2cc",
    "Concat": "#fff2cc",
    "Binary": "#fff2cc",
}
_OTHER = "#eeeeee"
_MADE = "#cc0000"  # outline of a layer a pass made
_MARK = "#ff4d4d"  # fill of a highlighted layer


@dataclasses.dataclass(frozen=True)
class Box:
    layer: Layer
    x: float
    y: float
    lines: tuple[str, ...]
    info: str  # the tooltip: every attribute


def layout(graph: Graph) -> tuple[list[Box], dict, float, float]:
    """Boxes with positions (top-left corners), the route of every edge (``(producer, layer)``
    -> the x of the edge in each row it passes, top to bottom), and the drawing's size.

    Rows: a layer's depth is its longest path from an input. An edge spanning rows holds a
    narrow slot in each row it passes, so it runs between boxes, not under them. Each row is
    ordered by the mean x of what feeds it (one sweep down) and packed around the centre."""
    from .summary import key_attrs

    dg = graph.to_networkx()
    depth: dict[str, int] = {}
    for name in (la.name for la in graph.layers):  # layers are in topological order
        depth[name] = 1 + max((depth[p] for p in dg.predecessors(name)), default=-1)
    rows: dict[int, list] = {d: [] for d in range(max(depth.values()) + 1)}
    feeds: dict = {}  # a slot -> the slots above it that connect to it
    for la in graph.layers:
        rows[depth[la.name]].append(la.name)
        feeds[la.name] = []
    chains = {}
    for u, v in dg.edges():  # in insertion order: deterministic
        above = u
        chain = []
        for d in range(depth[u] + 1, depth[v]):
            slot = ("edge", u, v, d)
            rows[d].append(slot)
            feeds[slot] = [above]
            chain.append(slot)
            above = slot
        feeds[v].append(above)
        chains[(u, v)] = chain
    x: dict = {}
    for d in sorted(rows):
        order = {n: i for i, n in enumerate(rows[d])}

        def key(n, order=order):
            xs = [x[p] for p in feeds[n]]
            return (sum(xs) / len(xs) if xs else 0.0, order[n])

        row = sorted(rows[d], key=key)
        widths = [BOX_W if isinstance(n, str) else EDGE_W for n in row]
        total = sum(widths) + GAP_X * (len(row) - 1)
        left = -total / 2
        for n, w in zip(row, widths):
            x[n] = left + w / 2
            left += w + GAP_X
    lo = min(x[n] - (BOX_W if isinstance(n, str) else EDGE_W) / 2 for n in x)
    hi = max(x[n] + (BOX_W if isinstance(n, str) else EDGE_W) / 2 for n in x)
    width = hi - lo + 2 * MARGIN
    height = 2 * MARGIN + len(rows) * BOX_H + (len(rows) - 1) * GAP_Y
    shift = MARGIN - lo
    boxes = []
    for la in graph.layers:
        y = MARGIN + depth[la.name] * (BOX_H + GAP_Y)
        shapes = ", ".join(str(graph.specs[t]) for t in la.outputs)
        attrs = key_attrs(la)
        lines = (_short(la.name), _short(f"{la.type} {attrs}".strip()), _short(shapes))
        boxes.append(Box(la, x[la.name] + shift - BOX_W / 2, y, lines, _info(la, shapes)))
    routes = {e: [x[slot] + shift for slot in chain] for e, chain in chains.items()}
    return boxes, routes, width, height


def _short(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "\u2026"


def _info(layer: Layer, shapes: str) -> str:
    """Every attribute of the layer, one per line."""
    lines = [f"{layer.name} ({layer.type})", f"output {shapes}"]
    lines.append(f"inputs {', '.join(layer.inputs) or '-'}")
    a = layer.attrs
    if dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            v = getattr(a, f.name)
            if v is not None:
                lines.append(f"{f.name} {v}")
    for key, p in layer.params.items():
        lines.append(f"param {key} {'x'.join(map(str, p.shape))}")
    if layer.source:
        lines.append(f"from {layer.source}")
    return "\n".join(lines)


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _edge(src: Box, dst: Box, xs: list[float]) -> str:
    """A path from the bottom of ``src`` to the top of ``dst``: an S-curve into each row it
    passes (at that row's slot ``xs[i]``), then straight down through the row."""
    x, y = src.x + BOX_W / 2, src.y + BOX_H
    d = [f"M{_num(x)},{_num(y)}"]
    targets = xs + [dst.x + BOX_W / 2]
    for i, tx in enumerate(targets):
        last = i == len(targets) - 1
        y2 = y + GAP_Y - (2 if last else 0)  # stop short of the box for the arrowhead
        mid = (y2 - y) / 2
        d.append(f"C{_num(x)},{_num(y + mid)} {_num(tx)},{_num(y2 - mid)} {_num(tx)},{_num(y2)}")
        if not last:
            d.append(f"L{_num(tx)},{_num(y2 + BOX_H)}")
        x, y = tx, y2 + BOX_H
    return f'<path class="edge" d="{" ".join(d)}" marker-end="url(#arrow)"/>'


def svg_group(
    graph: Graph,
    dx: float = 0,
    dy: float = 0,
    highlight: Iterable[str] = (),
    made: Iterable[str] = (),
) -> tuple[list[str], float, float]:
    """The SVG elements of one graph shifted by (dx, dy), and its width and height."""
    boxes, routes, width, height = layout(graph)
    marked, new = set(highlight), set(made)
    where = {t: b for b in boxes for t in b.layer.outputs}
    out = [f'<g transform="translate({_num(dx)},{_num(dy)})">']
    for b in boxes:  # edges first, under the boxes
        for src in dict.fromkeys(where[t] for t in b.layer.inputs):
            out.append(_edge(src, b, routes[(src.layer.name, b.layer.name)]))
    for b in boxes:
        la = b.layer
        fill = _MARK if la.name in marked else _FAMILY.get(la.type, _OTHER)
        stroke, sw = (_MADE, 3) if la.name in new else ("#555555", 1)
        out.append(f'<g class="layer" data-info={quoteattr(b.info)}>')
        out.append(f"<title>{escape(b.info)}</title>")
        out.append(
            f'<rect x="{_num(b.x)}" y="{_num(b.y)}" width="{BOX_W}" height="{BOX_H}" rx="5" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{sw}"/>'
        )
        for i, (text, cls) in enumerate(zip(b.lines, ("name", "kind", "shape"))):
            out.append(
                f'<text class="{cls}" x="{_num(b.x + BOX_W / 2)}" y="{_num(b.y + 15 + 14 * i)}">'
                f"{escape(text)}</text>"
            )
        out.append("</g>")
    out.append("</g>")
    return out, width, height


_STYLE = (
    "<style>"
    "text{font-family:Helvetica,Arial,sans-serif;text-anchor:middle;font-size:11px;fill:#222}"
    "text.name{font-weight:bold}text.shape{fill:#555}text.title{font-size:15px;font-weight:bold}"
    ".edge{fill:none;stroke:#777;stroke-width:1.2}"
    "</style>"
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
    'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker></defs>'
)


def _svg(parts: list[str], width: float, height: float) -> str:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(width)}" height="{_num(height)}" '
        f'viewBox="0 0 {_num(width)} {_num(height)}">'
    )
    return "\n".join([head, _STYLE, '<rect width="100%" height="100%" fill="#ffffff"/>'] + parts)


def graph_svg(
    graph: Graph, highlight: Iterable[str] = (), title: str | None = None, made: Iterable[str] = ()
) -> str:
    """One graph as an SVG document (``highlight``: layer names filled red; ``made``: layer
    names outlined red, e.g. those a pass made)."""
    top = 30 if title else 0
    parts, w, h = svg_group(graph, 0, top, highlight=highlight, made=made)
    if title:
        parts.insert(0, f'<text class="title" x="{_num(w / 2)}" y="22">{escape(title)}</text>')
    return _svg(parts, w, h + top) + "\n</svg>\n"


def compare_svg(before: Graph, after: Graph, sites: Sequence = (), label: str = "") -> str:
    """Before and after side by side; the layers a pass made are outlined in red."""
    from .summary import made_by

    made = made_by(sites)
    left, wl, hl = svg_group(before, 0, 30)
    right, wr, hr = svg_group(after, wl + 40, 30, made=[n for n in made if n in after.by_name])
    titles = [
        f'<text class="title" x="{_num(wl / 2)}" y="22">before</text>',
        f'<text class="title" x="{_num(wl + 40 + wr / 2)}" y="22">'
        f"{escape(('after ' + label).strip())}</text>",
    ]
    return _svg(titles + left + right, wl + 40 + wr, max(hl, hr) + 30) + "\n</svg>\n"


_SCRIPT = """
(function () {
  var svg = document.querySelector('svg'), box = svg.viewBox.baseVal;
  var full = [box.x, box.y, box.width, box.height], info = document.getElementById('info');
  var drag = null;
  function zoom(f, cx, cy) {
    box.x = cx - (cx - box.x) * f; box.y = cy - (cy - box.y) * f;
    box.width *= f; box.height *= f;
  }
  function point(e) {
    var r = svg.getBoundingClientRect();
    return [box.x + (e.clientX - r.left) / r.width * box.width,
            box.y + (e.clientY - r.top) / r.height * box.height];
  }
  svg.addEventListener('wheel', function (e) {
    e.preventDefault(); var p = point(e); zoom(e.deltaY > 0 ? 1.15 : 1 / 1.15, p[0], p[1]);
  }, {passive: false});
  svg.addEventListener('mousedown', function (e) { drag = [e.clientX, e.clientY]; });
  window.addEventListener('mouseup', function () { drag = null; });
  window.addEventListener('mousemove', function (e) {
    if (!drag) return;
    var r = svg.getBoundingClientRect();
    box.x -= (e.clientX - drag[0]) / r.width * box.width;
    box.y -= (e.clientY - drag[1]) / r.height * box.height;
    drag = [e.clientX, e.clientY];
  });
  document.querySelectorAll('g.layer').forEach(function (g) {
    g.addEventListener('mouseenter', function () {
      info.textContent = g.getAttribute('data-info');
    });
  });
  function centre() { return [box.x + box.width / 2, box.y + box.height / 2]; }
  function button(id, f) {
    document.getElementById(id).onclick = function () { var c = centre(); zoom(f, c[0], c[1]); };
  }
  button('in', 1 / 1.4); button('out', 1.4);
  document.getElementById('fit').onclick = function () {
    box.x = full[0]; box.y = full[1]; box.width = full[2]; box.height = full[3];
  };
})();
"""


def html_page(svg: str, title: str) -> str:
    """A self-contained page around an SVG drawing: pan, zoom, attributes on hover."""
    head, rest = svg.split("\n", 1)  # the page sizes the drawing, not the drawing itself
    head = re.sub(r' (width|height)="[^"]*"', "", head, count=2)
    body = head.replace("<svg ", '<svg style="width:100%;height:100%;cursor:grab" ', 1)
    body += "\n" + rest
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>"
        "html,body{margin:0;height:100%;font-family:Helvetica,Arial,sans-serif}"
        "#view{position:absolute;inset:0 320px 0 0}"
        "#side{position:absolute;top:0;right:0;width:300px;height:100%;padding:10px;"
        "box-sizing:border-box;border-left:1px solid #ccc;background:#fafafa;overflow:auto}"
        "#info{white-space:pre-wrap;font-family:monospace;font-size:12px}"
        "</style></head><body>\n"
        f'<div id="view">{body}</div>\n'
        f'<div id="side"><b>{escape(title)}</b><br>drag to pan, wheel to zoom '
        '<button id="in">+</button><button id="out">-</button><button id="fit">fit</button>'
        '<p id="info">point at a layer to see its attributes</p></div>\n'
        f"<script>{_SCRIPT}</script>\n</body></html>\n"
    )


def write_text(path: str, text: str) -> None:
    """Write atomically with the user's umask (graphconv/files.py): no partial file."""
    from .files import write_atomic

    write_atomic(path, lambda f: f.write(text.encode("utf-8")))


def _render(path: str, svg: str, title: str) -> None:
    write_text(path, html_page(svg, title) if str(path).lower().endswith(".html") else svg)


def draw_graph(
    graph: Graph,
    path: str,
    highlight: Iterable[str] = (),
    title: str | None = None,
    made: Iterable[str] = (),
) -> None:
    """Write ``graph`` to ``path`` (``.svg``, or ``.html`` for the interactive page);
    ``highlight``: layer names filled red (e.g. ``validate``'s first diverging layer, as
    ``draw_graph(graph, "graph.html", highlight=[name], title="first divergence: " + name)``);
    ``made``: layer names outlined red."""
    title = title or graph.name
    _render(path, graph_svg(graph, highlight, title, made), title)


def draw_compare(before: Graph, after: Graph, sites: Sequence, path: str, label: str = ""):
    """Write before and after side by side (``sites`` from ``passes.apply_recorded``)."""
    _render(path, compare_svg(before, after, sites, label), f"{before.name}: before and after")
