"""The Caffe rule table: :class:`Spec`, the :func:`rule` and :func:`drop` registrations, and
helpers the family modules share. Its own module so that the family modules (which register)
and ``rules/__init__`` (which imports them all) do not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Spec:
    """What one Caffe layer becomes.

    ``blobs`` lists the Caffe blobs in file order as ``(key, filler)``. By default a key is a
    parameter of the graphconv layer and its shape comes from the layer type. A Caffe blob that
    is not a layer parameter as such (BatchNorm's scale factor, say) gives its expected shape in
    ``blob_shapes``, and ``finish`` turns the blobs read from a weights file into the layer's
    parameters. Without a weights file, parameters come from the layer type's own seeded
    initialisation, overridden by the prototxt's explicit fillers for keys that are parameters.
    """

    type: str
    attrs: Any
    blobs: list[tuple[str, Any]] = field(default_factory=list)
    blob_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    finish: Callable[[dict], dict] | None = None


def _filler(msg, name):
    return getattr(msg, name) if msg.HasField(name) else None


def _per_axis(p, n: int, repeated: str, h: str, w: str, default: int) -> tuple[int, ...]:
    """Caffe's per-axis values: ``x_h``/``x_w`` (2-D only) or a repeated field (1 or n values)."""
    if p.HasField(h) or p.HasField(w):
        if n != 2:
            raise ValueError(f"{h}/{w} are only allowed for 2-D convolution, the input is {n}-D")
        return (
            getattr(p, h) if p.HasField(h) else default,
            getattr(p, w) if p.HasField(w) else default,
        )
    vals = list(getattr(p, repeated))
    if not vals:
        return (default,) * n
    if len(vals) == 1:
        return (vals[0],) * n
    if len(vals) != n:
        raise ValueError(f"{repeated} has {len(vals)} values for a {n}-D convolution")
    return tuple(vals)


RULES: dict[str, Callable] = {}
# V1 (``layers { type: CONVOLUTION }``) enum names -> V2 type strings.
V1_TYPES: dict[str, str] = {}
# Caffe types that carry no inference meaning (data sources, losses, accuracy): dropped, and the
# drop is reported. Filled by the family modules too.
DROPPED: set[str] = set()


def rule(*types: str, v1: str | None = None) -> Callable:
    """Register a rule for one or more Caffe type strings (and a V1 enum name)."""

    def deco(fn: Callable) -> Callable:
        for t in types:
            if t in RULES:
                raise RuntimeError(f"Caffe rule for {t} registered twice")
            RULES[t] = fn
        if v1:
            V1_TYPES[v1] = types[0]
        return fn

    return deco


def drop(*types: str, v1: dict[str, str] | None = None) -> None:
    """Declare Caffe types that are dropped from inference graphs."""
    DROPPED.update(types)
    V1_TYPES.update(v1 or {})
