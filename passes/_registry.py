"""The table of passes by name: ``register`` fills it, ``registry`` copies it.

Its own module so that the pass modules (which register) and ``passes/__init__`` (which imports
them all) do not import each other.
"""

from __future__ import annotations

from typing import Callable

from graphconv.ir import Graph

Pass = Callable[[Graph], Graph]
_PASSES: dict[str, Pass] = {}


def register(name: str) -> Callable[[Pass], Pass]:
    """Decorator: register a pass function under ``name``."""

    def deco(fn: Pass) -> Pass:
        if name in _PASSES:
            raise RuntimeError(f"pass {name} registered twice")
        _PASSES[name] = fn
        return fn

    return deco


def registry() -> dict[str, Pass]:
    """A copy of the table: pass name -> function."""
    return dict(_PASSES)
