"""Caffe weight fillers, seeded: what a prototxt's ``weight_filler``/``bias_filler`` asks for.
Drawn in float32 (half the memory of float64 draws), after the memory bound was checked.

Where no filler is given, weights get He-scaled normal values and biases small normal values
instead of Caffe's constant 0, which would make every numerical check trivially pass.
"""

from __future__ import annotations

import math

import numpy as np

from ...registry import he_init


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    count = math.prod(shape)
    fan_in = count // shape[0] if shape and shape[0] else count
    fan_out = count // shape[1] if len(shape) > 1 and shape[1] else count
    return fan_in, fan_out


def _norm(filler, shape) -> float:
    fan_in, fan_out = _fans(shape)
    mode = filler.variance_norm  # 0 FAN_IN, 1 FAN_OUT, 2 AVERAGE
    return {0: fan_in, 1: fan_out, 2: (fan_in + fan_out) / 2.0}.get(mode, fan_in)


def _uniform(rng: np.random.Generator, lo: float, hi: float, shape) -> np.ndarray:
    """Uniform in [lo, hi), drawn in float32 (half the memory of float64 draws)."""
    return np.float32(lo) + np.float32(hi - lo) * rng.random(shape, dtype=np.float32)


def bilinear_kernel(shape: tuple[int, ...]) -> np.ndarray:
    """Caffe's bilinear upsampling kernel, the same for every (input, output) channel pair."""
    taps = []
    for k in shape[2:]:
        f = math.ceil(k / 2)
        c = (2 * f - 1 - f % 2) / (2.0 * f)
        taps.append(1 - np.abs(np.arange(k) / f - c))
    kernel = taps[0]
    for t in taps[1:]:
        kernel = np.multiply.outer(kernel, t)
    return np.broadcast_to(kernel, shape).astype(np.float32)


def fill(
    filler, shape: tuple[int, ...], rng: np.random.Generator, *, fan_in: int, is_bias: bool = False
) -> np.ndarray:
    """Values for a blob of ``shape`` from a FillerParameter (or None for our default)."""
    shape = tuple(shape)
    if filler is None:
        if is_bias:
            return 0.1 * rng.standard_normal(shape, dtype=np.float32)
        return he_init(shape, fan_in, rng)
    kind = filler.type.lower()
    if kind == "constant":
        return np.full(shape, filler.value, dtype=np.float32)
    if kind == "uniform":
        return _uniform(rng, filler.min, filler.max, shape)
    if kind == "gaussian":
        return np.float32(filler.mean) + np.float32(filler.std) * rng.standard_normal(
            shape, dtype=np.float32
        )
    if kind == "positive_unitball":
        v = rng.random(shape, dtype=np.float32)
        v /= v.reshape(shape[0], -1).sum(axis=1).reshape((shape[0],) + (1,) * (len(shape) - 1))
        return v
    if kind == "xavier":
        scale = math.sqrt(3.0 / _norm(filler, shape))
        return _uniform(rng, -scale, scale, shape)
    if kind == "msra":
        return np.float32(math.sqrt(2.0 / _norm(filler, shape))) * rng.standard_normal(
            shape, dtype=np.float32
        )
    if kind == "bilinear":
        if len(shape) < 3:
            raise ValueError(f"bilinear filler needs a kernel blob, got shape {shape}")
        return bilinear_kernel(shape)
    raise ValueError(f"unknown filler type '{filler.type}'")
