"""The command line: the only place that prints.

Exit codes: 0 success; 1 the interpreter and onnxruntime disagree (the export, end to end, or
the input ONNX file); 2 bad input or usage; 3 internal error (a bug; ``--debug`` shows the
traceback); 4 the rewrite passes changed the result (original vs rewritten, or a rewrite site
checked on its own); 5 an output holds NaN or Inf. When several comparisons fail, the code is
that of the first in the order 5, 4, 1. Every error is one line on stderr.
"""

from __future__ import annotations

import sys
from typing import Sequence

from ..errors import GraphconvError
from . import bench, convert, passes, run, targets, validate
from ._args import Parser
from ._common import EXIT_BAD_INPUT, EXIT_INTERNAL

# One module per command (or pair of commands); each adds its parser with ``add(sub)`` and sets
# ``func``. The order here is the order of ``graphconv --help``.
COMMAND_MODULES = (convert, run, validate, bench, passes, targets)


def build_parser() -> Parser:
    """The argument parser of every command."""
    p = Parser(
        prog="graphconv",
        description="Caffe/ONNX layer graph compiler: load, lower, "
        "run in NumPy, export ONNX, cross-check in onnxruntime.",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for module in COMMAND_MODULES:
        module.add(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except SystemExit as e:  # --help
        return int(e.code or 0)
    except GraphconvError as e:
        if debug:
            raise
        print(f"graphconv: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("graphconv: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a bug: one line unless --debug
        if debug:
            raise
        first = str(e).splitlines()[0] if str(e) else ""
        print(
            f"graphconv: internal error: {type(e).__name__}: {first} (rerun with --debug for "
            "a traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
