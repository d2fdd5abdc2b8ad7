"""The module import graph of graphconv/ and passes/ has no cycle.

Every ``import`` and ``from ... import`` is read with ast, at module level and inside functions
(a function-level import is still a dependency; it only hides the cycle until the call). Imports
under ``if TYPE_CHECKING:`` are skipped: they never run. ``from pkg import name`` depends on
``pkg.name`` when that is a module, else on ``pkg`` itself; importing ``pkg.mod`` also runs
``pkg/__init__.py``, but that implicit edge is not counted (every package would otherwise be in a
cycle with its own modules).
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("graphconv", "passes")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "passes":  # installed as graphconv.passes (pyproject's package-dir)
        parts.insert(0, "graphconv")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST):
    """Every Import/ImportFrom node, skipping ``if TYPE_CHECKING:`` bodies."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    keep = len(parts) - node.level + (1 if is_package else 0)
    base = ".".join(parts[:keep])
    return f"{base}.{node.module}" if node.module else base


def import_graph() -> nx.DiGraph:
    """Edges module -> module it imports, restricted to graphconv/ and passes/."""
    modules = _modules()
    g = nx.DiGraph()
    g.add_nodes_from(modules)
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in _import_nodes(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _base(module, is_package, node)
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            g.add_edges_from((module, t) for t in targets if t in modules and t != module)
    return g


def test_import_graph_is_read():
    g = import_graph()
    assert ("graphconv.ir", "graphconv.registry") in g.edges
    assert ("graphconv.interpreter", "graphconv.ir") in g.edges
    assert g.number_of_nodes() > 30


def test_no_import_cycle():
    cycles = list(nx.simple_cycles(import_graph()))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c + [c[0]]) for c in cycles)


def test_registry_imports_only_errors():
    g = import_graph()
    assert set(g.successors("graphconv.registry")) <= {"graphconv.errors"}


def test_both_frontends_share_one_unsupported():
    from graphconv import errors
    from graphconv.frontends.caffe import textparse

    assert textparse.Unsupported is errors.Unsupported
    assert issubclass(errors.Unsupported, errors.GraphconvError)
