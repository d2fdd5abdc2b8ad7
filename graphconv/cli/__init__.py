"""The command line: the only place that prints.

Exit codes: 0 success; 1 the interpreter and onnxruntime disagree (the export, end to end, or
the input ONNX file); 2 bad input or usage; 3 internal error (a bug; ``--debug`` shows the
traceback); 4 the rewrite passes changed the result (original vs rewritten, or a rewrite site
checked on its own); 5 an output holds NaN or Inf. When several comparisons fail, the code is
that of the first in the order 5, 4, 1. Every error is one line on stderr.
"""

from __future__ import annotations

import sys
import traceback
from typing import Sequence

from .. import __version__
from ..errors import GraphconvError, one_line
from ..memory import bound
from . import bench, convert, passes, run, validate
from ._args import Parser
from ._common import EXIT_BAD_INPUT, EXIT_INTERNAL

# One module per command (or pair of commands); each adds its parser with ``add(sub)`` and sets
# ``func``. The order here is the order of ``graphconv --help``.
COMMAND_MODULES = (convert, run, validate, bench, passes)


def build_parser() -> Parser:
    """The argument parser of every command."""
    p = Parser(
        prog="graphconv",
        description="Caffe/ONNX layer graph compiler: load, lower, "
        "run in NumPy, export ONNX, cross-check in onnxruntime.",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument("--version", action="version", version=f"graphconv {__version__}")
    p.add_argument(
        "--plugin",
        dest="plugins_before",
        action="append",
        default=[],
        metavar="FILE.py",
        help="a Python file defining custom layers (also accepted after the command)",
    )
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
        with bound(getattr(args, "max_memory", None)):
            return args.func(args)
    except SystemExit as e:  # --help
        return int(e.code or 0)
    except GraphconvError as e:
        if debug:
            traceback.print_exc()
        print(f"graphconv: error: {one_line(str(e))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError:
        if debug:
            traceback.print_exc()
        print(
            "graphconv: error: out of memory (the estimate passed --max-memory; lower it to "
            "refuse earlier, or give smaller input shapes)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("graphconv: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a bug: one line unless --debug
        if debug:
            traceback.print_exc()
        first = str(e).splitlines()[0] if str(e) else ""
        print(
            f"graphconv: internal error: {type(e).__name__}: {one_line(first)} (rerun with "
            "--debug for a traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
