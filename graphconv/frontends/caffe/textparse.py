"""A fast path for protobuf text format, the subset Caffe prototxt files use.

``google.protobuf.text_format`` tokenizes in pure Python, one token and one regex call at a time;
for a 5000-layer prototxt that is most of the parse. Here the whole text is tokenized by one
``re.findall`` (the same token grammar as ``text_format.Tokenizer``: identifiers, numbers, quoted
strings, any other single character; whitespace and ``#`` comments skipped) and a small
recursive builder fills the message from its descriptors. Scalar values are converted by
text_format's own functions (``ParseInteger``, ``ParseFloat``, ``ParseBool``, ``ParseEnum``,
``text_encoding.CUnescape``), cached per token text, so every accepted value is the one
text_format would store.

The builder accepts only what it handles exactly as ``text_format.Parse`` does: known fields by
exact name, ``:`` (required before scalars, optional before messages), ``{}``/``<>`` bodies,
``[a, b]`` lists for repeated fields, adjacent string literals, one optional ``,`` or ``;`` after
a field. Anything else (unknown or duplicate singular fields, extensions, Any, maps, oneofs,
groups, malformed text, a value text_format would reject) makes :func:`parse` raise
:class:`Unsupported`, and the caller parses again with text_format, which then accepts the text
(the same message) or reports the error as it always has.
"""

from __future__ import annotations

import re

from google.protobuf import text_encoding, text_format
from google.protobuf.descriptor import FieldDescriptor

from ...errors import Unsupported  # the fast path's "fall back to text_format"

__all__ = ["Unsupported", "parse", "tokenize"]

# One token per match. The prefix skips whitespace and comments; then an identifier, a number, a
# closed quoted string, any other single character, or the end of the text (an empty token).
# Every position is covered, so findall leaves no gaps. Unclosed strings come out as a lone quote
# character, which nothing accepts. The prefix needs no atomic group (``(?>...)``, Python 3.11+):
# it stops only before a character that is neither whitespace nor ``#``, or at the end, and there
# ``[^\s#]`` or ``\Z`` always matches, so the engine never backtracks into it and a comment is
# never re-read as tokens.
_TOKEN = re.compile(
    r"(?:\s|#[^\n]*)*"
    r"([a-zA-Z_][0-9a-zA-Z_+-]*"  # identifier (text_format.Tokenizer._TOKEN)
    r"|(?:[0-9+-]|\.[0-9])[0-9a-zA-Z_.+-]*"  # number
    r'|"[^"\n\\]*(?:\\.[^"\n\\]*)*"'  # double-quoted string
    r"|'[^'\n\\]*(?:\\.[^'\n\\]*)*'"  # single-quoted string
    r"|[^\s#]"  # any other character
    r"|\Z)"
)

_CLOSE = {"{": "}", "<": ">"}
_ANY = "google.protobuf.Any"


def tokenize(text: str) -> list[str]:
    """The tokens of ``text`` as text_format's tokenizer sees them, then '' sentinels."""
    tokens = _TOKEN.findall(text)
    tokens.extend(("", "", ""))
    return tokens


# ---- scalar converters: (tokens, i) -> (value, next i) ------------------------------------


def _cached(parse_one):
    cache: dict[str, object] = {}

    def convert(tokens, i):
        tok = tokens[i]
        try:
            return cache[tok], i + 1
        except KeyError:
            pass
        value = parse_one(tok)  # ValueError -> fallback
        cache[tok] = value
        return value, i + 1

    return convert


def _int_converter(signed: bool, long: bool):
    return _cached(lambda tok: text_format.ParseInteger(tok, is_signed=signed, is_long=long))


def _unescape(tok: str) -> bytes:
    if len(tok) < 2 or tok[0] not in "\"'" or tok[-1] != tok[0]:
        raise Unsupported(tok)
    body = tok[1:-1]
    if "\\" not in body and body.isascii():
        return body.encode("ascii")
    return text_encoding.CUnescape(body)


def _string_converter(as_text: bool):
    cache: dict[str, object] = {}

    def one(tok):
        try:
            return cache[tok]
        except KeyError:
            pass
        raw = _unescape(tok)
        value = str(raw, "utf-8") if as_text else raw
        cache[tok] = value
        return value

    def convert(tokens, i):
        value = one(tokens[i])
        i += 1
        nxt = tokens[i]
        if not nxt or nxt[0] not in "\"'":
            return value, i
        # adjacent literals concatenate (text_format joins the bytes, then decodes)
        parts = [_unescape(tokens[i - 1])]
        while nxt and nxt[0] in "\"'":
            parts.append(_unescape(nxt))
            i += 1
            nxt = tokens[i]
        raw = b"".join(parts)
        return (str(raw, "utf-8") if as_text else raw), i

    return convert


_INT_KINDS = {
    FieldDescriptor.TYPE_INT32: (True, False),
    FieldDescriptor.TYPE_SINT32: (True, False),
    FieldDescriptor.TYPE_SFIXED32: (True, False),
    FieldDescriptor.TYPE_INT64: (True, True),
    FieldDescriptor.TYPE_SINT64: (True, True),
    FieldDescriptor.TYPE_SFIXED64: (True, True),
    FieldDescriptor.TYPE_UINT32: (False, False),
    FieldDescriptor.TYPE_FIXED32: (False, False),
    FieldDescriptor.TYPE_UINT64: (False, True),
    FieldDescriptor.TYPE_FIXED64: (False, True),
}
_CONVERTERS: dict = {}


def _converter(field):
    t = field.type
    if t in _INT_KINDS:
        key = _INT_KINDS[t]
        make = lambda: _int_converter(*key)  # noqa: E731
    elif t in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        key, make = "float", lambda: _cached(text_format.ParseFloat)
    elif t == FieldDescriptor.TYPE_BOOL:
        key, make = "bool", lambda: _cached(text_format.ParseBool)
    elif t == FieldDescriptor.TYPE_STRING:
        key, make = "string", lambda: _string_converter(True)
    elif t == FieldDescriptor.TYPE_BYTES:
        key, make = "bytes", lambda: _string_converter(False)
    elif t == FieldDescriptor.TYPE_ENUM:
        key = ("enum", field.enum_type.full_name, id(field.enum_type))
        make = lambda: _cached(lambda tok: text_format.ParseEnum(field, tok))  # noqa: E731
    else:
        return None
    conv = _CONVERTERS.get(key)
    if conv is None:
        conv = _CONVERTERS[key] = make()
    return conv


# ---- field tables per message type ----------------------------------------------------------

# descriptor -> {name: (is_message, name, repeated, converter)}; None marks an unsupported field
_FIELDS: dict = {}


def _fields(desc) -> dict:
    table = _FIELDS.get(desc)
    if table is not None:
        return table
    if desc.full_name == _ANY:
        raise Unsupported(desc.full_name)
    table = {}
    for f in desc.fields:
        repeated = f.is_repeated
        ok = f.containing_oneof is None and (repeated or f.has_presence)
        if f.cpp_type == FieldDescriptor.CPPTYPE_MESSAGE:
            ok = (
                ok
                and f.type == FieldDescriptor.TYPE_MESSAGE
                and not f.message_type.GetOptions().map_entry
            )
            table[f.name] = (True, f.name, repeated, None) if ok else None
        else:
            conv = _converter(f)
            table[f.name] = (False, f.name, repeated, conv) if ok and conv else None
    _FIELDS[desc] = table
    return table


# ---- the builder ----------------------------------------------------------------------------


def _merge(tokens, i, msg, end):
    """Fields of ``msg`` from tokens[i:] up to and including ``end``; returns the next index."""
    fields = _fields(msg.DESCRIPTOR)
    while True:
        tok = tokens[i]
        if tok == end:
            return i + 1
        spec = fields.get(tok)
        if spec is None:  # unknown field, '' before the end, stray punctuation, ...
            raise Unsupported(tok)
        is_msg, name, repeated, conv = spec
        i += 1
        tok = tokens[i]
        if is_msg:
            if tok == ":":
                i += 1
                tok = tokens[i]
            if repeated:
                container = getattr(msg, name)
                if tok == "[":
                    i += 1
                    if tokens[i] == "]":
                        i += 1
                    else:
                        while True:
                            close = _CLOSE.get(tokens[i])
                            if close is None:
                                raise Unsupported(tokens[i])
                            i = _merge(tokens, i + 1, container.add(), close)
                            if tokens[i] == "]":
                                i += 1
                                break
                            if tokens[i] != ",":
                                raise Unsupported(tokens[i])
                            i += 1
                else:
                    close = _CLOSE.get(tok)
                    if close is None:
                        raise Unsupported(tok)
                    i = _merge(tokens, i + 1, container.add(), close)
            else:
                close = _CLOSE.get(tok)
                if close is None or msg.HasField(name):
                    raise Unsupported(tok)
                sub = getattr(msg, name)
                sub.SetInParent()
                i = _merge(tokens, i + 1, sub, close)
        else:
            if tok != ":":
                raise Unsupported(tok)
            i += 1
            if repeated:
                container = getattr(msg, name)
                if tokens[i] == "[":
                    i += 1
                    if tokens[i] == "]":
                        i += 1
                    else:
                        while True:
                            value, i = conv(tokens, i)
                            container.append(value)
                            if tokens[i] == "]":
                                i += 1
                                break
                            if tokens[i] != ",":
                                raise Unsupported(tokens[i])
                            i += 1
                else:
                    value, i = conv(tokens, i)
                    container.append(value)
            else:
                if msg.HasField(name):
                    raise Unsupported(name)
                value, i = conv(tokens, i)
                setattr(msg, name, value)
        tok = tokens[i]
        if tok == "," or tok == ";":
            i += 1


def parse(text: str, message) -> None:
    """Fill ``message`` (empty) from ``text`` exactly as ``text_format.Parse`` would, or raise
    :class:`Unsupported` when the text uses anything the fast path does not handle (the caller
    then parses a fresh message with text_format, which also produces the error messages).
    ``message`` may be partly filled when Unsupported is raised."""
    if not isinstance(text, str):
        raise Unsupported("not a str")
    try:
        tokens = tokenize(text)
        i = _merge(tokens, 0, message, "")
    except Unsupported:
        raise
    except Exception as e:  # noqa: BLE001 - a value text_format would reject, or anything odd
        raise Unsupported(f"{type(e).__name__}: {e}") from e
    if any(tokens[i:]):
        raise Unsupported("text after the end")


def _comment_start(line: bytes) -> int | None:
    """Where a ``#`` comment starts in one line of prototxt bytes (outside quotes), or None."""
    quote = None
    escaped = False
    for i, c in enumerate(line):
        if quote is not None:
            if escaped:
                escaped = False
            elif c == 0x5C:  # backslash
                escaped = True
            elif c == quote:
                quote = None
        elif c in (0x22, 0x27):
            quote = c
        elif c == 0x23:
            return i
    return None


def decode_prototxt(data: bytes, name: str) -> tuple[str, list[str]]:
    """Prototxt bytes as text, the way Caffe reads them: a UTF-8 BOM is skipped, comments are
    ignored whatever their encoding, and a line that is not UTF-8 outside its comment (a layer
    name written in GBK, say) is read as GBK, else as Latin-1, with a note. Caffe itself treats
    the text as bytes; both readings are one-to-one, so distinct names stay distinct."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    lines, notes = [], []
    for number, line in enumerate(data.split(b"\n"), 1):
        try:
            lines.append(line.decode("utf-8"))
            continue
        except UnicodeDecodeError:
            pass
        cut = _comment_start(line)
        code = line if cut is None else line[:cut]
        try:
            lines.append(code.decode("utf-8"))
            continue
        except UnicodeDecodeError:
            pass
        for encoding in ("gbk", "latin-1"):
            try:
                lines.append(code.decode(encoding))
                notes.append(f"{name}:{number}: not UTF-8; read as {encoding.upper()}")
                break
            except UnicodeDecodeError:
                continue
    return "\n".join(lines), notes
