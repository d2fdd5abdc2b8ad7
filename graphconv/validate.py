"""Cross-check the interpreter against onnxruntime on the exported model.

Both get the same seeded inputs. Per output: max absolute error and that error relative to the
output's largest magnitude. On a mismatch every intermediate tensor is exported as an extra output
and compared in topological order, naming the first layer whose output diverges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import GraphconvError
from .export import to_onnx
from .interpreter import random_feeds, run
from .ir import Graph


@dataclass(frozen=True)
class OutputCheck:
    name: str
    shape: tuple[int, ...]
    max_abs: float
    rel: float
    ok: bool


@dataclass(frozen=True)
class LayerCheck:
    layer: str
    type: str
    tensor: str
    max_abs: float
    rel: float


@dataclass(frozen=True)
class ValidationReport:
    """Per-output comparison, and on a mismatch the layer-by-layer diagnosis.

    ``ok`` is true when every output agrees within ``rtol``, or when the outputs differ but every
    layer, fed identical inputs, agrees with onnxruntime (``layerwise_ok``): the difference is
    then float rounding amplified by a discontinuous layer (an argmax or a pooling mask picking
    another of two nearly equal values), not a difference in meaning.
    """

    outputs: tuple[OutputCheck, ...]
    rtol: float
    first_divergence: str | None = None   # end to end: the first layer whose output differs
    layer_failures: tuple[LayerCheck, ...] = ()  # layers that differ on identical inputs
    layerwise_checked: bool = False
    worst_layer: LayerCheck | None = None
    inputs: dict = field(default_factory=dict, repr=False)

    @property
    def outputs_ok(self) -> bool:
        return all(o.ok for o in self.outputs)

    @property
    def layerwise_ok(self) -> bool:
        return self.layerwise_checked and not self.layer_failures

    @property
    def ok(self) -> bool:
        return self.outputs_ok or self.layerwise_ok

    def lines(self) -> list[str]:
        out = [f"{o.name} {'x'.join(map(str, o.shape))}: max abs err {o.max_abs:.3g}, "
               f"rel {o.rel:.3g} {'ok' if o.ok else 'MISMATCH'}" for o in self.outputs]
        if self.first_divergence:
            out.append(f"first diverging layer (end to end): {self.first_divergence}")
        if self.layer_failures:
            f = self.layer_failures[0]
            out.append(f"first layer that differs on identical inputs: layer '{f.layer}' "
                       f"({f.type}): max abs err {f.max_abs:.3g}, rel {f.rel:.3g} on tensor "
                       f"'{f.tensor}' ({len(self.layer_failures)} layer(s) in all)")
        elif self.layerwise_checked:
            worst = (f" (largest rel err {self.worst_layer.rel:.3g}, layer "
                     f"'{self.worst_layer.layer}')" if self.worst_layer else "")
            out.append("layer by layer: every layer agrees with onnxruntime on identical "
                       f"inputs{worst}; the end-to-end difference is float rounding amplified "
                       "by a discontinuous layer")
        return out


def compare(a: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """Max abs error of ``a`` against ``ref`` and that error over max |ref| (NaNs count as inf)."""
    a = np.asarray(a, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if a.shape != ref.shape:
        return float("inf"), float("inf")
    if a.size == 0:
        return 0.0, 0.0
    same_nonfinite = (~np.isfinite(a) | ~np.isfinite(ref)) & (
        (a == ref) | (np.isnan(a) & np.isnan(ref)))
    diff = np.where(same_nonfinite, 0.0, np.abs(a - ref))
    diff = np.nan_to_num(diff, nan=np.inf)
    err = float(diff.max())
    scale = float(np.max(np.abs(np.where(np.isfinite(ref), ref, 0.0))))
    return err, (err / scale if scale > 0 else (0.0 if err == 0 else float("inf")))


def ort_session(model, threads: int | None = None, optimize: str = "basic"):
    """An onnxruntime CPU session. ``optimize`` "basic" (validation: onnxruntime's own kernels
    without the layout rewrites that take seconds to set up on large weights) or "all" (what a
    deployment runs; the benchmark uses it)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    level = ort.GraphOptimizationLevel
    opts.graph_optimization_level = {"basic": level.ORT_ENABLE_BASIC,
                                     "all": level.ORT_ENABLE_ALL}[optimize]
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(model.SerializeToString(), opts,
                                    providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001
        raise GraphconvError(f"onnxruntime refuses the exported model: "
                             f"{str(e).splitlines()[0]}") from e


def run_onnxruntime(model, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    sess = ort_session(model)
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def validate(graph: Graph, feeds: dict[str, np.ndarray] | None = None, *, seed: int = 0,
             rtol: float = 1e-4, opset: int = 17) -> ValidationReport:
    """Run the interpreter and onnxruntime on the same inputs and compare every output.

    ``feeds`` default to seeded standard-normal inputs. An output passes when its max abs error
    is at most ``rtol`` times its largest magnitude. On a mismatch, the first diverging layer is
    named (end to end), and every layer is re-checked on identical inputs (see
    :class:`ValidationReport`).
    """
    feeds = random_feeds(graph, seed) if feeds is None else feeds
    ours = run(graph, feeds)
    theirs = run_onnxruntime(to_onnx(graph, opset), feeds)
    checks = []
    for name in graph.outputs:
        err, rel = compare(ours[name], theirs[name])
        checks.append(OutputCheck(name, graph.specs[name].shape, err, rel, rel <= rtol))
    report = ValidationReport(tuple(checks), rtol, inputs=feeds)
    if report.outputs_ok:
        return report
    failures, worst = layerwise(graph, feeds, rtol, opset)
    return ValidationReport(report.outputs, rtol, first_divergence(graph, feeds, rtol, opset),
                            tuple(failures), True, worst, feeds)


def first_divergence(graph: Graph, feeds: dict[str, np.ndarray], rtol: float,
                     opset: int = 17) -> str | None:
    """Name the first layer (in topological order) whose output differs from onnxruntime's."""
    tensors = [t for layer in graph.layers if not layer.definition.is_source
               for t in layer.outputs]
    ours = run(graph, feeds, outputs=tensors)
    theirs = run_onnxruntime(to_onnx(graph, opset, extra_outputs=tensors, check=False), feeds)
    for layer in graph.layers:
        for t in layer.outputs:
            if t not in theirs:
                continue
            err, rel = compare(ours[t], theirs[t])
            if not rel <= rtol:
                return (f"layer '{layer.name}' ({layer.type}): max abs err {err:.3g}, "
                        f"rel {rel:.3g} on tensor '{t}'")
    return None


def layerwise(graph: Graph, feeds: dict[str, np.ndarray], rtol: float, opset: int = 17
              ) -> tuple[list[LayerCheck], LayerCheck | None]:
    """Feed every layer in onnxruntime exactly the interpreter's inputs and compare its outputs.

    Returns the layers that differ (topological order) and the layer with the largest error.
    """
    from .export import isolated_input

    tensors = [t for layer in graph.layers for t in layer.outputs]
    ours = run(graph, feeds, outputs=tensors)
    fed = dict(feeds)
    for layer in graph.layers:
        for t in layer.inputs:
            if t not in graph.inputs:
                fed[isolated_input(t)] = ours[t]
    theirs = run_onnxruntime(to_onnx(graph, opset, check=False, isolate=True), fed)
    failures, worst = [], None
    for layer in graph.layers:
        if layer.definition.is_source:
            continue
        for t in layer.outputs:
            err, rel = compare(ours[t], theirs[t])
            check = LayerCheck(layer.name, layer.type, t, err, rel)
            if worst is None or not rel <= worst.rel:
                worst = check
            if not rel <= rtol:
                failures.append(check)
    return failures, worst
