"""Helpers the ONNX rule modules share: axes, integer lists, float32 arrays, attribute text."""

from __future__ import annotations

import numpy as np

from ..translator import RULES, Translator, Unsupported, onnx_rule, supported_ops

__all__ = [
    "RULES",
    "Translator",
    "Unsupported",
    "onnx_rule",
    "supported_ops",
    "_axis",
    "_ints",
    "_f32",
    "_text",
]


def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise Unsupported(f"axis {axis} is out of range for rank {rank}")
    return axis % rank


def _ints(value, n: int, default: int) -> tuple[int, ...]:
    if value is None or len(value) == 0:
        return (default,) * n
    return tuple(int(v) for v in value)


def _f32(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, dtype=np.float32)


def _text(value, default: str) -> str:
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else str(value)
