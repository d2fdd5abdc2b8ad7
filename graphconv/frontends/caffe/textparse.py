"""A fast path for protobuf's text format, enough for prototxt files.

protobuf's own ``text_format`` parser is pure Python and tokenises character by character; on a
5,000-layer net it is most of the parse time. This module tokenises with one regular expression
and fills the message through its descriptor. It handles what prototxt files use: nested
``{ }`` / ``< >`` blocks, optional ``:`` before a block, ``[a, b]`` lists, ``,``/``;`` separators,
``#`` comments, quoted strings without escapes, decimal/hex integers, floats (``inf``, ``nan``),
booleans and enums by name or number.

Anything else (an unknown field, a string escape, a singular field given twice, a malformed
token) raises :class:`Unsupported`, and the caller parses the text again with ``text_format``,
whose error messages (with line and column) are the ones users see.
"""

from __future__ import annotations

import re

from google.protobuf.descriptor import FieldDescriptor as FD

_TOKEN = re.compile(r"""
    \s+ | \#[^\n]*                                  # skipped: all four groups empty
  | ("[^"\\\n]*"|'[^'\\\n]*')                     # strings without escapes
  | ([-+]?(?:(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+|[A-Za-z0-9_.]+))  # numbers, names, enums
  | ([{}<>:,;\[\]])
  | (.)                                             # anything else: not for the fast path
""", re.VERBOSE | re.DOTALL)

_INTS = {FD.TYPE_INT32, FD.TYPE_INT64, FD.TYPE_UINT32, FD.TYPE_UINT64, FD.TYPE_SINT32,
         FD.TYPE_SINT64, FD.TYPE_FIXED32, FD.TYPE_FIXED64, FD.TYPE_SFIXED32, FD.TYPE_SFIXED64}
_FLOATS = {FD.TYPE_FLOAT, FD.TYPE_DOUBLE}
_BOOLS = {"true": True, "True": True, "t": True, "1": True,
          "false": False, "False": False, "f": False, "0": False}
_CLOSE = {"{": "}", "<": ">"}
_SPECIAL_FLOATS = {"inf": float("inf"), "infinity": float("inf"), "nan": float("nan")}
_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0|[1-9]\d*)\Z")


class Unsupported(Exception):
    """The fast path cannot parse this text exactly; use text_format."""


def tokenize(text: str) -> list[tuple[str, str]]:
    """(kind, text) tokens: kind is 'str', 'word' or 'punct'."""
    out = []
    for string, word, punct, bad in _TOKEN.findall(text):
        if bad:
            raise Unsupported(f"unexpected character {bad!r}")
        if word:
            out.append(("word", word))
        elif punct:
            out.append(("punct", punct))
        elif string:
            out.append(("str", string))
    return out


def parse(text: str, message) -> None:
    """Fill ``message`` (empty) from ``text``, or raise Unsupported."""
    tokens = tokenize(text)
    i = _fill(tokens, 0, message, None)
    if i != len(tokens):
        raise Unsupported("unbalanced braces")


def _fill(tokens, i: int, msg, close: str | None) -> int:
    fields = msg.DESCRIPTOR.fields_by_name
    seen: set[str] = set()
    n = len(tokens)
    while i < n:
        kind, tok = tokens[i]
        if kind == "punct":
            if tok == close:
                return i + 1
            if tok in ",;":
                i += 1
                continue
            raise Unsupported(f"unexpected '{tok}'")
        fd = fields.get(tok)
        if fd is None or kind != "word":
            raise Unsupported(f"unknown field '{tok}'")
        repeated = _is_repeated(fd)
        if not repeated:
            if tok in seen:
                raise Unsupported(f"'{tok}' given twice")
            seen.add(tok)
        i += 1
        if fd.type in (FD.TYPE_MESSAGE, FD.TYPE_GROUP):
            if i < n and tokens[i] == ("punct", ":"):
                i += 1
            if i >= n or tokens[i][1] not in _CLOSE:
                raise Unsupported("expected a block")
            end = _CLOSE[tokens[i][1]]
            sub = getattr(msg, fd.name).add() if repeated else getattr(msg, fd.name)
            if not repeated:
                sub.SetInParent()
            i = _fill(tokens, i + 1, sub, end)
            continue
        if i >= n or tokens[i] != ("punct", ":"):
            raise Unsupported("expected ':'")
        i += 1
        if i < n and tokens[i] == ("punct", "["):
            if not repeated:
                raise Unsupported("a list for a singular field")
            i += 1
            values = []
            while i < n and tokens[i] != ("punct", "]"):
                if tokens[i] == ("punct", ","):
                    i += 1
                    continue
                values.append(_scalar(fd, tokens[i]))
                i += 1
            if i >= n:
                raise Unsupported("unterminated list")
            i += 1
            getattr(msg, fd.name).extend(values)
            continue
        if i >= n:
            raise Unsupported("missing value")
        value = _scalar(fd, tokens[i])
        i += 1
        if fd.type == FD.TYPE_STRING:  # adjacent string literals concatenate
            while i < n and tokens[i][0] == "str":
                value += _scalar(fd, tokens[i])
                i += 1
        if repeated:
            getattr(msg, fd.name).append(value)
        else:
            setattr(msg, fd.name, value)
    if close is not None:
        raise Unsupported("unterminated block")
    return i


def _is_repeated(fd) -> bool:
    flag = getattr(fd, "is_repeated", None)  # protobuf >= 6; older ones have only ``label``
    return bool(flag) if flag is not None else fd.label == FD.LABEL_REPEATED


def _scalar(fd, token):
    kind, tok = token
    t = fd.type
    if t == FD.TYPE_STRING or t == FD.TYPE_BYTES:
        if kind != "str":
            raise Unsupported("expected a string")
        body = tok[1:-1]
        return body if t == FD.TYPE_STRING else body.encode("utf-8")
    if kind != "word":
        raise Unsupported(f"unexpected {tok!r}")
    if t in _INTS:
        if not _INT.match(tok):
            raise Unsupported(f"not an integer: {tok}")
        return int(tok, 0)
    if t in _FLOATS:
        low = tok.lower().lstrip("+-")
        if low in _SPECIAL_FLOATS:
            v = _SPECIAL_FLOATS[low]
            return -v if tok.startswith("-") else v
        if low.endswith("f") or not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", tok):
            raise Unsupported(f"not a float: {tok}")
        return float(tok)
    if t == FD.TYPE_BOOL:
        if tok not in _BOOLS:
            raise Unsupported(f"not a bool: {tok}")
        return _BOOLS[tok]
    if t == FD.TYPE_ENUM:
        values = fd.enum_type.values_by_name
        if tok in values:
            return values[tok].number
        if _INT.match(tok) and int(tok, 0) in fd.enum_type.values_by_number:
            return int(tok, 0)
        raise Unsupported(f"unknown enum value {tok}")
    raise Unsupported(f"field type {t}")
