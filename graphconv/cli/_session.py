"""How one command talks: lines for a person, ``--quiet``, ``--json``, progress on a terminal.

Commands print through :func:`say` (stdout), :func:`note` (stderr) and :func:`record` (the
``--json`` object). With ``--json`` nothing but one JSON object goes to stdout (the human lines
are kept in it as ``lines``); with ``--quiet`` notes are counted, not listed (warnings still
show). When stderr is a terminal and the command has run for :data:`PROGRESS_AFTER` seconds,
one self-overwriting line shows where it is (interpreter layer i/N, onnxruntime, the
layer-by-layer check), from :mod:`graphconv.progress`.
"""

from __future__ import annotations

import json
import math
import sys
import time

from ..errors import one_line

PROGRESS_AFTER = 2.0  # seconds before progress shows
PROGRESS_EVERY = 0.2  # seconds between updates
JSON_COMMANDS = ("validate", "convert", "run")


class Session:
    def __init__(self, args=None) -> None:
        self.command = getattr(args, "command", None)
        # bench and bench-compile print their own JSON
        self.json = bool(getattr(args, "json", False)) and self.command in JSON_COMMANDS
        self.quiet = bool(getattr(args, "quiet", False))
        self.verbose = bool(getattr(args, "verbose", False))
        self.model = str(getattr(args, "model", "") or "") or None
        self.data: dict = {}
        self.lines: list[str] = []
        self.notes: list[str] = []
        self.start = time.perf_counter()
        self._shown = 0.0
        self._progress_width = 0

    # ---- what commands call ---------------------------------------------------------------
    def say(self, text: str = "") -> None:
        if self.json:
            self.lines.append(text)
        else:
            print(text)

    def note(self, text: str) -> None:
        text = one_line(text, 1000)
        self.notes.append(text)
        warning = text.startswith("warning:")
        if self.json or (self.quiet and not warning):
            return
        self._clear_progress()
        print(text if warning else f"note: {text}", file=sys.stderr)

    def record(self, key: str, value) -> None:
        self.data[key] = value

    # ---- progress ---------------------------------------------------------------------------
    def listener(self):
        """A progress listener when stderr is a terminal and the output is for a person."""
        if self.json or self.quiet or not sys.stderr.isatty():
            return None
        return self._progress

    def _progress(self, what: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - self.start < PROGRESS_AFTER or now - self._shown < PROGRESS_EVERY:
            return
        self._shown = now
        text = f"graphconv: {what} {done + 1}/{total}" if total else f"graphconv: {what}"
        text += f" ({now - self.start:.0f} s)"
        pad = max(0, self._progress_width - len(text))
        sys.stderr.write("\r" + text + " " * pad)
        sys.stderr.flush()
        self._progress_width = len(text)

    def _clear_progress(self) -> None:
        if self._progress_width:
            sys.stderr.write("\r" + " " * self._progress_width + "\r")
            sys.stderr.flush()
            self._progress_width = 0

    # ---- the end ----------------------------------------------------------------------------
    def finish(self, code: int, error: str | None = None) -> None:
        self._clear_progress()
        if self.json:
            obj = {
                "command": self.command,
                "model": self.model,
                "ok": code == 0,
                "exit_code": code,
                **({"error": error} if error else {}),
                **self.data,
                "notes": self.notes,
                "seconds": round(time.perf_counter() - self.start, 3),
                "lines": self.lines,
            }
            print(json.dumps(_plain(obj)))
        elif self.quiet:
            hidden = sum(1 for n in self.notes if not n.startswith("warning:"))
            if hidden:
                print(f"note: {hidden} notes not shown (--quiet)", file=sys.stderr)


def _plain(value):
    """JSON without NaN or Infinity (not JSON): NaN -> null, +-Inf -> "inf"/"-inf"."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not hasattr(value, "__len__"):  # a NumPy scalar
        return _plain(value.item())
    return value


SESSION = Session()


def start(args) -> Session:
    global SESSION
    SESSION = Session(args)
    return SESSION


def current() -> Session:
    return SESSION


def say(text: str = "") -> None:
    SESSION.say(text)


def note(text: str) -> None:
    SESSION.note(text)


def record(key: str, value) -> None:
    SESSION.record(key, value)
