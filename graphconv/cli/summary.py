"""graphconv summary: one row per layer (attributes, shape, parameters, MACs, activation bytes,
receptive field), totals; with --passes the rewritten graph beside the original."""

from __future__ import annotations

import json
import sys

from ._args import model_args
from ._common import EXIT_OK, load_model, print_note


def add(sub) -> None:
    s = sub.add_parser("summary", help="per-layer shapes, parameters, MACs and receptive fields")
    model_args(s, json=False)
    fmt = s.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON object on stdout")
    fmt.add_argument("--csv", action="store_true", help="CSV on stdout")
    s.set_defaults(func=cmd_summary)


def recorded(fn, graph):
    """Run any ``Graph -> Graph`` function (a target's legalization, say) recording the rewrite
    sites its passes make: ``(new graph, sites)`` as summary, draw and compare take them."""
    from graphconv.passes._rewrite import recording

    with recording() as sites:
        out = fn(graph)
    return out, list(sites)


def load_and_lower(args):
    """(original graph, rewritten graph, rewrite sites) without ONNX export or printing on
    stdout (notes go to stderr): ``summary`` and ``draw`` share it."""
    graph = load_model(args)
    if not args.passes and not args.target:
        return graph, graph, []
    from graphconv.passes import apply_recorded, legalize

    lowered, sites = apply_recorded(graph, args.passes) if args.passes else (graph, [])
    if args.target:
        lowered, plan = legalize(lowered, args.target, allow_partial=args.allow_partial)
        sites = list(sites) + list(plan.sites)
    for note in lowered.notes[len(graph.notes) :]:
        print_note(note)
    return graph, lowered, sites


def cmd_summary(args) -> int:
    from ..summary import compare, csv_text, summarize, table

    before, after, sites = load_and_lower(args)
    result = compare(before, after, sites) if args.passes or args.target else summarize(before)
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        print()
    elif args.csv:
        sys.stdout.write(csv_text(result))
    else:
        print(table(result))
    return EXIT_OK
