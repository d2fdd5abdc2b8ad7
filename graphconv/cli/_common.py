"""What the model commands share: loading with passes, output paths, inputs, printing notes."""

from __future__ import annotations

import os
import time

from ..errors import UsageError
from ..files import check_writable
from ._codes import (  # noqa: F401  (the commands import them from here)
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_MISMATCH,
    EXIT_NONFINITE,
    EXIT_OK,
    EXIT_PASSES,
)
from ._session import note, record, say


def print_note(text: str) -> None:
    note(text)


def load_with_passes(args):
    """(original graph, rewritten graph, rewrite sites as (pass, options, Site)); with
    --target, the rewritten graph is then legalized for the profile (cli/targets.py)."""
    from .targets import apply_target

    return apply_target(args, *_load_and_rewrite(args))


def load_model(args):
    """The model of ``args`` (plugins first), with its load notes printed on stderr: what every
    model command reads before it rewrites or runs anything."""
    from .. import load
    from ..plugins import load_plugins

    started = time.perf_counter()
    if args.weights and str(args.model).lower().endswith(".onnx"):
        raise UsageError(
            f"--weights {args.weights}: an ONNX model carries its own weights "
            "(--weights is for Caffe .caffemodel files)"
        )
    load_plugins([*getattr(args, "plugins_before", []), *args.plugin])
    graph = load(
        args.model,
        weights=args.weights,
        input_shapes=dict(args.input_shape),
        seed=args.seed,
        caffe_fork=args.caffe_fork,
    )
    record("load_seconds", round(time.perf_counter() - started, 3))
    for text in graph.notes:
        print_note(text)
    return graph


def _load_and_rewrite(args):
    """(original graph, rewritten graph, rewrite sites as (pass, options, Site))."""
    from graphconv.passes import apply_recorded

    if getattr(args, "output", None):
        check_writable(args.output)
    graph = load_model(args)
    if not args.passes:
        check_memory(args, graph, graph)
        return graph, graph, []
    from ..analysis import summary
    from ..export import census_text, op_census, to_onnx

    lowered, sites = apply_recorded(graph, args.passes)
    for text in lowered.notes[len(graph.notes) :]:
        print_note(text)
    opset = getattr(args, "opset", 17)
    names = ",".join(args.passes)
    if len(lowered.layers) == len(graph.layers) and all(
        a is b for a, b in zip(lowered.layers, graph.layers)
    ):
        say(f"{names}: changed nothing: {summary(graph)}")
        record("passes", {"names": list(args.passes), "changed": False})
        check_memory(args, graph, lowered)
        return graph, lowered, sites
    census = [op_census(to_onnx(g, opset, check=False)) for g in (graph, lowered)]
    say(f"before {names}: {summary(graph)}")
    say(f"after  {names}: {summary(lowered)}")
    say(f"before {names}: {census_text(census[0])}")
    say(f"after  {names}: {census_text(census[1])}")
    record(
        "passes",
        {
            "names": list(args.passes),
            "changed": True,
            "layers_before": graph.count_types(),
            "layers_after": lowered.count_types(),
            "onnx_before": census[0],
            "onnx_after": census[1],
        },
    )
    check_memory(args, graph, lowered)
    return graph, lowered, sites


def check_memory(args, original, graph) -> None:
    """Refuse (exit 2, with the estimate) a command whose arrays would exceed --max-memory:
    ``run`` holds one copy of the graph's arrays (the interpreter), ``validate`` and ``bench``
    two (the interpreter and onnxruntime; three with --passes: the original too), ``convert``
    the parameters twice (the graph and the ONNX protobuf) unless it validates."""
    from .. import memory

    command = args.command
    if command == "convert" and not args.validate:
        need = 2 * memory.param_bytes(graph)
        if need > memory.limit():
            raise memory.MemoryBoundError(
                f"{graph.name}: convert needs about {memory.size_text(need)} (the parameters "
                f"twice), above the memory bound {memory.size_text(memory.limit())}; "
                "raise --max-memory"
            )
        return
    engines = 1 if command == "run" else 2 + (original is not graph)
    memory.check(graph, command, engines)


def load_graph(args):
    return load_with_passes(args)[1]


def graph_info(graph) -> dict:
    return {
        "name": graph.name,
        "layers": len(graph.layers),
        "types": graph.count_types(),
        "inputs": {n: list(s.shape) for n, s in graph.inputs.items()},
        "outputs": {t: list(graph.specs[t].shape) for t in graph.outputs},
    }


def graph_line(graph) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(graph.count_types().items()))
    return f"{graph.name}: {len(graph.layers)} layers ({counts})"


def print_report(report, out) -> None:
    for line in report.lines():
        say(line)


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
        feeds[name] = arr.astype("float32")
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


def read_npy(name: str, path: str):
    """One real-valued array from a .npy file, or a one-line usage error."""
    import numpy as np

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
    import numpy as np

    from ..files import write_atomic

    write_atomic(path, lambda f: np.savez(f, **arrays))
