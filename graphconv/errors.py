"""One exception family for everything graphconv reports to a user.

Every message is a single line a user can act on; the CLI prints ``str(error)`` and exits 2.
"""

from __future__ import annotations

MESSAGE_LIMIT = 400  # characters of one error line; a terminal line or two


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` as one printable line: control and other non-printable characters escaped (a
    layer named with ESC or NUL bytes cannot drive the terminal), newlines shown as ``\\n``, and
    cut to ``limit`` characters with a count of what was cut."""
    out = "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )
    if len(out) > limit:
        cut = len(out) - limit
        out = f"{out[:limit]}... ({cut:,} more characters)"
    return out


def listing(items, shown: int = 5, sep: str = ", ") -> str:
    """The first ``shown`` items joined, then how many more there are."""
    items = list(items)
    head = sep.join(str(i) for i in items[:shown])
    return head + (f"{sep}... and {len(items) - shown:,} more" if len(items) > shown else "")


def quote(text: str, limit: int = 60) -> str:
    """A name or source excerpt from a file, shortened and escaped for an error message."""
    return one_line(text, limit)


class GraphconvError(Exception):
    """Base of every error graphconv raises on purpose (bad input, unsupported feature)."""


class ParseError(GraphconvError):
    """A model file could not be read: names the file and, where known, line and column."""

    def __init__(
        self, message: str, file: str | None = None, line: int | None = None, col: int | None = None
    ):
        self.file, self.line, self.col, self.detail = file, line, col, message
        where = ":".join(str(p) for p in (file, line, col) if p is not None)
        super().__init__(f"{where}: {message}" if where else message)


class GraphError(GraphconvError):
    """A graph is invalid: names the layer (and its source location when it came from a file)."""

    def __init__(
        self,
        message: str,
        layer: str | None = None,
        type: str | None = None,
        source: str | None = None,
    ):
        self.layer, self.type, self.source, self.detail = layer, type, source, message
        parts = []
        if source:
            parts.append(source)
        if layer is not None:
            parts.append(f"layer '{layer}'" + (f" ({type})" if type else ""))
        parts.append(message)
        super().__init__(": ".join(parts))


class ExportError(GraphconvError):
    """A graph could not be written as ONNX (or the result failed onnx's own checks)."""


class UsageError(GraphconvError):
    """A command-line or API argument is malformed."""


class Unsupported(GraphconvError):
    """A construct has no exact handling here; the message says why. The ONNX frontend raises it
    for a node (or one setting of it) without an exact translation and reports it per node; the
    fast prototxt parser raises it for text it leaves to protobuf's text_format."""
