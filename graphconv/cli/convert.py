"""graphconv convert: write the model as ONNX (optionally validated first)."""

from __future__ import annotations

import sys

from ._args import model_args
from ._common import EXIT_OK, graph_line, load_with_passes
from .targets import check_target
from .validate import run_validation


def add(sub) -> None:
    c = sub.add_parser("convert", help="write the model as ONNX")
    model_args(c, rtol=True)
    c.add_argument("-o", "--output", required=True, help="output .onnx path")
    c.add_argument("--opset", type=int, default=17, help="ONNX opset, 13 to 21 (default 17)")
    c.add_argument(
        "--validate", action="store_true", help="cross-check against onnxruntime before writing"
    )
    c.set_defaults(func=cmd_convert)


def cmd_convert(args) -> int:
    from ..export import census_line, save, to_onnx

    original, graph, sites = load_with_passes(args)
    model = to_onnx(graph, args.opset)
    print(graph_line(graph))
    check_target(args, graph, model)
    if args.validate:
        code = run_validation(args, original, graph, sites)
        if code != EXIT_OK:
            print(f"graphconv: validation failed; {args.output} not written", file=sys.stderr)
            return code
    save(model, args.output)
    print(f"wrote {args.output} (opset {args.opset}): {census_line(model)}")
    return EXIT_OK
