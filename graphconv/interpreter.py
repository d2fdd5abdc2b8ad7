"""The NumPy interpreter: a table-driven walk over the layers.

Each tensor's last use is precomputed; a tensor is dropped as soon as no later layer (and no
requested output) needs it. Kernel errors are re-raised naming the layer, its type and its input
shapes.
"""

from __future__ import annotations

from time import perf_counter
from typing import Iterable, Mapping

import numpy as np

from .errors import GraphconvError, GraphError
from .ir import Graph


def last_uses(graph: Graph) -> dict[int, list[str]]:
    """For each layer index, the tensors whose last use is that layer (a tensor nobody consumes
    dies right after its producer; `run` keeps requested outputs regardless)."""
    last: dict[str, int] = {}
    for i, layer in enumerate(graph.layers):
        for t in layer.inputs:
            last[t] = i
        for t in layer.outputs:
            last.setdefault(t, i)  # produced but never consumed: dead right after
    dying: dict[int, list[str]] = {}
    for t, i in last.items():
        dying.setdefault(i, []).append(t)
    return dying


def run(graph: Graph, feeds: Mapping[str, np.ndarray],
        outputs: Iterable[str] | None = None,
        timings: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """Execute ``graph`` on ``feeds`` (input name -> array) and return the requested tensors.

    ``outputs`` defaults to the graph's outputs; any intermediate tensor may be requested.
    Inputs are converted to float32 and checked against their declared shapes. ``timings``, if
    given, receives the seconds each layer's kernel took (added up over calls).
    """
    wanted = list(graph.outputs if outputs is None else outputs)
    for t in wanted:
        if t not in graph.specs:
            raise GraphError(f"requested tensor '{t}' does not exist in the graph")
    missing = [name for name in graph.inputs if name not in feeds]
    if missing:
        raise GraphconvError(f"no value fed for graph input(s) {', '.join(missing)}")
    extra = [name for name in feeds if name not in graph.inputs]
    if extra:
        raise GraphconvError(f"fed tensor(s) {', '.join(extra)} are not graph inputs "
                             f"(inputs: {', '.join(graph.inputs)})")
    keep = set(wanted)
    dying = last_uses(graph)
    env: dict[str, np.ndarray] = {}
    for i, layer in enumerate(graph.layers):
        lt = layer.definition
        xs = [feeds[layer.outputs[0]]] if lt.is_source else [env[t] for t in layer.inputs]
        start = perf_counter() if timings is not None else 0.0
        try:
            ys = lt.run(layer.attrs, xs, layer.params)
        except GraphconvError:
            raise
        except Exception as e:  # noqa: BLE001 - re-raised with the layer named
            shapes = ", ".join("x".join(map(str, np.shape(x))) for x in xs)
            raise layer.error(f"{type(e).__name__}: {e} (input shapes {shapes})") from e
        if timings is not None:
            timings[layer.name] = timings.get(layer.name, 0.0) + perf_counter() - start
        for t, y in zip(layer.outputs, ys):
            want = graph.specs[t].shape
            if tuple(y.shape) != want:
                raise layer.error(f"kernel produced shape {y.shape} for '{t}', expected {want}")
            env[t] = y
        for t in dying.get(i, ()):
            if t not in keep:
                env.pop(t, None)
    return {t: env[t] for t in wanted}


def random_feeds(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded standard-normal inputs for every graph input (the same for every command)."""
    from .ir import seeded_rng

    return {name: seeded_rng(seed, "input", name).standard_normal(spec.shape).astype(np.float32)
            for name, spec in graph.inputs.items()}
