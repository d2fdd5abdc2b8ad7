"""A per-layer summary: key attributes, output shape, parameters, MACs, activation bytes and the
receptive field per spatial axis, with totals; before and after rewrite passes side by side.

:func:`summarize` gives a plain dict (the JSON form: ``{"model", "layers": [...], "totals"}``,
each layer keyed by the column names); :func:`compare` gives ``{"before", "after"}`` where every
``after`` layer a pass made names the pass and the layers it replaced. :func:`table` and
:func:`csv_text` render either. Any ``(graph, sites)`` pair works for ``after``: the passes'
``apply_recorded`` gives one, and so can a target's legalization.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any, Iterable, Sequence

import numpy as np

from .analysis import layer_macs
from .ir import Graph, Layer
from .receptive import Field, fmt, layer_fields

COLUMNS = (
    "name",
    "type",
    "attrs",
    "output",
    "params",
    "macs",
    "activation_bytes",
    "receptive_field",
)

# attribute field -> short label, in display order (only fields a layer's attrs have are shown)
_KEYS = (
    ("kernel", "k"),
    ("stride", "s"),
    ("pads_begin", "p"),
    ("pad", "p"),
    ("dilation", "d"),
    ("group", "g"),
    ("output_padding", "op"),
    ("scale", "x"),
    ("method", ""),
    ("global_pooling", "global"),
    ("operation", ""),
    ("function", ""),
    ("num_output", "out"),
)


def _axes(v: Any) -> str:
    if isinstance(v, (tuple, list)):
        return "x".join(map(str, v)) if len(set(v)) > 1 else str(v[0]) if v else ""
    return str(v)


def key_attrs(layer: Layer) -> str:
    """Kernel, stride, pads, dilation, group and the like, e.g. ``k3 s2 p1 d2 g32 out64``
    (defaults left out; pads as ``begin/end`` when they differ)."""
    a = layer.attrs
    if not dataclasses.is_dataclass(a):
        return ""
    names = {f.name for f in dataclasses.fields(a)}
    parts = []
    for key, label in _KEYS:
        if key not in names:
            continue
        v = getattr(a, key)
        if key == "global_pooling":
            parts += ["global"] if v else []
            continue
        if v is None or v == "":
            continue
        if key == "pads_begin":
            pe = getattr(a, "pads_end", v)
            text = _axes(v) if tuple(v) == tuple(pe) else f"{_axes(v)}/{_axes(pe)}"
            if any(v) or any(pe):
                parts.append(f"p{text}")
            continue
        if key in ("stride", "dilation", "group", "pad", "output_padding"):
            vals = v if isinstance(v, (tuple, list)) else (v,)
            trivial = 0 if key in ("pad", "output_padding") else 1
            if all(x == trivial for x in vals):
                continue
        parts.append(f"{label}{_axes(v)}")
    return " ".join(parts)


def _field_json(field) -> dict:
    if not isinstance(field, Field):
        return {"n/a": field.reason}

    def num(x):
        return int(x) if x.denominator == 1 else float(x)

    return {
        "size": [num(a.size) for a in field.axes],
        "jump": [num(a.jump) for a in field.axes],
        "start": [num(a.start) for a in field.axes],
        "exact": field.exact,
    }


def summarize(graph: Graph, sites: Sequence = ()) -> dict:
    """The summary of ``graph`` as a dict; ``sites`` (``(pass, options, Site)`` as
    ``passes.apply_recorded`` returns, or Site objects) mark the layers each pass made."""
    made = made_by(sites)
    fields = layer_fields(graph)
    layers = []
    for layer in graph.layers:
        outs = [graph.specs[t] for t in layer.outputs]
        row = {
            "name": layer.name,
            "type": layer.type,
            "attrs": key_attrs(layer),
            "output": ", ".join(str(s) for s in outs),
            "params": int(sum(p.size for p in layer.params.values())),
            "macs": layer_macs(graph, layer),
            "activation_bytes": int(sum(s.size * np.dtype(s.dtype).itemsize for s in outs)),
            "receptive_field": _field_json(fields[layer.name]),
        }
        if layer.name in made:
            row["pass"], row["replaces"] = made[layer.name]
        layers.append(row)
    return {
        "model": graph.name,
        "layers": layers,
        "totals": {
            "layers": len(layers),
            "params": sum(r["params"] for r in layers),
            "macs": sum(r["macs"] for r in layers),
            "activation_bytes": sum(r["activation_bytes"] for r in layers),
        },
    }


def made_by(sites: Iterable) -> dict[str, tuple[str, list[str]]]:
    """Layer name -> (the passes that made it, joined by ``+`` when a later pass rewrote an
    earlier one's layer, and the names of the original layers it replaces)."""
    out: dict[str, tuple[str, list[str]]] = {}
    for entry in sites:
        site = entry[-1] if isinstance(entry, tuple) else entry
        made, replaced = [], []
        for o in site.originals:
            earlier, origin = out.get(o.name, ("", [o.name]))
            made += [p for p in earlier.split("+") if p and p not in made]
            replaced += [n for n in origin if n not in replaced]
        name = "+".join(made + [site.pass_name])
        for layer in site.replacement:
            out[layer.name] = (name, replaced)
    return out


def compare(before: Graph, after: Graph, sites: Sequence = ()) -> dict:
    """Both summaries: ``{"before": ..., "after": ..., "passes": [...]}``."""
    names = list(dict.fromkeys(name for name, _ in made_by(sites).values()))
    return {"before": summarize(before), "after": summarize(after, sites), "passes": names}


# ---- rendering ----------------------------------------------------------------------------------


def _rf_text(rf: dict, what: str) -> str:
    if "n/a" in rf:
        return "n/a" if what == "size" else ""
    vals = rf[what]
    text = "x".join(fmt_number(v) for v in vals)
    return ("~" + text) if what == "size" and not rf["exact"] else text


def fmt_number(v) -> str:
    if isinstance(v, float):
        from fractions import Fraction

        return fmt(Fraction(v).limit_denominator(10**6))
    return str(v)


def flat_rows(summary: dict, extra: bool = False) -> tuple[list[str], list[list[str]]]:
    """Header and rows of strings: one per layer, then the totals."""
    head = ["name", "type", "attrs", "output", "params", "MACs", "act. bytes"]
    head += ["rf size", "rf jump", "rf start"] + (["pass", "replaces"] if extra else [])
    rows = []
    for r in summary["layers"]:
        rf = r["receptive_field"]
        row = [r["name"], r["type"], r["attrs"], r["output"], f"{r['params']:,}", f"{r['macs']:,}"]
        row += [f"{r['activation_bytes']:,}"]
        row += [_rf_text(rf, "size"), _rf_text(rf, "jump"), _rf_text(rf, "start")]
        if extra:
            row += [r.get("pass", ""), ",".join(r.get("replaces", []))]
        rows.append(row)
    t = summary["totals"]
    total = ["total", f"{t['layers']} layers", "", "", f"{t['params']:,}", f"{t['macs']:,}"]
    rows.append(total + [f"{t['activation_bytes']:,}", "", "", ""] + (["", ""] if extra else []))
    return head, rows


def table(summary: dict) -> str:
    """Aligned text. A comparison is side by side: each original layer beside what became of
    it (itself, the layers a pass made from it, or nothing), with the pass; then the totals."""
    if "before" not in summary:
        return _aligned(*flat_rows(summary))
    before, after = summary["before"], summary["after"]
    tb, ta = before["totals"], after["totals"]
    lines = [_aligned(*side_by_side(before, after)), ""]
    for key in ("layers", "params", "macs", "activation_bytes"):
        lines.append(f"{key:<17} before {tb[key]:>16,}   after {ta[key]:>16,}")
    return "\n".join(lines)


def side_by_side(before: dict, after: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows: original layers on the left in their order; on the right the same
    layer when a pass left it, the layers made in its place, or nothing (removed)."""
    side = ["name", "type", "attrs", "output", "MACs", "rf size"]
    head = side + ["|"] + [f"{h}'" for h in side] + ["pass"]

    def cells(r):
        if r is None:
            return [""] * len(side)
        rf = _rf_text(r["receptive_field"], "size")
        return [r["name"], r["type"], r["attrs"], r["output"], f"{r['macs']:,}", rf]

    new_rows = {r["name"]: r for r in after["layers"]}
    groups: dict[tuple, list] = {}
    for r in after["layers"]:
        if "replaces" in r:
            groups.setdefault(tuple(r["replaces"]), []).append(r)
    placed, rows = set(), []
    for r in before["layers"]:
        group = next((g for g in groups if r["name"] in g), None)
        if group is None:
            same = new_rows.get(r["name"])
            right = same if same is not None and "pass" not in same else None
            rows.append(cells(r) + ["|"] + cells(right) + ["" if right else "(removed)"])
            placed.add(r["name"])
            continue
        if group in placed:  # a later layer of the same rewrite (a folded BatchNorm)
            rows.append(cells(r) + ["|"] + cells(None) + ["(absorbed above)"])
            continue
        placed.add(group)
        made = groups[group]
        for i, right in enumerate(made):
            rows.append(cells(r if i == 0 else None) + ["|"] + cells(right))
            rows[-1].append(right["pass"] if i == 0 else "")
    for r in after["layers"]:  # anything new that replaced nothing recorded
        if (
            r["name"] not in placed
            and "replaces" not in r
            and r["name"] not in {b["name"] for b in before["layers"]}
        ):
            rows.append(cells(None) + ["|"] + cells(r) + [r.get("pass", "")])
    return head, rows


def _aligned(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    numeric = {"params", "MACs", "act. bytes", "MACs'"}

    def line(cells):
        return "  ".join(
            c.rjust(w) if h in numeric else c.ljust(w) for c, w, h in zip(cells, widths, head)
        ).rstrip()

    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])


def csv_text(summary: dict) -> str:
    """CSV with the table's columns (numbers without separators); a comparison has a first
    column ``graph`` (before / after)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    parts = (
        [("", summary)]
        if "before" not in summary
        else [
            ("before", summary["before"]),
            ("after", summary["after"]),
        ]
    )
    extra = "before" in summary
    head = ["name", "type", "attrs", "output", "params", "macs", "activation_bytes"]
    head += ["rf_size", "rf_jump", "rf_start"] + (["pass", "replaces"] if extra else [])
    w.writerow((["graph"] if extra else []) + head)
    for label, s in parts:
        for r in s["layers"]:
            rf = r["receptive_field"]
            row = [r["name"], r["type"], r["attrs"], r["output"], r["params"], r["macs"]]
            row += [r["activation_bytes"]]
            row += [_rf_text(rf, "size"), _rf_text(rf, "jump"), _rf_text(rf, "start")]
            if extra:
                row += [r.get("pass", ""), ",".join(r.get("replaces", []))]
            w.writerow(([label] if extra else []) + row)
    return buf.getvalue()
