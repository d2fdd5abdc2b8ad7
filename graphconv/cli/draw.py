"""graphconv draw: the layer graph as SVG or an interactive HTML page (pure Python)."""

from __future__ import annotations

from ..files import check_writable
from ._args import model_args
from ._common import EXIT_OK


def add(sub) -> None:
    d = sub.add_parser("draw", help="draw the layer graph (SVG, or HTML with pan and zoom)")
    model_args(d, json=False)
    d.add_argument("-o", "--output", required=True, help="graph.svg or graph.html")
    d.add_argument(
        "--compare",
        action="store_true",
        help="with --passes: before and after side by side, layers a pass made outlined",
    )
    d.set_defaults(func=cmd_draw)


def cmd_draw(args) -> int:
    from ..draw import draw_compare, draw_graph
    from ..errors import UsageError
    from ..summary import made_by
    from .summary import load_and_lower

    if not str(args.output).lower().endswith((".svg", ".html")):
        raise UsageError(f"-o {args.output}: give a .svg or .html file")
    check_writable(args.output)
    before, after, sites = load_and_lower(args)
    if args.compare:
        if not args.passes:
            raise UsageError("--compare needs --passes (what to compare with)")
        draw_compare(before, after, sites, args.output, label=",".join(args.passes))
    else:
        made = [n for n in made_by(sites) if n in after.by_name]
        draw_graph(after, args.output, made=made)
    print(f"wrote {args.output} ({len(after.layers)} layers)")
    return EXIT_OK
