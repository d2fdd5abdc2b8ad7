"""Progress of long work, for whoever listens: the CLI shows it on a terminal, nothing else does.

The interpreter calls :func:`step` once per layer and the validation calls :func:`stage` as it
moves between engines; both are no-ops (one context-variable read) unless a listener was set
with :func:`listening`. The library never prints.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

Listener = Callable[[str, int, int], None]  # (what, done, total); total 0: no count
_LISTENER: contextvars.ContextVar[Listener | None] = contextvars.ContextVar(
    "progress_listener", default=None
)


def step(what: str, done: int, total: int) -> None:
    listener = _LISTENER.get()
    if listener is not None:
        listener(what, done, total)


def stage(what: str) -> None:
    step(what, 0, 0)


@contextlib.contextmanager
def listening(listener: Listener | None) -> Iterator[None]:
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)
