"""graphconv passes: list the rewrite passes and their options.

The list is read from the pass modules' source (each ``@register("name")`` function: its name,
the first line of its docstring, its options from its signature) without importing them, so the
command starts in a fraction of a second (importing the passes loads NumPy and every layer).
``tests/test_cli.py`` checks that the list equals what ``graphconv.passes.registry()`` holds.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

from ._common import EXIT_OK


def add(sub) -> None:
    sub.add_parser("passes", help="list the available rewrite passes").set_defaults(func=cmd_passes)


def _kind(annotation: ast.expr | None) -> str:
    text = ast.unparse(annotation) if annotation is not None else ""
    return "int" if "int" in text else "float" if "float" in text else "text"


def catalog() -> dict[str, tuple[dict[str, str], str]]:
    """Pass name -> (options: name -> kind, first docstring line), from the source files."""
    spec = importlib.util.find_spec("graphconv.passes")
    found = {}
    for folder in spec.submodule_search_locations or ():
        for path in sorted(Path(folder).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.FunctionDef):
                    continue
                for deco in node.decorator_list:
                    if (
                        isinstance(deco, ast.Call)
                        and getattr(deco.func, "id", None) == "register"
                        and deco.args
                        and isinstance(deco.args[0], ast.Constant)
                    ):
                        args = node.args.args[1:] + node.args.kwonlyargs
                        options = {a.arg: _kind(a.annotation) for a in args}
                        doc = (ast.get_docstring(node) or "").strip().splitlines()
                        found[deco.args[0].value] = (options, doc[0] if doc else "")
    return found


def cmd_passes(args) -> int:
    names = catalog()
    if not names:
        print("no passes are registered yet")
    for name, (options, doc) in sorted(names.items()):
        opts = "".join(f":{k}={v.upper()}" for k, v in options.items())
        print(f"{name + opts:26s} {doc}")
    return EXIT_OK
