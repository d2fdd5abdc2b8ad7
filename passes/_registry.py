"""The table of passes by name: ``register`` fills it, ``registry`` copies it; a pass spec
(``name:key=value``) parsed and its options checked against the pass's signature.

Its own module so that the pass modules (which register) and ``passes/__init__`` (which imports
them all) do not import each other.
"""

from __future__ import annotations

from typing import Callable

from graphconv.errors import UsageError
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


def parse_pass(spec: str) -> tuple[str, dict]:
    """``"name"`` or ``"name:key=value:key=value"`` -> (name, options); values are int, float or
    str."""
    name, *opts = spec.split(":")
    options: dict = {}
    for opt in opts:
        key, sep, value = opt.partition("=")
        if not sep or not key:
            raise UsageError(f"pass option '{opt}' of '{name}' is not key=value")
        for conv in (int, float):
            try:
                options[key.replace("-", "_")] = conv(value)
                break
            except ValueError:
                continue
        else:
            options[key.replace("-", "_")] = value
    return name.strip(), options


def options_of(fn: Pass) -> dict[str, str]:
    """A pass's options: name -> the kind of value it takes (from its signature)."""
    import inspect

    kinds = {}
    for p in list(inspect.signature(fn).parameters.values())[1:]:
        note = str(p.annotation)
        kinds[p.name] = "int" if "int" in note else "float" if "float" in note else "text"
    return kinds


def _check_options(name: str, options: dict) -> None:
    kinds = options_of(_PASSES[name])
    listing = ", ".join(f"{k}={v.upper()}" for k, v in kinds.items())
    for key, value in options.items():
        if key not in kinds:
            raise UsageError(
                f"pass '{name}' "
                + (f"has no option '{key}' (options: {listing})" if kinds else "takes no options")
            )
        kind = kinds[key]
        if (kind == "int" and not isinstance(value, int)) or (
            kind == "float" and not isinstance(value, (int, float))
        ):
            what = "an integer" if kind == "int" else "a number"
            raise UsageError(
                f"pass '{name}': option {key}={value} is not {what} (options: {listing})"
            )
