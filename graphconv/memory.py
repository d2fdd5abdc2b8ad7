"""The memory bound: what a command will need, estimated from shapes alone, before allocating.

A model file is small; what it asks for need not be (``num_output: 2000000000``, an Upsample by
100000). Three checks keep graphconv from exhausting the machine:

* while a model loads, every layer's parameters and outputs are sized from their shapes before
  any filler is drawn or array allocated (:func:`check_layer`, called by the frontends and the
  graph builder): one tensor or the parameters so far above the bound stop the load;
* before a command runs the graph, :func:`estimate` adds up the parameters, the largest set of
  activations alive at once in the interpreter's order, and the largest per-layer scratch (a
  padded input, a transposed convolution's uncropped output), times the engines that hold them
  (the interpreter, onnxruntime); :func:`check` refuses above the bound;
* kernels do not materialise what no output reads (a convolution's taps that fall entirely in
  its padding are dropped before padding: ``kernels/conv.py``).

The bound is ``--max-memory`` (``8G``, ``512M``, ``50%`` of this machine), by default
:data:`DEFAULT_SHARE` of the machine's memory: physical RAM, or the cgroup limit when lower.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from .errors import GraphconvError, UsageError

DEFAULT_SHARE = 0.75
# The estimate's activations + scratch were 0.74-1.87x the peak of NumPy allocations measured
# with tracemalloc while the interpreter ran the bundled and caffe-zoo models (the high end on
# tiny models: per-thread im2col chunks); the bound adds this margin and a fixed baseline
# (interpreter buffers, onnxruntime's arena). tests/test_memory.py checks the claim.
MARGIN = 2
BASELINE = 64 * 2**20
_LIMIT: contextvars.ContextVar[int | None] = contextvars.ContextVar("memory_limit", default=None)
_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


class MemoryBoundError(GraphconvError):
    """A command would need more memory than the bound allows (exit 2, with the estimate)."""


@functools.lru_cache(maxsize=1)
def machine_memory() -> int:
    """Bytes of memory this process may use: physical RAM, or the cgroup limit when lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def default_limit() -> int:
    return int(DEFAULT_SHARE * machine_memory())


def parse_size(text: str) -> int:
    """``8G``, ``512M``, ``1.5GiB``, ``100000`` (bytes) or ``50%`` (of the machine's memory)."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    try:
        if t.endswith("%"):
            value = float(t[:-1]) / 100 * machine_memory()
        else:
            unit = t[-1] if t and t[-1] in _UNITS else ""
            value = float(t[: len(t) - len(unit)]) * _UNITS[unit]
    except ValueError:
        value = float("nan")
    if not (value >= 1 and math.isfinite(value)):
        raise UsageError(f"--max-memory: expected a size such as 8G, 512M or 50%, got '{text}'")
    return int(value)


def limit() -> int:
    """The bound in force: the one set with :func:`bound`, else the default share."""
    value = _LIMIT.get()
    return default_limit() if value is None else value


@contextlib.contextmanager
def bound(max_bytes: int | None) -> Iterator[None]:
    """Use ``max_bytes`` (None: the default) as the bound inside the ``with`` block."""
    token = _LIMIT.set(max_bytes)
    try:
        yield
    finally:
        _LIMIT.reset(token)


def size_text(n: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} bytes"


def _bytes(shape: Sequence[int], dtype: str = "float32") -> int:
    itemsize = 8 if dtype in ("int64", "float64") else 4
    return math.prod(int(d) for d in shape) * itemsize


def check_layer(
    error,
    param_shapes: Mapping[str, Sequence[int]] = (),
    outputs: Iterable = (),
    so_far: int = 0,
) -> int:
    """Refuse one layer whose parameters (with ``so_far``: the parameters of the layers before
    it) or any output tensor alone exceed the bound; ``error(message)`` makes the exception
    (naming the layer and file). Returns the parameter bytes including ``so_far``."""
    cap = limit()
    params = so_far + sum(_bytes(s) for s in dict(param_shapes).values())
    if params > cap:
        raise error(
            f"its parameters bring the model to {size_text(params)}, above the memory bound "
            f"{size_text(cap)} (--max-memory)"
        )
    for spec in outputs:
        need = _bytes(spec.shape, spec.dtype)
        if need > cap:
            raise error(
                f"its output {spec} alone takes {size_text(need)}, above the memory bound "
                f"{size_text(cap)} (--max-memory)"
            )
    return params


@dataclass(frozen=True)
class Estimate:
    """Bytes one engine needs for a graph: parameters, the activations alive at the busiest
    point of the interpreter's order, and the largest per-layer scratch."""

    params: int
    activations: int
    scratch: int
    busiest: str  # the layer at the activation peak

    @property
    def total(self) -> int:
        return self.params + MARGIN * (self.activations + self.scratch) + BASELINE


def param_bytes(graph) -> int:
    """Bytes of every layer's parameters."""
    return sum(p.nbytes for layer in graph.layers for p in layer.params.values())


def estimate(graph) -> Estimate:
    """Estimate from shapes alone (no array is made)."""
    last_use: dict[str, int] = {}
    for i, layer in enumerate(graph.layers):
        for t in layer.inputs:
            last_use[t] = i
    keep = set(graph.outputs)
    live, peak, busiest, scratch = 0, 0, "", 0
    alive: dict[str, int] = {}
    for i, layer in enumerate(graph.layers):
        for t in layer.outputs:
            alive[t] = _bytes(graph.specs[t].shape, graph.specs[t].dtype)
            live += alive[t]
        if live > peak:
            peak, busiest = live, layer.name
        ins = [graph.specs[t] for t in layer.inputs]
        outs = [graph.specs[t] for t in layer.outputs]
        scratch = max(scratch, layer.definition.scratch_bytes(layer.attrs, ins, outs))
        for t in [t for t in alive if last_use.get(t, -1) <= i and t not in keep]:
            live -= alive.pop(t)
    return Estimate(param_bytes(graph), peak, scratch, busiest)


def check(graph, what: str, engines: int = 1) -> Estimate:
    """Refuse to run ``graph`` for ``what`` (a command) when ``engines`` copies of its estimate
    exceed the bound (exit 2 with the estimate)."""
    est = estimate(graph)
    need, cap = est.total * engines, limit()
    if need > cap:
        raise MemoryBoundError(
            f"{graph.name}: {what} needs about {size_text(need)} ({engines} x [parameters "
            f"{size_text(est.params)} + {MARGIN} x (activations {size_text(est.activations)} "
            f"at layer '{est.busiest}' + scratch {size_text(est.scratch)}) + "
            f"{size_text(BASELINE)}]), above the memory bound "
            f"{size_text(cap)}; raise --max-memory or give smaller --input-shape"
        )
    return est
