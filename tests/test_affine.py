"""graphconv.affine: composing per-channel affine maps and folding one into a producer's
weights. Oracle: the producer run by its brute-force definition (tests/oracles.py), then the map
applied per channel in float64."""

import numpy as np
import oracles as O
import pytest

from graphconv.affine import Affine, compose, fold_into_weights, merge_affines


def _apply(y, mult, shift):
    shape = (1, -1) + (1,) * (y.ndim - 2)
    return y * mult.reshape(shape) + shift.reshape(shape)


def test_compose_is_one_map_then_the_other():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((2, 3, 4))
    first = (rng.standard_normal(3), rng.standard_normal(3))
    then = (rng.standard_normal(3), rng.standard_normal(3))
    np.testing.assert_allclose(
        _apply(y, *compose(first, then)), _apply(_apply(y, *first), *then), rtol=1e-12
    )


@pytest.mark.parametrize("bias", [True, False])
def test_fold_into_convolution_weights(bias):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 4, 5, 5))
    w = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)
    p = {"weight": w, **({"bias": rng.standard_normal(6).astype(np.float32)} if bias else {})}
    mult, shift = rng.uniform(-2, 2, 6), rng.standard_normal(6)
    ref = _apply(O.conv_direct(x, w, p.get("bias"), (1, 1), (1, 1), (1, 1), (1, 1), 2), mult, shift)
    q = fold_into_weights(p, mult, shift)
    got = O.conv_direct(x, q["weight"], q["bias"], (1, 1), (1, 1), (1, 1), (1, 1), 2)
    O.assert_close(got, ref, 1e-5)


def test_fold_into_grouped_deconvolution_weights():
    rng = np.random.default_rng(2)
    g, c, og = 2, 4, 3
    x = rng.standard_normal((1, c, 3, 3))
    w = rng.standard_normal((c, og, 2, 2)).astype(np.float32)
    b = rng.standard_normal(g * og).astype(np.float32)
    mult, shift = rng.uniform(-2, 2, g * og), rng.standard_normal(g * og)
    args = ((2, 2), (1, 1), (0, 0), (0, 0), (0, 0), g)
    ref = _apply(O.deconv_scatter(x, w, b, *args), mult, shift)
    q = fold_into_weights({"weight": w, "bias": b}, mult, shift, groups=g, transposed=True)
    O.assert_close(O.deconv_scatter(x, q["weight"], q["bias"], *args), ref, 1e-5)


def test_fold_broadcasts_a_single_value_and_rejects_a_wrong_length():
    w = np.ones((3, 2), np.float32)
    q = fold_into_weights({"weight": w}, np.array([2.0]), np.array([1.0]))
    np.testing.assert_array_equal(q["weight"], 2 * w)
    np.testing.assert_array_equal(q["bias"], [1, 1, 1])
    assert fold_into_weights({"weight": w}, np.ones(2), np.zeros(2)) is None


def test_affine_epilogue_merges_and_applies_per_channel_block():
    rng = np.random.default_rng(3)
    a = Affine(rng.uniform(0.5, 2, 4), rng.standard_normal(4))
    b = Affine(rng.uniform(0.5, 2, 4), rng.standard_normal(4))
    (merged,) = merge_affines([a, b])
    y = rng.standard_normal((2, 4, 6)).astype(np.float32)
    block = y[:, 1:3].copy()
    merged(block, slice(1, 3))
    ref = _apply(_apply(y.astype(np.float64), *a.map), *b.map)[:, 1:3]
    O.assert_close(block, ref, 1e-6)
