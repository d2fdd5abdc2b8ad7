"""The command line: the only place that prints.

Exit codes: 0 success; 1 the interpreter and onnxruntime disagree (the export, end to end, or
the input ONNX file); 2 bad input or usage; 3 internal error (a bug; ``--debug`` shows the
traceback); 4 the rewrite passes changed the result (original vs rewritten, or a rewrite site
checked on its own); 5 an output holds NaN or Inf. When several comparisons fail, the code is
that of the first in the order 5, 4, 1. Every error is one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

import numpy as np

from .errors import GraphconvError, UsageError

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_PASSES, EXIT_NONFINITE = 4, 5
MAX_DIM = 2**31 - 1  # ONNX and NumPy index with 64 bits, but no real tensor axis is this long


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse prints usage by default)
        raise UsageError(f"{self.prog}: {message}")


def _shape_arg(text: str) -> tuple[str, tuple[int, ...]]:
    name, sep, dims = text.partition("=")
    try:
        shape = tuple(int(d) for d in dims.split(","))
    except ValueError:
        shape = ()
    if not sep or not name or not shape or any(d < 1 for d in shape):
        raise argparse.ArgumentTypeError(
            f"expected NAME=D1,D2,... with positive dims, got '{text[:80]}'"
        )
    if any(d > MAX_DIM for d in shape):
        raise argparse.ArgumentTypeError(f"a dimension above {MAX_DIM:,} in '{text[:80]}'")
    return name, shape


def _input_arg(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=FILE.npy, got '{text}'")
    return name, path


def _passes_arg(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _tolerance_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got '{text}'")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command. (Long: one declaration per command and flag, read
    top to bottom as the CLI's reference; split, the shared flags would be scattered.)"""
    p = _Parser(
        prog="graphconv",
        description="Caffe/ONNX layer graph compiler: load, lower, "
        "run in NumPy, export ONNX, cross-check in onnxruntime.",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def model_args(sp, rtol: bool = False):
        sp.add_argument("--debug", action="store_true", help="show tracebacks")
        sp.add_argument("model", help="model file (.prototxt or .onnx)")
        sp.add_argument("--weights", help="Caffe .caffemodel with the trained blobs")
        sp.add_argument(
            "--input-shape",
            action="append",
            type=_shape_arg,
            default=[],
            metavar="NAME=N,C,H,W",
            help="supply or override an input shape",
        )
        sp.add_argument(
            "--seed",
            type=int,
            default=0,
            help="seed for filler weights and random inputs (default 0)",
        )
        sp.add_argument(
            "--passes",
            type=_passes_arg,
            default=[],
            metavar="NAME,...",
            help="rewrite passes to apply (see 'graphconv passes')",
        )
        if rtol:
            sp.add_argument(
                "--rtol",
                type=_tolerance_arg,
                default=1e-4,
                help="max error relative to the output's largest magnitude",
            )
            sp.add_argument(
                "--passes-rtol",
                type=_tolerance_arg,
                default=None,
                metavar="R",
                help="tolerance of original vs rewritten (default: --rtol); a "
                "lossy pass such as split-separable:rank=R needs one on purpose",
            )
            sp.add_argument(
                "--exact",
                action="store_true",
                help="check every rewrite site on its own: bit equality on "
                "small-integer inputs and weights where the arithmetic allows",
            )
            sp.add_argument(
                "--input",
                action="append",
                type=_input_arg,
                default=[],
                metavar="NAME=FILE.npy",
                help="a real input (.npy) instead of seeded random values for that input",
            )
            sp.add_argument(
                "--repro",
                metavar="DIR",
                help="on a mismatch, write the first layer that differs on "
                "identical inputs as a one-layer ONNX model with its inputs",
            )

    c = sub.add_parser("convert", help="write the model as ONNX")
    model_args(c, rtol=True)
    c.add_argument("-o", "--output", required=True, help="output .onnx path")
    c.add_argument("--opset", type=int, default=17, help="ONNX opset, 13 to 21 (default 17)")
    c.add_argument(
        "--validate", action="store_true", help="cross-check against onnxruntime before writing"
    )

    r = sub.add_parser("run", help="run the model with the NumPy interpreter")
    model_args(r)
    r.add_argument(
        "--input",
        action="append",
        type=_input_arg,
        default=[],
        metavar="NAME=FILE.npy",
        help="an input array (.npy)",
    )
    r.add_argument(
        "--random",
        action="store_true",
        help="seeded standard-normal values (--seed) for inputs without --input",
    )
    r.add_argument("-o", "--output", required=True, help="output .npz with every graph output")

    v = sub.add_parser(
        "validate",
        help="compare the interpreter with onnxruntime (and the rewritten graph with the original)",
    )
    model_args(v, rtol=True)
    v.add_argument("-v", "--verbose", action="store_true", help="one line per rewrite site")
    v.add_argument("--opset", type=int, default=17, help="ONNX opset, 13 to 21 (default 17)")

    b = sub.add_parser("bench", help="time the interpreter against onnxruntime")
    model_args(b)
    b.add_argument("--repeat", type=int, default=5, help="timed runs (median; default 5)")
    b.add_argument(
        "--threads", type=int, default=None, help="threads for both (default: the machine's cores)"
    )
    b.add_argument("--profile", action="store_true", help="add the slowest layers of each")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument(
        "--against", choices=["reference"], default=None, help="also time onnx's ReferenceEvaluator"
    )
    b.add_argument("--opset", type=int, default=17, help="ONNX opset, 13 to 21 (default 17)")

    bc = sub.add_parser(
        "bench-compile",
        help="time parse + lowering passes + export of generated graphs of growing size",
    )
    bc.add_argument("--layers", default="5000,10000", help="comma-separated sizes")
    bc.add_argument("--repeat", type=int, default=3, help="runs per size (median)")
    bc.add_argument("--json", action="store_true", help="print one JSON list")

    sub.add_parser("passes", help="list the available rewrite passes")
    return p


def _note(note: str) -> None:
    print(note if note.startswith("warning:") else f"note: {note}", file=sys.stderr)


def _check_output(path: str) -> None:
    """Refuse an output path that cannot be written, before any work (exit 2, the user's path)."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise UsageError(f"-o {path}: is a folder, not a file")
    if not os.path.exists(folder):
        raise UsageError(f"-o {path}: folder {folder} does not exist")
    if not os.path.isdir(folder):
        raise UsageError(f"-o {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"-o {path}: folder {folder} is not writable")


def _loaded(args):
    """(original graph, rewritten graph, rewrite sites as (pass, options, Site))."""
    from graphconv.passes import apply_recorded

    from . import load

    if getattr(args, "output", None):
        _check_output(args.output)
    if args.weights and str(args.model).lower().endswith(".onnx"):
        raise UsageError(
            f"--weights {args.weights}: an ONNX model carries its own weights "
            "(--weights is for Caffe .caffemodel files)"
        )

    graph = load(
        args.model, weights=args.weights, input_shapes=dict(args.input_shape), seed=args.seed
    )
    for note in graph.notes:
        _note(note)
    if not args.passes:
        return graph, graph, []
    from .analysis import summary
    from .export import census_line, to_onnx

    lowered, sites = apply_recorded(graph, args.passes)
    for note in lowered.notes[len(graph.notes) :]:
        _note(note)
    opset = getattr(args, "opset", 17)
    names = ",".join(args.passes)
    if len(lowered.layers) == len(graph.layers) and all(
        a is b for a, b in zip(lowered.layers, graph.layers)
    ):
        print(f"{names}: changed nothing: {summary(graph)}")
        return graph, lowered, sites
    print(f"before {names}: {summary(graph)}")
    print(f"after  {names}: {summary(lowered)}")
    print(f"before {names}: {census_line(to_onnx(graph, opset, check=False))}")
    print(f"after  {names}: {census_line(to_onnx(lowered, opset, check=False))}")
    return graph, lowered, sites


def _load(args):
    return _loaded(args)[1]


def _summary(graph) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(graph.count_types().items()))
    return f"{graph.name}: {len(graph.layers)} layers ({counts})"


def _report(report, out) -> None:
    for line in report.lines():
        print(line, file=out)


def _validate(args, original, graph, sites) -> int:
    """Run every comparison that applies, print the report and the verdict; the exit code."""
    from .validate import validate

    site_checks = None
    if sites:
        from graphconv.passes.verify import check_site, summarize

        def site_checks():
            return [
                check_site(
                    site,
                    fn,
                    options,
                    seed=args.seed,
                    rtol=args.rtol if args.passes_rtol is None else args.passes_rtol,
                )
                for fn, options, site in sites
            ]

        if args.exact:
            site_checks = site_checks()
            for line in summarize(site_checks):
                print(line)
            if getattr(args, "verbose", False):
                for check in site_checks:
                    print(f"  {check.line()}")
    elif args.exact and args.passes:
        print("rewrite sites: none (the passes rewrote nothing)")
    reference = None
    if str(args.model).lower().endswith(".onnx"):
        import onnx

        reference = onnx.load(args.model)
    report = validate(
        graph,
        _feeds(args, original, True),
        seed=args.seed,
        rtol=args.rtol,
        opset=args.opset,
        original=original if args.passes else None,
        passes_rtol=args.passes_rtol,
        sites=site_checks,
        reference_model=reference,
        repro=args.repro,
    )
    _report(report, sys.stdout)
    print(report.verdict())
    failed = report.failed
    if "non-finite" in failed:
        return EXIT_NONFINITE
    if "passes" in failed:
        return EXIT_PASSES
    return EXIT_MISMATCH if failed else EXIT_OK


def cmd_convert(args) -> int:
    from .export import census_line, save, to_onnx

    original, graph, sites = _loaded(args)
    model = to_onnx(graph, args.opset)
    print(_summary(graph))
    if args.validate:
        code = _validate(args, original, graph, sites)
        if code != EXIT_OK:
            print(f"graphconv: validation failed; {args.output} not written", file=sys.stderr)
            return code
    save(model, args.output)
    print(f"wrote {args.output} (opset {args.opset}): {census_line(model)}")
    return EXIT_OK


def _feeds(args, graph, random: bool) -> dict | None:
    """The inputs given with --input (shapes checked), the rest seeded random when ``random``;
    None when no --input was given and random inputs are the default (validate)."""
    from .interpreter import random_feeds

    feeds = {}
    for name, path in args.input:
        if name not in graph.inputs:
            raise UsageError(
                f"--input {name}: not a graph input (inputs: {', '.join(graph.inputs)})"
            )
        arr = _read_npy(name, path)
        want = graph.inputs[name].shape
        if tuple(arr.shape) != want:
            raise UsageError(
                f"--input {name}: {path} has shape {tuple(arr.shape)}, the graph expects {want}"
            )
        feeds[name] = arr.astype(np.float32)
    missing = [n for n in graph.inputs if n not in feeds]
    if missing and not random:
        raise UsageError(
            f"no --input given for graph input(s) {', '.join(missing)} (or use "
            "--random for seeded inputs)"
        )
    if not feeds:
        return None
    seeded = random_feeds(graph, args.seed)
    return {n: feeds.get(n, seeded[n]) for n in graph.inputs}


def cmd_run(args) -> int:
    from .interpreter import random_feeds, run

    graph = _load(args)
    feeds = _feeds(args, graph, args.random) or random_feeds(graph, args.seed)
    outs = run(graph, feeds)
    _save_npz(args.output, outs)
    for name, arr in outs.items():
        a = np.asarray(arr, dtype=np.float64)
        finite = a[np.isfinite(a)]
        stats = (
            f"min {finite.min():.4g}, max {finite.max():.4g}, mean {finite.mean():.4g}"
            if finite.size
            else "no finite values"
        )
        print(
            f"{name} {'x'.join(map(str, arr.shape))}: {stats}, NaN {int(np.isnan(a).sum())}, "
            f"Inf {int(np.isinf(a).sum())}"
        )
    print(f"wrote {args.output}")
    return EXIT_OK


def _read_npy(name: str, path: str) -> np.ndarray:
    """One real-valued array from a .npy file, or a one-line usage error."""
    try:
        with open(path, "rb") as f:
            if f.read(6) != b"\x93NUMPY":
                raise ValueError("not a .npy file (an .npz or other format?)")
            f.seek(0)
            version = np.lib.format.read_magic(f)
            shape, _, dtype = (
                np.lib.format.read_array_header_1_0(f)
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0(f)
            )
            if dtype.kind not in "biuf" or dtype.fields is not None:
                raise ValueError(f"holds {dtype} values; graphconv takes real numbers")
            size = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if size > os.path.getsize(path):
                raise ValueError(
                    f"its header declares {shape} ({size:,} bytes) but the file "
                    f"has {os.path.getsize(path):,}"
                )
            f.seek(0)
            return np.load(f, allow_pickle=False)
    except (OSError, ValueError, EOFError, SyntaxError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UsageError(f"--input {name}: cannot read {path}: {first[:200]}") from None


def _save_npz(path: str, arrays: dict) -> None:
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".graphconv-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def cmd_validate(args) -> int:
    original, graph, sites = _loaded(args)
    print(_summary(graph))
    return _validate(args, original, graph, sites)


def cmd_bench(args) -> int:
    from .bench import bench

    if args.repeat < 1:
        raise UsageError("--repeat must be >= 1")
    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads must be >= 1")
    graph = _load(args)
    res = bench(
        graph,
        repeat=args.repeat,
        threads=args.threads,
        profile=args.profile,
        against_reference=args.against == "reference",
        seed=args.seed,
        opset=args.opset,
    )
    for note in res.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        print(res.to_json())
        return EXIT_OK
    shapes = ", ".join(f"{k}={'x'.join(map(str, v))}" for k, v in res.input_shapes.items())
    print(f"{res.model} ({shapes}), {res.threads} threads, median of {res.repeat}")
    print(f"interpreter  {res.interpreter_s * 1e3:10.2f} ms")
    print(f"onnxruntime  {res.onnxruntime_s * 1e3:10.2f} ms")
    print(f"ratio        {res.ratio:10.2f}x (interpreter / onnxruntime)")
    if res.reference_s is not None:
        print(
            f"reference    {res.reference_s * 1e3:10.2f} ms "
            f"({res.reference_s / res.interpreter_s:.1f}x the interpreter)"
        )
    if args.profile:
        print("slowest interpreter layers:")
        for name, kind, t in res.interpreter_layers[:10]:
            print(f"  {t * 1e3:9.2f} ms  {name} ({kind})")
        print("slowest onnxruntime nodes:")
        for name, op, t in res.onnxruntime_nodes[:10]:
            print(f"  {t * 1e3:9.2f} ms  {name} ({op})")
    return EXIT_OK


def cmd_bench_compile(args) -> int:
    import json

    from .synthetic import LOWERING, compile_bench

    try:
        sizes = [int(v) for v in args.layers.split(",") if v.strip()]
    except ValueError:
        raise UsageError(
            f"--layers: expected comma-separated integers, got '{args.layers}'"
        ) from None
    if not sizes or min(sizes) < 10 or args.repeat < 1:
        raise UsageError("--layers sizes must be >= 10 and --repeat >= 1")
    results = compile_bench(sizes, LOWERING, args.repeat)
    if args.json:
        print(json.dumps(results))
        return EXIT_OK
    print(f"parse + {','.join(LOWERING)} + export (with checks), median of {args.repeat}")
    for r in results:
        print(
            f"{r['layers']:6d} layers ({r['layers_after']} after passes): parse "
            f"{r['parse_s']:.2f} s, passes {r['passes_s']:.2f} s, export {r['export_s']:.2f} s,"
            f" total {r['total_s']:.2f} s"
        )
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(
            f"growth: {last['layers'] / first['layers']:.1f}x layers -> "
            f"{last['total_s'] / first['total_s']:.2f}x time"
        )
    return EXIT_OK


def cmd_passes(args) -> int:
    from graphconv.passes import options_of, registry

    names = registry()
    if not names:
        print("no passes are registered yet")
    for name, fn in sorted(names.items()):
        doc = (fn.__doc__ or "").strip().splitlines()
        opts = "".join(f":{k}={v.upper()}" for k, v in options_of(fn).items())
        print(f"{name + opts:26s} {doc[0] if doc else ''}")
    return EXIT_OK


COMMANDS = {
    "convert": cmd_convert,
    "run": cmd_run,
    "validate": cmd_validate,
    "bench": cmd_bench,
    "bench-compile": cmd_bench_compile,
    "passes": cmd_passes,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except SystemExit as e:  # --help
        return int(e.code or 0)
    except GraphconvError as e:
        if debug:
            raise
        print(f"graphconv: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("graphconv: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a bug: one line unless --debug
        if debug:
            raise
        first = str(e).splitlines()[0] if str(e) else ""
        print(
            f"graphconv: internal error: {type(e).__name__}: {first} (rerun with --debug for "
            "a traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
