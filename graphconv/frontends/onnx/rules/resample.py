"""ONNX rules: Resize, Upsample, MaxUnpool."""

from __future__ import annotations

import math

import numpy as np

from ....geometry import deconv_output_size
from ....layers.activation import IdentityAttrs
from ....layers.resample import MaxUnpoolAttrs, UpsampleAttrs
from ....layers.resize import ResizeAttrs
from ._common import Translator, Unsupported, _axis, _f32, _ints, _text, onnx_rule


def _floor_equivalent(transform: str, nearest_mode: str, f: int) -> bool:
    """Whether nearest resampling by the integer factor ``f`` reads ``x[i // f]``."""
    if f == 1:
        return True
    if transform in ("half_pixel", "pytorch_half_pixel", "half_pixel_symmetric"):
        # x = f q + r lies strictly inside (q - 1/2, q + 1/2): no ties, rounding gives q
        return nearest_mode in ("round_prefer_floor", "round_prefer_ceil")
    if transform == "asymmetric":
        # x / f = q + r / f: floor gives q; rounding gives q while r / f <= 1/2 always (f = 2)
        return nearest_mode == "floor" or (nearest_mode == "round_prefer_floor" and f == 2)
    if transform == "tf_half_pixel_for_nn":
        return nearest_mode == "floor"  # (x + 1/2) / f lies in (q, q + 1)
    return False


@onnx_rule("Resize", "Upsample")
def resize(t: Translator, node) -> None:
    """Nearest resampling that reads ``x[i // f]`` (integer factors f) becomes graphconv's
    Upsample, which the lowering passes know; everything else becomes a Resize layer."""
    x = t.data(0)
    t.single_output()
    shape = t.shape(x)
    rank = len(shape)
    legacy = node.op_type == "Upsample" or t.opset < 11  # Upsample, Resize-10: asymmetric
    mode = _resize_mode(t, legacy)
    scales, sizes = _scales_and_sizes(t, node, legacy)
    axes = t.attr("axes")
    axes = list(range(rank)) if axes is None else [_axis(a, rank) for a in axes]
    if legacy:
        transform, nearest_mode = "asymmetric", "floor"  # Upsample and Resize-10: floor
    else:
        transform = _text(t.attr("coordinate_transformation_mode"), "half_pixel")
        nearest_mode = _text(t.attr("nearest_mode"), "round_prefer_floor")
    roi = _crop_roi(t, axes, rank) if transform == "tf_crop_and_resize" else None
    out, full = _resized_shape(t, shape, axes, scales, sizes)
    if any(o < 1 for o in out):
        raise Unsupported(f"the output shape {tuple(out)} has an empty axis")
    if legacy and any(s < 1 for s in full):
        raise Unsupported(
            f"{node.op_type}-{t.opset} downsampling (scales {full}) has no specified rounding"
        )
    if tuple(out) == shape and all(np.isclose(s, 1.0) for s in full) and roi is None:
        t.add("Identity", [x], IdentityAttrs(), output=t.out())
        return
    factors = [o // i if o % i == 0 and s == o // i else 0 for i, o, s in zip(shape, out, full)]
    if (
        mode == "nearest"
        and rank >= 3
        and roi is None
        and factors[0] == factors[1] == 1
        and all(factors)
        and all(_floor_equivalent(transform, nearest_mode, f) for f in factors[2:])
    ):
        t.add("Upsample", [x], UpsampleAttrs(scale=tuple(factors[2:])), output=t.out())
        return
    given = sizes is None or any(s != o / i for s, o, i in zip(full, out, shape))
    attrs = ResizeAttrs(
        sizes=tuple(out),
        scales=tuple(full) if given else None,
        mode=mode,
        coordinate_transformation_mode=transform,
        nearest_mode=nearest_mode,
        cubic_coeff_a=t.attr("cubic_coeff_a", -0.75),
        exclude_outside=bool(t.attr("exclude_outside", 0)),
        antialias=bool(t.attr("antialias", 0)) and mode != "nearest",
        roi=None if roi is None else tuple(roi),
        extrapolation_value=t.attr("extrapolation_value", 0.0),
    )
    t.add("Resize", [x], attrs, output=t.out())


def _resize_mode(t: Translator, legacy: bool) -> str:
    """The interpolation mode (legacy ``bilinear`` is ``linear``); refuses unknown ones."""
    mode = _text(t.attr("mode"), "nearest")
    if legacy and mode == "bilinear":
        mode = "linear"
    if mode not in ("nearest", "linear") and not (mode == "cubic" and not legacy):
        raise Unsupported(f"mode '{mode}' is not supported")
    return mode


def _scales_and_sizes(t: Translator, node, legacy: bool):
    """The constant scales (float32) or sizes (ints) of the node; one of them is None."""
    if node.op_type == "Upsample" and t.opset < 9:
        return np.asarray(t.attr("scales"), dtype=np.float32), None
    if legacy:
        return _f32(t.const(node.input[1], "the scales")), None
    s = t.optional_const(2, "the scales")
    z = t.optional_const(3, "the sizes")
    scales = None if s is None or s.size == 0 else _f32(s).reshape(-1)
    sizes = None if z is None or z.size == 0 else [int(v) for v in z.reshape(-1)]
    if scales is None and sizes is None:
        raise Unsupported("neither scales nor sizes is given")
    return scales, sizes


def _crop_roi(t: Translator, axes: list[int], rank: int) -> list[float]:
    """tf_crop_and_resize's region of interest over all axes (begins, then ends)."""
    given = t.optional_const(1, "the roi")
    if given is None or given.size != 2 * len(axes):
        raise Unsupported(f"tf_crop_and_resize needs a roi of {2 * len(axes)} values")
    given = [float(v) for v in given.reshape(-1)]
    roi = [0.0] * rank + [1.0] * rank
    for i, a in enumerate(axes):
        roi[a], roi[rank + a] = given[i], given[len(axes) + i]
    return roi


def _resized_shape(t: Translator, shape: tuple[int, ...], axes: list[int], scales, sizes):
    """The output shape and the scale of each axis (float64 of the float32)."""
    full = [1.0] * len(shape)
    out = list(shape)
    if sizes is not None:
        if len(sizes) != len(axes):
            raise Unsupported(f"sizes {sizes} do not match axes {axes}")
        policy = _text(t.attr("keep_aspect_ratio_policy"), "stretch")
        ratios = [z / shape[a] for a, z in zip(axes, sizes)]
        if policy == "stretch":
            for a, z, r in zip(axes, sizes, ratios):
                out[a], full[a] = z, r
        elif policy in ("not_larger", "not_smaller"):
            r = min(ratios) if policy == "not_larger" else max(ratios)
            for a in axes:  # rounded half up, as the specification
                out[a], full[a] = int(r * shape[a] + 0.5), r
        else:
            raise Unsupported(f"keep_aspect_ratio_policy '{policy}' is not an ONNX value")
        return out, full
    if len(scales) != len(axes):
        raise Unsupported(f"scales {list(scales)} do not match axes {axes}")
    for a, v in zip(axes, scales.reshape(-1)):
        if not v > 0:
            raise Unsupported(f"scale {v:g} on axis {a} is not positive")
        full[a] = float(v)
        out[a] = math.floor(float(v) * shape[a])
    return out, full


@onnx_rule("MaxUnpool")
def max_unpool(t: Translator, node) -> None:
    """Onto graphconv's MaxUnpool, whose mask is the per-plane index of a max Pooling: the
    indices must be a MaxPool's Indices output, and the output plane must hold as many values
    as the pooled input's (ONNX's flat indices then land in the same plane)."""
    x = t.data(0)
    ind = node.input[1]
    if ind not in t.plane_masks:
        raise Unsupported(
            "the indices must be a MaxPool's Indices output (graphconv keeps "
            "them as a per-plane mask)"
        )
    mask, pooled = t.plane_masks[ind]
    shape = t.shape(x)
    n = len(shape) - 2
    out = t.optional_const(2, "the output_shape")
    if out is not None:
        spatial = tuple(int(v) for v in out.reshape(-1))[2:]
    else:
        kernel = tuple(t.attr("kernel_shape"))
        stride = _ints(t.attr("strides"), n, 1)
        pads = _ints(t.attr("pads"), 2 * n, 0)
        spatial = tuple(
            deconv_output_size(h, k, s, 1, b, e)
            for h, s, k, b, e in zip(shape[2:], stride, kernel, pads[:n], pads[n:])
        )
    if math.prod(spatial) != math.prod(pooled):
        raise Unsupported(
            f"output plane {spatial} holds a different number of values than "
            f"the pooled input's {pooled} (the flat indices would move planes)"
        )
    t.add("MaxUnpool", [x, mask], MaxUnpoolAttrs(size=spatial), output=t.out())
