"""Layer types that ONNX models need and Caffe has no layer for: Identity, and ConstantBinary
(an elementwise Add/Sub/Mul/Div of a tensor with a constant that broadcasts to it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import TensorSpec
from .base import LayerType, PassThrough, as_tuple, register


@dataclass(frozen=True)
class IdentityAttrs:
    """The attributes of Identity (none): ``y = x``."""


@register
class Identity(PassThrough):
    type = "Identity"
    Attrs = IdentityAttrs


BINARY_OPERATIONS = {"add": ("Add", np.add), "sub": ("Sub", np.subtract),
                     "mul": ("Mul", np.multiply), "div": ("Div", np.divide)}


@dataclass(frozen=True)
class ConstantBinaryAttrs:
    """``y = x <operation> constant`` (or ``constant <operation> x`` when ``constant_first``),
    the constant (parameter ``constant``, shape ``constant_shape``) broadcasting numpy-style to
    the input's shape; the output has the input's shape. ``operation``: add, sub, mul or div."""

    operation: str
    constant_shape: tuple[int, ...] = ()
    constant_first: bool = False

    def __post_init__(self) -> None:
        op = str(self.operation).lower()
        if op not in BINARY_OPERATIONS:
            raise ValueError(f"operation must be one of {', '.join(BINARY_OPERATIONS)}, "
                             f"got '{self.operation}'")
        shape = as_tuple(self.constant_shape, what="constant_shape") if len(
            self.constant_shape) else ()
        if any(d < 1 for d in shape):
            raise ValueError(f"constant_shape must have positive dims, got {shape}")
        object.__setattr__(self, "operation", op)
        object.__setattr__(self, "constant_shape", shape)
        object.__setattr__(self, "constant_first", bool(self.constant_first))


@register
class ConstantBinary(LayerType):
    type = "ConstantBinary"
    Attrs = ConstantBinaryAttrs

    def infer(self, a, ins):
        x = ins[0]
        try:
            out = np.broadcast_shapes(x.shape, a.constant_shape)
        except ValueError:
            raise ValueError(f"constant of shape {a.constant_shape} does not broadcast to the "
                             f"input {x}") from None
        if tuple(out) != x.shape:
            raise ValueError(f"constant of shape {a.constant_shape} would grow the input {x} "
                             f"to {tuple(out)}")
        return [TensorSpec(x.shape, x.dtype)]

    def param_shapes(self, a, ins):
        return {"constant": a.constant_shape}

    def init_params(self, a, ins, rng):
        """Seeded constants in U(0.5, 1.5) (never near zero, so a division stays finite)."""
        return {"constant": rng.uniform(0.5, 1.5, a.constant_shape).astype(np.float32)}

    def run(self, a, xs, p):
        fn = BINARY_OPERATIONS[a.operation][1]
        args = (p["constant"], xs[0]) if a.constant_first else (xs[0], p["constant"])
        return [np.ascontiguousarray(fn(*args, dtype=np.float32))]

    def to_onnx(self, layer, em, ins, outs):
        a = layer.attrs
        c = em.initializer(f"{layer.name}.constant", layer.params["constant"])
        args = [c, ins[0]] if a.constant_first else [ins[0], c]
        em.node(BINARY_OPERATIONS[a.operation][0], args, list(outs), name=layer.name)

    def macs(self, a, ins, outs):
        return outs[0].size


# ---- Resize: nearest and linear, every ONNX coordinate transformation -----------------------------

RESIZE_MODES = ("nearest", "linear", "cubic")
COORDINATE_MODES = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                    "half_pixel_symmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize")
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
        for what, value, allowed in (("mode", self.mode, RESIZE_MODES),
                                     ("coordinate_transformation_mode",
                                      self.coordinate_transformation_mode, COORDINATE_MODES),
                                     ("nearest_mode", self.nearest_mode, NEAREST_MODES)):
            if value not in allowed:
                raise ValueError(f"{what} must be one of {', '.join(allowed)}, got '{value}'")
        object.__setattr__(self, "cubic_coeff_a", float(self.cubic_coeff_a))
        object.__setattr__(self, "exclude_outside", bool(self.exclude_outside))
        object.__setattr__(self, "antialias", bool(self.antialias))
        if self.antialias and self.mode == "nearest":
            raise ValueError("antialias applies to linear and cubic modes only")
        crop = self.coordinate_transformation_mode == "tf_crop_and_resize"
        if crop != (self.roi is not None):
            raise ValueError("roi is given exactly with coordinate_transformation_mode "
                             "tf_crop_and_resize")
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


def resize_coordinates(a: ResizeAttrs, in_len: int, out_len: int, scale: float,
                       roi: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
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


def resize_taps(a: ResizeAttrs, in_len: int, out_len: int, scale: float,
                roi: tuple[float, float] = (0.0, 1.0)):
    """Source indices and float32 weights of one axis: arrays (out_len, taps)."""
    x = resize_coordinates(a, in_len, out_len, scale, roi)
    low = np.floor(x)
    frac = x - low
    if a.mode == "nearest":
        bump = {"round_prefer_floor": frac > 0.5, "round_prefer_ceil": frac >= 0.5,
                "floor": np.zeros_like(frac, dtype=bool), "ceil": frac > 0}[a.nearest_mode]
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
    weight = np.maximum(1 - np.abs(d), 0) if a.mode == "linear" else _keys_cubic(
        d, a.cubic_coeff_a)
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
            acc = np.zeros(x.shape[:axis] + (len(index),) + x.shape[axis + 1:], np.float32)
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
        expressible = not ((ctm == "half_pixel_symmetric" and em.opset < 19)
                           or (ctm == "tf_half_pixel_for_nn" and em.opset >= 18)
                           or (a.antialias and em.opset < 18))
        if ctm == "tf_crop_and_resize":
            expressible = expressible and all(s * n == o for s, n, o in
                                              zip(scales, shape, a.sizes))
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
            expressible = expressible and all(_ort_scaled_length(s, n) == o for s, n, o in
                                              zip(a.scales, shape, a.sizes))
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
                em.node("Gather", [x, em.const(f"{layer.name}.index{axis}", index[:, 0],
                                               np.int64)], [picked], name=base, axis=axis)
            else:
                terms = []
                for k in range(index.shape[1]):
                    g = em.tmp(f"{base}_tap{k}")
                    em.node("Gather", [x, em.const(f"{layer.name}.index{axis}_{k}",
                                                   index[:, k], np.int64)], [g], name=g,
                            axis=axis)
                    m = em.tmp(f"{base}_weighted{k}")
                    em.node("Mul", [g, em.const(f"{layer.name}.weight{axis}_{k}",
                                                weight[:, k].reshape(wshape), np.float32)],
                            [m], name=m)
                    terms.append(m)
                em.node("Sum", terms, [picked], name=base)
            if outside is not None:
                em.node("Where", [em.const(f"{layer.name}.outside{axis}",
                                           outside.reshape(wshape), np.bool_),
                                  em.const(f"{layer.name}.extrapolation",
                                           np.float32(a.extrapolation_value)), picked], [y],
                        name=f"{base}_extrapolate")
            x = y

    def macs(self, a, ins, outs):
        return 0 if a.mode == "nearest" else (2 if a.mode == "linear" else 4) * outs[0].size


# ---- Binary: numpy-broadcasting elementwise ops between computed tensors --------------------------

BROADCAST_OPERATIONS = {"add": ("Add", np.add), "sub": ("Sub", np.subtract),
                        "mul": ("Mul", np.multiply), "div": ("Div", np.divide),
                        "max": ("Max", np.maximum), "min": ("Min", np.minimum),
                        "pow": ("Pow", np.power)}
_VARIADIC = {"add": "Sum", "max": "Max", "min": "Min"}  # ONNX ops taking any number of inputs


@dataclass(frozen=True)
class BinaryAttrs:
    """``y = x0 <operation> x1 [<operation> x2 ...]`` (left to right) with numpy broadcasting:
    the output shape is the broadcast of the input shapes. ``operation``: add, sub, mul, div,
    max, min or pow; only add, mul, max and min take more than two inputs."""

    operation: str

    def __post_init__(self) -> None:
        op = str(self.operation).lower()
        if op not in BROADCAST_OPERATIONS:
            raise ValueError(f"operation must be one of {', '.join(BROADCAST_OPERATIONS)}, "
                             f"got '{self.operation}'")
        object.__setattr__(self, "operation", op)


@register
class Binary(LayerType):
    type = "Binary"
    Attrs = BinaryAttrs
    arity = (2, None)

    def infer(self, a, ins):
        if len(ins) > 2 and a.operation not in ("add", "mul", "max", "min"):
            raise ValueError(f"operation {a.operation} takes two inputs, got {len(ins)}")
        try:
            shape = np.broadcast_shapes(*(x.shape for x in ins))
        except ValueError:
            raise ValueError("input shapes " + ", ".join(str(x.shape) for x in ins)
                             + " do not broadcast") from None
        return [TensorSpec(tuple(int(d) for d in shape), ins[0].dtype)]

    def run(self, a, xs, p):
        fn = BROADCAST_OPERATIONS[a.operation][1]
        y = xs[0]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for x in xs[1:]:
                y = fn(y, x, dtype=np.float32)
        return [np.ascontiguousarray(y, dtype=np.float32)]

    def to_onnx(self, layer, em, ins, outs):
        a = layer.attrs
        if len(ins) == 2 or a.operation in _VARIADIC:
            op = BROADCAST_OPERATIONS[a.operation][0] if len(ins) == 2 else _VARIADIC[a.operation]
            em.node(op, list(ins), list(outs), name=layer.name)
            return
        y = ins[0]
        for i, x in enumerate(ins[1:]):
            out = outs[0] if i == len(ins) - 2 else em.tmp(f"{layer.name}/{i}")
            em.node("Mul", [y, x], [out], name=f"{layer.name}/{i}")
            y = out

    def macs(self, a, ins, outs):
        return outs[0].size * (len(ins) - 1)


# ---- Unary: elementwise functions with at most two constants --------------------------------------

def _log_softmax(x, a):
    shifted = x - x.max(axis=a.axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=a.axis, keepdims=True))


def _selu(x, a):
    return np.float32(a.gamma) * np.where(x > 0, x, np.float32(a.alpha) * np.expm1(x))


UNARY_FUNCTIONS = {
    # name: (ONNX op, ONNX attributes from the attrs, NumPy definition)
    "abs": ("Abs", lambda a: {}, lambda x, a: np.abs(x)),
    "neg": ("Neg", lambda a: {}, lambda x, a: np.negative(x)),
    "exp": ("Exp", lambda a: {}, lambda x, a: np.exp(x)),
    "log": ("Log", lambda a: {}, lambda x, a: np.log(x)),
    "sqrt": ("Sqrt", lambda a: {}, lambda x, a: np.sqrt(x)),
    "reciprocal": ("Reciprocal", lambda a: {}, lambda x, a: np.reciprocal(x)),
    "elu": ("Elu", lambda a: {"alpha": a.alpha},
            lambda x, a: np.where(x > 0, x, np.float32(a.alpha) * np.expm1(x))),
    "selu": ("Selu", lambda a: {"alpha": a.alpha, "gamma": a.gamma}, _selu),
    "softplus": ("Softplus", lambda a: {}, lambda x, a: np.logaddexp(np.float32(0), x)),
    "softsign": ("Softsign", lambda a: {}, lambda x, a: x / (1 + np.abs(x))),
    "log_softmax": ("LogSoftmax", lambda a: {"axis": a.axis}, _log_softmax),
}


@dataclass(frozen=True)
class UnaryAttrs:
    """``y = function(x)`` elementwise, for ``function`` in: abs, neg, exp, log, sqrt,
    reciprocal, elu (``alpha (e^x - 1)`` for ``x <= 0``), selu (``gamma`` times elu with
    ``alpha``), softplus (``log(1 + e^x)``), softsign (``x / (1 + |x|)``) and log_softmax
    (``x - log(sum(e^x))`` along ``axis``). ``alpha`` and ``gamma`` default to ONNX's Selu
    constants; Elu's alpha is given explicitly (ONNX default 1)."""

    function: str
    alpha: float = 1.67326319217681884765625
    gamma: float = 1.05070102214813232421875
    axis: int = -1

    def __post_init__(self) -> None:
        fn = str(self.function).lower()
        if fn not in UNARY_FUNCTIONS:
            raise ValueError(f"function must be one of {', '.join(UNARY_FUNCTIONS)}, "
                             f"got '{self.function}'")
        object.__setattr__(self, "function", fn)
        object.__setattr__(self, "alpha", float(self.alpha))
        object.__setattr__(self, "gamma", float(self.gamma))
        object.__setattr__(self, "axis", int(self.axis))


@register
class Unary(LayerType):
    type = "Unary"
    Attrs = UnaryAttrs

    def infer(self, a, ins):
        x = ins[0]
        if a.function == "log_softmax" and not -x.rank <= a.axis < x.rank:
            raise ValueError(f"axis {a.axis} is out of range for the input {x}")
        return [TensorSpec(x.shape, x.dtype)]

    def run(self, a, xs, p):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            y = UNARY_FUNCTIONS[a.function][2](xs[0].astype(np.float32), a)
        return [np.ascontiguousarray(y, dtype=np.float32)]

    def to_onnx(self, layer, em, ins, outs):
        op, attrs, _ = UNARY_FUNCTIONS[layer.attrs.function]
        em.node(op, list(ins), list(outs), name=layer.name, **attrs(layer.attrs))


# ---- StridedSlice: ONNX Slice with starts / ends / axes / steps -----------------------------------

@dataclass(frozen=True)
class StridedSliceAttrs:
    """``y = x[start:end:step]`` on each listed axis, with ONNX Slice's clamping: a negative
    start or end has the axis length added; then for a positive step start and end are clamped
    to ``[0, len]``, for a negative step start to ``[0, len - 1]`` and end to ``[-1, len - 1]``
    (an end of -1 then means "through index 0")."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    axes: tuple[int, ...]
    steps: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        starts, ends = as_tuple(self.starts, what="starts"), as_tuple(self.ends, what="ends")
        axes = as_tuple(self.axes, what="axes")
        steps = as_tuple(self.steps, what="steps") if self.steps is not None else (1,) * len(
            axes)
        if not len(starts) == len(ends) == len(axes) == len(steps):
            raise ValueError(f"starts {starts}, ends {ends}, axes {axes} and steps {steps} "
                             "differ in length")
        if any(s == 0 for s in steps):
            raise ValueError(f"steps must be non-zero, got {steps}")
        if len(set(axes)) != len(axes):
            raise ValueError(f"axes {axes} repeat an axis")
        for k, v in (("starts", starts), ("ends", ends), ("axes", axes), ("steps", steps)):
            object.__setattr__(self, k, v)

    def ranges(self, shape: tuple[int, ...]) -> list[tuple[int, int, int]]:
        """(start, end, step) per axis after clamping; end -1 with a negative step = through 0."""
        out = [(0, d, 1) for d in shape]
        for s, e, axis, step in zip(self.starts, self.ends, self.axes, self.steps):
            if not -len(shape) <= axis < len(shape):
                raise ValueError(f"axis {axis} is out of range for rank {len(shape)}")
            d = shape[axis]
            s, e = (s + d if s < 0 else s), (e + d if e < 0 else e)
            if step > 0:
                s, e = min(max(s, 0), d), min(max(e, 0), d)
            else:
                s, e = min(max(s, 0), d - 1), min(max(e, -1), d - 1)
            out[axis % len(shape)] = (s, e, step)
        return out


def _slice_length(s: int, e: int, step: int) -> int:
    return max(0, -(-(e - s) // step))


@register
class StridedSlice(LayerType):
    type = "StridedSlice"
    Attrs = StridedSliceAttrs

    def infer(self, a, ins):
        x = ins[0]
        shape = tuple(_slice_length(*r) for r in a.ranges(x.shape))
        if any(d < 1 for d in shape):
            raise ValueError(f"the slice of {x} is empty ({shape}): zero-sized outputs are "
                             "not supported")
        return [TensorSpec(shape, x.dtype)]

    def run(self, a, xs, p):
        index = tuple(slice(s, None if e < 0 else e, step) for s, e, step in
                      a.ranges(xs[0].shape))
        return [np.ascontiguousarray(xs[0][index])]

    def to_onnx(self, layer, em, ins, outs):
        shape = em.spec(ins[0]).shape
        ranges = [(axis, *r) for axis, r in enumerate(layer.attrs.ranges(shape))
                  if r != (0, shape[axis], 1)]
        if not ranges:
            em.node("Identity", list(ins), list(outs), name=layer.name)
            return
        # an end of -1 (through index 0) is written as -(len + 1), which ONNX clamps to -1
        em.slice(ins[0], outs[0], [r[1] for r in ranges],
                 [r[2] if r[2] >= 0 else -(shape[r[0]] + 1) for r in ranges],
                 [r[0] for r in ranges], name=layer.name, steps=[r[3] for r in ranges])


# ---- BorderPad: ONNX Pad on any axis, modes constant / edge / reflect / wrap ---------------------

PAD_MODES = ("constant", "edge", "reflect", "wrap")


@dataclass(frozen=True)
class BorderPadAttrs:
    """ONNX Pad on every axis: ``pads_begin`` / ``pads_end`` samples per axis, filled with
    ``value`` (constant), the nearest edge sample (edge), the mirror image without repeating
    the edge (reflect: ``x[1], x[0] | x[0], x[1], ...``; pads must be shorter than the axis) or
    the other end (wrap: ``... x[-1] | x[0] ...``). Negative amounts crop (constant mode only)."""

    pads_begin: tuple[int, ...]
    pads_end: tuple[int, ...]
    mode: str = "constant"
    value: float = 0.0

    def __post_init__(self) -> None:
        pb = as_tuple(self.pads_begin, what="pads_begin")
        pe = as_tuple(self.pads_end, len(pb), "pads_end")
        if self.mode not in PAD_MODES:
            raise ValueError(f"mode must be one of {', '.join(PAD_MODES)}, got '{self.mode}'")
        if self.mode != "constant" and any(p < 0 for p in pb + pe):
            raise ValueError(f"negative pads {pb}, {pe} (cropping) need mode constant")
        object.__setattr__(self, "pads_begin", pb)
        object.__setattr__(self, "pads_end", pe)
        object.__setattr__(self, "value", float(self.value))

    def source_index(self, length: int, begin: int, end: int) -> np.ndarray:
        """The input index each output sample of one axis copies (edge / reflect / wrap)."""
        mode = {"edge": "edge", "reflect": "reflect", "wrap": "wrap"}[self.mode]
        return np.pad(np.arange(length), (begin, end), mode=mode)


@register
class BorderPad(LayerType):
    type = "BorderPad"
    Attrs = BorderPadAttrs

    def infer(self, a, ins):
        x = ins[0]
        if len(a.pads_begin) != x.rank:
            raise ValueError(f"pads for {len(a.pads_begin)} axes do not fit the input {x}")
        out = tuple(d + b + e for d, b, e in zip(x.shape, a.pads_begin, a.pads_end))
        if any(d < 1 for d in out):
            raise ValueError(f"padding {x} gives the empty shape {out}")
        if a.mode == "reflect" and any(max(b, e) >= d for d, b, e in
                                       zip(x.shape, a.pads_begin, a.pads_end)):
            raise ValueError(f"reflect pads {a.pads_begin}, {a.pads_end} must be shorter than "
                             f"the axes of {x}")
        return [TensorSpec(out, x.dtype)]

    def run(self, a, xs, p):
        x = xs[0]
        if a.mode == "constant":
            crop = tuple(slice(max(-b, 0), d - max(-e, 0)) for d, b, e in
                         zip(x.shape, a.pads_begin, a.pads_end))
            widths = [(max(b, 0), max(e, 0)) for b, e in zip(a.pads_begin, a.pads_end)]
            return [np.pad(x[crop], widths, constant_values=np.float32(a.value))]
        for axis, (d, b, e) in enumerate(zip(x.shape, a.pads_begin, a.pads_end)):
            if b or e:
                x = np.take(x, a.source_index(d, b, e), axis=axis)
        return [np.ascontiguousarray(x)]

    def to_onnx(self, layer, em, ins, outs):
        """ONNX Pad; wrap before opset 19 becomes one Gather per padded axis."""
        a = layer.attrs
        if a.mode != "wrap" or em.opset >= 19:
            args = [ins[0], em.const(f"{layer.name}.pads", list(a.pads_begin + a.pads_end),
                                     np.int64)]
            if a.mode == "constant" and a.value != 0.0:
                args.append(em.const(f"{layer.name}.value", np.float32(a.value)))
            em.node("Pad", args, list(outs), name=layer.name, mode=a.mode)
            return
        shape = em.spec(ins[0]).shape
        axes = [i for i, (b, e) in enumerate(zip(a.pads_begin, a.pads_end)) if b or e]
        x = ins[0]
        for k, axis in enumerate(axes):
            y = outs[0] if k == len(axes) - 1 else em.tmp(f"{layer.name}/axis{axis}")
            index = a.source_index(shape[axis], a.pads_begin[axis], a.pads_end[axis])
            em.node("Gather", [x, em.const(f"{layer.name}.index{axis}", index, np.int64)], [y],
                    name=f"{layer.name}/axis{axis}", axis=axis)
            x = y
        if not axes:
            em.node("Identity", [x], list(outs), name=layer.name)
