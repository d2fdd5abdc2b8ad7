"""Benchmark the interpreter against onnxruntime on every caffe-zoo model; print a Markdown table.

    python benchmarks/zoo.py [--zoo DIR] [--repeat N] [--threads T] [--json FILE] [--only SUBSTR]

Models are run at their declared input sizes with batch 1 (the batch-10 deploy files are
overridden); YOLOv3-tiny is skipped because its Concat shapes do not match under Caffe's
pooling rounding. The geometric mean of the ratios is printed under the table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graphconv import load  # noqa: E402
from graphconv.bench import bench  # noqa: E402

SKIP = {"yolov3-tiny": "Concat of 24x24 and 26x26 under Caffe pooling rounding"}


def batch_one(path: Path) -> dict:
    graph = load(str(path))
    return {
        name: (1, *spec.shape[1:])
        for name, spec in graph.inputs.items()
        if spec.shape and spec.shape[0] != 1
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zoo", default=str(ROOT.parent / "shared" / "caffe-zoo"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--only", help="only models whose file name contains this")
    args = ap.parse_args(argv)
    rows = []
    for path in sorted(Path(args.zoo).glob("*.prototxt")):
        if args.only and args.only not in path.name:
            continue
        parts = path.stem.split("__")
        short = f"{parts[1]}: {parts[-1]}" if len(parts) > 2 else path.stem
        if any(k in path.name for k in SKIP):
            print(f"skip {short}: {SKIP[next(k for k in SKIP if k in path.name)]}", file=sys.stderr)
            continue
        graph = load(str(path), input_shapes=batch_one(path))
        res = bench(graph, repeat=args.repeat, threads=args.threads)
        shape = "x".join(map(str, next(iter(res.input_shapes.values()))))
        rows.append(
            {
                "model": short,
                "input": shape,
                "interpreter_s": res.interpreter_s,
                "onnxruntime_s": res.onnxruntime_s,
                "ratio": res.ratio,
            }
        )
        print(
            f"{short:45s} {shape:16s} {res.interpreter_s * 1e3:9.1f} ms "
            f"{res.onnxruntime_s * 1e3:9.1f} ms {res.ratio:6.2f}x",
            file=sys.stderr,
            flush=True,
        )
    geo = math.exp(sum(math.log(r["ratio"]) for r in rows) / max(1, len(rows)))
    print(
        f"\nMachine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{args.threads or os.cpu_count()} threads, median of {args.repeat}\n"
    )
    print("| model | input | interpreter | onnxruntime | ratio |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['model']} | {r['input']} | {r['interpreter_s'] * 1e3:.1f} ms "
            f"| {r['onnxruntime_s'] * 1e3:.1f} ms | {r['ratio']:.2f}x |"
        )
    print(
        f"\nGeometric mean of the ratios: {geo:.2f}; worst: "
        f"{max((r['ratio'] for r in rows), default=0):.2f}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "geomean": geo}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
