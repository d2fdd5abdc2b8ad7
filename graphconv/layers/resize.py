"""ONNX Resize: nearest, linear and cubic interpolation under every ONNX coordinate
transformation (the resample family's second module; :mod:`.resample` holds Caffe's).

Overlapping types, and how they differ:

- Upsample vs Resize: Upsample repeats each sample an integer factor of times (nearest, Caffe);
  Resize maps output to input coordinates by any scale or size, with ONNX's modes and rounding.
- Interp vs Resize: Interp is Caffe's bilinear align-corners resize to a size; Resize with
  mode linear and align_corners computes the same map, plus every other ONNX setting.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..ir import TensorSpec
from ..registry import LayerType, register
from .base import as_tuple

# ---- Resize: nearest and linear, every ONNX coordinate transformation ----------------------------

RESIZE_MODES = ("nearest", "linear", "cubic")
COORDINATE_MODES = (
    "half_pixel",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
    "half_pixel_symmetric",
    "tf_half_pixel_for_nn",
    "tf_crop_and_resize",
)
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


@dataclass(frozen=True)
class ResizeAttrs:
    """ONNX Resize (modes nearest, linear and cubic), over every axis.

    ``sizes`` is the whole output shape. ``scales`` (one float per axis) is the scale the
    coordinate transformation divides by; None means ``sizes / input shape`` (ONNX Resize given
    ``sizes``). Output sample ``y`` of an axis reads input coordinate ``x``:

    * half_pixel: ``(y + 0.5) / scale - 0.5``; pytorch_half_pixel: the same, but -0.5 when
      ``scale * in == 1``; asymmetric: ``y / scale``; tf_half_pixel_for_nn: ``(y + 0.5) / scale``;
    * align_corners: ``y (in - 1) / (out - 1)`` with the integer output length (0 when
      ``out == 1``);
    * half_pixel_symmetric: half_pixel plus ``in / 2 * (1 - out / (scale * in))``;
    * tf_crop_and_resize, with ``roi`` (all starts, then all ends, as fractions of ``in - 1``):
      ``start (in - 1) + y (end - start)(in - 1) / (scale * in - 1)`` (the middle of the roi
      when ``scale * in == 1``); outputs whose coordinate falls outside ``[0, in - 1]`` are
      ``extrapolation_value``.

    nearest takes ``floor(x)`` plus one when the fraction is > 1/2 (round_prefer_floor),
    >= 1/2 (round_prefer_ceil), never (floor), or > 0 (ceil). linear and cubic weight the
    input samples ``i`` near ``x`` by a kernel of ``(i - x) s``: the triangle ``1 - |d|``, or
    Keys' cubic with ``cubic_coeff_a``; ``s`` is 1, or with ``antialias`` (linear, cubic)
    ``min(scale, 1)``, which widens the kernel when downsampling (weights then normalised to
    sum 1). Indices are clamped to ``[0, in - 1]`` (edge padding); ``exclude_outside`` instead
    drops the taps outside the input and renormalises. An axis with an unchanged length, scale
    1 (any scale in align_corners) and (tf_crop_and_resize) the whole roi is copied.

    align_corners follows onnxruntime and PyTorch (``align_corners=True``), not the
    specification's fractional ``scale * in``, so that exported PyTorch models run as trained.

    Precision: the index math follows the ONNX specification in float64 (``scale`` is the
    float64 value of the float32 scale), as ONNX's reference and its node-test expectations do.
    onnxruntime computes the coordinates in float32 and can pick the other neighbour at exact
    ties (e.g. an asymmetric coordinate 2.5 that float32 rounds to 2.4999998).
    """

    sizes: tuple[int, ...]
    scales: tuple[float, ...] | None = None
    mode: str = "nearest"
    coordinate_transformation_mode: str = "half_pixel"
    nearest_mode: str = "round_prefer_floor"
    cubic_coeff_a: float = -0.75
    exclude_outside: bool = False
    antialias: bool = False
    roi: tuple[float, ...] | None = None
    extrapolation_value: float = 0.0

    def __post_init__(self) -> None:
        sizes = as_tuple(self.sizes, what="sizes")
        if any(d < 1 for d in sizes):
            raise ValueError(f"sizes must be positive, got {sizes}")
        object.__setattr__(self, "sizes", sizes)
        if self.scales is not None:
            scales = tuple(float(s) for s in self.scales)
            if len(scales) != len(sizes):
                raise ValueError(f"scales {scales} and sizes {sizes} differ in length")
            if any(not s > 0 or not np.isfinite(s) for s in scales):
                raise ValueError(f"scales must be positive and finite, got {scales}")
            object.__setattr__(self, "scales", scales)
        for what, value, allowed in (
            ("mode", self.mode, RESIZE_MODES),
            (
                "coordinate_transformation_mode",
                self.coordinate_transformation_mode,
                COORDINATE_MODES,
            ),
            ("nearest_mode", self.nearest_mode, NEAREST_MODES),
        ):
            if value not in allowed:
                raise ValueError(f"{what} must be one of {', '.join(allowed)}, got '{value}'")
        object.__setattr__(self, "cubic_coeff_a", float(self.cubic_coeff_a))
        object.__setattr__(self, "exclude_outside", bool(self.exclude_outside))
        object.__setattr__(self, "antialias", bool(self.antialias))
        if self.antialias and self.mode == "nearest":
            raise ValueError("antialias applies to linear and cubic modes only")
        crop = self.coordinate_transformation_mode == "tf_crop_and_resize"
        if crop != (self.roi is not None):
            raise ValueError(
                "roi is given exactly with coordinate_transformation_mode tf_crop_and_resize"
            )
        if crop:
            roi = tuple(float(v) for v in self.roi)
            if len(roi) != 2 * len(sizes):
                raise ValueError(f"roi {roi} needs {2 * len(sizes)} values (starts, ends)")
            object.__setattr__(self, "roi", roi)
        object.__setattr__(self, "extrapolation_value", float(self.extrapolation_value))

    def axis_scales(self, shape: tuple[int, ...]) -> tuple[float, ...]:
        if self.scales is not None:
            return self.scales
        return tuple(o / i for o, i in zip(self.sizes, shape))


def _keys_cubic(d: np.ndarray, a: float) -> np.ndarray:
    d = np.abs(d)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def resize_coordinates(
    a: ResizeAttrs, in_len: int, out_len: int, scale: float, roi: tuple[float, float] = (0.0, 1.0)
) -> np.ndarray:
    """The input coordinate (float64) of each output sample of one axis."""
    y = np.arange(out_len, dtype=np.float64)
    width = scale * in_len  # the fractional output length of the specification
    ctm = a.coordinate_transformation_mode
    if ctm == "tf_crop_and_resize":
        start, end = roi
        if width == 1:
            x = np.full_like(y, (end - start) * (in_len - 1) / 2)
        else:
            x = y * (end - start) * (in_len - 1) / (width - 1)
        return x + start * (in_len - 1)
    if ctm == "align_corners":  # the integer output length (onnxruntime, PyTorch)
        return np.zeros_like(y) if out_len == 1 else y * (in_len - 1) / (out_len - 1)
    if ctm == "asymmetric":
        return y / scale
    if ctm == "tf_half_pixel_for_nn":
        return (y + 0.5) / scale
    if ctm == "pytorch_half_pixel" and width == 1:
        return np.full_like(y, -0.5)
    if ctm == "half_pixel_symmetric":
        return in_len / 2 * (1 - out_len / width) + (y + 0.5) / scale - 0.5
    return (y + 0.5) / scale - 0.5  # half_pixel, pytorch_half_pixel


def resize_axis_taps(a: ResizeAttrs, shape: tuple[int, ...]):
    """Per axis: None (a copy), or (indices, weights, extrapolated): the source indices and
    float32 weights (out_len, taps), and the outputs set to the extrapolation value (a bool
    array, or None)."""
    out = []
    for axis, (n, o, s) in enumerate(zip(shape, a.sizes, a.axis_scales(shape))):
        roi = (0.0, 1.0) if a.roi is None else (a.roi[axis], a.roi[axis + len(shape)])
        unscaled = np.isclose(s, 1.0) or a.coordinate_transformation_mode == "align_corners"
        if o == n and unscaled and np.allclose(roi, (0.0, 1.0)):
            out.append(None)
            continue
        index, weight = resize_taps(a, n, o, s, roi)
        outside = None
        if a.roi is not None:
            x = resize_coordinates(a, n, o, s, roi)
            outside = (x < 0) | (x > n - 1)
        out.append((index, weight, outside if outside is not None and outside.any() else None))
    return out


def resize_taps(
    a: ResizeAttrs, in_len: int, out_len: int, scale: float, roi: tuple[float, float] = (0.0, 1.0)
):
    """Source indices and float32 weights of one axis: arrays (out_len, taps)."""
    x = resize_coordinates(a, in_len, out_len, scale, roi)
    low = np.floor(x)
    frac = x - low
    if a.mode == "nearest":
        bump = {
            "round_prefer_floor": frac > 0.5,
            "round_prefer_ceil": frac >= 0.5,
            "floor": np.zeros_like(frac, dtype=bool),
            "ceil": frac > 0,
        }[a.nearest_mode]
        index = np.clip(low.astype(np.int64) + bump, 0, in_len - 1)[:, None]
        return index, np.ones(index.shape, dtype=np.float32)
    radius = 1 if a.mode == "linear" else 2
    s = min(scale, 1.0) if a.antialias else 1.0
    start = int(np.floor(-radius / s)) + 1  # taps start..start+n-1 around the left neighbour
    n = 2 - 2 * start
    # the left neighbour: floor(x), or x - 1 at an integer x (as the specification's ratio 1)
    left = np.where(frac == 0, low - 1, low).astype(np.int64)
    index = left[:, None] + np.arange(start, start + n)[None, :]
    d = (index - x[:, None]) * s
    weight = np.maximum(1 - np.abs(d), 0) if a.mode == "linear" else _keys_cubic(d, a.cubic_coeff_a)
    if a.exclude_outside:
        weight = np.where((index < 0) | (index >= in_len), 0.0, weight)
    if a.antialias or a.exclude_outside:
        total = weight.sum(axis=1, keepdims=True)
        weight = weight / np.where(total == 0, 1.0, total)
    return np.clip(index, 0, in_len - 1), weight.astype(np.float32)


def resize(a: ResizeAttrs, x: np.ndarray) -> np.ndarray:
    for axis, taps in enumerate(resize_axis_taps(a, x.shape)):
        if taps is None:
            continue
        index, weight, outside = taps
        shape = (1,) * axis + (len(index),) + (1,) * (x.ndim - axis - 1)
        if index.shape[1] == 1:
            acc = np.take(x, index[:, 0], axis=axis)
        else:
            acc = np.zeros(x.shape[:axis] + (len(index),) + x.shape[axis + 1 :], np.float32)
            for k in range(index.shape[1]):  # a loop over the kernel taps
                acc += np.take(x, index[:, k], axis=axis) * weight[:, k].reshape(shape)
        if outside is not None:
            acc = np.where(outside.reshape(shape), np.float32(a.extrapolation_value), acc)
        x = acc
    return np.ascontiguousarray(x, dtype=np.float32)


def _ort_scaled_length(scale: float, n: int) -> int:
    """onnxruntime's output length for a scale: the float32 product, truncated."""
    return int(np.float32(scale) * np.float32(n))


@register
class Resize(LayerType):
    type = "Resize"
    Attrs = ResizeAttrs

    def infer(self, a, ins):
        x = ins[0]
        if x.rank != len(a.sizes):
            raise ValueError(f"sizes {a.sizes} do not fit the rank-{x.rank} input {x}")
        return [TensorSpec(a.sizes, x.dtype)]

    def run(self, a, xs, p):
        return [resize(a, xs[0])]

    def rebatch_attrs(self, a, old, new):
        """For a dynamic batch: an axis-0 size equal to the input's (a copy) follows it."""
        n, n2 = old[0].shape[0], new[0].shape[0]
        if a.sizes[0] == n != n2 and (a.scales is None or a.scales[0] == 1.0):
            return dataclasses.replace(a, sizes=(n2, *a.sizes[1:]))
        return a

    def to_onnx(self, layer, em, ins, outs):
        """ONNX Resize with ``scales`` (or ``sizes`` when the scales are ``sizes / in``). Where
        the opset lacks the setting (half_pixel_symmetric before 19, tf_half_pixel_for_nn from
        18, antialias before 18), or onnxruntime would compute otherwise (another output length
        from its float32 product, the integer length in tf_crop_and_resize's coordinates, a copy
        of an input of the output's shape), the same index and weight arrays are emitted as
        Gather (then Mul and Sum over the taps, Where for extrapolated outputs) per axis."""
        a = layer.attrs
        shape = tuple(em.spec(ins[0]).shape)
        scales = a.axis_scales(shape)
        taps = resize_axis_taps(a, shape)
        ctm = a.coordinate_transformation_mode
        expressible = not (
            (ctm == "half_pixel_symmetric" and em.opset < 19)
            or (ctm == "tf_half_pixel_for_nn" and em.opset >= 18)
            or (a.antialias and em.opset < 18)
        )
        if ctm == "tf_crop_and_resize":
            expressible = expressible and all(s * n == o for s, n, o in zip(scales, shape, a.sizes))
        if a.sizes == shape:  # onnxruntime then copies the input, whatever the scales
            expressible = expressible and all(t is None for t in taps)
        attrs = {"mode": a.mode, "coordinate_transformation_mode": ctm}
        if a.mode == "nearest":
            attrs["nearest_mode"] = a.nearest_mode
        if a.mode == "cubic":
            attrs["cubic_coeff_a"] = a.cubic_coeff_a
        if a.exclude_outside:
            attrs["exclude_outside"] = 1
        if a.antialias:
            attrs["antialias"] = 1
        if a.roi is not None:
            attrs["extrapolation_value"] = a.extrapolation_value
        roi = "" if a.roi is None else em.const(f"{layer.name}.roi", list(a.roi), np.float32)
        if a.scales is None:
            args = [ins[0], roi, "", em.const(f"{layer.name}.sizes", list(a.sizes), np.int64)]
        else:
            expressible = expressible and all(
                _ort_scaled_length(s, n) == o for s, n, o in zip(a.scales, shape, a.sizes)
            )
            args = [ins[0], roi, em.const(f"{layer.name}.scales", list(a.scales), np.float32)]
        if expressible:
            em.node("Resize", args, list(outs), name=layer.name, **attrs)
            return
        steps = [(axis, t) for axis, t in enumerate(taps) if t is not None]
        if not steps:
            em.node("Identity", [ins[0]], list(outs), name=layer.name)
        x, rank = ins[0], len(shape)
        for i, (axis, (index, weight, outside)) in enumerate(steps):
            y = outs[0] if i == len(steps) - 1 else em.tmp(f"{layer.name}/axis{axis}")
            base = f"{layer.name}/axis{axis}"
            wshape = [1] * axis + [len(index)] + [1] * (rank - axis - 1)
            picked = y if outside is None else em.tmp(f"{base}_interpolated")
            if index.shape[1] == 1:
                em.node(
                    "Gather",
                    [x, em.const(f"{layer.name}.index{axis}", index[:, 0], np.int64)],
                    [picked],
                    name=base,
                    axis=axis,
                )
            else:
                terms = []
                for k in range(index.shape[1]):
                    g = em.tmp(f"{base}_tap{k}")
                    em.node(
                        "Gather",
                        [x, em.const(f"{layer.name}.index{axis}_{k}", index[:, k], np.int64)],
                        [g],
                        name=g,
                        axis=axis,
                    )
                    m = em.tmp(f"{base}_weighted{k}")
                    em.node(
                        "Mul",
                        [
                            g,
                            em.const(
                                f"{layer.name}.weight{axis}_{k}",
                                weight[:, k].reshape(wshape),
                                np.float32,
                            ),
                        ],
                        [m],
                        name=m,
                    )
                    terms.append(m)
                em.node("Sum", terms, [picked], name=base)
            if outside is not None:
                em.node(
                    "Where",
                    [
                        em.const(f"{layer.name}.outside{axis}", outside.reshape(wshape), np.bool_),
                        em.const(f"{layer.name}.extrapolation", np.float32(a.extrapolation_value)),
                        picked,
                    ],
                    [y],
                    name=f"{base}_extrapolate",
                )
            x = y

    def macs(self, a, ins, outs):
        return 0 if a.mode == "nearest" else (2 if a.mode == "linear" else 4) * outs[0].size


# ---- Binary: numpy-broadcasting elementwise ops between computed tensors -------------------------
