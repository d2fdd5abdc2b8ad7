"""legalize: rewrite a graph, layer by layer, until everything it exports fits a target profile.

Not a fixed chain of passes but a search. For each layer whose exported nodes violate the
profile (decided on the layer cut out and exported on its own, :func:`layer_violations`):

1. the rewrites that could fix it are looked up by the layer's type and the violated key in
   :data:`REMEDIES` (data, not code: a pipeline of registered pass specs; a spec naming a pass
   or option that is not registered is skipped, so the planner uses whatever passes exist);
2. each is applied to the layer alone, and every layer of its result is legalized the same way
   (recursively, at most :data:`MAX_DEPTH` rewrites deep);
3. of the results that fit the profile, the cheapest wins: fewest MACs, then parameters, then
   layers.

Layers whose fix needs their neighbours (a BatchNorm folded into the convolution before it, a
Dropout removed) are handled first by whole-graph passes (:data:`GRAPH_REMEDIES`). Every
rewrite is recorded as a site (as ``passes.apply_recorded`` does), so ``--exact`` checks each
one on its own. A layer no rewrite makes legal raises a GraphError naming the layer, the
violated constraint and the nearest rewrite that exists, unless ``allow_partial``.

The choice for a layer depends only on its type, attributes and input shapes (never on weight
values), so it is computed once per distinct configuration and reused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from graphconv.analysis import layer_macs, total_macs, total_params
from graphconv.builder import cut_out
from graphconv.errors import GraphconvError, GraphError
from graphconv.ir import Graph, Layer, unique_name
from graphconv.targets import Profile, Violation, layer_violations, load_profile

from ._registry import _PASSES
from ._rewrite import recording

MAX_DEPTH = 4


@dataclass(frozen=True)
class Remedy:
    """Rewrites worth trying on a layer of one of ``types`` violating one of ``keys`` (profile
    keys: "ops" for an op the profile lacks, "max_rank", "strides", ...; "*" matches any).
    Each pipeline is a sequence of pass specs; ``{max_stride}``, ``{kernel_max}``,
    ``{pads_max}`` are filled from the profile's rule for the violating node's op."""

    types: tuple[str, ...]
    keys: tuple[str, ...]
    pipelines: tuple[tuple[str, ...], ...]


_SUBPIXEL = tuple(
    pipeline + tail
    for pipeline in (
        ("deconv-to-subpixel",),
        ("deconv-to-subpixel:interleave=depth-to-space",),
        ("deconv-to-subpixel:interleave=rank4",),
        ("deconv-to-subpixel:interleave=rank4:bias_only=conv",),
        ("deconv-to-conv",),
    )
    for tail in ((), ("fold-pad",))  # fold-pad: the phases' Pads into their convolutions
)
_STRIDE = (
    ("limit-stride:max={max_stride}",),
    ("limit-stride:max={max_stride}:subsample=conv",),  # no Slice: 1x1 convolutions
)
REMEDIES: tuple[Remedy, ...] = (
    Remedy(("Deconvolution",), ("ops", "max_rank", "strides", "dilations", "pads_max"), _SUBPIXEL),
    Remedy(("Deconvolution",), ("group",), (("split-grouped-deconv",), *_SUBPIXEL)),
    Remedy(("Deconvolution",), ("output_padding",), (("remove-output-padding",), *_SUBPIXEL)),
    Remedy(("Deconvolution",), ("kernel_max",), _SUBPIXEL),
    Remedy(("Deconvolution",), ("strides",), _STRIDE),
    Remedy(
        ("Convolution",),
        ("dilations", "ops"),
        (("dilated-to-space-to-batch",), ("dilated-to-dense",)),
    ),
    Remedy(("Convolution", "Pooling"), ("strides",), _STRIDE),
    Remedy(
        ("Convolution", "Deconvolution"),
        ("kernel_max",),
        (("split-large-kernel:max={kernel_max}",),),
    ),
    Remedy(("*",), ("pads_max",), (("explicit-pad:max={pads_max}",),)),
    Remedy(("Pad",), ("*",), (("pad-to-conv",),)),
    Remedy(("Crop",), ("*",), (("crop-to-pad",),)),
    Remedy(("Upsample",), ("*",), (("upsample-to-deconv",),)),
    Remedy(
        ("Interp", "Resize"),
        ("*",),
        (("bilinear-to-deconv",), ("upsample-to-deconv",), ("resize-to-conv",)),
    ),
    Remedy(("InnerProduct",), ("*",), (("inner-product-to-conv",),)),
    Remedy(
        ("BatchNorm", "Scale"),
        ("*",),
        (("batchnorm-to-affine",), ("batchnorm-to-affine:form=conv",)),
    ),
    Remedy(("SeparableConvolution",), ("*",), (("split-separable",),)),
)

# Whole-graph passes for layers whose fix involves their neighbours: (layer types, pass).
GRAPH_REMEDIES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("Dropout", "Split", "Identity"), "eliminate-identity"),
    (("BatchNorm", "Scale"), "fold-batchnorm"),
    (("Pad",), "fold-pad"),
)


@dataclass(frozen=True)
class PlanRow:
    """One layer that violated the profile: what it violated, what replaced it, the cost."""

    layer: str
    type: str
    violation: str
    rewrite: str  # the pass specs used, outermost first; "" when none could
    macs_before: int
    macs_after: int
    layers_after: int
    legal: bool = True


@dataclass(frozen=True)
class Plan:
    """What :func:`legalize` did, with the totals and every rewrite site."""

    profile: str
    rows: tuple[PlanRow, ...]
    before: tuple[int, int, int]  # layers, params, MACs
    after: tuple[int, int, int]
    sites: tuple = field(default=(), repr=False)  # (pass function, options, Site)

    @property
    def unresolved(self) -> tuple[PlanRow, ...]:
        return tuple(r for r in self.rows if not r.legal)

    def lines(self) -> list[str]:
        """The plan as a table, then the totals."""
        head = f"legalize for '{self.profile}': "
        if not self.rows:
            return [head + f"every layer already fits ({self.before[0]} layers)"]
        table = [("layer", "type", "violation", "rewrite", "MACs before", "MACs after")]
        for r in self.rows:
            table.append(
                (
                    r.layer,
                    r.type,
                    r.violation,
                    r.rewrite if r.legal else "NONE (below)",
                    f"{r.macs_before:,}",
                    f"{r.macs_after:,}",
                )
            )
        widths = [min(max(len(row[i]) for row in table), 60) for i in range(6)]
        out = [head + f"{len(self.rows)} of {self.before[0]} layers violate the profile"]
        for row in table:
            cells = [
                c.rjust(w) if i >= 4 else c[:w].ljust(w)
                for i, (c, w) in enumerate(zip(row, widths))
            ]
            out.append("  ".join(cells).rstrip())
        (lb, pb, mb), (la, pa, ma) = self.before, self.after
        ratio = f" ({ma / mb:.2f}x)" if mb else ""
        out.append(
            f"total: {lb} -> {la} layers, {pb:,} -> {pa:,} params, {mb:,} -> {ma:,} MACs{ratio}"
        )
        for r in self.unresolved:
            out.append(f"left in place: '{r.layer}': nearest rewrite: {r.rewrite}")
        return out


@dataclass
class _Solution:
    layers: list  # the final replacement layers
    sites: list  # (pass function, options, Site)
    specs: list  # pass specs used, outermost first
    cost: tuple[int, int, int]  # MACs, params, layers


@dataclass
class _Failure:
    violation: Violation
    nearest: str  # the nearest rewrite and what it leaves, or why there is none
    remaining: int = 1 << 30  # layers the nearest rewrite leaves illegal (fewer: nearer)


def _same_layers(a: Graph, b: Graph) -> bool:
    return len(a.layers) == len(b.layers) and all(x is y for x, y in zip(a.layers, b.layers))


def _signature(graph: Graph, layer: Layer):
    ins = tuple(graph.specs[t] for t in layer.inputs)
    params = tuple(sorted((k, v.shape) for k, v in layer.params.items()))
    key = (layer.type, layer.attrs, ins, len(layer.outputs), params)
    try:
        hash(key)
    except TypeError:
        return None
    return key


class _Planner:
    def __init__(self, profile: Profile, opset: int, max_depth: int):
        self.profile, self.opset, self.max_depth = profile, opset, max_depth
        self._violations: dict = {}
        self._choices: dict = {}  # signature -> pipeline (tuple of (name, options)) or None

    def violations(self, graph: Graph, layer: Layer) -> list[Violation]:
        """The layer's violations, computed once per signature; a cached answer found for
        another layer is told with this layer's names."""
        sig = _signature(graph, layer)
        if sig is None or sig not in self._violations:
            found = layer_violations(graph, layer, self.profile, self.opset)
            if sig is None:
                return found
            self._violations[sig] = (layer, found)
        first, found = self._violations[sig]
        if first is layer or not found:
            return found
        pairs = [
            (f"'{a}", f"'{b}")
            for a, b in zip((first.name, *first.inputs, *first.outputs),
                            (layer.name, *layer.inputs, *layer.outputs))
            if a != b
        ]  # fmt: skip

        def renamed(text: str) -> str:
            for a, b in pairs:
                text = text.replace(a, b)
            return text

        return [Violation(renamed(f"'{v.node}")[1:], v.op, v.key, renamed(v.detail)) for v in found]

    def candidates(self, layer: Layer, found: list[Violation]):
        """(spec text, [(name, options)...]) for each pipeline worth trying, or (text, reason)
        when a pass or option it needs is not registered."""
        from ._registry import _check_options, parse_pass

        seen = set()
        for v in found:
            rule = self.profile.ops.get(v.op)
            values = {
                "max_stride": max(rule.strides) if rule and rule.strides else None,
                "kernel_max": rule.kernel_max if rule else None,
                "pads_max": rule.pads_max if rule else None,
            }
            for remedy in REMEDIES:
                if not ({layer.type, "*"} & set(remedy.types)) or not (
                    {v.key, "*"} & set(remedy.keys)
                ):
                    continue
                for pipeline in remedy.pipelines:
                    try:
                        specs = tuple(p.format(**values) for p in pipeline)
                    except (KeyError, ValueError):
                        continue
                    if "None" in "".join(specs) or specs in seen:
                        continue
                    seen.add(specs)
                    text = " + ".join(specs)
                    steps = []
                    for spec in specs:
                        name, options = parse_pass(spec)
                        if name not in _PASSES:
                            steps = f"pass '{name}' is not registered"
                            break
                        try:
                            _check_options(name, options)
                        except GraphconvError as e:
                            steps = str(e)
                            break
                        steps.append((name, options))
                    yield text, steps

    def solve(self, graph: Graph, layer: Layer, depth: int = 0) -> _Solution | _Failure:
        found = self.violations(graph, layer)
        cost = (layer_macs(graph, layer), sum(int(p.size) for p in layer.params.values()), 1)
        if not found:
            return _Solution([layer], [], [], cost)
        sig = _signature(graph, layer)
        known = self._choices.get(sig) if sig is not None else None
        if known is not None:
            result = self._attempt(graph, layer, known[0], known[1], depth)
            if isinstance(result, _Solution):
                return result
        if depth >= self.max_depth:
            return _Failure(found[0], f"no rewrite within {self.max_depth} levels")
        best, nearest, tried, memo = None, None, [], {}
        for text, steps in self.candidates(layer, found):
            if isinstance(steps, str):
                tried.append(f"{text} ({steps})")
                continue
            result = self._attempt(graph, layer, text, steps, depth, memo)
            if isinstance(result, _Solution):
                if best is None or result.cost < best[1].cost:
                    best = ((text, steps), result)
            elif nearest is None or result.remaining < nearest.remaining:
                nearest = result
        if best is not None:
            if sig is not None:
                self._choices[sig] = best[0]
            return best[1]
        if nearest is not None:
            return _Failure(found[0], nearest.nearest, nearest.remaining)
        if tried:
            return _Failure(found[0], f"none registered (needs: {'; '.join(tried)})")
        keys = ", ".join(dict.fromkeys(v.key for v in found))
        return _Failure(found[0], f"no rewrite of a {layer.type} for {keys} is known")

    def _apply(self, graph, layer, steps, memo):
        """``steps`` applied to ``layer`` cut out alone: (graph, sites, whether the last step
        changed anything), or a GraphconvError. Results of pipeline prefixes are kept in
        ``memo`` (pipelines share their first passes)."""
        key = tuple((name, tuple(sorted(options.items()))) for name, options in steps)
        if key in memo:
            return memo[key]
        if not steps:
            specs = {t: graph.specs[t] for t in dict.fromkeys(layer.inputs)}
            result = (cut_out([layer], specs, layer.outputs, f"legalize:{layer.name}"), [], True)
        else:
            result = self._apply(graph, layer, steps[:-1], memo)
            if not isinstance(result, GraphconvError):
                g, sites, _ = result
                name, options = steps[-1]
                try:
                    with recording() as found:
                        after = _PASSES[name](g, **options)
                    changed = not _same_layers(after, g)
                    result = (after, sites + [(_PASSES[name], options, s) for s in found], changed)
                except GraphconvError as e:
                    result = e
        memo[key] = result
        return result

    def _attempt(self, graph, layer, text, steps, depth, memo=None) -> _Solution | _Failure:
        """Apply one pipeline to ``layer`` alone, then legalize every layer of the result."""
        memo = {} if memo is None else memo
        result = self._apply(graph, layer, tuple(steps), memo)
        if isinstance(result, GraphconvError):
            return _Failure(self.violations(graph, layer)[0], f"{text} fails: {result}")
        g, sites, changed = result
        before = self._apply(graph, layer, (), memo)[0]
        if _same_layers(g, before) or not changed:  # nothing done, or the same as a shorter one
            why = "; ".join(g.notes[len(before.notes) :]) or "it changed nothing"
            return _Failure(self.violations(graph, layer)[0], f"{text} left it in place: {why}")
        solution = _Solution([], sites, [text], (0, 0, 0))
        children = [c for c in g.layers if not c.definition.is_source]
        for i, child in enumerate(children):
            sub = self.solve(g, child, depth + 1)
            if isinstance(sub, _Failure):  # stop here: the rest is not needed to refuse it
                then = f" [its nearest: {sub.nearest}]" if " leave" in sub.nearest else ""
                return _Failure(
                    self.violations(graph, layer)[0],
                    f"{text} leaves '{child.name}' ({child.type}): {sub.violation.detail}{then}",
                    len(children) - i,  # layers not made legal (fewer: nearer)
                )
            solution.layers.extend(sub.layers)
            solution.sites.extend(sub.sites)
            solution.specs.extend(s for s in sub.specs if s not in solution.specs)
            solution.cost = tuple(a + b for a, b in zip(solution.cost, sub.cost))
        return solution


def _graph_remedies(graph: Graph, planner: _Planner, rows: list, sites: list) -> Graph:
    """Whole-graph passes for violating layers whose fix involves their neighbours."""
    for types, name in GRAPH_REMEDIES:
        if name not in _PASSES:
            continue
        bad = {
            layer.name: found
            for layer in graph.layers
            if layer.type in types and (found := planner.violations(graph, layer))
        }
        if not bad:
            continue
        with recording() as found_sites:
            after = _PASSES[name](graph)
        kept = set(after.by_name)
        for layer_name, found in bad.items():
            if layer_name in kept:
                continue
            layer = graph.by_name[layer_name]
            rows.append(
                PlanRow(
                    layer_name,
                    layer.type,
                    str(found[0].detail),
                    name,
                    layer_macs(graph, layer),
                    0,
                    0,
                )
            )
        sites.extend((_PASSES[name], {}, s) for s in found_sites)
        graph = after
    return graph


def _splice(graph: Graph, replaced: dict[str, list[Layer]]) -> Graph:
    """``graph`` with each named layer replaced; names the replacements made in isolation are
    renamed where they collide with the rest of the graph."""
    taken = {layer.name for layer in graph.layers} | set(graph.specs)
    layers = []
    for layer in graph.layers:
        new = replaced.get(layer.name)
        if new is None:
            layers.append(layer)
            continue
        taken.discard(layer.name)
        alias: dict[str, str] = {}
        mine = set(layer.outputs) | set(layer.inputs)
        for r in new:
            name = r.name if r.name not in taken else unique_name(r.name, taken)
            taken.add(name)
            outs = []
            for t in r.outputs:
                if t not in mine and t in taken:
                    alias[t] = unique_name(t, taken)
                taken.add(alias.get(t, t))
                outs.append(alias.get(t, t))
            ins = tuple(alias.get(t, t) for t in r.inputs)
            layers.append(r.replace(name=name, inputs=ins, outputs=tuple(outs)))
    return Graph(tuple(layers), graph.outputs, graph.name, graph.notes, reuse=graph)


def _summary(graph: Graph) -> tuple[int, int, int]:
    return len(graph.layers), total_params(graph), total_macs(graph)


def legalize(
    graph: Graph,
    profile: Profile | str | Path,
    *,
    allow_partial: bool = False,
    opset: int = 17,
    max_depth: int = MAX_DEPTH,
) -> tuple[Graph, Plan]:
    """Rewrite ``graph`` until every layer's export fits ``profile`` (a Profile, a built-in
    name or a .toml path); returns the new graph and the :class:`Plan`.

    A layer no exact rewrite makes legal raises a GraphError naming it, the violated
    constraint and the nearest rewrite that exists; with ``allow_partial`` it is left in place
    and listed in the plan instead."""
    if not isinstance(profile, Profile):
        profile = load_profile(profile)
    planner = _Planner(profile, opset, max_depth)
    before = _summary(graph)
    rows: list[PlanRow] = []
    sites: list = []
    current = _graph_remedies(graph, planner, rows, sites)
    replaced: dict[str, list[Layer]] = {}
    for layer in current.layers:
        found = planner.violations(current, layer)
        if not found:
            continue
        result = planner.solve(current, layer)
        macs = layer_macs(current, layer)
        summary = found[0].detail + (f" (+{len(found) - 1} more)" if len(found) > 1 else "")
        if isinstance(result, _Failure):
            if not allow_partial:
                raise GraphError(
                    f"violates {result.violation.key} of target '{profile.name}': "
                    f"{result.violation.detail}; nearest rewrite: {result.nearest}",
                    layer=layer.name,
                    type=layer.type,
                    source=layer.source,
                )
            rows.append(
                PlanRow(layer.name, layer.type, summary, result.nearest, macs, macs, 1, legal=False)
            )
            continue
        replaced[layer.name] = result.layers
        sites.extend(result.sites)
        rows.append(
            PlanRow(
                layer.name,
                layer.type,
                summary,
                " > ".join(result.specs),
                macs,
                result.cost[0],
                result.cost[2],
            )
        )
    after = _splice(current, replaced) if replaced else current
    return after, Plan(profile.name, tuple(rows), before, _summary(after), tuple(sites))
