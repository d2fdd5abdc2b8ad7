"""Gather by constant indices against numpy's fancy indexing written out per axis, and
onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check

from graphconv import GraphBuilder
from graphconv.layers.gather import GatherAttrs


@pytest.mark.parametrize(
    "axis,indices",
    [(1, [[2, 0], [0, 1]]), (0, [1]), (3, [-1, 0, 0, 4]), (2, 1)],
    ids=["2d-indices", "batch", "negative-repeated", "scalar-drops-the-axis"],
)
def test_gather(axis, indices):
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 5)).astype(np.float32)
    idx = np.asarray(indices)
    # oracle: index tuples built by hand, one output position at a time
    out_shape = x.shape[:axis] + idx.shape + x.shape[axis + 1 :]
    ref = np.empty(out_shape, np.float32)
    for pos in np.ndindex(*out_shape):
        k = idx[pos[axis : axis + idx.ndim]] if idx.ndim else idx
        ref[pos] = x[pos[:axis] + (int(k) % x.shape[axis],) + pos[axis + idx.ndim :]]
    b = GraphBuilder("t", seed=0)
    attrs = GatherAttrs(tuple(idx.reshape(-1).tolist()), idx.shape, axis)
    b.add("Gather", b.input("data", x.shape), attrs, name="layer")
    check(b.build(), x, ref, exact=True)
