"""The plumbing every pass shares: walk the layers, ask a per-layer rule for a replacement,
splice it in keeping the original output tensor names, return the new Graph.

A rule is ``rule(layer, ctx) -> list[Layer] | Skip | None``: ``None`` means "not my pattern",
:class:`Skip` means "my pattern, but I cannot rewrite it exactly" (the reason becomes a note on
the graph), a list is the replacement, whose layers must end in the original output names.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

from graphconv.errors import GraphError
from graphconv.ir import Graph, Layer, TensorSpec, unique_name


@dataclass(frozen=True)
class Skip:
    reason: str


@dataclass(frozen=True)
class Site:
    """One place a pass rewrote: the layers it replaced (the matched layer first, then any it
    absorbed), their replacement, and the specs of the tensors the original layers read."""

    pass_name: str
    originals: tuple[Layer, ...]
    replacement: tuple[Layer, ...]
    input_specs: Mapping[str, TensorSpec]

    @property
    def outputs(self) -> tuple[str, ...]:
        """The original tensors the replacement produces (what the two sides must agree on)."""
        made = {t for layer in self.replacement for t in layer.outputs}
        return tuple(t for layer in self.originals for t in layer.outputs if t in made)


_recorder: ContextVar[list | None] = ContextVar("graphconv_rewrite_sites", default=None)


@contextmanager
def recording() -> Iterator[list[Site]]:
    """Collect every :class:`Site` that :func:`rewrite` makes inside the ``with`` block."""
    sites: list[Site] = []
    token = _recorder.set(sites)
    try:
        yield sites
    finally:
        _recorder.reset(token)


@dataclass(frozen=True)
class Step:
    """One layer of a replacement chain: type, attrs, params, and a name suffix."""

    type: str
    attrs: Any
    params: Mapping[str, Any] | None = None
    suffix: str = ""


class Context:
    """What a rule may use: the graph being rewritten and fresh, collision-free names."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self._taken = set(graph.specs) | {layer.name for layer in graph.layers}
        self.notes: list[str] = []
        self.absorbed: set[str] = set()

    def absorb(self, layer: Layer) -> None:
        """Remove a later layer whose work the current replacement takes over (its outputs
        must then be produced by the replacement or be unused)."""
        self.absorbed.add(layer.name)

    def sole_consumer(self, tensor: str) -> Layer | None:
        """The only layer reading ``tensor``, if exactly one does and it is no graph output."""
        users = self.graph.consumers.get(tensor, ())
        if len(users) != 1 or tensor in self.graph.outputs:
            return None
        return users[0]

    def note(self, text: str) -> None:
        """Record something the user should know about this rewrite."""
        self.notes.append(text)

    def spec(self, tensor: str) -> TensorSpec:
        return self.graph.specs[tensor]

    def fresh(self, base: str) -> str:
        return unique_name(base, self._taken)

    def chain(
        self, layer: Layer, steps: Sequence[Step], inputs: Sequence[str] | None = None
    ) -> list[Layer]:
        """Layers applying ``steps`` in sequence to ``layer``'s inputs; the last one writes
        ``layer``'s outputs. Intermediate names are ``<layer>/<suffix>``."""
        current = list(layer.inputs if inputs is None else inputs)
        out: list[Layer] = []
        for i, step in enumerate(steps):
            name = self.fresh(f"{layer.name}/{step.suffix or step.type.lower()}")
            last = i == len(steps) - 1
            outputs = tuple(layer.outputs) if last else (name,)
            out.append(
                Layer(
                    name,
                    step.type,
                    tuple(current),
                    outputs,
                    step.attrs,
                    step.params or {},
                    source=layer.source,
                )
            )
            current = list(outputs)
        return out


Rule = Callable[[Layer, Context], "list[Layer] | Skip | None"]


def rewrite(graph: Graph, rule: Rule, pass_name: str) -> Graph:
    """Apply ``rule`` to every layer; notes record rewrites and skips."""
    ctx = Context(graph)
    sites = _recorder.get()
    layers: list[Layer] = []
    notes: list[str] = []
    count = 0
    for layer in graph.layers:
        if layer.name in ctx.absorbed:
            continue
        absorbed_before = set(ctx.absorbed)
        result = rule(layer, ctx)
        if result is None:
            layers.append(layer)
        elif isinstance(result, Skip):
            layers.append(layer)
            notes.append(f"{pass_name}: left {layer.type} '{layer.name}' in place: {result.reason}")
        else:
            produced = {t for new in result for t in new.outputs}
            missing = [
                t
                for t in layer.outputs
                if t not in produced
                and (
                    t in graph.outputs
                    or any(user.name not in ctx.absorbed for user in graph.consumers.get(t, ()))
                )
            ]
            if missing:
                raise GraphError(
                    f"pass {pass_name} lost output tensor(s) {missing}",
                    layer=layer.name,
                    type=layer.type,
                )
            layers.extend(result)
            count += 1
            if sites is not None:
                absorbed = [graph.by_name[n] for n in ctx.absorbed - absorbed_before]
                originals = (layer, *sorted(absorbed, key=graph.layers.index))
                inside = {t for o in originals for t in o.outputs}
                reads = dict.fromkeys(t for o in originals for t in o.inputs if t not in inside)
                sites.append(
                    Site(pass_name, originals, tuple(result), {t: graph.specs[t] for t in reads})
                )
    notes.extend(ctx.notes)
    if count:
        notes.append(f"{pass_name}: rewrote {count} layer(s)")
    return Graph(tuple(layers), graph.outputs, graph.name, graph.notes + tuple(notes), reuse=graph)
