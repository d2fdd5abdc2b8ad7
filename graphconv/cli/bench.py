"""graphconv bench and bench-compile: time the interpreter against onnxruntime; time compiling."""

from __future__ import annotations

import sys

from ..errors import UsageError
from ._args import model_args
from ._common import EXIT_OK, load_graph


def add(sub) -> None:
    b = sub.add_parser("bench", help="time the interpreter against onnxruntime")
    model_args(b, json=False)
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
    b.set_defaults(func=cmd_bench)

    bc = sub.add_parser(
        "bench-compile",
        help="time parse + lowering passes + export of generated graphs of growing size",
    )
    bc.add_argument("--layers", default="5000,10000", help="comma-separated sizes")
    bc.add_argument("--repeat", type=int, default=3, help="runs per size (median)")
    bc.add_argument("--json", action="store_true", help="print one JSON list")
    bc.set_defaults(func=cmd_bench_compile)


def cmd_bench(args) -> int:
    from ..bench import bench

    if args.repeat < 1:
        raise UsageError("--repeat must be >= 1")
    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads must be >= 1")
    graph = load_graph(args)
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

    from ..synthetic import LOWERING, compile_bench

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
