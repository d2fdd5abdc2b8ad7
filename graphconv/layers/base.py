"""Helpers shared by the layer modules: PassThrough and argument normalisation. The layer-type
protocol and table live in :mod:`graphconv.registry`, the affine epilogue in
:mod:`graphconv.affine`, the epilogue blocks in :mod:`graphconv.kernels.epilogue`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir import TensorSpec
from ..registry import LayerType, register  # noqa: F401  (conv, pool, resample import them here)


class PassThrough(LayerType):
    """A layer whose one output is its input at inference (Dropout, Identity)."""

    copies_input = True

    def infer(self, a, ins):
        return [ins[0]]

    def run(self, a, xs, p):
        return [xs[0]]

    def epilogue(self, a, p, x):
        return lambda block, ch: None

    def to_onnx(self, layer, em, ins, outs):
        em.node("Identity", list(ins), list(outs), name=layer.name)


# ---- small helpers shared by the attribute dataclasses -------------------------------------------


def as_tuple(value: Any, n: int | None = None, what: str = "value") -> tuple[int, ...]:
    """Normalise an int or a sequence to a tuple of ints (broadcasting an int to length n)."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * (n if n is not None else 1)
    t = tuple(int(v) for v in value)
    if n is not None and len(t) == 1 and n > 1:
        t = t * n
    if n is not None and len(t) != n:
        raise ValueError(f"{what} has {len(t)} entries, expected {n}")
    return t


def spatial_rank_check(x: TensorSpec, n: int, what: str) -> None:
    if x.rank != n + 2:
        raise ValueError(
            f"{what} needs a rank-{n + 2} input (N, C and {n} spatial axes), got shape {x}"
        )


def canonical_axis(axis: int, rank: int, what: str = "axis") -> int:
    """Caffe's ``CanonicalAxisIndex``: ``-rank <= axis < rank``, negatives count from the end."""
    if not -rank <= axis < rank:
        raise ValueError(f"{what} {axis} is out of range for a rank-{rank} input")
    return axis % rank


def same_rank(ins, what: str) -> int:
    """The common rank of ``ins``; raises ValueError naming ``what`` when they differ."""
    ranks = {x.rank for x in ins}
    if len(ranks) > 1:
        raise ValueError(f"{what} inputs have different ranks: " + ", ".join(str(x) for x in ins))
    return ins[0].rank
