"""Per-layer static analysis: shapes, parameter counts, MACs, receptive field."""

from __future__ import annotations

from dataclasses import dataclass

from .ir import Graph, Layer


@dataclass(frozen=True)
class LayerStats:
    name: str
    type: str
    out_shapes: tuple[tuple[int, ...], ...]
    params: int
    macs: int


def layer_macs(graph: Graph, layer: Layer) -> int:
    ins = [graph.specs[t] for t in layer.inputs]
    outs = [graph.specs[t] for t in layer.outputs]
    return int(layer.definition.macs(layer.attrs, ins, outs))


def layer_stats(graph: Graph) -> list[LayerStats]:
    return [
        LayerStats(
            layer.name,
            layer.type,
            tuple(graph.specs[t].shape for t in layer.outputs),
            sum(int(p.size) for p in layer.params.values()),
            layer_macs(graph, layer),
        )
        for layer in graph.layers
    ]


def total_macs(graph: Graph) -> int:
    return sum(layer_macs(graph, layer) for layer in graph.layers)


def total_params(graph: Graph) -> int:
    return sum(int(p.size) for layer in graph.layers for p in layer.params.values())


def summary(graph: Graph) -> str:
    """One line: layer counts by type, parameters and MACs."""
    counts = ", ".join(f"{k} {v}" for k, v in sorted(graph.count_types().items()))
    return (
        f"{len(graph.layers)} layers ({counts}); {total_params(graph):,} params, "
        f"{total_macs(graph):,} MACs"
    )
