"""graphconv explain: the convolution arithmetic of one layer (of a model, or described as
'deconv k=3 s=2 p=1'), as text or an SVG beside its lowering."""

from __future__ import annotations

import os

from ..files import check_writable
from ._args import shape_arg
from ._common import EXIT_OK


def add(sub) -> None:
    e = sub.add_parser(
        "explain",
        help="draw one layer's convolution arithmetic and its lowering",
        description="graphconv explain MODEL LAYER, or graphconv explain 'deconv k=3 s=2 p=1 "
        "d=1' (conv, dilated, pool, deconv; conv1d ... for one axis; n= input size, op= "
        "output padding)",
    )
    e.add_argument("--debug", action="store_true", help="show tracebacks")
    e.add_argument("what", help="a model file, or a layer description in quotes")
    e.add_argument("layer", nargs="?", help="the layer's name (with a model)")
    e.add_argument("-o", "--output", help="write an SVG (default: text on stdout)")
    e.add_argument("--animate", action="store_true", help="move the kernel over every position")
    e.add_argument(
        "--input-shape",
        action="append",
        default=[],
        type=shape_arg,
        metavar="NAME=N,C,H,W",
        help="supply or override a model input shape",
    )
    e.set_defaults(func=cmd_explain)


def cmd_explain(args) -> int:
    from ..errors import UsageError
    from ..explain import from_layer, parse_spec, svg, text

    if args.output:
        if not args.output.lower().endswith(".svg"):
            raise UsageError(f"-o {args.output}: explain writes an .svg file")
        check_writable(args.output)
    model_suffixes = (".prototxt", ".pbtxt", ".pt", ".onnx")
    if os.path.exists(args.what) or args.layer is not None or args.what.endswith(model_suffixes):
        if args.layer is None:
            raise UsageError(f"explain {args.what}: name the layer to explain")
        from .. import load

        graph = load(args.what, input_shapes=dict(args.input_shape))
        spec = from_layer(graph, args.layer)
    else:
        spec = parse_spec(args.what)
    if not args.output:
        print(text(spec))
        return EXIT_OK
    from ..draw import write_text

    write_text(args.output, svg(spec, animate=args.animate))
    print(f"wrote {args.output}")
    return EXIT_OK
