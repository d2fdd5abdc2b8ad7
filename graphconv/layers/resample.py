"""Resampling layers: nearest Upsample by integer factors; ZeroInsert (the deconvolution
lowering's primitive: ``s-1`` zeros between neighbouring samples, ``out = s(H-1)+1``); MaxUnpool
(caffe-segnet's two-bottom ``Upsample``: values scattered to their pooling mask's positions); and
Interp (PSPNet/DeepLab bilinear interpolation with aligned corners)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..geometry import ceil_div, deconv_output_size, interp_length, zero_insert_length
from ..ir import TensorSpec
from .base import LayerType, as_tuple, register, spatial_rank_check


def _factors(value, what: str) -> tuple[int, ...]:
    t = as_tuple(value, what=what)
    if not 1 <= len(t) <= 3:
        raise ValueError(f"{what} must give 1 to 3 spatial axes, got {len(t)}")
    if any(v < 1 for v in t):
        raise ValueError(f"{what} must be >= 1 on every axis, got {t}")
    return t


@dataclass(frozen=True)
class UpsampleAttrs:
    """Nearest-neighbour upsampling, ``out = f * in`` per spatial axis (Caffe-fork ``scale``):
    ``y[..., i, j] = x[..., i // fh, j // fw]``."""

    scale: tuple[int, ...]
    mode: str = "nearest"

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", _factors(self.scale, "scale"))
        if self.mode != "nearest":
            raise ValueError(f"Upsample mode '{self.mode}' is not supported (nearest only)")


@dataclass(frozen=True)
class ZeroInsertAttrs:
    stride: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "stride", _factors(self.stride, "stride"))


def nearest_upsample(x: np.ndarray, f: tuple[int, ...]) -> np.ndarray:
    n = len(f)
    lead, sp = x.shape[:2], x.shape[2:]
    expanded = x.reshape(lead + tuple(d for s in sp for d in (s, 1)))
    target = lead + tuple(d for s, k in zip(sp, f) for d in (s, k))
    return (
        np.ascontiguousarray(np.broadcast_to(expanded, target)).reshape(
            lead + tuple(s * k for s, k in zip(sp, f))
        )
        if n
        else x
    )


def zero_insert(x: np.ndarray, s: tuple[int, ...]) -> np.ndarray:
    sp = x.shape[2:]
    out = np.zeros(
        x.shape[:2] + tuple(zero_insert_length(h, st) for st, h in zip(s, sp)), dtype=x.dtype
    )
    out[(slice(None), slice(None)) + tuple(slice(None, None, st) for st in s)] = x
    return out


@register
class Upsample(LayerType):
    type = "Upsample"
    Attrs = UpsampleAttrs

    def infer(self, a, ins):
        x = ins[0]
        spatial_rank_check(x, len(a.scale), f"scale {a.scale}")
        return [
            TensorSpec(x.shape[:2] + tuple(h * f for h, f in zip(x.shape[2:], a.scale)), x.dtype)
        ]

    def run(self, a, xs, p):
        return [nearest_upsample(xs[0], a.scale)]

    def to_onnx(self, layer, em, ins, outs):
        # asymmetric + floor: source index floor(x / f), exact for integer factors
        scales = em.const(
            f"{layer.name}.scales", np.array([1.0, 1.0, *layer.attrs.scale], dtype=np.float32)
        )
        em.node(
            "Resize",
            [ins[0], "", scales],
            outs,
            name=layer.name,
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        )


@register
class ZeroInsert(LayerType):
    type = "ZeroInsert"
    Attrs = ZeroInsertAttrs

    def infer(self, a, ins):
        x = ins[0]
        spatial_rank_check(x, len(a.stride), f"stride {a.stride}")
        return [
            TensorSpec(
                x.shape[:2]
                + tuple(zero_insert_length(h, s) for s, h in zip(a.stride, x.shape[2:])),
                x.dtype,
            )
        ]

    def run(self, a, xs, p):
        return [zero_insert(xs[0], a.stride)]

    def to_onnx(self, layer, em, ins, outs):
        # Reshape to (N, C, H, 1, W, 1), pad the unit axes to s, merge, drop the trailing s-1 zeros.
        x = em.spec(ins[0])
        s = layer.attrs.stride
        lead, sp = x.shape[:2], x.shape[2:]
        split = lead + tuple(d for h in sp for d in (h, 1))
        t1 = em.reshape(ins[0], split, f"{layer.name}/split")
        ends = [0, 0] + [d for st in s for d in (0, st - 1)]
        t2 = em.tmp(f"{layer.name}/spread")
        em.pad(t1, t2, [0] * len(split) + ends, name=f"{layer.name}/spread")
        t3 = em.reshape(t2, lead + tuple(h * st for h, st in zip(sp, s)), f"{layer.name}/merge")
        em.slice(
            t3,
            outs[0],
            starts=[0] * len(sp),
            ends=[zero_insert_length(h, st) for st, h in zip(s, sp)],
            axes=list(range(2, 2 + len(sp))),
            name=f"{layer.name}/trim",
        )


# ---- max-unpooling (caffe-segnet's two-bottom "Upsample") ---------------------------------------


@dataclass(frozen=True)
class MaxUnpoolAttrs:
    """Scatter each value to the position its mask names, zeros elsewhere.

    The output size per spatial axis is ``size`` when given, else ``in * scale - pad_out``
    (caffe-segnet: ``upsample_h``/``upsample_w``, else ``scale`` and ``pad_out_h``/``pad_out_w``).
    """

    scale: tuple[int, ...] | int = 2
    pad_out: tuple[int, ...] | int = 0
    size: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        scale = _factors(self.scale, "scale")
        pad_out = as_tuple(self.pad_out, len(scale), "pad_out")
        if any(not 0 <= p < f for p, f in zip(pad_out, scale)):
            raise ValueError(f"pad_out {pad_out} must be >= 0 and < scale {scale}")
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "pad_out", pad_out)
        if self.size is not None:
            size = _factors(self.size, "size")
            object.__setattr__(self, "size", size)

    def out_spatial(self, spatial: tuple[int, ...]) -> tuple[int, ...]:
        if self.size is not None:
            if len(self.size) != len(spatial):
                raise ValueError(f"size {self.size} does not fit a {len(spatial)}-D input")
            return self.size
        if len(self.scale) == 1 and len(spatial) > 1:
            scale, pad_out = self.scale * len(spatial), self.pad_out * len(spatial)
        elif len(self.scale) == len(spatial):
            scale, pad_out = self.scale, self.pad_out
        else:
            raise ValueError(f"scale {self.scale} does not fit a {len(spatial)}-D input")
        return tuple(h * f - p for h, f, p in zip(spatial, scale, pad_out))


def max_unpool(x: np.ndarray, mask: np.ndarray, out_spatial: tuple[int, ...]) -> np.ndarray:
    nc = x.shape[0] * x.shape[1]
    plane = int(np.prod(out_spatial))
    idx = mask.reshape(nc, -1).astype(np.int64)  # truncation, as Caffe's static_cast<int>
    if idx.size and (idx.min() < 0 or idx.max() >= plane):
        bad = (idx < 0) | (idx >= plane)
        first, plane_shape = idx[bad][0], "x".join(map(str, out_spatial))
        raise ValueError(
            f"mask index {first} is out of range for the {plane_shape} output "
            "plane: the scale settings do not match the pooling that made the mask"
        )
    idx += (np.arange(nc, dtype=np.int64) * plane)[:, None]  # flat over every channel's plane
    out = np.zeros(nc * plane, dtype=np.float32)
    # one flat scatter (1.6x faster than a 2-D one); later duplicates win, as Caffe's
    # sequential writes (numpy assigns in order)
    out[idx.reshape(-1)] = x.reshape(-1)
    return out.reshape(x.shape[:2] + tuple(out_spatial))


@register
class MaxUnpool(LayerType):
    """Inputs: values and the float mask of a MAX Pooling (flat index within each channel's
    output plane)."""

    type = "MaxUnpool"
    Attrs = MaxUnpoolAttrs
    arity = (2, 2)

    def infer(self, a, ins):
        x, m = ins
        if x.shape != m.shape:
            raise ValueError(f"values {x} and mask {m} differ in shape")
        if not 1 <= x.rank - 2 <= 3:
            raise ValueError(f"max-unpooling needs 1 to 3 spatial axes, the input is {x}")
        out = a.out_spatial(x.shape[2:])
        if any(o < 1 for o in out):
            raise ValueError(f"output size {out} is empty")
        return [TensorSpec(x.shape[:2] + out, x.dtype)]

    def run(self, a, xs, p):
        return [max_unpool(xs[0], xs[1], a.out_spatial(xs[0].shape[2:]))]

    def to_onnx(self, layer, em, ins, outs):
        x = em.spec(ins[0])
        sp = x.shape[2:]
        out = layer.attrs.out_spatial(sp)
        kernel, strides, ends = [], [], []
        for h, o in zip(sp, out):
            if o < h:
                raise layer.error(
                    f"output length {o} is smaller than the input {h}: ONNX "
                    "MaxUnpool cannot express it"
                )
            s = ceil_div(o, h)
            if h * s - o < s:  # kernel = stride = ceil(o/h), the overhang cropped at the end
                kernel.append(s), strides.append(s), ends.append(h * s - o)
            else:  # stride floor(o/h), the kernel covers the rest
                s = o // h
                kernel.append(o - (h - 1) * s), strides.append(s), ends.append(0)
            # ONNX MaxUnpool's default length is the transposed convolution's
            assert deconv_output_size(h, kernel[-1], strides[-1], 1, 0, ends[-1]) == o
        # ONNX indices are flat over (N, C, *out): add each plane's offset to the float mask
        plane = int(np.prod(out))
        offsets = (np.arange(x.shape[0] * x.shape[1], dtype=np.int64) * plane).reshape(
            x.shape[:2] + (1,) * len(sp)
        )
        local = em.tmp(f"{layer.name}/mask_int")
        em.node("Cast", [ins[1]], [local], name=f"{layer.name}/mask_int", to=7)  # INT64
        flat = em.tmp(f"{layer.name}/indices")
        em.node(
            "Add",
            [local, em.const(f"{layer.name}.plane_offsets", offsets)],
            [flat],
            name=f"{layer.name}/indices",
        )
        em.node(
            "MaxUnpool",
            [ins[0], flat],
            outs,
            name=layer.name,
            kernel_shape=kernel,
            strides=strides,
            pads=[0] * len(sp) + ends,
        )


# ---- bilinear interpolation with aligned corners (PSPNet / DeepLab "Interp") ------------------


@dataclass(frozen=True)
class InterpAttrs:
    """Bilinear resize with aligned corners: output sample ``y`` reads input coordinate
    ``y (H_in - 1) / (H_out - 1)`` (0 when ``H_out == 1``).

    The output size is ``size`` when given; else ``shrink_factor`` then ``zoom_factor`` apply
    per axis: ``(H - 1) // shrink + 1``, then ``H + (H - 1)(zoom - 1)``. With a second input the
    output takes that input's spatial size (attributes must then be left at their defaults).
    """

    size: tuple[int, ...] | None = None
    zoom_factor: int = 1
    shrink_factor: int = 1

    def __post_init__(self) -> None:
        if self.size is not None:
            object.__setattr__(self, "size", _factors(self.size, "size"))
            if self.zoom_factor != 1 or self.shrink_factor != 1:
                raise ValueError("give the output size or zoom/shrink factors, not both")
        for what in ("zoom_factor", "shrink_factor"):
            v = int(getattr(self, what))
            if v < 1:
                raise ValueError(f"{what} must be >= 1, got {v}")
            object.__setattr__(self, what, v)

    def out_spatial(self, spatial: tuple[int, ...]) -> tuple[int, ...]:
        if self.size is not None:
            if len(self.size) != len(spatial):
                raise ValueError(f"size {self.size} does not fit a {len(spatial)}-D input")
            return self.size
        return tuple(interp_length(h, self.shrink_factor, self.zoom_factor) for h in spatial)


def align_corners_taps(n_in: int, n_out: int):
    """Caffe's float32 source taps: lower index, upper index and the upper weight per output."""
    ratio = np.float32(n_in - 1) / np.float32(n_out - 1) if n_out > 1 else np.float32(0)
    pos = np.float32(ratio) * np.arange(n_out, dtype=np.float32)
    lo = pos.astype(np.int64)
    hi = np.where(lo < n_in - 1, lo + 1, lo)
    w_hi = (pos - lo.astype(np.float32)).astype(np.float32)
    return lo, hi, w_hi


def align_corners_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The (n_out, n_in) matrix of Caffe's align-corners interpolation on one axis: two weights
    per row (the taps of :func:`align_corners_taps`), summed where both taps are one sample."""
    lo, hi, w_hi = align_corners_taps(n_in, n_out)
    m = np.zeros((n_out, n_in), dtype=np.float32)
    rows = np.arange(n_out)
    np.add.at(m, (rows, lo), np.float32(1) - w_hi)
    np.add.at(m, (rows, hi), w_hi)
    return m


def interp_bilinear(x: np.ndarray, out_spatial: tuple[int, ...]) -> np.ndarray:
    """Separable linear interpolation, last axis first (Caffe's order of operations).

    Each axis is one matrix product with its (n_out, n_in) interpolation matrix, two non-zero
    weights per row: ``(pre, n_in, post) -> (pre, n_out, post)``. BLAS does in one pass what
    gathers and multiply-adds would do in five."""
    y = x.astype(np.float32, copy=False)
    for i in reversed(range(len(out_spatial))):
        axis = 2 + i
        n_in, n_out = y.shape[axis], out_spatial[i]
        if n_in == n_out:
            continue
        m = align_corners_matrix(n_in, n_out)
        pre, post = math.prod(y.shape[:axis]), math.prod(y.shape[axis + 1 :])
        shape = y.shape[:axis] + (n_out,) + y.shape[axis + 1 :]
        if post == 1:
            y = np.matmul(y.reshape(pre, n_in), m.T).reshape(shape)
        else:
            y = np.matmul(m, y.reshape(pre, n_in, post)).reshape(shape)
    return np.ascontiguousarray(y, dtype=np.float32)


@register
class Interp(LayerType):
    type = "Interp"
    Attrs = InterpAttrs
    arity = (1, 2)

    def _out(self, a, ins) -> tuple[int, ...]:
        x = ins[0]
        if len(ins) == 2:
            if a.size is not None or a.zoom_factor != 1 or a.shrink_factor != 1:
                raise ValueError(
                    "with a second input the output size comes from it; "
                    "size/zoom_factor/shrink_factor must be left unset"
                )
            if ins[1].rank != x.rank:
                raise ValueError(f"the size reference {ins[1]} and the input {x} differ in rank")
            return tuple(ins[1].shape[2:])
        return a.out_spatial(tuple(x.shape[2:]))

    def infer(self, a, ins):
        x = ins[0]
        if not 1 <= x.rank - 2 <= 3:
            raise ValueError(f"Interp needs 1 to 3 spatial axes, the input is {x}")
        out = self._out(a, ins)
        if any(o < 1 for o in out):
            raise ValueError(f"output size {out} is empty")
        return [TensorSpec(x.shape[:2] + out, x.dtype)]

    def run(self, a, xs, p):
        ins = [TensorSpec(v.shape) for v in xs]
        return [interp_bilinear(xs[0], self._out(a, ins))]

    def to_onnx(self, layer, em, ins, outs):
        out = em.spec(outs[0]).shape
        sizes = em.const(f"{layer.name}.sizes", np.array(out, dtype=np.int64))
        # onnxruntime's align_corners uses the integer output length, as Caffe does
        em.node(
            "Resize",
            [ins[0], "", "", sizes],
            outs,
            name=layer.name,
            mode="linear",
            coordinate_transformation_mode="align_corners",
        )

    def macs(self, a, ins, outs):
        return outs[0].size * 2 ** (outs[0].rank - 2)
