"""Cross-check a graph: the interpreter against onnxruntime, and a rewritten graph against its
original.

Every engine gets the same seeded inputs. Up to four comparisons, each per output (max absolute
error, the reference's largest magnitude, and their ratio against a tolerance):

* ``passes``: the original graph against the rewritten one, both in the interpreter (the
  rewrite passes' own exactness);
* ``export``: the rewritten graph in the interpreter against its export in onnxruntime;
* ``end-to-end``: the original graph in the interpreter against the export in onnxruntime;
* ``file``: for an ONNX input, the input file itself in onnxruntime against the interpreter on
  the imported graph (an import bug is invisible when graphconv is only compared with its own
  re-export).

A NaN or Inf in any engine's output is never ok: it is counted, located, and traced to the first
layer that produced one. On an export mismatch every intermediate tensor is exported as an extra
output and compared in topological order, naming the first layer whose output diverges, and
every layer is re-run in onnxruntime on the interpreter's own inputs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace

import numpy as np

from . import progress
from .errors import GraphconvError
from .export import to_onnx
from .interpreter import random_feeds, run
from .ir import Graph


@dataclass(frozen=True)
class OutputCheck:
    """One output compared with its reference: ``rel = max_abs / scale`` against ``tol``."""

    name: str
    shape: tuple[int, ...]
    max_abs: float
    rel: float
    ok: bool
    scale: float = 0.0  # the reference's largest finite magnitude
    tol: float = 0.0
    finite: bool = True  # no NaN/Inf on either side (else never ok)

    def line(self) -> str:
        verdict = "ok" if self.ok else ("MISMATCH" if self.finite else "NON-FINITE")
        return (
            f"{self.name} {'x'.join(map(str, self.shape))}: max abs err {self.max_abs:.3g}"
            f" (largest |value| {self.scale:.3g}), rel {self.rel:.3g} {verdict}"
        )


@dataclass(frozen=True)
class NonFinite:
    """NaN/Inf values in one engine's output, and the first layer that produced one."""

    engine: str
    tensor: str
    nan: int
    inf: int
    size: int
    first_index: tuple[int, ...]
    first_layer: str | None = None

    def line(self) -> str:
        where = f"; first produced by {self.first_layer}" if self.first_layer else ""
        return (
            f"{self.tensor} ({self.engine}): {self.nan} NaN and {self.inf} Inf of "
            f"{self.size} values, first at {self.first_index}{where}"
        )


COMPARISONS = {  # kind -> what is compared with what (the first is the reference)
    "passes": "original vs rewritten graph, both in the interpreter",
    "export": "interpreter vs onnxruntime on the exported graph",
    "end-to-end": "original graph in the interpreter vs the exported rewritten graph in "
    "onnxruntime",
    "file": "the input ONNX file in onnxruntime vs the interpreter on the imported graph",
}


@dataclass(frozen=True)
class LayerCheck:
    layer: str
    type: str
    tensor: str
    max_abs: float
    rel: float


@dataclass(frozen=True)
class ValidationReport:
    """Every comparison's per-output checks, the diagnosis, and the verdict.

    ``outputs`` is the ``export`` comparison. It passes when every output agrees within
    ``rtol``, or when the outputs differ but every layer, fed identical inputs, agrees with
    onnxruntime (``layerwise_ok``): the difference is then float rounding amplified by a
    discontinuous layer (an argmax or a pooling mask picking another of two nearly equal values),
    not a difference in meaning. ``passes`` passes within ``passes_rtol``, or when it does not but
    every rewrite site checked on its own passes (``sites``). ``end_to_end`` passes within
    ``rtol + passes_rtol`` or when both of the others pass. Non-finite values fail everything.
    """

    outputs: tuple[OutputCheck, ...]
    rtol: float
    first_divergence: str | None = None  # end to end: the first layer whose output differs
    layer_failures: tuple[LayerCheck, ...] = ()  # layers that differ on identical inputs
    layerwise_checked: bool = False
    worst_layer: LayerCheck | None = None
    inputs: dict = field(default_factory=dict, repr=False)
    passes: tuple[OutputCheck, ...] = ()
    end_to_end: tuple[OutputCheck, ...] = ()
    file: tuple[OutputCheck, ...] = ()
    nonfinite: tuple[NonFinite, ...] = ()
    sites: tuple = ()  # passes.verify.SiteCheck, when checked
    passes_rtol: float = 0.0
    repro: str | None = None  # the folder a repro was written to

    @property
    def outputs_ok(self) -> bool:
        return all(o.ok for o in self.outputs)

    @property
    def layerwise_ok(self) -> bool:
        return self.layerwise_checked and not self.layer_failures

    @property
    def export_ok(self) -> bool:
        return self.outputs_ok or self.layerwise_ok

    @property
    def sites_ok(self) -> bool:
        return all(s.ok for s in self.sites)

    @property
    def passes_ok(self) -> bool:
        return self.sites_ok and (all(o.ok for o in self.passes) or bool(self.sites))

    @property
    def end_to_end_ok(self) -> bool:
        return all(o.ok for o in self.end_to_end) or (self.passes_ok and self.export_ok)

    @property
    def file_ok(self) -> bool:
        return all(o.ok for o in self.file)

    @property
    def finite(self) -> bool:
        return not self.nonfinite

    @property
    def failed(self) -> list[str]:
        """The comparisons that failed: ``non-finite``, ``passes``, ``export``,
        ``end-to-end``, ``file``."""
        checks = [
            ("non-finite", self.finite),
            ("passes", self.passes_ok),
            ("export", self.export_ok),
            ("end-to-end", self.end_to_end_ok),
            ("file", self.file_ok),
        ]
        return [kind for kind, ok in checks if not ok]

    @property
    def ok(self) -> bool:
        return not self.failed

    def verdict(self) -> str:
        """One line: ok or the failed comparisons, saying what was compared with what."""
        done = [
            k
            for k, v in (
                ("passes", self.passes),
                ("export", self.outputs),
                ("end-to-end", self.end_to_end),
                ("file", self.file),
            )
            if v
        ]
        if self.ok:
            how = []
            if self.passes and not all(o.ok for o in self.passes):
                how.append("the rewrites site by site")
            if not self.outputs_ok:
                how.append("the export layer by layer")
            return (
                "ok"
                + (f" ({' and '.join(how)})" if how else "")
                + ": "
                + "; ".join(COMPARISONS[k] for k in done)
            )
        return (
            "FAILED: "
            + ", ".join(self.failed)
            + f" (rtol {self.rtol:g}"
            + (f", passes rtol {self.passes_rtol:g})" if self.passes else ")")
        )

    def to_dict(self) -> dict:
        """The report as plain data (``--json``): each comparison's per-output errors, the
        non-finite findings, layer checks, rewrite sites, and the verdict."""

        def checks(found) -> list[dict]:
            return [dataclasses.asdict(c) | {"shape": list(c.shape)} for c in found]

        return {
            "ok": self.ok,
            "failed": self.failed,
            "verdict": self.verdict(),
            "rtol": self.rtol,
            "passes_rtol": self.passes_rtol,
            "export": checks(self.outputs),
            "passes": checks(self.passes),
            "end_to_end": checks(self.end_to_end),
            "file": checks(self.file),
            "nonfinite": [dataclasses.asdict(n) for n in self.nonfinite],
            "first_divergence": self.first_divergence,
            "layer_failures": [dataclasses.asdict(f) for f in self.layer_failures],
            "sites": [s.line() for s in self.sites],
            "repro": self.repro,
        }

    def lines(self) -> list[str]:
        out: list[str] = []
        sections = [
            ("passes", self.passes),
            ("export", self.outputs),
            ("end-to-end", self.end_to_end),
            ("file", self.file),
        ]
        several = sum(bool(v) for _, v in sections) > 1
        for kind, checks in sections:
            if not checks:
                continue
            if several or kind != "export":
                out.append(f"{kind}: {COMPARISONS[kind]}")
            out.extend(("  " if several or kind != "export" else "") + c.line() for c in checks)
        bad_sites = [s for s in self.sites if not s.ok]
        out.extend(f"rewrite site: {s.line()}" for s in bad_sites[:3])
        if len(bad_sites) > 3:
            out.append(f"rewrite site: ... and {len(bad_sites) - 3} more site(s) fail")
        for nf in self.nonfinite:
            out.append(f"non-finite: {nf.line()}")
        if self.first_divergence:
            out.append(f"first diverging layer (end to end): {self.first_divergence}")
        if self.layer_failures:
            f = self.layer_failures[0]
            out.append(
                f"first layer that differs on identical inputs: layer '{f.layer}' "
                f"({f.type}): max abs err {f.max_abs:.3g}, rel {f.rel:.3g} on tensor "
                f"'{f.tensor}' ({len(self.layer_failures)} layer(s) in all)"
            )
        elif self.layerwise_checked:
            worst = (
                f" (largest rel err {self.worst_layer.rel:.3g}, layer '{self.worst_layer.layer}')"
                if self.worst_layer
                else ""
            )
            out.append(
                "layer by layer: every layer agrees with onnxruntime on identical "
                f"inputs{worst}; the end-to-end difference is float rounding amplified "
                "by a discontinuous layer"
            )
        if self.repro:
            out.append(f"repro written to {self.repro}")
        return out


def compare(a: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """Max abs error of ``a`` against ``ref`` and that error over max |ref| (NaNs count as inf)."""
    return measure(a, ref)[:2]


def measure(a: np.ndarray, ref: np.ndarray) -> tuple[float, float, float]:
    """:func:`compare`'s (error, relative error) and the scale between them: the largest finite
    |ref|."""
    a = np.asarray(a, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if a.shape != ref.shape:
        return float("inf"), float("inf"), _scale(ref)
    if a.size == 0:
        return 0.0, 0.0, 0.0
    same_nonfinite = (~np.isfinite(a) | ~np.isfinite(ref)) & (
        (a == ref) | (np.isnan(a) & np.isnan(ref))
    )
    with np.errstate(invalid="ignore"):  # inf - inf: counted as inf below
        diff = np.where(same_nonfinite, 0.0, np.abs(a - ref))
    diff = np.nan_to_num(diff, nan=np.inf)
    err = float(diff.max())
    scale = _scale(ref)
    return err, (err / scale if scale > 0 else (0.0 if err == 0 else float("inf"))), scale


def ort_session(model, threads: int | None = None, optimize: str = "basic"):
    """An onnxruntime CPU session. ``optimize`` "basic" (validation: onnxruntime's own kernels
    without the layout rewrites that take seconds to set up on large weights) or "all" (what a
    deployment runs; the benchmark uses it)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    level = ort.GraphOptimizationLevel
    opts.graph_optimization_level = {"basic": level.ORT_ENABLE_BASIC, "all": level.ORT_ENABLE_ALL}[
        optimize
    ]
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(
            model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
        )
    except Exception as e:  # noqa: BLE001
        raise GraphconvError(
            f"onnxruntime refuses the exported model: {str(e).splitlines()[0]}"
        ) from e


def run_onnxruntime(
    model, feeds: dict[str, np.ndarray], strict: bool = True
) -> dict[str, np.ndarray]:
    """Run ``model`` in onnxruntime. ``strict=False`` (a user's own file) feeds only the inputs
    the model declares, cast to its declared element types."""
    sess = ort_session(model)
    if not strict:
        kinds = {
            "tensor(float)": np.float32,
            "tensor(double)": np.float64,
            "tensor(float16)": np.float16,
        }
        feeds = {
            i.name: np.asarray(feeds[i.name], kinds.get(i.type, np.float32))
            for i in sess.get_inputs()
            if i.name in feeds
        }
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def comparable(graph: Graph, tensor: str, a: np.ndarray, ref: np.ndarray):
    """``(a, ref)`` as the producing layer type wants them compared element by element
    (``LayerType.compare_outputs``: DetectionOutput's rows as sets, all else as they are)."""
    layer = graph.producer.get(tensor)
    return (a, ref) if layer is None else layer.definition.compare_outputs(layer.attrs, a, ref)


def _checks(names, shapes, ours, ref, tol, graph: Graph) -> tuple[OutputCheck, ...]:
    out = []
    for name in names:
        err, rel, scale = measure(*comparable(graph, name, ours[name], ref[name]))
        finite = bool(np.all(np.isfinite(ours[name])) and np.all(np.isfinite(ref[name])))
        out.append(
            OutputCheck(name, shapes[name], err, rel, finite and rel <= tol, scale, tol, finite)
        )
    return tuple(out)


def _scale(ref) -> float:
    """The largest finite |value| of ``ref`` (0 when it has none)."""
    ref = np.asarray(ref, dtype=np.float64)
    finite = ref[np.isfinite(ref)]
    return float(np.max(np.abs(finite))) if finite.size else 0.0


def validate(
    graph: Graph,
    feeds: dict[str, np.ndarray] | None = None,
    *,
    seed: int = 0,
    rtol: float = 1e-4,
    opset: int = 17,
    original: Graph | None = None,
    passes_rtol: float | None = None,
    sites=None,
    reference_model=None,
    repro: str | None = None,
) -> ValidationReport:
    """Run the interpreter and onnxruntime on the same inputs and compare every output.

    ``feeds`` default to seeded standard-normal inputs. An output passes when its max abs error
    is at most ``rtol`` times its largest magnitude. With ``original`` (the graph before the
    rewrite passes that made ``graph``), the original in the interpreter is the reference too:
    ``passes`` and ``end-to-end`` comparisons, the first within ``passes_rtol`` (default
    ``rtol``; a lossy pass needs a larger one given on purpose). ``sites`` (a list of
    :class:`passes.verify.SiteCheck`, or a callable making one, called only when the passes
    comparison fails) checks each rewrite on its own. ``reference_model`` (the ONNX file the
    graph was imported from) adds the ``file`` comparison. On an export mismatch the first
    diverging layer is named (end to end), every layer is re-checked on identical inputs, and
    with ``repro`` a folder gets the first failing layer as a one-layer model (see
    :func:`write_repro`).
    """
    feeds = random_feeds(graph, seed) if feeds is None else feeds
    passes_rtol = rtol if passes_rtol is None else passes_rtol
    shapes = {n: graph.specs[n].shape for n in graph.outputs}
    ours = run(graph, feeds)
    progress.stage("onnxruntime")
    theirs = run_onnxruntime(to_onnx(graph, opset), feeds)
    report = ValidationReport(
        _checks(graph.outputs, shapes, ours, theirs, rtol, graph),
        rtol,
        inputs=feeds,
        passes_rtol=passes_rtol,
    )
    nonfinite = [*_nonfinite(graph, ours, "interpreter"), *_nonfinite(graph, theirs, "onnxruntime")]
    extra: dict = {}
    if original is not None:
        base = run(original, feeds, fuse=False)  # as written: no folding shared with the passes
        nonfinite = [*_nonfinite(original, base, "interpreter (original graph)"), *nonfinite]
        extra["passes"] = _checks(graph.outputs, shapes, ours, base, passes_rtol, graph)
        extra["end_to_end"] = _checks(
            graph.outputs, shapes, theirs, base, rtol + passes_rtol, graph
        )
        if callable(sites):  # checked only when the outputs alone do not settle it
            sites = sites() if not all(o.ok for o in extra["passes"]) else ()
        extra["sites"] = tuple(sites or ())
    if reference_model is not None:
        source = run_onnxruntime(reference_model, feeds, strict=False)
        base = run(original if original is not None else graph, feeds)
        named = [n for n in graph.outputs if n in source]
        extra["file"] = _checks(named, shapes, base, source, rtol, graph)
        nonfinite.extend(
            _nonfinite(
                graph, {n: source[n] for n in named}, "onnxruntime (input file)", trace=False
            )
        )
    report = replace(report, nonfinite=tuple(_traced(graph, feeds, nonfinite, opset)), **extra)
    if report.outputs_ok or report.nonfinite:
        return report
    progress.stage("layer-by-layer check")
    failures, worst = layerwise(graph, feeds, rtol, opset)
    report = replace(
        report,
        first_divergence=first_divergence(graph, feeds, rtol, opset),
        layer_failures=tuple(failures),
        layerwise_checked=True,
        worst_layer=worst,
    )
    if repro and failures:
        from .repro import write_repro

        report = replace(report, repro=write_repro(graph, feeds, failures[0], repro, opset))
    return report


def _nonfinite(graph: Graph, outs: dict, engine: str, trace: bool = True) -> list[NonFinite]:
    found = []
    for name in graph.outputs:
        if name not in outs:
            continue
        a = np.asarray(outs[name])
        if a.dtype.kind != "f":
            continue
        bad = ~np.isfinite(a)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            found.append(
                NonFinite(
                    engine,
                    name,
                    int(np.isnan(a).sum()),
                    int(np.isinf(a).sum()),
                    int(a.size),
                    first,
                    "" if trace else None,
                )
            )
    return found


def _traced(graph: Graph, feeds, found: list[NonFinite], opset: int) -> list[NonFinite]:
    """Fill in the first layer that produced a non-finite value, per engine (one run each)."""
    origin: dict[str, str | None] = {}
    out = []
    for nf in found:
        if nf.first_layer == "":
            engine = "onnxruntime" if nf.engine.startswith("onnxruntime") else nf.engine
            if engine not in origin:
                origin[engine] = (
                    None
                    if "original" in engine
                    else first_nonfinite(graph, feeds, opset, engine == "onnxruntime")
                )
            nf = replace(nf, first_layer=origin[engine])
        out.append(nf)
    return out


def first_nonfinite(graph: Graph, feeds, opset: int = 17, onnxruntime: bool = False) -> str | None:
    """The first layer (topological order) with a NaN or Inf in an output, in the interpreter
    or in onnxruntime; the layer is named with its type and the offending parameter, if any."""
    tensors = computed_tensors(graph)
    if onnxruntime:
        values = run_onnxruntime(to_onnx(graph, opset, extra_outputs=tensors, check=False), feeds)
    else:
        values = run(graph, feeds, outputs=tensors)
    for layer in graph.layers:
        for t in layer.outputs:
            v = values.get(t)
            if v is None or np.asarray(v).dtype.kind != "f" or np.all(np.isfinite(v)):
                continue
            bad = [k for k, p in layer.params.items() if not np.all(np.isfinite(p))]
            why = f", whose parameter '{bad[0]}' holds NaN/Inf" if bad else ""
            return f"layer '{layer.name}' ({layer.type}){why}"
    return None


def computed_tensors(graph: Graph) -> list[str]:
    """Every tensor a layer computes (graph inputs left out), in topological order."""
    return [t for layer in graph.layers if not layer.definition.is_source for t in layer.outputs]


def first_divergence(
    graph: Graph, feeds: dict[str, np.ndarray], rtol: float, opset: int = 17
) -> str | None:
    """Name the first layer (in topological order) whose output differs from onnxruntime's."""
    tensors = computed_tensors(graph)
    ours = run(graph, feeds, outputs=tensors)
    theirs = run_onnxruntime(to_onnx(graph, opset, extra_outputs=tensors, check=False), feeds)
    for layer in graph.layers:
        for t in layer.outputs:
            if t not in theirs:
                continue
            err, rel = compare(*comparable(graph, t, ours[t], theirs[t]))
            if not rel <= rtol:
                return (
                    f"layer '{layer.name}' ({layer.type}): max abs err {err:.3g}, "
                    f"rel {rel:.3g} on tensor '{t}'"
                )
    return None


def layerwise(
    graph: Graph, feeds: dict[str, np.ndarray], rtol: float, opset: int = 17
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
            err, rel = compare(*comparable(graph, t, ours[t], theirs[t]))
            check = LayerCheck(layer.name, layer.type, t, err, rel)
            if worst is None or not rel <= worst.rel:
                worst = check
            if not rel <= rtol:
                failures.append(check)
    return failures, worst


def validate_batches(graph: Graph, model, seed: int = 0, rtol: float = 1e-4) -> list[OutputCheck]:
    """A dynamic-batch export (``model``) in onnxruntime against the interpreter at the graph's
    batch ``n`` and at ``n + 1`` (the graph with its inputs' first axis changed,
    :func:`graphconv.export.with_batch`), on seeded inputs; one check per output and batch,
    named ``output@batch``."""
    from .export import batch_size, with_batch

    n = batch_size(graph)
    checks = []
    for batch in (n, n + 1):
        g = graph if batch == n else with_batch(graph, batch)
        feeds = random_feeds(g, seed)
        ours, theirs = run(g, feeds), run_onnxruntime(model, feeds)
        names = [f"{t}@{batch}" for t in g.outputs]
        checks += _checks(
            names,
            {f"{t}@{batch}": g.specs[t].shape for t in g.outputs},
            {f"{t}@{batch}": ours[t] for t in g.outputs},
            {f"{t}@{batch}": theirs[t] for t in g.outputs},
            rtol,
            g,
        )
    return checks
