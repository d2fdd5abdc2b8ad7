"""bilinear-to-deconv: bilinear (multilinear) upsampling by integer factors as a fixed-weight
depthwise transposed convolution.

Per spatial axis with factor ``f``, output ``o`` reads input coordinate ``x(o)`` and weighs input
``i`` by the triangle ``max(0, 1 - |i - x(o)|)``. With ``x(o)`` affine in ``o`` with slope
``1/f``, that weight depends on ``o - f*i`` only: a transposed convolution with stride ``f``
whose kernel is the triangle sampled every ``1/f``. Per axis::

    align_corners, out = (H-1)f + 1 (Caffe Interp; ONNX Resize linear align_corners):
        x = o/f               kernel 2f-1, weights (f - |t - (f-1)|)/f, pads f-1 / f-1
    asymmetric, out = fH:    x = o/f               edge-pad the end by 1, kernel 2f-1,
                                                   pads f-1 / f (the crop)
    half_pixel (also pytorch_half_pixel, half_pixel_symmetric at integer factors), out = fH:
        x = (o + 1/2)/f - 1/2  edge-pad both ends by 1, kernel K = 2f - f%2 centred at
                               c = (K-1)/2, weights (f - |t - c|)/f, pads (K+f)/2 / f+K-(K+f)/2

    Interp / Resize(linear)  ->  [BorderPad(edge)] -> Deconvolution(C, kernel K, stride f,
                                 group C, weight = outer product of the per-axis triangles)

The edge padding is ONNX's clamping of the source index (and Caffe's: align_corners never reads
outside); the deconvolution's pads are the crop.

Exact: the same real-arithmetic map. With power-of-two factors every weight is a dyadic fraction
(k/f, or k/(2f) for half_pixel at even f) and so is every product and partial sum on
small-integer inputs: the lowered graph is bit-equal to the original there (tested; the site
check, which needs integer outputs, falls back to a tolerance and says so). Other integer factors
agree to float rounding (the weights k/f are rounded once; Caffe's Interp rounds its own float32
coordinates). ``exact=1`` lowers power-of-two factors only and leaves the others with a note.

Left in place, with a note: non-integer factors, any other output length, cubic and nearest
modes (nearest with floor rounding imports as Upsample: ``upsample-to-deconv``),
tf_half_pixel_for_nn, tf_crop_and_resize, exclude_outside, resizing the batch or channel axes,
an Interp that stretches a single sample.

Cost: prod(K) multiply-adds per input sample per channel (about (2f)^n / f^n = 2^n per output
sample), against 2^n for the interpolation itself.
"""

from __future__ import annotations

import numpy as np

from graphconv.errors import UsageError
from graphconv.layers import DeconvAttrs
from graphconv.layers.slicing import BorderPadAttrs

from ._registry import register
from ._rewrite import Skip, Step, rewrite

_HALF_PIXEL = ("half_pixel", "pytorch_half_pixel", "half_pixel_symmetric")


def _axis(mode: str, f: int):
    """(kernel weights, deconv pads (begin, end), edge pads (begin, end)) of one axis."""
    if f == 1:  # an axis left as it is (every mode copies it)
        return np.ones(1), (0, 0), (0, 0)
    if mode in ("align_corners", "asymmetric"):
        t = np.arange(2 * f - 1)
        w = (f - np.abs(t - (f - 1))) / f
        if mode == "align_corners":
            return w, (f - 1, f - 1), (0, 0)
        return w, (f - 1, f), (0, 1)
    k = 2 * f - f % 2
    c = (k - 1) / 2
    w = (f - np.abs(np.arange(k) - c)) / f
    pb = (k + f) // 2
    return w, (pb, f + k - pb), (1, 1)


def _factors(layer, ctx) -> tuple[str, tuple[int, ...]] | Skip:
    """The coordinate mode and the integer factor per spatial axis, or why there are none."""
    x = ctx.spec(layer.inputs[0]).shape
    y = ctx.spec(layer.outputs[0]).shape
    if layer.type == "Interp":
        mode = "align_corners"
    else:
        a = layer.attrs
        if a.mode != "linear":
            return Skip(f"mode {a.mode}: only linear resizing is a fixed triangle kernel")
        mode = a.coordinate_transformation_mode
        if mode not in ("align_corners", "asymmetric", *_HALF_PIXEL):
            return Skip(f"coordinate_transformation_mode {mode} is not lowered")
        if a.exclude_outside:
            return Skip("exclude_outside renormalises the border weights: not lowered")
        if x[:2] != y[:2]:
            return Skip(f"resizes the batch or channel axis ({x[:2]} -> {y[:2]})")
        scales = a.axis_scales(x)[2:]
    factors = []
    for i, (h, o) in enumerate(zip(x[2:], y[2:])):
        if mode == "align_corners":
            if o == h:
                factors.append(1)
                continue
            if h == 1 or (o - 1) % (h - 1):
                return Skip(f"axis {2 + i}: {h} -> {o} samples is not (H-1)f + 1 for an integer f")
            factors.append((o - 1) // (h - 1))
        else:
            if o % h or scales[i] != o // h:
                return Skip(
                    f"axis {2 + i}: {h} -> {o} samples at scale {scales[i]:g} is not an "
                    "integer factor"
                )
            factors.append(o // h)
    return mode, tuple(factors)


def _rule_for(exact: int):
    def rule(layer, ctx):
        if layer.type not in ("Interp", "Resize"):
            return None
        found = _factors(layer, ctx)
        if isinstance(found, Skip):
            return found
        mode, factors = found
        if exact and any(f & (f - 1) for f in factors):
            return Skip(
                f"factors {factors}: not all powers of two, so the weights are not dyadic "
                "(exact=1 lowers those only)"
            )
        c = ctx.spec(layer.inputs[0]).shape[1]
        axes = [_axis(mode, f) for f in factors]
        weight = np.ones(())
        for w, _, _ in axes:
            weight = np.multiply.outer(weight, w)
        weight = np.broadcast_to(weight, (c, 1, *weight.shape)).astype(np.float32)
        steps = []
        edge_b = tuple(e[0] for _, _, e in axes)
        edge_e = tuple(e[1] for _, _, e in axes)
        if any(edge_b + edge_e):
            edge = BorderPadAttrs((0, 0, *edge_b), (0, 0, *edge_e), mode="edge")
            steps.append(Step("BorderPad", edge, suffix="edge"))
        deconv = DeconvAttrs(
            num_output=c,
            kernel=weight.shape[2:],
            stride=factors,
            pads_begin=tuple(p[0] for _, p, _ in axes),
            pads_end=tuple(p[1] for _, p, _ in axes),
            group=c,
            bias=False,
        )
        steps.append(Step("Deconvolution", deconv, {"weight": weight.copy()}, suffix="deconv"))
        return ctx.chain(layer, steps, inputs=layer.inputs[:1])

    return rule


@register("bilinear-to-deconv")
def bilinear_to_deconv(graph, exact: int = 0):
    """Interp / linear Resize by integer factors -> [edge Pad] + depthwise Deconvolution.

    ``exact=1``: power-of-two factors only (dyadic weights, bit-exact)."""
    if exact not in (0, 1):
        raise UsageError(f"bilinear-to-deconv: exact={exact} must be 0 or 1")
    return rewrite(graph, _rule_for(exact), "bilinear-to-deconv")
