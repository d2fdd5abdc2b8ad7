"""ONNX node translations, one module per op family (mirroring ``frontends/caffe/rules/``).

A rule is ``rule(t: Translator, node: onnx.NodeProto) -> None``: it reads the node's inputs and
attributes through the translator (``t.data``, ``t.const``, ``t.attr``, ``t.shape``) and appends
graphconv layers with ONNX's semantics (``t.add``), or raises :class:`Unsupported` saying why no
exact translation exists. Rules register themselves with :func:`onnx_rule`.
"""

from __future__ import annotations

import numpy as np

from ..translator import RULES, Translator, Unsupported, onnx_rule, supported_ops

__all__ = ["RULES", "Translator", "Unsupported", "onnx_rule", "supported_ops"]


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


from . import activation, conv, elementwise, linear, norm, pool, resample, tensor  # noqa: F401
