"""Normalisation layers: BatchNorm (stored or batch statistics, optionally affine), Scale
(Caffe's broadcast multiply with an optional bias) and LRN (across or within channels).

The channel axis is 1. Parameters are per-channel vectors of shape ``(C,)``; the Caffe frontend
turns Caffe's blob layouts (BatchNorm's scale factor, the forks' ``1xCx1x1`` blobs) into these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..affine import Affine, as_map
from ..ir import TensorSpec
from ..kernels.epilogue import PARALLEL_ELEMENTS
from ..kernels.threads import parallel_map, serial_map, threads
from ..registry import LayerType, register
from .base import canonical_axis


def _channel_shape(rank: int) -> tuple[int, ...]:
    """Broadcast shape of a per-channel ``(C,)`` vector over a rank-``rank`` input."""
    return (-1,) + (1,) * (rank - 2)


def _reduce_mean(em, x: str, axes: list[int], name: str) -> str:
    """ONNX ReduceMean (keepdims) over ``axes``; axes moved from attribute to input in opset 18."""
    out = em.tmp(name)
    if em.opset >= 18:
        em.node(
            "ReduceMean",
            [x, em.const(f"{name}.axes", axes, np.int64)],
            [out],
            name=name,
            keepdims=1,
        )
    else:
        em.node("ReduceMean", [x], [out], name=name, axes=axes, keepdims=1)
    return out


def _scalar(em, name: str, value: float) -> str:
    return em.const(name, np.float32(value), np.float32)


# ---- BatchNorm ----------------------------------------------------------------------------------

STATISTICS = ("stored", "batch")


@dataclass(frozen=True)
class BatchNormAttrs:
    """``y = (x - mean[c]) / sqrt(variance[c] + eps)``, then ``* scale[c] + bias[c]`` if ``affine``.

    ``statistics`` says where mean and variance come from: ``"stored"`` uses the ``mean`` and
    ``variance`` parameters (inference); ``"batch"`` computes them from the input itself, over
    every axis but the channel axis 1 (biased variance), as Caffe does for a BatchNorm with
    ``use_global_stats: false`` or a caffe-segnet BN in LEARN mode. ``eps`` is added to the
    variance before the square root.
    """

    eps: float = 1e-5
    affine: bool = False
    statistics: str = "stored"

    def __post_init__(self) -> None:
        object.__setattr__(self, "eps", float(self.eps))
        object.__setattr__(self, "affine", bool(self.affine))
        if not (math.isfinite(self.eps) and self.eps >= 0):
            raise ValueError(f"eps must be a finite number >= 0, got {self.eps}")
        if self.statistics not in STATISTICS:
            raise ValueError(f"statistics must be one of {STATISTICS}, got '{self.statistics}'")


def _channels(x: TensorSpec, what: str) -> int:
    if x.rank < 2:
        raise ValueError(f"{what} needs an input of rank >= 2 (N, C, ...), got shape {x}")
    return x.shape[1]


def batch_norm_forward(x: np.ndarray, a: BatchNormAttrs, p) -> np.ndarray:
    bshape = _channel_shape(x.ndim)
    if a.statistics == "batch":
        axes = (0,) + tuple(range(2, x.ndim))
        centred = x - x.mean(axis=axes, keepdims=True, dtype=np.float64).astype(np.float32)
        var = np.mean(np.square(centred, dtype=np.float64), axis=axes, keepdims=True)
        y = centred / np.sqrt(var.astype(np.float32) + np.float32(a.eps))
    else:
        y = (x - p["mean"].reshape(bshape)) / np.sqrt(
            p["variance"].reshape(bshape) + np.float32(a.eps)
        )
    if a.affine:
        y = y * p["scale"].reshape(bshape) + p["bias"].reshape(bshape)
    return np.ascontiguousarray(y, dtype=np.float32)


@register
class BatchNorm(LayerType):
    type = "BatchNorm"
    Attrs = BatchNormAttrs
    fresh_output = True

    def infer(self, a, ins):
        _channels(ins[0], "BatchNorm")
        return [ins[0]]

    def param_shapes(self, a, ins):
        c = _channels(ins[0], "BatchNorm")
        keys = (["mean", "variance"] if a.statistics == "stored" else []) + (
            ["scale", "bias"] if a.affine else []
        )
        return {k: (c,) for k in keys}

    def init_params(self, a, ins, rng):
        """Seeded: mean ~ N(0, 0.1), variance ~ U(0.5, 1.5), scale ~ U(0.5, 1.5),
        bias ~ N(0, 0.1)."""
        out = {}
        for key, shape in self.param_shapes(a, ins).items():
            if key in ("variance", "scale"):
                out[key] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
            else:
                out[key] = (0.1 * rng.standard_normal(shape)).astype(np.float32)
        return out

    def run(self, a, xs, p):
        return [batch_norm_forward(xs[0], a, p)]

    def affine(self, a, p, x):
        if a.statistics != "stored":
            return None  # batch statistics depend on the input
        inv = 1.0 / np.sqrt(p["variance"].astype(np.float64) + a.eps)
        scale = inv * (p["scale"] if a.affine else 1.0)
        shift = (p["bias"] if a.affine else 0.0) - p["mean"] * scale
        return as_map(scale, shift)

    def epilogue(self, a, p, x):
        m = self.affine(a, p, x)
        return None if m is None else Affine(*m)

    def to_onnx(self, layer, em, ins, outs):
        a, x, name = layer.attrs, ins[0], layer.name
        rank = em.spec(x).rank
        c = em.spec(x).shape[1]
        p = layer.params
        if a.statistics == "stored":
            scale = p["scale"] if a.affine else np.ones(c, np.float32)
            bias = p["bias"] if a.affine else np.zeros(c, np.float32)
            args = [
                x,
                em.initializer(f"{name}.scale", scale),
                em.initializer(f"{name}.bias", bias),
                em.initializer(f"{name}.mean", p["mean"]),
                em.initializer(f"{name}.variance", p["variance"]),
            ]
            em.node("BatchNormalization", args, outs, name=name, epsilon=a.eps)
            return
        axes = [0] + list(range(2, rank))
        mean = _reduce_mean(em, x, axes, f"{name}/mean")
        centred = em.tmp(f"{name}/centred")
        em.node("Sub", [x, mean], [centred], name=f"{name}/centre")
        square = em.tmp(f"{name}/square")
        em.node("Mul", [centred, centred], [square], name=f"{name}/square")
        var = _reduce_mean(em, square, axes, f"{name}/variance")
        var_eps = em.tmp(f"{name}/variance_eps")
        em.node("Add", [var, _scalar(em, f"{name}.eps", a.eps)], [var_eps], name=f"{name}/add_eps")
        std = em.tmp(f"{name}/std")
        em.node("Sqrt", [var_eps], [std], name=f"{name}/sqrt")
        if not a.affine:
            em.node("Div", [centred, std], outs, name=f"{name}/normalise")
            return
        normed = em.tmp(f"{name}/normalised")
        em.node("Div", [centred, std], [normed], name=f"{name}/normalise")
        bshape = (c,) + (1,) * (rank - 2)
        scaled = em.tmp(f"{name}/scaled")
        em.node(
            "Mul",
            [normed, em.initializer(f"{name}.scale", p["scale"].reshape(bshape))],
            [scaled],
            name=f"{name}/scale",
        )
        em.node(
            "Add",
            [scaled, em.initializer(f"{name}.bias", p["bias"].reshape(bshape))],
            outs,
            name=f"{name}/bias",
        )

    def macs(self, a, ins, outs):
        return outs[0].size


# ---- Scale --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScaleAttrs:
    """Caffe's Scale: ``y = x * scale (+ bias)``, the scale covering the input axes
    ``[axis, axis + num_axes)`` and broadcast over the others.

    ``num_axes`` -1 means every axis from ``axis`` on; 0 means a scalar scale. With one input the
    scale is the ``scale`` parameter of shape ``x.shape[axis:axis + num_axes]``; with two inputs it
    is the second input, whose rank must equal ``num_axes``. ``bias`` adds a ``bias`` parameter of
    the scale's shape. ``axis`` may be negative (counted from the end).
    """

    axis: int = 1
    num_axes: int = 1
    bias: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "axis", int(self.axis))
        object.__setattr__(self, "num_axes", int(self.num_axes))
        object.__setattr__(self, "bias", bool(self.bias))
        if self.num_axes < -1:
            raise ValueError(
                f"num_axes must be >= 0, or -1 for every remaining axis, got {self.num_axes}"
            )


def scale_span(a: ScaleAttrs, x: TensorSpec) -> tuple[int, int]:
    """The input axes ``[start, stop)`` the scale covers."""
    if a.num_axes == 0:  # a scalar: the axis does not matter (Caffe sets it to 0)
        return 0, 0
    axis = canonical_axis(a.axis, x.rank)
    stop = x.rank if a.num_axes == -1 else axis + a.num_axes
    if stop > x.rank:
        raise ValueError(f"scale axes {axis}..{stop - 1} extend past the rank-{x.rank} input")
    return axis, stop


def _scale_bshape(a: ScaleAttrs, x_shape: tuple[int, ...]) -> tuple[int, ...]:
    start, stop = scale_span(a, TensorSpec(x_shape))
    return (1,) * start + tuple(x_shape[start:stop]) + (1,) * (len(x_shape) - stop)


@register
class Scale(LayerType):
    type = "Scale"
    Attrs = ScaleAttrs
    arity = (1, 2)
    fresh_output = True

    def infer(self, a, ins):
        x = ins[0]
        start, stop = scale_span(a, x)
        want = x.shape[start:stop]
        if len(ins) == 2:
            s = ins[1]
            if s.rank != stop - start:
                raise ValueError(
                    f"the scale input has rank {s.rank}, expected {stop - start} "
                    f"(num_axes {a.num_axes} from axis {a.axis})"
                )
            if s.shape != want:
                raise ValueError(
                    f"the scale input has shape {s}, expected "
                    f"{'x'.join(map(str, want)) or 'a scalar'} (input axes "
                    f"{start}..{stop - 1})"
                )
        return [x]

    def param_shapes(self, a, ins):
        start, stop = scale_span(a, ins[0])
        shape = tuple(ins[0].shape[start:stop])
        shapes = {} if len(ins) == 2 else {"scale": shape}
        if a.bias:
            shapes["bias"] = shape
        return shapes

    def init_params(self, a, ins, rng):
        """Seeded: scale ~ U(0.5, 1.5), bias ~ N(0, 0.1)."""
        out = {}
        for key, shape in self.param_shapes(a, ins).items():
            if key == "scale":
                out[key] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
            else:
                out[key] = (0.1 * rng.standard_normal(shape)).astype(np.float32)
        return out

    def run(self, a, xs, p):
        x = xs[0]
        bshape = _scale_bshape(a, x.shape)
        scale = xs[1] if len(xs) == 2 else p["scale"]
        y = x * scale.reshape(bshape)
        if a.bias:
            y = y + p["bias"].reshape(bshape)
        return [np.ascontiguousarray(y, dtype=np.float32)]

    def affine(self, a, p, x):
        if "scale" not in p or x.rank < 2 or scale_span(a, x) != (1, 2):
            return None  # a second input, or not one factor per channel
        return as_map(p["scale"], p["bias"] if a.bias else 0.0)

    def epilogue(self, a, p, x):
        m = self.affine(a, p, x)
        return None if m is None else Affine(*m)

    def to_onnx(self, layer, em, ins, outs):
        a, name = layer.attrs, layer.name
        bshape = _scale_bshape(a, em.spec(ins[0]).shape)
        if len(ins) == 2:
            scale = em.reshape(ins[1], bshape, name=f"{name}/scale_shape")
        else:
            scale = em.initializer(f"{name}.scale", layer.params["scale"].reshape(bshape))
        if not a.bias:
            em.node("Mul", [ins[0], scale], outs, name=name)
            return
        scaled = em.tmp(f"{name}/scaled")
        em.node("Mul", [ins[0], scale], [scaled], name=name)
        em.node(
            "Add",
            [scaled, em.initializer(f"{name}.bias", layer.params["bias"].reshape(bshape))],
            outs,
            name=f"{name}/bias",
        )

    def macs(self, a, ins, outs):
        return outs[0].size


# ---- LRN ----------------------------------------------------------------------------------------

LRN_REGIONS = ("across_channels", "within_channel")


@dataclass(frozen=True)
class LRNAttrs:
    """Local response normalisation of an (N, C, H, W) input: ``y = x * scale^-beta``.

    ``across_channels``: ``scale = k + alpha/n * sum of x^2`` over the ``n = local_size`` channels
    centred on each channel (zero beyond the ends). ``within_channel``:
    ``scale = k + alpha/n^2 * sum of x^2`` over the ``n x n`` spatial window centred on each pixel
    (zero padding). ``local_size`` must be odd.
    """

    local_size: int = 5
    alpha: float = 1.0
    beta: float = 0.75
    k: float = 1.0
    region: str = "across_channels"

    def __post_init__(self) -> None:
        object.__setattr__(self, "local_size", int(self.local_size))
        for key in ("alpha", "beta", "k"):
            object.__setattr__(self, key, float(getattr(self, key)))
        if self.local_size < 1 or self.local_size % 2 == 0:
            raise ValueError(f"local_size must be a positive odd number, got {self.local_size}")
        if self.region not in LRN_REGIONS:
            raise ValueError(f"region must be one of {LRN_REGIONS}, got '{self.region}'")


# Across-channel LRN works on blocks of about this many elements (all channels of a few rows):
# its dozen passes then run in cache, and the blocks on the threads.
LRN_BLOCK = 1 << 17


def lrn_forward(x: np.ndarray, a: LRNAttrs) -> np.ndarray:
    n, half = a.local_size, (a.local_size - 1) // 2
    if a.region == "across_channels":
        return _lrn_across(x, a)
    sq = np.square(x)
    padded = np.pad(sq, [(0, 0), (0, 0), (half, half), (half, half)])
    h, w = x.shape[2:]
    rows = padded[:, :, :h].copy()
    for t in range(1, n):
        rows += padded[:, :, t : t + h]
    total = rows[:, :, :, :w].copy()
    for t in range(1, n):
        total += rows[:, :, :, t : t + w]
    total *= np.float32(a.alpha / (n * n))
    total += np.float32(a.k)
    return np.divide(x, _power(total, a.beta), dtype=np.float32)


def _lrn_across(x: np.ndarray, a: LRNAttrs) -> np.ndarray:
    """Across-channel LRN by blocks of rows (every channel of a few rows of one image), on
    the threads: for each channel the squares of its window's channels are summed in
    increasing channel order, those outside skipped (Caffe's zero padding adds nothing), then
    scaled, offset, raised to ``beta`` and divided into ``x``."""
    N, C, H = x.shape[:3]
    n, half = a.local_size, (a.local_size - 1) // 2
    y = np.empty(x.shape, dtype=np.float32)
    per_row = C * math.prod(x.shape[3:])
    rows = max(1, LRN_BLOCK // max(1, per_row))
    spread = x.size >= PARALLEL_ELEMENTS
    if spread and N * H >= 2 * threads():  # at least two blocks per thread
        rows = min(rows, max(1, -(-H // max(1, -(-2 * threads() // N)))))
    blocks = [(i, r, min(H, r + rows)) for i in range(N) for r in range(0, H, rows)]
    scale, k = np.float32(a.alpha / n), np.float32(a.k)

    def block(item) -> None:
        i, r0, r1 = item
        xb = x[i, :, r0:r1]
        sq = np.square(xb)
        total = np.zeros(sq.shape, dtype=np.float32)
        for t in range(n):
            d = t - half  # window member c + d of channel c
            lo, hi = max(0, -d), min(C, C - d)
            if lo < hi:
                total[lo:hi] += sq[lo + d : hi + d]
        total *= scale
        total += k
        np.divide(xb, _power(total, a.beta), out=y[i, :, r0:r1], dtype=np.float32)

    (parallel_map if spread else serial_map)(block, blocks)
    return y


def _power(s: np.ndarray, beta: float) -> np.ndarray:
    """``s ** beta`` in place, by square roots for the usual exponents (pow is several times
    slower than sqrt)."""
    if beta == 0.75:
        r = np.sqrt(s, out=s)  # s^1/2
        q = np.sqrt(r)  # s^1/4
        return np.multiply(r, q, out=r)
    if beta == 0.5:
        return np.sqrt(s, out=s)
    if beta == 1.0:
        return s
    return np.power(s, np.float32(beta), out=s)


@register
class LRN(LayerType):
    type = "LRN"
    Attrs = LRNAttrs
    fresh_output = True

    def infer(self, a, ins):
        if ins[0].rank != 4:
            raise ValueError(f"LRN needs a 4-D (N, C, H, W) input, got shape {ins[0]}")
        return [ins[0]]

    def run(self, a, xs, p):
        return [lrn_forward(xs[0], a)]

    def to_onnx(self, layer, em, ins, outs):
        a, x, name = layer.attrs, ins[0], layer.name
        n = a.local_size
        if a.region == "across_channels":
            # ONNX LRN: x / (bias + alpha/size * window sum)^beta, the same window and scaling
            em.node("LRN", [x], outs, name=name, size=n, alpha=a.alpha, beta=a.beta, bias=a.k)
            return
        half = (n - 1) // 2
        square = em.tmp(f"{name}/square")
        em.node("Mul", [x, x], [square], name=f"{name}/square")
        mean = em.tmp(f"{name}/window_mean")  # sum / n^2: every window is full with padding
        em.node(
            "AveragePool",
            [square],
            [mean],
            name=f"{name}/window_mean",
            kernel_shape=[n, n],
            pads=[half] * 4,
            strides=[1, 1],
            count_include_pad=1,
        )
        scaled = em.tmp(f"{name}/alpha")
        em.node(
            "Mul", [mean, _scalar(em, f"{name}.alpha", a.alpha)], [scaled], name=f"{name}/alpha"
        )
        base = em.tmp(f"{name}/base")
        em.node("Add", [scaled, _scalar(em, f"{name}.k", a.k)], [base], name=f"{name}/k")
        factor = em.tmp(f"{name}/factor")
        em.node(
            "Pow", [base, _scalar(em, f"{name}.neg_beta", -a.beta)], [factor], name=f"{name}/pow"
        )
        em.node("Mul", [x, factor], outs, name=name)

    def macs(self, a, ins, outs):
        n = a.local_size
        return outs[0].size * (n if a.region == "across_channels" else n * n)
