"""graphconv convert: write the model as ONNX (optionally validated first)."""

from __future__ import annotations

import dataclasses

from ._args import model_args
from ._common import EXIT_MISMATCH, EXIT_OK, graph_info, graph_line, load_with_passes
from ._session import note, record, say
from .validate import run_validation


def add(sub) -> None:
    c = sub.add_parser("convert", help="write the model as ONNX")
    model_args(c, rtol=True)
    c.add_argument("-o", "--output", required=True, help="output .onnx path")
    c.add_argument("--opset", type=int, default=17, help="ONNX opset, 13 to 21 (default 17)")
    c.add_argument(
        "--validate", action="store_true", help="cross-check against onnxruntime before writing"
    )
    c.add_argument(
        "--dynamic-batch",
        action="store_true",
        help="a symbolic batch (first) dimension N on inputs and outputs: any batch size runs",
    )
    c.set_defaults(func=cmd_convert)


def cmd_convert(args) -> int:
    from ..export import census_line, op_census, save, to_onnx

    original, graph, sites = load_with_passes(args)
    model = to_onnx(graph, args.opset, dynamic_batch=args.dynamic_batch)
    say(graph_line(graph))
    record("graph", graph_info(graph))
    if args.validate:
        code = run_validation(args, original, graph, sites)
        if code != EXIT_OK:
            note(f"validation failed; {args.output} not written")
            record("written", None)
            return code
        if args.dynamic_batch:
            from ..validate import validate_batches

            checks = validate_batches(graph, model, seed=args.seed, rtol=args.rtol)
            say("dynamic batch: the export in onnxruntime vs the interpreter, output@batch")
            for check in checks:
                say(f"  {check.line()}")
            record("dynamic_batch", [dataclasses.asdict(c) for c in checks])
            if not all(check.ok for check in checks):
                note(f"validation failed; {args.output} not written")
                return EXIT_MISMATCH
    save(model, args.output)
    say(f"wrote {args.output} (opset {args.opset}): {census_line(model)}")
    record("written", {"path": args.output, "opset": args.opset, "onnx_ops": op_census(model)})
    return EXIT_OK
