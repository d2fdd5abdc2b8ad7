"""Target profiles: what a runtime or accelerator accepts, read from a TOML file.

A profile names the ONNX ops a target runs and, per op, the attribute values it accepts::

    name = "my-npu"
    max_rank = 4                      # largest rank of any tensor of the exported graph
    [ops.Conv]                        # an op absent from [ops] is unsupported
    strides = [1, 2]                  # allowed values on every axis (absent: any)
    dilations = [1]
    kernel_max = 7                    # largest kernel extent per axis, before dilation
    pads_max = 3                      # largest pad per side
    group = "any"                     # "any", 1, or "depthwise" (1 or the input channels)
    [ops.ConvTranspose]
    output_padding = false            # output_padding must be all zero
    [ops.Resize]
    modes = ["nearest"]
    [ops.Relu]

An absent key means any value. Every node counts, Constant, Identity and Shape included. The
profile itself is checked when read: an unknown key, a key that does not apply to its op, an
unknown ONNX op or a value of the wrong type is one line naming the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from ..errors import ParseError

PROFILES_DIR = Path(__file__).with_name("profiles")

# which per-op keys apply to which ONNX ops (an op's attribute the key constrains)
_WINDOW_OPS = ("Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool")
APPLIES_TO: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "strides": _WINDOW_OPS,
        "kernel_max": _WINDOW_OPS,
        "pads_max": _WINDOW_OPS + ("Pad",),
        "dilations": ("Conv", "ConvTranspose", "MaxPool"),
        "group": ("Conv", "ConvTranspose"),
        "output_padding": ("ConvTranspose",),
        "modes": ("Resize", "Upsample"),
    }
)
RESIZE_MODES = ("nearest", "linear", "cubic")
TOP_KEYS = ("name", "description", "max_rank", "ops")


@dataclass(frozen=True)
class OpRule:
    """The limits on one ONNX op; ``None`` means any value."""

    op: str
    strides: tuple[int, ...] | None = None
    dilations: tuple[int, ...] | None = None
    kernel_max: int | None = None
    pads_max: int | None = None
    group: int | str | None = None  # 1, "depthwise" or None (any)
    output_padding: bool = True  # False: output_padding must be all zero
    modes: tuple[str, ...] | None = None

    def describe(self) -> str:
        """The limits as TOML lines (what ``graphconv targets NAME`` prints)."""
        lines = []
        for key in ("strides", "dilations", "modes"):
            value = getattr(self, key)
            if value is not None:
                lines.append(f"{key} = {_toml_list(value)}")
        for key in ("kernel_max", "pads_max"):
            if getattr(self, key) is not None:
                lines.append(f"{key} = {getattr(self, key)}")
        if self.group is not None:
            lines.append(f"group = {self.group if self.group == 1 else repr(self.group)}")
        if not self.output_padding:
            lines.append("output_padding = false")
        return "\n".join(lines).replace("'", '"')


@dataclass(frozen=True)
class Profile:
    """A parsed target profile."""

    name: str
    ops: Mapping[str, OpRule]
    max_rank: int | None = None
    description: str = ""
    source: str = ""  # the file it was read from
    comment: str = field(default="", compare=False)  # the file's leading comment (citations)

    def allows(self, op: str) -> bool:
        return op in self.ops

    def describe(self) -> str:
        """The profile as TOML, with the file's leading comment."""
        head = [self.comment] if self.comment else []
        head.append(f'name = "{self.name}"')
        if self.description:
            head.append(f'description = "{self.description}"')
        if self.max_rank is not None:
            head.append(f"max_rank = {self.max_rank}")
        for op, rule in self.ops.items():
            body = rule.describe()
            head.append(f"[ops.{op}]" + (f"\n{body}" if body else ""))
        return "\n".join(head)


def _toml_list(values) -> str:
    return "[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in values) + "]"


def _tomllib():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise ParseError(
                "reading a target profile needs Python 3.11+ (tomllib) or the 'tomli' package"
            ) from None
    return tomllib


def builtin_names() -> list[str]:
    """The names of the built-in profiles (the .toml files shipped with graphconv)."""
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))


def load_profile(spec: str | Path) -> Profile:
    """A profile by built-in name or from a ``.toml`` path."""
    path = Path(spec)
    if str(spec) in builtin_names():
        path = PROFILES_DIR / f"{spec}.toml"
    elif not path.suffix == ".toml" or not path.is_file():
        if path.suffix == ".toml":
            raise ParseError("no such profile file", file=str(spec))
        raise ParseError(
            f"'{spec}' is neither a built-in target ({', '.join(builtin_names())}) nor a .toml file"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ParseError(f"cannot read: {e.strerror}", file=str(path)) from None
    return parse_profile(text, str(path))


def parse_profile(text: str, file: str = "<profile>") -> Profile:
    """Parse and check a profile's TOML text; errors are one line naming ``file`` and the key."""
    tomllib = _tomllib()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ParseError(f"not valid TOML: {e}", file=file) from None

    def bad(key: str, what: str):
        return ParseError(f"key '{key}': {what}", file=file)

    for key in data:
        if key not in TOP_KEYS:
            raise bad(key, f"unknown key (keys: {', '.join(TOP_KEYS)})")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise bad("name", "a profile needs a name (a non-empty string)")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise bad("description", f"expected a string, got {_kind(description)}")
    max_rank = data.get("max_rank")
    if max_rank is not None and not _positive_int(max_rank):
        raise bad("max_rank", f"expected a positive integer, got {max_rank!r}")
    ops_table = data.get("ops", {})
    if not isinstance(ops_table, dict) or not ops_table:
        raise bad("ops", "expected tables [ops.<ONNX op>], at least one")
    ops = {}
    for op, body in ops_table.items():
        if not isinstance(body, dict):
            raise bad(f"ops.{op}", f"expected a table [ops.{op}], got {_kind(body)}")
        ops[op] = _op_rule(op, body, bad)
    comment = "\n".join(
        line for line in _leading_comment(text.splitlines()) if line.startswith("#")
    )
    return Profile(name, MappingProxyType(ops), max_rank, description, file, comment)


def _leading_comment(lines):
    for line in lines:
        if line.strip() and not line.startswith("#"):
            return
        yield line


def _op_rule(op: str, body: dict, bad) -> OpRule:
    import onnx.defs

    if not onnx.defs.has(op):
        raise bad(f"ops.{op}", f"'{op}' is not an ONNX op (names are case-sensitive: Conv, Relu)")
    values: dict[str, Any] = {}
    for key, value in body.items():
        where = f"ops.{op}.{key}"
        if key not in APPLIES_TO:
            raise bad(where, f"unknown key (keys: {', '.join(APPLIES_TO)})")
        if op not in APPLIES_TO[key]:
            raise bad(where, f"does not apply to {op} (only to {', '.join(APPLIES_TO[key])})")
        values[key] = _value(key, value, lambda what, w=where: bad(w, what))
    return OpRule(op, **values)


def _value(key: str, value, bad):
    if key in ("strides", "dilations"):
        if not isinstance(value, list) or not value or not all(_positive_int(v) for v in value):
            raise bad(f"expected a list of positive integers, got {value!r}")
        return tuple(value)
    if key == "kernel_max":
        if not _positive_int(value):
            raise bad(f"expected a positive integer, got {value!r}")
        return value
    if key == "pads_max":
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            raise bad(f"expected an integer >= 0, got {value!r}")
        return value
    if key == "group":
        if value == "any":
            return None
        if (value == 1 and not isinstance(value, bool)) or value == "depthwise":
            return value
        raise bad(f'expected "any", 1 or "depthwise", got {value!r}')
    if key == "output_padding":
        if not isinstance(value, bool):
            raise bad(f"expected true or false, got {value!r}")
        return value
    if key == "modes":
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, str) and v in RESIZE_MODES for v in value)
        ):
            raise bad(f"expected a list of {', '.join(RESIZE_MODES)}, got {value!r}")
        return tuple(value)
    raise AssertionError(key)


def _positive_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _kind(v) -> str:
    return {dict: "a table", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(v), type(v).__name__
    )
