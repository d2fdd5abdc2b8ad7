"""InstanceNorm, GroupNorm and LayerNorm against loop definitions (tests/oracles/modern.py) and
onnxruntime: GroupNorm at opset 21 (GroupNormalization) and below (Reshape, InstanceNormalization,
per-channel affine); LayerNorm at 17+ (LayerNormalization) and 13 (ReduceMean form)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check
from oracles import modern

from graphconv import GraphBuilder
from graphconv.layers.statnorm import GroupNormAttrs, InstanceNormAttrs, LayerNormAttrs

OPSETS = (13, 17, 18, 21)
# a mean and variance over at most 360 values, accumulated in float64: the result is the exact
# one to a few float32 ulps; onnxruntime accumulates in float32 (about 1e-6 relative for these
# sizes), so 1e-5 of the largest output


def data(shape, seed=4):
    rng = np.random.default_rng(seed)
    return (3 + 2 * rng.standard_normal(shape)).astype(np.float32)  # a non-zero mean


def affine(c, seed=5):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 1.5, c).astype(np.float32), rng.standard_normal(c).astype(np.float32)


def one_layer(type_, shape, attrs, params):
    b = GraphBuilder("t", seed=0)
    b.add(type_, b.input("data", shape), attrs, params=params, name="layer")
    return b.build()


@pytest.mark.parametrize("shape", [(2, 6, 5, 4), (1, 4, 7), (2, 3, 2, 3, 4)])
def test_instance_norm(shape):
    x = data(shape)
    scale, bias = affine(shape[1])
    ref = modern.group_norm(x, shape[1], scale, bias, 1e-5)
    g = one_layer("InstanceNorm", shape, InstanceNormAttrs(1e-5), {"scale": scale, "bias": bias})
    check(g, x, ref, opsets=OPSETS, tol=1e-5)


@pytest.mark.parametrize("groups,shape", [(2, (2, 6, 5, 4)), (1, (1, 4, 3, 3)), (4, (1, 4, 9))])
def test_group_norm(groups, shape):
    x = data(shape)
    scale, bias = affine(shape[1])
    ref = modern.group_norm(x, groups, scale, bias, 1e-3)
    g = one_layer("GroupNorm", shape, GroupNormAttrs(groups, 1e-3), {"scale": scale, "bias": bias})
    check(g, x, ref, opsets=OPSETS, tol=1e-5)


@pytest.mark.parametrize("axis,shape", [(-1, (2, 5, 5, 8)), (1, (2, 6, 3, 3)), (2, (3, 4, 10))])
def test_layer_norm(axis, shape):
    x = data(shape)
    trailing = shape[axis:]
    rng = np.random.default_rng(6)
    scale = rng.uniform(0.5, 1.5, trailing).astype(np.float32)
    bias = rng.standard_normal(trailing).astype(np.float32)
    ref = modern.layer_norm(x, axis % len(shape), scale, bias, 1e-5)
    g = one_layer("LayerNorm", shape, LayerNormAttrs(axis, 1e-5), {"scale": scale, "bias": bias})
    check(g, x, ref, opsets=OPSETS, tol=1e-5)
