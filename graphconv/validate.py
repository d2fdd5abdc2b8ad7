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
class ValidationReport:
    outputs: tuple[OutputCheck, ...]
    rtol: float
    first_divergence: str | None = None  # "layer 'x' (Type): rel 3e-2 on tensor 't'"
    inputs: dict = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outputs)

    def lines(self) -> list[str]:
        out = [f"{o.name} {'x'.join(map(str, o.shape))}: max abs err {o.max_abs:.3g}, "
               f"rel {o.rel:.3g} {'ok' if o.ok else 'MISMATCH'}" for o in self.outputs]
        if self.first_divergence:
            out.append(f"first diverging layer: {self.first_divergence}")
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


def ort_session(model, threads: int | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
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
    is at most ``rtol`` times its largest magnitude.
    """
    feeds = random_feeds(graph, seed) if feeds is None else feeds
    ours = run(graph, feeds)
    theirs = run_onnxruntime(to_onnx(graph, opset), feeds)
    checks = []
    for name in graph.outputs:
        err, rel = compare(ours[name], theirs[name])
        checks.append(OutputCheck(name, graph.specs[name].shape, err, rel, rel <= rtol))
    report = ValidationReport(tuple(checks), rtol, None, feeds)
    if report.ok:
        return report
    return ValidationReport(report.outputs, rtol, first_divergence(graph, feeds, rtol, opset),
                            feeds)


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
