"""ONNX node translations, one module per op family (mirroring ``frontends/caffe/rules/``).

A rule is ``rule(t: Translator, node: onnx.NodeProto) -> None``: it reads the node's inputs and
attributes through the translator (``t.data``, ``t.const``, ``t.attr``, ``t.shape``) and appends
graphconv layers with ONNX's semantics (``t.add``), or raises :class:`Unsupported` saying why no
exact translation exists. Rules register themselves with :func:`onnx_rule`.
"""

from __future__ import annotations

from ..translator import RULES, Translator, Unsupported, onnx_rule, supported_ops
from . import (  # noqa: F401
    activation,
    conv,
    elementwise,
    gather,
    linear,
    norm,
    pointwise,
    pool,
    reduce,
    resample,
    statnorm,
    tensor,
)

__all__ = ["RULES", "Translator", "Unsupported", "onnx_rule", "supported_ops"]
