"""Housekeeping: remove layers that compute nothing at inference or nothing that is used.

``eliminate-identity``: layers that copy their input (Dropout at inference, Identity, Split) are
removed and their consumers read the input instead. Exact. A layer whose output is a graph
output is kept (its name is part of the graph's interface).

``eliminate-dead``: layers none of whose outputs reach a graph output are removed (networkx
reachability); graph inputs are kept even when unused. Exact.
"""

from __future__ import annotations

from graphconv.ir import Graph

from ._registry import register


@register("eliminate-identity")
def eliminate_identity(graph: Graph) -> Graph:
    """Dropout, Identity and Split -> nothing (consumers read the input)."""
    alias: dict[str, str] = {}
    kept, removed = [], 0
    for layer in graph.layers:
        inputs = tuple(alias.get(t, t) for t in layer.inputs)
        if (
            layer.definition.copies_input
            and len(inputs) == 1
            and not set(layer.outputs) & set(graph.outputs)
        ):
            for t in layer.outputs:
                alias[t] = inputs[0]
            removed += 1
            continue
        kept.append(layer.replace(inputs=inputs) if inputs != layer.inputs else layer)
    notes = (f"eliminate-identity: removed {removed} layer(s)",) if removed else ()
    return Graph(tuple(kept), graph.outputs, graph.name, graph.notes + notes, reuse=graph)


@register("eliminate-dead")
def eliminate_dead(graph: Graph) -> Graph:
    """Layers whose outputs reach no graph output -> removed."""
    import networkx as nx  # here: importing networkx costs start-up time

    g = graph.to_networkx()
    needed = set()
    for t in graph.outputs:
        name = graph.producer[t].name
        needed |= {name} | nx.ancestors(g, name)
    kept = [layer for layer in graph.layers if layer.name in needed or layer.definition.is_source]
    removed = len(graph.layers) - len(kept)
    notes = (f"eliminate-dead: removed {removed} layer(s)",) if removed else ()
    return Graph(tuple(kept), graph.outputs, graph.name, graph.notes + notes, reuse=graph)
