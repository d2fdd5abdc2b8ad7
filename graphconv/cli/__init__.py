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
from . import _session, bench, convert, draw, explain, passes, run, summary, validate
from ._args import Parser
from ._common import EXIT_BAD_INPUT, EXIT_INTERNAL

# One module per command (or pair of commands); each adds its parser with ``add(sub)`` and sets
# ``func``. The order here is the order of ``graphconv --help``.
COMMAND_MODULES = (convert, run, validate, bench, passes, summary, draw, explain)


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
    try:
        code, error = _dispatch(argv, "--debug" in argv)
    except SystemExit as e:  # --help, --version
        return int(e.code or 0)
    _session.current().finish(code, error)
    return code


def _dispatch(argv: list[str], debug: bool) -> tuple[int, str | None]:
    """Run the command; (exit code, the error line's message or None). Every error is one line
    on stderr (with --debug, after the traceback)."""
    from .. import progress

    _session.start(None)
    try:
        args = build_parser().parse_args(argv)
        session = _session.start(args)
        with bound(getattr(args, "max_memory", None)), progress.listening(session.listener()):
            return args.func(args), None
    except GraphconvError as e:
        return _error(EXIT_BAD_INPUT, f"error: {one_line(str(e))}", debug)
    except MemoryError:
        return _error(
            EXIT_BAD_INPUT,
            "error: out of memory (the estimate passed --max-memory; lower it to refuse "
            "earlier, or give smaller input shapes)",
            debug,
        )
    except KeyboardInterrupt:
        return _error(130, "interrupted", False)
    except Exception as e:  # noqa: BLE001 - a bug: one line unless --debug
        first = str(e).splitlines()[0] if str(e) else ""
        return _error(
            EXIT_INTERNAL,
            f"internal error: {type(e).__name__}: {one_line(first)} (rerun with --debug for "
            "a traceback)",
            debug,
        )


def _error(code: int, message: str, debug: bool) -> tuple[int, str]:
    if debug:
        traceback.print_exc()
    _session.current()._clear_progress()
    print(f"graphconv: {message}", file=sys.stderr)
    return code, message


if __name__ == "__main__":
    sys.exit(main())
