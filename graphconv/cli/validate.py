"""graphconv validate: every comparison that applies, the report and the verdict."""

from __future__ import annotations

import sys

from ._args import model_args
from ._common import (
    EXIT_MISMATCH,
    EXIT_NONFINITE,
    EXIT_OK,
    EXIT_PASSES,
    graph_info,
    graph_line,
    input_feeds,
    load_with_passes,
    print_report,
)
from ._session import record, say


def add(sub) -> None:
    v = sub.add_parser(
        "validate",
        help="compare the interpreter with onnxruntime (and the rewritten graph with the original)",
    )
    model_args(v, rtol=True)
    v.add_argument("--opset", type=int, default=17, help="ONNX opset, 13 to 21 (default 17)")
    v.set_defaults(func=cmd_validate)


def run_validation(args, original, graph, sites) -> int:
    """Run every comparison that applies, print the report and the verdict; the exit code."""
    from ..validate import validate

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
                say(line)
            if getattr(args, "verbose", False):
                for check in site_checks:
                    say(f"  {check.line()}")
    elif args.exact and args.passes:
        say("rewrite sites: none (the passes rewrote nothing)")
    reference = None
    if str(args.model).lower().endswith(".onnx"):
        import onnx

        reference = onnx.load(args.model)
    report = validate(
        graph,
        input_feeds(args, original, True),
        seed=args.seed,
        rtol=args.rtol,
        opset=args.opset,
        original=original if args.passes else None,
        passes_rtol=args.passes_rtol,
        sites=site_checks,
        reference_model=reference,
        repro=args.repro,
    )
    print_report(report, sys.stdout)
    say(report.verdict())
    record("validation", report.to_dict())
    failed = report.failed
    if "non-finite" in failed:
        return EXIT_NONFINITE
    if "passes" in failed:
        return EXIT_PASSES
    return EXIT_MISMATCH if failed else EXIT_OK


def cmd_validate(args) -> int:
    original, graph, sites = load_with_passes(args)
    say(graph_line(graph))
    record("graph", graph_info(graph))
    return run_validation(args, original, graph, sites)
