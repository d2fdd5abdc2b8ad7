"""Reduce and ArgExtreme against loop definitions (tests/oracles/modern.py) and onnxruntime at
opsets 13, 17 and 18 (the axes move from attribute to input: ReduceSum at 13, the rest at 18)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check
from oracles import modern

import graphconv as gc
from graphconv import GraphBuilder
from graphconv.layers.reduce import ArgExtremeAttrs, ReduceAttrs

OPSETS = (13, 17, 18, 21)


def one_layer(type_, shape, attrs):
    b = GraphBuilder("t", seed=0)
    b.add(type_, b.input("data", shape), attrs, name="layer")
    return b.build()


@pytest.mark.parametrize(
    "op", ["mean", "sum", "max", "min", "l1", "l2", "sum_square", "log_sum_exp"]
)
@pytest.mark.parametrize(
    "axes,keepdims", [((2, 3), True), ((1,), False), ((-1, 0), True), ((), True), ((1, 2), False)]
)
def test_reduce(op, axes, keepdims):
    # float64 accumulation over at most 90 terms rounded once to float32: 1e-6 relative to the
    # largest output covers onnxruntime's float32 sums
    x = np.random.default_rng(1).standard_normal((2, 3, 5, 6)).astype(np.float32)
    ref = modern.reduce(x, op, axes, keepdims)
    g = one_layer("Reduce", x.shape, ReduceAttrs(op, axes, keepdims))
    check(g, x, ref, opsets=OPSETS, tol=1e-6)


def test_reduce_to_a_scalar_is_refused_with_the_reason():
    with pytest.raises(gc.GraphError, match="scalar"):
        one_layer("Reduce", (4, 5), ReduceAttrs("sum", (), keepdims=False))


@pytest.mark.parametrize("mode", ["max", "min"])
@pytest.mark.parametrize("last", [False, True])
@pytest.mark.parametrize("axis,keepdims", [(1, True), (3, False), (0, False)])
def test_arg_extreme_with_ties(mode, last, axis, keepdims):
    # small integers: many ties, so the first/last rule is exercised; indices are exact
    x = np.random.default_rng(2).integers(-2, 3, (3, 4, 5, 6)).astype(np.float32)
    ref = modern.arg_extreme(x, mode, axis, keepdims, last)
    attrs = ArgExtremeAttrs(mode, axis, keepdims, last)
    check(one_layer("ArgExtreme", x.shape, attrs), x, ref, opsets=OPSETS, exact=True)
