"""graphconv passes: list the rewrite passes and their options."""

from __future__ import annotations

from ._common import EXIT_OK


def add(sub) -> None:
    sub.add_parser("passes", help="list the available rewrite passes").set_defaults(func=cmd_passes)


def cmd_passes(args) -> int:
    from graphconv.passes import options_of, registry

    names = registry()
    if not names:
        print("no passes are registered yet")
    for name, fn in sorted(names.items()):
        doc = (fn.__doc__ or "").strip().splitlines()
        opts = "".join(f":{k}={v.upper()}" for k, v in options_of(fn).items())
        print(f"{name + opts:26s} {doc[0] if doc else ''}")
    return EXIT_OK
