"""What the model commands share: loading with passes, output paths, inputs, printing notes."""

from __future__ import annotations

import os
import sys

import numpy as np

from ..errors import UsageError

# The exit codes (the package docstring says what each means).
EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_PASSES, EXIT_NONFINITE = 4, 5


def print_note(note: str) -> None:
    print(note if note.startswith("warning:") else f"note: {note}", file=sys.stderr)


def check_output(path: str) -> None:
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


def load_with_passes(args):
    """(original graph, rewritten graph, rewrite sites as (pass, options, Site)); with
    --target, the rewritten graph is then legalized for the profile (cli/targets.py)."""
    from .targets import apply_target

    return apply_target(args, *_load_and_rewrite(args))


def _load_and_rewrite(args):
    """(original graph, rewritten graph, rewrite sites as (pass, options, Site))."""
    from graphconv.passes import apply_recorded

    from .. import load

    if getattr(args, "output", None):
        check_output(args.output)
    if args.weights and str(args.model).lower().endswith(".onnx"):
        raise UsageError(
            f"--weights {args.weights}: an ONNX model carries its own weights "
            "(--weights is for Caffe .caffemodel files)"
        )

    graph = load(
        args.model, weights=args.weights, input_shapes=dict(args.input_shape), seed=args.seed
    )
    for note in graph.notes:
        print_note(note)
    if not args.passes:
        return graph, graph, []
    from ..analysis import summary
    from ..export import census_line, to_onnx

    lowered, sites = apply_recorded(graph, args.passes)
    for note in lowered.notes[len(graph.notes) :]:
        print_note(note)
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


def load_graph(args):
    return load_with_passes(args)[1]


def graph_line(graph) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(graph.count_types().items()))
    return f"{graph.name}: {len(graph.layers)} layers ({counts})"


def print_report(report, out) -> None:
    for line in report.lines():
        print(line, file=out)


def input_feeds(args, graph, random: bool) -> dict | None:
    """The inputs given with --input (shapes checked), the rest seeded random when ``random``;
    None when no --input was given and random inputs are the default (validate)."""
    from ..interpreter import random_feeds

    feeds = {}
    for name, path in args.input:
        if name not in graph.inputs:
            raise UsageError(
                f"--input {name}: not a graph input (inputs: {', '.join(graph.inputs)})"
            )
        arr = read_npy(name, path)
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


def read_npy(name: str, path: str) -> np.ndarray:
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


def save_npz(path: str, arrays: dict) -> None:
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
