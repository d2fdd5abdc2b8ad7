"""The NumPy interpreter: a table-driven walk over the layers.

Each tensor's last use is precomputed; a tensor is dropped as soon as no later layer (and no
requested output) needs it. Kernel errors are re-raised naming the layer, its type and its input
shapes.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from time import perf_counter
from typing import Iterable, Mapping

import numpy as np

from . import progress
from .affine import Affine, merge_affines
from .errors import GraphconvError, GraphError
from .ir import Graph, Layer
from .kernels.epilogue import Epilogue, apply_by_blocks, chain_epilogues
from .kernels.threads import keep_freed_memory


def last_uses(graph: Graph) -> dict[int, list[str]]:
    """For each layer index, the tensors whose last use is that layer (a tensor nobody consumes
    dies right after its producer; `run` keeps requested outputs regardless)."""
    return _last_uses([(layer.inputs, layer.outputs) for layer in graph.layers])


def _last_uses(steps) -> dict[int, list[str]]:
    last: dict[str, int] = {}
    for i, (inputs, outputs) in enumerate(steps):
        for t in inputs:
            last[t] = i
        for t in outputs:
            last.setdefault(t, i)  # produced but never consumed: dead right after
    dying: dict[int, list[str]] = {}
    for t, i in last.items():
        dying.setdefault(i, []).append(t)
    return dying


@dataclass(frozen=True)
class KernelCall:
    """One kernel call: ``layer``, then the in-place ``epilogue`` of the layers ``fused`` into it,
    producing ``outputs`` (the last fused layer's output in place of the layer's own)."""

    layer: Layer
    outputs: tuple[str, ...]
    fused: tuple[Layer, ...] = ()
    epilogue: Epilogue | None = None
    params: Mapping[str, np.ndarray] | None = None  # the layer's own, unless an affine folded in


def plan(graph: Graph, wanted: frozenset[str] = frozenset(), fuse: bool = True) -> list[KernelCall]:
    """The kernel calls that run ``graph``. A chain of per-channel maps (BatchNorm with stored
    statistics, single-input Scale, ReLU, PReLU, Dropout) that follows a layer returning fresh
    arrays (Convolution, Deconvolution, Eltwise, ...) is fused into it when each link is the sole
    consumer of the previous one and not requested: the chain then runs in place on the
    producer's output, chunk by chunk inside the convolution kernels. Consecutive affine maps
    (BatchNorm, Scale) merge into one, and one that directly follows a convolution is folded
    into its weights and bias, as onnxruntime does. Cached per graph."""
    return _planned(graph, wanted, fuse)[0]


# Plans by graph, owned here rather than stored inside the frozen Graph. Graph has eq=False, so
# it hashes by identity, and a plan lives exactly as long as its graph.
_PLANS: weakref.WeakKeyDictionary[Graph, dict] = weakref.WeakKeyDictionary()


def _planned(graph: Graph, wanted: frozenset[str], fuse: bool):
    """(steps, tensors dying after each step), computed once per graph, outputs and fuse."""
    cache = _PLANS.setdefault(graph, {})
    key = (wanted, fuse)
    if key not in cache:
        steps = _plan_steps(graph, wanted, fuse)
        cache[key] = steps, _last_uses([(s.layer.inputs, s.outputs) for s in steps])
    return cache[key]


def _plan_steps(graph: Graph, wanted: frozenset[str], fuse: bool) -> list[KernelCall]:
    steps: list[KernelCall] = []
    absorbed: set[str] = set()
    for layer in graph.layers:
        if layer.name in absorbed:
            continue
        chain: list[tuple[Layer, Epilogue]] = []
        if fuse and layer.definition.fresh_output and len(layer.outputs) == 1:
            t = layer.outputs[0]
            while t not in wanted and graph.specs[t].rank >= 2:
                users = graph.consumers.get(t, ())
                if len(users) != 1 or len(users[0].inputs) != 1 or len(users[0].outputs) != 1:
                    break
                nxt = users[0]
                fn = nxt.definition.epilogue(nxt.attrs, nxt.params, graph.specs[t])
                if fn is None:
                    break
                chain.append((nxt, fn))
                absorbed.add(nxt.name)
                t = nxt.outputs[0]
        if chain:
            fns = merge_affines([fn for _, fn in chain])
            params = None
            if isinstance(fns[0], Affine):
                params = layer.definition.fold_affine(layer.attrs, layer.params, fns[0])
                if params is not None:
                    fns = fns[1:]
            steps.append(
                KernelCall(
                    layer,
                    (chain[-1][0].outputs[0],),
                    tuple(c for c, _ in chain),
                    chain_epilogues(fns) if fns else None,
                    params,
                )
            )
        else:
            steps.append(KernelCall(layer, tuple(layer.outputs)))
    return steps


def _call(lt, layer: Layer, xs: list[np.ndarray], step: KernelCall) -> list[np.ndarray]:
    """One kernel call: the layer's own kernel, applying the fused epilogue per chunk when the
    kernel offers to (``run_then``), else over the whole output by channel blocks."""
    params = layer.params if step.params is None else step.params
    if step.epilogue is None:
        return lt.run(layer.attrs, xs, params)
    ys = lt.run_then(layer.attrs, xs, params, step.epilogue)
    if ys is None:
        ys = lt.run(layer.attrs, xs, params)
        apply_by_blocks(step.epilogue, ys[0])
    return ys


def run(
    graph: Graph,
    feeds: Mapping[str, np.ndarray],
    outputs: Iterable[str] | None = None,
    timings: dict[str, float] | None = None,
    fuse: bool = True,
) -> dict[str, np.ndarray]:
    """Execute ``graph`` on ``feeds`` (input name -> array) and return the requested tensors.

    ``outputs`` defaults to the graph's outputs; any intermediate tensor may be requested.
    Inputs are converted to float32 and checked against their declared shapes. ``timings``, if
    given, receives the seconds each kernel call took (added up over calls), under the name of
    its layer (fused layers count in the layer they are fused into). ``fuse=False`` runs every
    layer on its own (see :func:`plan`).
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
        raise GraphconvError(
            f"fed tensor(s) {', '.join(extra)} are not graph inputs "
            f"(inputs: {', '.join(graph.inputs)})"
        )
    keep_freed_memory()
    keep = frozenset(wanted)
    steps, dying = _planned(graph, keep, fuse)
    env: dict[str, np.ndarray] = {}
    for i, step in enumerate(steps):
        progress.step("interpreter: layer", i, len(steps))
        layer = step.layer
        lt = layer.definition
        xs = [feeds[layer.outputs[0]]] if lt.is_source else [env[t] for t in layer.inputs]
        start = perf_counter() if timings is not None else 0.0
        try:
            ys = _call(lt, layer, xs, step)
        except GraphconvError:
            raise
        except Exception as e:  # noqa: BLE001 - re-raised with the layer named
            shapes = ", ".join("x".join(map(str, np.shape(x))) for x in xs)
            fused = f" with {', '.join(f.name for f in step.fused)} fused in" if step.fused else ""
            raise layer.error(f"{type(e).__name__}: {e} (input shapes {shapes}){fused}") from e
        if timings is not None:
            timings[layer.name] = timings.get(layer.name, 0.0) + perf_counter() - start
        for t, y in zip(step.outputs, ys):
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

    return {
        name: seeded_rng(seed, "input", name).standard_normal(spec.shape, dtype=np.float32)
        for name, spec in graph.inputs.items()
    }
