"""Convolution arithmetic, drawn: one 1-D or 2-D convolution, dilated convolution, pooling or
transposed convolution as an SVG (and as a few lines of text), beside the same layer after its
lowering.

Colours follow the classic convolution-arithmetic figures: input samples blue, padding and
inserted zeros white with a dashed border, the kernel's taps dark over the cells they read,
the output cyan (the cell being computed darker). Panels:

  convolution / pooling        input with padding, the kernel at one output position (or,
                               animated, at every one), the output
  dilated convolution          the same with the gaps between taps; then ``dilated-to-dense``:
                               the dense kernel, its inserted weights zero
  transposed convolution       one input sample scattering its kernel onto the output (cropped
                               border dashed); then ``deconv-to-conv``: zero insertion, padding
                               and a stride-1 convolution; then ``deconv-to-subpixel``: the
                               output coloured by phase, each phase a small convolution

Every size comes from :mod:`graphconv.geometry`. :func:`parse_spec` reads the short form
``'deconv k=3 s=2 p=1 d=1 n=5'`` (``conv``, ``dilated`` (d=2 unless given), ``pool``,
``deconv``; a ``1d`` suffix for one axis; ``op`` is output padding, ``n`` the input size).
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

from . import geometry as G
from .errors import UsageError

CELL = 20  # one sample, in pixels
GAP = 2  # between cells
PANEL_GAP = 60
COLOURS = {
    "in": "#6fa8dc",  # input sample
    "pad": "#ffffff",  # padding (zeros)
    "zero": "#ffffff",  # an inserted zero
    "crop": "#f3f3f3",  # cropped away
    "out": "#76d7c4",  # output sample
    "dense0": "#ffffff",  # a zero weight of a dense kernel
    "phase": "#76d7c4",
}
PHASES = ("#76d7c4", "#f6b26b", "#b4a7d6", "#ffd966", "#e06666", "#93c47d", "#8e7cc3", "#c27ba0")
KINDS = ("conv", "dilated", "pool", "deconv")
_EXPLAINABLE = ("Convolution", "SeparableConvolution", "Deconvolution", "Pooling")


@dataclass(frozen=True)
class Axis:
    """One spatial axis of the layer being explained."""

    n: int  # input length (as drawn)
    k: int
    s: int = 1
    d: int = 1
    pb: int = 0
    pe: int = 0
    op: int = 0  # output padding (transposed only)

    @property
    def extent(self) -> int:
        return G.extent(self.k, self.d)


@dataclass(frozen=True)
class Spec:
    kind: str  # conv, dilated, pool or deconv
    axes: tuple[Axis, ...]
    model_size: tuple[int, ...] | None = None  # the model's own input size when drawn smaller

    @property
    def transposed(self) -> bool:
        return self.kind == "deconv"

    def out(self) -> tuple[int, ...]:
        """Output length per axis (geometry's formulas)."""
        return tuple(out_length(self.kind, a) for a in self.axes)


def out_length(kind: str, a: Axis) -> int:
    if kind == "deconv":
        return G.deconv_output_size(a.n, a.k, a.s, a.d, a.pb, a.pe, a.op)
    return G.conv_output_size(a.n, a.k, a.s, a.d, a.pb, a.pe)


def parse_spec(text: str) -> Spec:
    """``'deconv k=3 s=2 p=1 d=1'`` and the like (see the module docstring)."""
    words = text.split()
    if not words:
        raise UsageError("explain: empty layer description")
    kind = words[0].lower()
    rank = 2
    if kind.endswith(("1d", "2d")):
        kind, rank = kind[:-2].rstrip("-_"), int(kind[-2])
    if kind not in KINDS:
        raise UsageError(
            f"explain: '{words[0]}' is not one of {', '.join(KINDS)} (e.g. 'deconv k=3 s=2 p=1')"
        )
    values = {"k": 3, "s": 1, "p": 0, "d": 2 if kind == "dilated" else 1, "op": 0, "n": 0}
    for w in words[1:]:
        key, sep, v = w.partition("=")
        if not sep or key not in values:
            raise UsageError(f"explain: '{w}' is not one of k=, s=, p=, d=, op=, n=")
        try:
            values[key] = int(v)
        except ValueError:
            raise UsageError(f"explain: '{w}' needs an integer") from None
    k, s, p, d, op, n = (values[x] for x in ("k", "s", "p", "d", "op", "n"))
    if k < 1 or s < 1 or d < 1 or p < 0 or op < 0 or n < 0:
        raise UsageError(f"explain: '{text}': k, s, d must be >= 1 and p, op, n >= 0")
    if kind != "deconv" and op:
        raise UsageError("explain: op= (output padding) is for deconv")
    if kind == "deconv" and op >= max(s, d):
        raise UsageError(f"explain: op={op} must be smaller than max(s, d) = {max(s, d)}")
    a = Axis(n or default_size(kind, k, s, d, p), k, s, d, p, p, op)
    spec = Spec("conv" if kind == "dilated" else kind, (a,) * rank)
    check(spec, text)
    return spec


def default_size(kind: str, k: int, s: int, d: int, p: int) -> int:
    """An input length that shows a few output positions: 3 or 4 (transposed), else the
    kernel's extent and two strides more (three windows without the padding)."""
    if kind == "deconv":
        return 3 if G.extent(k, d) > 5 else 4
    return max(3, 2 * s + G.extent(k, d))


def check(spec: Spec, what: str) -> None:
    out = spec.out()
    if min(out) < 1:
        raise UsageError(f"explain: {what}: the kernel does not fit (output length {min(out)})")
    if max(a.n for a in spec.axes) > 40 or max(out) > 60:
        raise UsageError(f"explain: {what}: too large to draw (input {spec.axes[0].n})")


def from_layer(graph, name: str) -> Spec:
    """The spec of layer ``name`` of ``graph`` (a Convolution, Deconvolution, Pooling or
    SeparableConvolution's depthwise part), drawn at the model's input size when that is at
    most 12, else at a small size that shows the same arithmetic."""
    if name not in graph.by_name:
        windowed = [la.name for la in graph.layers if la.type in _EXPLAINABLE]
        more = ", ..." if len(windowed) > 8 else ""
        raise UsageError(
            f"explain: no layer named '{name}' in {graph.name} (windowed layers: "
            f"{', '.join(windowed[:8]) or 'none'}{more})"
        )
    layer = graph.layer(name)
    a = layer.attrs
    x = graph.specs[layer.inputs[0]]
    spatial = x.shape[2:]
    if not 1 <= len(spatial) <= 2:
        raise UsageError(f"explain: layer '{name}' is {len(spatial)}-D; explain draws 1-D and 2-D")
    if layer.type == "Pooling":
        from .layers.pool import pool_plan

        plans = pool_plan(a, spatial)
        axes = [Axis(p.size, p.kernel, p.stride, p.dilation, p.pad, p.pad) for p in plans]
        kind = "pool"
        # Caffe's CEIL rounding can add a window: draw with the end pad that gives its count
        axes = [
            Axis(
                ax.n,
                ax.k,
                ax.s,
                ax.d,
                ax.pb,
                max(ax.pe, G.end_pad(p.out, ax.n, ax.k, ax.s, ax.d, ax.pb)),
            )
            for ax, p in zip(axes, plans)
        ]
    elif layer.type in ("Convolution", "SeparableConvolution", "Deconvolution"):
        kind = "deconv" if layer.type == "Deconvolution" else "conv"
        op = a.output_padding if kind == "deconv" else (0,) * len(spatial)
        axes = [
            Axis(h, k, s, d, pb, pe, o)
            for h, k, s, d, pb, pe, o in zip(
                spatial, a.kernel, a.stride, a.dilation, a.pads_begin, a.pads_end, op
            )
        ]
    else:
        raise UsageError(
            f"explain: layer '{name}' is a {layer.type}; explain draws Convolution, "
            "Deconvolution, SeparableConvolution and Pooling layers"
        )
    spec = Spec(kind, tuple(axes))
    if max(spatial) > 12:
        small = [
            Axis(
                default_size(kind, ax.k, ax.s, ax.d, ax.pb),
                ax.k,
                ax.s,
                ax.d,
                ax.pb,
                ax.pe if kind != "pool" else ax.pb,
                ax.op,
            )
            for ax in axes
        ]
        spec = Spec(kind, tuple(small), model_size=tuple(spatial))
    check(spec, f"layer '{name}'")
    return spec


def title(spec: Spec) -> str:
    a = spec.axes
    parts = [f"{spec.kind}{'1d' if len(a) == 1 else ''}", f"k={_join(x.k for x in a)}"]
    parts += [f"s={_join(x.s for x in a)}", f"d={_join(x.d for x in a)}"]
    pads = (
        _join(x.pb for x in a)
        if all(x.pb == x.pe for x in a)
        else (f"{_join(x.pb for x in a)}/{_join(x.pe for x in a)}")
    )
    parts.append(f"p={pads}")
    if spec.transposed and any(x.op for x in a):
        parts.append(f"op={_join(x.op for x in a)}")
    line = " ".join(parts) + f": input {_join(x.n for x in a)} -> output {_join(spec.out())}"
    if spec.model_size:
        line += f" (drawn small; the model's input is {_join(spec.model_size)})"
    return line


def _join(values) -> str:
    v = list(values)
    return "x".join(map(str, v)) if len(set(v)) > 1 else str(v[0])


# ---- the text form -------------------------------------------------------------------------------


def text(spec: Spec) -> str:
    """A few lines for a terminal: the sizes with their formula and each lowering, per axis a
    row of cells (``x`` sample, ``0`` inserted zero, ``.`` padding) with the kernel's taps."""
    lines = [title(spec)]
    same = len(set(spec.axes)) == 1
    for i, a in enumerate(spec.axes[:1] if same else spec.axes):
        name = "each axis" if same and len(spec.axes) > 1 else f"axis {i}"
        o = out_length(spec.kind, a)
        if spec.transposed:
            lines.append(
                f"{name}: s(n-1) + d(k-1) + 1 - pb - pe + op = {a.s}*{a.n - 1} + {a.d}*{a.k - 1}"
                f" + 1 - {a.pb} - {a.pe} + {a.op} = {o}"
            )
            row, taps = lowered_row(a)
            low, high = G.deconv_as_conv_pads(a.k, a.d, a.pb, a.pe, a.op)
            lines.append(
                f"  deconv-to-conv: insert {a.s - 1} zero(s) between samples ({a.n} -> "
                f"{G.zero_insert_length(a.n, a.s)}), pad {low}/{high} (negative: crop), "
                f"{a.k}-tap convolution at stride 1 with the flipped kernel -> {o}"
            )
            lines += ["  " + row, "  " + taps + "   (output 0)"]
            lines.append(f"  deconv-to-subpixel: {a.s} phase(s) on this axis")
            for r in range(a.s):
                t, off = G.phase_taps(a.k, a.s, a.d, a.pb, r)
                lines.append(
                    f"    phase {r}: outputs {r}, {r + a.s}, ...: taps {t} at input offset {off}"
                )
        else:
            lines.append(
                f"{name}: floor((n + pb + pe - d(k-1) - 1) / s) + 1 = floor(({a.n} + {a.pb} + "
                f"{a.pe} - {a.extent}) / {a.s}) + 1 = {o}"
            )
            row, taps = direct_row(a)
            lines += ["  " + row, "  " + taps + "   (output 0)"]
            if a.d > 1 and spec.kind == "conv":
                lines.append(
                    f"  dilated-to-dense: a dense {a.extent}-tap kernel, the taps at "
                    f"{list(range(0, a.extent, a.d))} nonzero, the other {a.extent - a.k} zero"
                )
    return "\n".join(lines)


def direct_row(a: Axis) -> tuple[str, str]:
    cells = ["."] * a.pb + ["x"] * a.n + ["."] * max(0, a.pe)
    taps = [" "] * len(cells)
    for t in range(a.k):
        if t * a.d < len(taps):
            taps[t * a.d] = "k"
    return " ".join(cells), " ".join(taps)


def lowered_row(a: Axis) -> tuple[str, str]:
    low, high = G.deconv_as_conv_pads(a.k, a.d, a.pb, a.pe, a.op)
    inner = []
    for i in range(G.zero_insert_length(a.n, a.s)):
        inner.append("x" if i % a.s == 0 else "0")
    cells = ["."] * max(0, low) + inner[max(0, -low) : len(inner) - max(0, -high)]
    cells += ["."] * max(0, high)
    taps = [" "] * len(cells)
    for t in range(a.k):
        if t * a.d < len(taps):
            taps[t * a.d] = "k"
    return " ".join(cells), " ".join(taps)


# ---- the SVG form --------------------------------------------------------------------------------


def _cells_2d(kinds_y: list[str], kinds_x: list[str]) -> list[list[str]]:
    """A 2-D grid's cell kinds from per-axis kinds: padding wins, then crop, then zeros."""
    rank = ("pad", "crop", "zero", "dense0", "in", "out", "phase")

    def combine(a: str, b: str) -> str:
        return a if rank.index(a) <= rank.index(b) else b

    return [[combine(ky, kx) for kx in kinds_x] for ky in kinds_y]


class _Canvas:
    def __init__(self):
        self.parts: list[str] = []

    def grid(self, x0: float, y0: float, cells: list[list[str]], fills=None) -> tuple[float, float]:
        """Draw cells (rows of kinds); returns the grid's width and height."""
        for r, row in enumerate(cells):
            for c, kind in enumerate(row):
                fill = (fills or {}).get((r, c), COLOURS.get(kind, "#ffffff"))
                dash = ' stroke-dasharray="3,2"' if kind in ("pad", "zero", "crop") else ""
                self.parts.append(
                    f'<rect class="{kind}" x="{x0 + c * (CELL + GAP)}" y="{y0 + r * (CELL + GAP)}"'
                    f' width="{CELL}" height="{CELL}" fill="{fill}" stroke="#555"{dash}/>'
                )
        return _size(len(cells[0])), _size(len(cells))

    def taps(self, x0, y0, positions, cls="tap", fill="#073763", motion=None) -> None:
        """Dark, translucent squares over the cells at ``positions`` ((row, col)); ``motion``:
        SMIL offsets in cells to step through (every position, animated)."""
        body = "".join(
            f'<rect class="{cls}" x="{x0 + c * (CELL + GAP) + 3}" y="{y0 + r * (CELL + GAP) + 3}"'
            f' width="{CELL - 6}" height="{CELL - 6}" fill="{fill}" fill-opacity="0.7"/>'
            for r, c in positions
        )
        anim = ""
        if motion and len(motion) > 1:
            values = ";".join(f"{dc * (CELL + GAP)},{dr * (CELL + GAP)}" for dr, dc in motion)
            anim = (
                f'<animateTransform attributeName="transform" type="translate" values="{values}"'
                f' dur="{0.7 * len(motion):.1f}s" calcMode="discrete" repeatCount="indefinite"/>'
            )
        self.parts.append(f"<g>{body}{anim}</g>")

    def label(self, x, y, words: str, size: int = 12, bold: bool = False) -> None:
        weight = ' font-weight="bold"' if bold else ""
        self.parts.append(
            f'<text x="{x}" y="{y}" font-size="{size}"{weight}>{escape(words)}</text>'
        )


def _size(cells: int) -> int:
    return cells * (CELL + GAP) - GAP


def _padded_kinds(a: Axis) -> list[str]:
    return ["pad"] * a.pb + ["in"] * a.n + ["pad"] * a.pe


def _positions(spec: Spec, per_axis) -> list[tuple[int, int]]:
    """(row, col) cells from per-axis index lists (1-D: row 0)."""
    if len(spec.axes) == 1:
        return [(0, c) for c in per_axis[0]]
    return [(r, c) for r in per_axis[0] for c in per_axis[1]]


def _motion(spec: Spec, steps_per_axis) -> list[tuple[int, int]]:
    if len(spec.axes) == 1:
        return [(0, c) for c in steps_per_axis[0]]
    return [(r, c) for r in steps_per_axis[0] for c in steps_per_axis[1]]


def _grid_of(spec: Spec, kinds_per_axis) -> list[list[str]]:
    if len(spec.axes) == 1:
        return [list(kinds_per_axis[0])]
    return _cells_2d(kinds_per_axis[0], kinds_per_axis[1])


def _panel_direct(cv: _Canvas, spec: Spec, x0: float, y0: float, animate: bool) -> float:
    """The layer itself; returns the panel's width."""
    out = spec.out()
    cv.parts.append('<g class="panel" id="direct">')
    if not spec.transposed:
        kinds = [_padded_kinds(a) for a in spec.axes]
        cv.label(x0, y0 - 8, f"{spec.kind}: input (blue) with padding, kernel at output 0")
        w, h = cv.grid(x0, y0, _grid_of(spec, kinds))
        taps = _positions(spec, [[t * a.d for t in range(a.k)] for a in spec.axes])
        steps = [[o * a.s for o in range(n)] for a, n in zip(spec.axes, out)]
        cv.taps(x0, y0, taps, motion=_motion(spec, steps) if animate else None)
        y1 = y0 + h + 30
        cv.label(x0, y1 - 8, f"output {_join(out)}")
        w2, _ = cv.grid(x0, y1, _grid_of(spec, [["out"] * n for n in out]))
        ones = [[o for o in range(n)] for n in out]
        cv.taps(
            x0,
            y1,
            [(0, 0)],
            cls="now",
            fill="#0b5345",
            motion=_motion(spec, ones) if animate else None,
        )
    else:
        centre = [a.n // 2 for a in spec.axes]
        cv.label(x0, y0 - 8, "transposed: each input sample scatters the kernel")
        w, h = cv.grid(x0, y0, _grid_of(spec, [["in"] * a.n for a in spec.axes]))
        moves = [[i - c for i in range(a.n)] for a, c in zip(spec.axes, centre)]
        cv.taps(
            x0,
            y0,
            _positions(spec, [[c] for c in centre]),
            cls="now",
            fill="#073763",
            motion=_motion(spec, moves) if animate else None,
        )
        # the full (uncropped) output: pb cropped at the start, pe - op at the end
        kinds = [
            ["crop"] * a.pb + ["out"] * n + ["crop"] * (a.pe - a.op)
            if a.pe >= a.op
            else ["crop"] * a.pb + ["out"] * n
            for a, n in zip(spec.axes, out)
        ]
        y1 = y0 + h + 30
        cv.label(x0, y1 - 8, f"output {_join(out)} (dashed: cropped by the padding)")
        w2, _ = cv.grid(x0, y1, _grid_of(spec, kinds))
        foot = [[c * a.s + t * a.d for t in range(a.k)] for a, c in zip(spec.axes, centre)]
        steps = [[(i - c) * a.s for i in range(a.n)] for a, c in zip(spec.axes, centre)]
        cv.taps(x0, y1, _positions(spec, foot), motion=_motion(spec, steps) if animate else None)
    cv.parts.append("</g>")
    return max(w, w2, 330)


def _panel_zero_insert(cv: _Canvas, spec: Spec, x0: float, y0: float, animate: bool) -> float:
    out = spec.out()
    kinds, starts = [], []
    for a in spec.axes:
        low, high = G.deconv_as_conv_pads(a.k, a.d, a.pb, a.pe, a.op)
        inner = ["in" if i % a.s == 0 else "zero" for i in range(G.zero_insert_length(a.n, a.s))]
        for i in range(max(0, -low)):
            inner[i] = "crop"
        for i in range(max(0, -high)):
            inner[len(inner) - 1 - i] = "crop"
        kinds.append(["pad"] * max(0, low) + inner + ["pad"] * max(0, high))
        starts.append(max(0, -low))
    cv.parts.append('<g class="panel" id="deconv-to-conv">')
    cv.label(x0, y0 - 8, "deconv-to-conv: zeros inserted, padded, stride-1 convolution")
    w, h = cv.grid(x0, y0, _grid_of(spec, kinds))
    taps = _positions(
        spec, [[s0 + t * a.d for t in range(a.k)] for a, s0 in zip(spec.axes, starts)]
    )
    steps = [list(range(n)) for n in out]
    cv.taps(x0, y0, taps, motion=_motion(spec, steps) if animate else None)
    y1 = y0 + h + 30
    cv.label(x0, y1 - 8, f"output {_join(out)}")
    w2, _ = cv.grid(x0, y1, _grid_of(spec, [["out"] * n for n in out]))
    cv.taps(
        x0,
        y1,
        [(0, 0)],
        cls="now",
        fill="#0b5345",
        motion=_motion(spec, steps) if animate else None,
    )
    cv.parts.append("</g>")
    return max(w, w2, 330)


def _panel_subpixel(cv: _Canvas, spec: Spec, x0: float, y0: float) -> float:
    out = spec.out()
    cv.parts.append('<g class="panel" id="deconv-to-subpixel">')
    cv.label(x0, y0 - 8, "deconv-to-subpixel: the output by phase")
    cells = _grid_of(spec, [["phase"] * n for n in out])
    strides = [a.s for a in spec.axes]
    fills = {}
    for r, row in enumerate(cells):
        for c, _ in enumerate(row):
            idx = (
                (c % strides[-1])
                if len(strides) == 1
                else (r % strides[0]) * strides[1] + c % strides[1]
            )
            fills[(r, c)] = PHASES[idx % len(PHASES)]
    w, h = cv.grid(x0, y0, cells, fills)
    y = y0 + h + 20
    same = len(set(spec.axes)) == 1
    for i, a in enumerate(spec.axes[:1] if same else spec.axes):
        for r in range(a.s):
            t, off = G.phase_taps(a.k, a.s, a.d, a.pb, r)
            axis = "" if same else f"axis {i} "
            cv.label(x0, y, f"{axis}phase {r}: {len(t)} tap(s) {t}, input offset {off}", 11)
            y += 15
    cv.parts.append("</g>")
    return max(w, 330)


def _panel_dense(cv: _Canvas, spec: Spec, x0: float, y0: float) -> float:
    cv.parts.append('<g class="panel" id="dilated-to-dense">')
    cv.label(x0, y0 - 8, "dilated-to-dense: the dense kernel (white: zero weights)")
    kinds = [["in" if i % a.d == 0 else "dense0" for i in range(a.extent)] for a in spec.axes]
    cells = _grid_of(spec, kinds)
    cells = [["tapcell" if k == "in" else "dense0" for k in row] for row in cells]
    fills = {
        (r, c): "#073763" if k == "tapcell" else "#ffffff"
        for r, row in enumerate(cells)
        for c, k in enumerate(row)
    }
    w, h = cv.grid(x0, y0, cells, fills)
    dense = 1
    taps = 1
    for a in spec.axes:
        dense *= a.extent
        taps *= a.k
    cv.label(x0, y0 + h + 20, f"{dense} weights, {taps} of them nonzero", 11)
    cv.parts.append("</g>")
    return max(w, 330)


def svg(spec: Spec, animate: bool = False) -> str:
    """The SVG document: the layer, then each lowering beside it."""
    cv = _Canvas()
    top = 60
    x = 20
    x += _panel_direct(cv, spec, x, top, animate) + PANEL_GAP
    if spec.transposed:
        x += _panel_zero_insert(cv, spec, x, top, animate) + PANEL_GAP
        x += _panel_subpixel(cv, spec, x, top) + PANEL_GAP
    elif spec.kind == "conv" and any(a.d > 1 for a in spec.axes):
        x += _panel_dense(cv, spec, x, top) + PANEL_GAP
    heights = [
        float(p.split(' y="')[1].split('"')[0])
        for p in cv.parts
        if p.startswith(("<rect", "<text"))
    ]
    height = max(heights) + CELL + 40
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{x:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {x:.0f} {height:.0f}" font-family="Helvetica,Arial,sans-serif">'
    )
    body = [head, '<rect width="100%" height="100%" fill="#ffffff"/>']
    body.append(
        f'<text x="20" y="26" font-size="15" font-weight="bold">{escape(title(spec))}</text>'
    )
    return "\n".join(body + cv.parts) + "\n</svg>\n"
