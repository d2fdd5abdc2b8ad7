"""The graph IR: immutable layers and graphs, validated when they are made.

A :class:`Graph` is a tuple of :class:`Layer` in topological order plus the names of its output
tensors. Tensor names are single-assignment. Shapes, producers and consumers are derived views,
computed once and cached. Nothing here mutates: a pass builds a new Graph (``dataclasses.replace``
or :class:`GraphBuilder`) and the old one stays valid.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from dataclasses import InitVar, dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import numpy as np

from .errors import GraphError
from .memory import check_layer
from .registry import layer_type

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True)
class TensorSpec:
    """Static type of a tensor: its full shape (batch first) and element type."""

    shape: tuple[int, ...]
    dtype: str = "float32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def __str__(self) -> str:
        return "x".join(map(str, self.shape))


def _frozen_params(params: Mapping[str, Any] | None) -> Mapping[str, np.ndarray]:
    frozen = {}
    for key, value in (params or {}).items():
        if (
            isinstance(value, np.ndarray)
            and value.dtype == np.float32
            and not value.flags.writeable
            and value.base is None
        ):
            frozen[key] = value  # already one of ours: read-only and owning its data
            continue
        array = np.array(value, dtype=np.float32, copy=True)
        array.flags.writeable = False
        frozen[key] = array
    return MappingProxyType(frozen)


@dataclass(frozen=True, eq=False)
class Layer:
    """One operation: ``outputs = type(attrs, params)(inputs)``.

    ``attrs`` is the frozen attribute dataclass of the layer type; ``params`` maps blob names
    (``weight``, ``bias``, ...) to read-only float32 arrays. ``source`` is where the layer came
    from (``file:line``), used in error messages.
    """

    name: str
    type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Any = None
    params: Mapping[str, np.ndarray] = field(default_factory=dict)
    source: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "params", _frozen_params(self.params))
        lt = layer_type(self.type, layer=self.name, source=self.source)
        if self.attrs is None:
            try:
                object.__setattr__(self, "attrs", lt.Attrs())
            except TypeError as e:
                raise self.error(f"attributes are required ({e})") from None
        if not isinstance(self.attrs, lt.Attrs):
            raise self.error(f"attrs must be {lt.Attrs.__name__}, got {type(self.attrs).__name__}")
        if not self.outputs:
            raise self.error("a layer needs at least one output tensor")

    @property
    def definition(self):
        """The registered layer type object holding this layer's semantics."""
        return layer_type(self.type)

    def error(self, message: str) -> GraphError:
        return GraphError(message, layer=self.name, type=self.type, source=self.source)

    def replace(self, **changes: Any) -> "Layer":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, eq=False)
class Graph:
    """An immutable, validated layer graph.

    Construction checks: unique layer names, every tensor defined exactly once and before use,
    no cycles, per-type arity and attributes, inferable shapes, parameter shapes. Layers given
    out of order are put in a stable topological order.
    """

    layers: tuple[Layer, ...]
    outputs: tuple[str, ...]
    name: str = "graph"
    notes: tuple[str, ...] = ()  # what a frontend or pass wants the user to know (drops, skips)
    # Shapes already inferred for these very layers (a builder's, or an earlier graph whose
    # unchanged layers are reused): those layers are not inferred again. Not a field.
    reuse: InitVar["Graph | Mapping[str, TensorSpec] | None"] = None

    def __post_init__(self, reuse=None) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "notes", tuple(self.notes))
        object.__setattr__(self, "layers", _check_structure(self.layers, self.outputs))
        self.__dict__["specs"] = self._infer(reuse)  # shape inference is part of validity

    def _infer(self, reuse) -> Mapping[str, TensorSpec]:
        """Shape and dtype of every tensor. With ``reuse`` a Graph, layers that are the very
        same objects there keep their shapes, and every re-inferred tensor that existed before
        must keep its shape. With ``reuse`` a mapping (a builder's or a frontend's specs, each
        inferred as its layer was added), it is trusted only when its keys are exactly this
        graph's tensors: a mapping with a tensor more or less was made for another graph, so
        every layer is inferred again (same result, just slower)."""
        if reuse is not None and not isinstance(reuse, Graph):
            if _covers_exactly(reuse, self.layers):
                return MappingProxyType(dict(reuse))
            reuse = None
        specs: dict[str, TensorSpec] = {}
        producer: dict[str, str] = {}
        old = reuse.by_name if reuse is not None else {}
        for layer in self.layers:
            origins = [producer[t] for t in layer.inputs]
            for out in layer.outputs:
                producer[out] = layer.name
            if old.get(layer.name) is layer:
                for out in layer.outputs:
                    specs[out] = reuse.specs[out]
                continue
            ins = [specs[t] for t in layer.inputs]
            for spec, out in zip(infer_layer(layer, ins, origins), layer.outputs):
                if reuse is not None and out in reuse.specs and reuse.specs[out] != spec:
                    raise layer.error(
                        f"rewrite changes the shape of '{out}' from {reuse.specs[out]} to {spec}"
                    )
                specs[out] = spec
        return MappingProxyType(specs)

    # ---- derived views -------------------------------------------------------------------
    @property
    def specs(self) -> Mapping[str, TensorSpec]:
        """Shape and dtype of every tensor, by name."""
        return self.__dict__["specs"]

    @cached_property
    def producer(self) -> Mapping[str, Layer]:
        return MappingProxyType({t: layer for layer in self.layers for t in layer.outputs})

    @cached_property
    def consumers(self) -> Mapping[str, tuple[Layer, ...]]:
        uses: dict[str, list[Layer]] = {}
        for layer in self.layers:
            for t in dict.fromkeys(layer.inputs):
                uses.setdefault(t, []).append(layer)
        return MappingProxyType({t: tuple(v) for t, v in uses.items()})

    @cached_property
    def by_name(self) -> Mapping[str, Layer]:
        return MappingProxyType({layer.name: layer for layer in self.layers})

    @cached_property
    def input_layers(self) -> tuple[Layer, ...]:
        return tuple(layer for layer in self.layers if layer.definition.is_source)

    @cached_property
    def inputs(self) -> Mapping[str, TensorSpec]:
        """Graph inputs (outputs of ``Input`` layers) with their specs, in order."""
        return MappingProxyType(
            {layer.outputs[0]: self.specs[layer.outputs[0]] for layer in self.input_layers}
        )

    def layer(self, name: str) -> Layer:
        try:
            return self.by_name[name]
        except KeyError:
            raise GraphError(f"no layer named '{name}'") from None

    def to_networkx(self) -> nx.DiGraph:
        """Layer-level dependency graph (nodes are layer names)."""
        return _layer_digraph(self.layers)

    def count_types(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for layer in self.layers:
            counts[layer.type] = counts.get(layer.type, 0) + 1
        return counts

    def replace(self, **changes: Any) -> "Graph":
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self.layers)} layers, outputs={list(self.outputs)})"


def _covers_exactly(specs: Mapping[str, TensorSpec], layers: tuple[Layer, ...]) -> bool:
    """Whether ``specs`` holds exactly the outputs of ``layers`` (names are single-assignment,
    checked before, so equal counts and containment mean equal sets)."""
    produced = [t for layer in layers for t in layer.outputs]
    return len(specs) == len(produced) and all(t in specs for t in produced)


def infer_layer(
    layer: Layer, ins: list[TensorSpec], origins: list[str] | None = None
) -> list[TensorSpec]:
    """Check arity, attributes against inputs, and parameter shapes; return output specs.

    ``origins`` (the layers producing each input) make shape errors name where inputs came from.
    """
    lt = layer.definition
    lo, hi = lt.arity
    if len(ins) < lo or (hi is not None and len(ins) > hi):
        want = f"{lo}" if lo == hi else f"{lo} to {hi if hi is not None else 'any'}"
        raise layer.error(f"takes {want} inputs, got {len(ins)}")
    try:
        outs = list(lt.infer(layer.attrs, ins))
        want_params = lt.param_shapes(layer.attrs, ins)
    except (ValueError, ZeroDivisionError) as e:
        if origins:
            shapes = ", ".join(
                f"'{t}' {s} from layer '{o}'" for t, s, o in zip(layer.inputs, ins, origins)
            )
        else:
            shapes = ", ".join(str(s) for s in ins)
        raise layer.error(f"{e} (inputs {shapes})") from None
    if len(outs) != len(layer.outputs):
        raise layer.error(f"produces {len(outs)} outputs, {len(layer.outputs)} named")
    for key in layer.params:
        if key not in want_params:
            raise layer.error(f"unexpected parameter '{key}' (expects {sorted(want_params)})")
    for key, shape in want_params.items():
        if key not in layer.params:
            raise layer.error(f"missing parameter '{key}' of shape {tuple(shape)}")
        got = layer.params[key].shape
        if tuple(got) != tuple(shape):
            raise layer.error(f"parameter '{key}' has shape {tuple(got)}, expected {tuple(shape)}")
    check_layer(layer.error, (), outs)
    return outs


def _layer_digraph(layers: Iterable[Layer]) -> nx.DiGraph:
    import networkx as nx  # here: importing networkx costs start-up time

    g = nx.DiGraph()
    producer = {}
    for layer in layers:
        g.add_node(layer.name)
        for t in layer.outputs:
            producer[t] = layer.name
    for layer in layers:
        for t in layer.inputs:
            if t in producer:
                g.add_edge(producer[t], layer.name)
    return g


def _check_structure(layers: tuple[Layer, ...], outputs: tuple[str, ...]) -> tuple[Layer, ...]:
    names: dict[str, Layer] = {}
    producer: dict[str, Layer] = {}
    for layer in layers:
        if not isinstance(layer, Layer):
            raise GraphError(f"expected a Layer, got {type(layer).__name__}")
        if layer.name in names:
            raise layer.error("duplicate layer name")
        names[layer.name] = layer
        for t in layer.outputs:
            if t in producer:
                raise layer.error(
                    f"tensor '{t}' is already produced by layer '{producer[t].name}'"
                    " (tensors are single-assignment)"
                )
            producer[t] = layer
    for layer in layers:
        for t in layer.inputs:
            if t not in producer:
                raise layer.error(f"input tensor '{t}' is not produced by any layer")
    for t in outputs:
        if t not in producer:
            raise GraphError(f"graph output '{t}' is not produced by any layer")
    if not outputs:
        raise GraphError("a graph needs at least one output")
    defined: set[str] = set()
    for layer in layers:  # the common case: already in order, so acyclic; linear to check
        if any(t not in defined for t in layer.inputs):
            break
        defined.update(layer.outputs)
    else:
        return layers
    import networkx as nx

    g = _layer_digraph(layers)
    try:
        cycle = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        path = " -> ".join([u for u, _ in cycle] + [cycle[0][0]])
        first = names[cycle[0][0]]
        raise first.error(f"cycle in the graph: {path}")
    position = {layer.name: i for i, layer in enumerate(layers)}
    order = nx.lexicographical_topological_sort(g, key=position.__getitem__)
    return tuple(names[n] for n in order)


def unique_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base_2``, ``base_3``, ... whichever is not in ``taken``; claims it."""
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name


def seeded_rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator determined by ``seed`` and names (e.g. a layer name), independent of order."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF] + [zlib.crc32(k.encode()) for k in keys])
