"""resize-to-conv: any separable resize (Caffe Interp; ONNX Resize nearest, linear or cubic, any
coordinate mode and size) as one 1x1 convolution per resized axis, over transposed axes.

A resize acts on each spatial axis ``a`` by a fixed matrix ``M_a`` (out x in): output sample ``o``
is ``sum_i M_a[o, i] x[i]`` (two non-zero entries per row for linear, one for nearest, four
for cubic; clamped source indices add up in one entry). With axis ``a`` moved into the channel
position, that is a 1x1 convolution with weight ``M_a``::

    Interp / Resize  ->  per resized axis a (in the layer's own order: Interp last axis first,
                         Resize first axis first):
                         Permute(swap axes 1 and a) -> Convolution(1x1, weight M_a, no bias)
                         -> Permute(swap back)

No tensor has a rank above the layer's own (rank 4 for a 2-D resize), and only Transpose and
Conv appear in ONNX. The matrices are the layer's own float32 weights (Caffe's float32
coordinates for Interp; the float64 coordinate maps rounded to float32 for Resize), so every
output sums the same products: bit-equal on small-integer inputs where the weights are dyadic
(power-of-two factors, nearest); otherwise the convolution may sum the one or few terms of a row
in another order or with a fused multiply-add (float rounding). A non-finite input sample
spreads through the zero entries of ``M`` (0 * inf is NaN), where the resize reads only its taps.

Left in place, with a note: tf_crop_and_resize with samples outside the roi (the extrapolation
value is no linear map), resizing the batch or channel axis.

Cost: ``in * out`` multiply-adds per output column and resized axis (a dense matrix where the
resize reads 1-4 taps): ``bilinear-to-deconv`` is cheaper wherever it applies; this lowers the
rest (PSPNet's pyramid: 3 -> 60, 6 -> 60).
"""

from __future__ import annotations

import numpy as np

from graphconv.layers import ConvAttrs
from graphconv.layers.resample import align_corners_matrix
from graphconv.layers.resize import resize_axis_taps
from graphconv.layers.tensor import PermuteAttrs

from ._registry import register
from ._rewrite import Skip, Step, rewrite


def _interp_matrices(x_shape, y_shape) -> list[tuple[int, np.ndarray]]:
    """(axis, M) per resized axis, last axis first (Interp's order), as the layer builds them."""
    out = []
    for axis in reversed(range(2, len(x_shape))):
        n_in, n_out = x_shape[axis], y_shape[axis]
        if n_in == n_out:
            continue
        out.append((axis, align_corners_matrix(n_in, n_out)))
    return out


def _resize_matrices(attrs, x_shape) -> list[tuple[int, np.ndarray]] | Skip:
    """(axis, M) per resized axis, first axis first (Resize's order)."""
    out = []
    for axis, taps in enumerate(resize_axis_taps(attrs, x_shape)):
        if taps is None:
            continue
        index, weight, outside = taps
        if outside is not None:
            return Skip("tf_crop_and_resize samples outside the roi: not a linear map")
        if axis < 2:
            return Skip(f"resizes axis {axis} (batch or channels), not a spatial axis")
        m = np.zeros((len(index), x_shape[axis]), dtype=np.float32)
        for k in range(index.shape[1]):
            np.add.at(m, (np.arange(len(index)), index[:, k]), weight[:, k])
        out.append((axis, m))
    return out


def _rule(layer, ctx):
    if layer.type not in ("Interp", "Resize"):
        return None
    x = ctx.spec(layer.inputs[0]).shape
    y = ctx.spec(layer.outputs[0]).shape
    if layer.type == "Interp":
        found = _interp_matrices(x, y)
    else:
        found = _resize_matrices(layer.attrs, x)
        if isinstance(found, Skip):
            return found
    if not found:
        return Skip("no axis changes length: nothing to resize")
    n = len(x) - 2
    steps = []
    for axis, m in found:
        order = list(range(len(x)))
        order[1], order[axis] = axis, 1
        swap = PermuteAttrs(order=tuple(order))
        conv = ConvAttrs(num_output=m.shape[0], kernel=(1,) * n, bias=False)
        weight = m.reshape(m.shape + (1,) * n)
        steps += [
            Step("Permute", swap, suffix=f"axis{axis}_in"),
            Step("Convolution", conv, {"weight": weight}, suffix=f"axis{axis}"),
            Step("Permute", swap, suffix=f"axis{axis}_out"),
        ]
    return ctx.chain(layer, steps, inputs=layer.inputs[:1])


@register("resize-to-conv")
def resize_to_conv(graph):
    """Interp / Resize -> per resized axis: Permute, 1x1 Convolution (its matrix), Permute."""
    return rewrite(graph, _rule, "resize-to-conv")
