"""Benchmark: the interpreter against onnxruntime on the same seeded input, in one process.

Both run with the same thread count, each in its own block of ``repeat`` runs after a warm-up;
times are medians. The ratio is interpreter time over onnxruntime time.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from time import perf_counter

from .export import to_onnx
from .interpreter import random_feeds, run
from .ir import Graph
from .kernels.threads import set_threads
from .validate import ort_session

SETTLE_S = 0.3  # idle worker threads of the engine timed before go to sleep meanwhile


@dataclass
class BenchResult:
    model: str
    input_shapes: dict
    threads: int
    repeat: int
    interpreter_s: float
    onnxruntime_s: float
    ratio: float
    reference_s: float | None = None
    interpreter_layers: list = field(default_factory=list)  # [(layer, type, seconds)]
    onnxruntime_nodes: list = field(default_factory=list)  # [(node, op, seconds)]
    notes: list = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = perf_counter()
        fn()
        times.append(perf_counter() - t0)
    return statistics.median(times)


def bench(
    graph: Graph,
    *,
    repeat: int = 5,
    threads: int | None = None,
    profile: bool = False,
    against_reference: bool = False,
    seed: int = 0,
    opset: int = 17,
) -> BenchResult:
    threads = threads or os.cpu_count() or 1
    set_threads(threads)
    feeds = random_feeds(graph, seed)
    model = to_onnx(graph, opset)
    sess = ort_session(model, threads=threads, optimize="all")
    names = [o.name for o in sess.get_outputs()]
    # Each engine runs in its own block after its own warm-up, with a pause after each block:
    # interleaving run by run would let the other engine's idle worker threads (onnxruntime's
    # and OpenBLAS's spin-wait after a call) steal a core from the one being timed.
    run(graph, feeds)
    ours = [_median_time(lambda: run(graph, feeds), 1) for _ in range(repeat)]
    time.sleep(SETTLE_S)
    sess.run(names, feeds)
    theirs = [_median_time(lambda: sess.run(names, feeds), 1) for _ in range(repeat)]
    time.sleep(SETTLE_S)
    result = BenchResult(
        graph.name,
        {k: list(v.shape) for k, v in graph.inputs.items()},
        threads,
        repeat,
        statistics.median(ours),
        statistics.median(theirs),
        0.0,
    )
    result.ratio = result.interpreter_s / result.onnxruntime_s
    from . import OPENBLAS_TIMEOUT_SET

    if not OPENBLAS_TIMEOUT_SET:
        result.notes.append(
            "NumPy was imported before graphconv, so OpenBLAS's idle workers "
            "spin for ~0.1 s after each call and slow both engines; import "
            "graphconv first or set OPENBLAS_THREAD_TIMEOUT=4"
        )
    if profile:
        timings: dict[str, float] = {}
        for _ in range(max(1, repeat // 2)):
            run(graph, feeds, timings=timings)
        k = max(1, repeat // 2)
        result.interpreter_layers = sorted(
            ((name, graph.layer(name).type, t / k) for name, t in timings.items()),
            key=lambda r: -r[2],
        )
        result.onnxruntime_nodes = _ort_profile(model, feeds, threads, k)
    if against_reference:
        from onnx.reference import ReferenceEvaluator

        ref = ReferenceEvaluator(model)
        ref.run(None, feeds)
        result.reference_s = _median_time(lambda: ref.run(None, feeds), 1)
    return result


def _ort_profile(model, feeds, threads: int, runs: int) -> list:
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.enable_profiling = True
        opts.profile_file_prefix = os.path.join(tmp, "ort")
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        sess = ort.InferenceSession(
            model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
        )
        names = [o.name for o in sess.get_outputs()]
        for _ in range(runs + 1):
            sess.run(names, feeds)
        path = sess.end_profiling()
        with open(path) as f:
            events = json.load(f)
    per_node: dict[tuple[str, str], float] = {}
    for ev in events:
        if ev.get("cat") == "Node" and ev.get("name", "").endswith("_kernel_time"):
            key = (ev["name"][: -len("_kernel_time")], ev.get("args", {}).get("op_name", ""))
            per_node[key] = per_node.get(key, 0.0) + ev.get("dur", 0) * 1e-6
    return sorted(((n, op, t / (runs + 1)) for (n, op), t in per_node.items()), key=lambda r: -r[2])
