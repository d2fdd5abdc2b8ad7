"""ONNX rules: MaxPool (with its Indices output), AveragePool, GlobalAveragePool,
GlobalMaxPool."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ....geometry import AxisPlan, extent, onnx_pool_length, padded_length, pooled_length
from ....layers.elementwise import ConstantBinaryAttrs
from ....layers.pool import PoolAttrs
from ....layers.slicing import PadAttrs
from ._common import Translator, Unsupported, onnx_rule
from .conv import _conv_geometry


@onnx_rule("MaxPool", "AveragePool")
def pool(t: Translator, node) -> None:
    """MaxPool / AveragePool (and their global forms) as a Caffe-semantics Pooling, with explicit
    pads for ONNX's ceil mode and count_include_pad. (Long: each ONNX attribute is one case of
    the same window arithmetic; split, the cases would be read apart from each other.)"""
    x = t.data(0)
    is_max = node.op_type == "MaxPool"
    indices = (
        node.output[1] if is_max and len(node.output) > 1 and node.output[1] in t.used else None
    )
    if not indices:
        t.single_output()
    kernel = tuple(t.attr("kernel_shape"))
    if t.attr("storage_order", 0):
        raise Unsupported("storage_order 1 (column-major indices) is not supported")
    stride, dilation, pb, pe, auto_pad = _conv_geometry(t, x, kernel)
    extents = tuple(extent(k, d) for k, d in zip(kernel, dilation))
    ceil = bool(t.attr("ceil_mode", 0)) and auto_pad == "NOTSET"
    include_pad = bool(t.attr("count_include_pad", 0))
    size = t.shape(x)[2:]
    padded = any(pb) or any(pe)
    counts = [
        onnx_pool_length(h, k, s, d, b, e, ceil)
        for h, k, s, d, b, e in zip(size, kernel, stride, dilation, pb, pe)
    ]
    if any(c < 1 for c in counts):
        raise Unsupported(f"the kernel {kernel} does not fit the padded input")
    method = "max" if is_max else "ave"
    symmetric = pb == pe and all(p < k for p, k in zip(pb, extents))
    pool_pad = pb if symmetric else (0,) * len(kernel)
    pool_size = (
        size if symmetric else tuple(padded_length(h, b, e) for h, b, e in zip(size, pb, pe))
    )
    # the graphconv (Caffe) round mode whose window count equals ONNX's: they differ where
    # ONNX drops a ceil-mode window starting in the end padding, or Caffe keeps one starting
    # past an unpadded input; the windows themselves start at the same places
    round_mode = next(
        (
            r
            for r in (("ceil", "floor") if ceil else ("floor",))
            if [
                pooled_length(h, k, s, p, r, d)
                for h, k, s, p, d in zip(pool_size, kernel, stride, pool_pad, dilation)
            ]
            == counts
        ),
        None,
    )
    if round_mode is None:
        raise Unsupported(
            f"ceil_mode gives {counts} windows, which no graphconv pooling round mode does"
        )
    src = x
    if not symmetric:
        value = float("-inf") if is_max else 0.0
        src = t.add("Pad", [x], PadAttrs(pads_begin=pb, pads_end=pe, value=value), suffix="/pad")
    attrs = PoolAttrs(
        kernel=kernel,
        stride=stride,
        pad=pool_pad,
        method=method,
        round_mode=round_mode,
        dilation=dilation,
    )
    if indices:
        if not symmetric:
            raise Unsupported(
                f"the Indices output with asymmetric pads {pb}, {pe} is not "
                "supported (the mask would index the padded input)"
            )
        _max_pool_with_indices(t, x, attrs, indices)
        return
    if is_max or include_pad or not padded:
        t.add("Pooling", [src], attrs, output=t.out())
        return
    # count_include_pad 0: rescale graphconv's divisor (the window within the padded input)
    # to the number of input samples in each window (the taps o s + j d, j < k)
    ratio = np.ones((), dtype=np.float64)
    for h, k, s, d, b, hp, p, c in zip(
        size, kernel, stride, dilation, pb, pool_size, pool_pad, counts
    ):
        # graphconv's (Caffe's) divisor, in the pooled input's coordinates
        divisor = AxisPlan(size=hp, kernel=k, stride=s, pad=p, out=c, dilation=d).divisors()
        taps = np.arange(k) * d
        first = np.arange(c)[:, None] * s - b + taps  # in the original input's coordinates
        valid = ((first >= 0) & (first < h)).sum(axis=1)
        if np.any(valid < 1):
            raise Unsupported("a window holds only padding (count_include_pad 0 divides by 0)")
        ratio = np.multiply.outer(ratio, divisor / valid)
    pooled = t.add("Pooling", [src], attrs, suffix="/sum_over_window")
    t.add(
        "ConstantBinary",
        [pooled],
        ConstantBinaryAttrs(operation="mul", constant_shape=ratio.shape),
        {"constant": ratio.astype(np.float32)},
        output=t.out(),
        suffix="/exclude_pad",
    )


def _max_pool_with_indices(t: Translator, x: str, attrs: PoolAttrs, indices: str) -> None:
    """ONNX Indices are flat over (N, C, *plane); graphconv's Caffe mask is the flat index
    within the channel's plane (the first maximum in both). MaxUnpool reads the mask directly;
    other uses get the ONNX values, mask + the plane's offset (exact in float32 below 2^24)."""
    shape = t.shape(x)
    plane = math.prod(shape[2:])
    if math.prod(shape) > 2**24:
        raise Unsupported(
            "the Indices output of an input of more than 2^24 values is not exact in float32"
        )
    mask = t.builder.fresh_name(f"{t.node_name}/plane_mask")
    t.builder.add(
        "Pooling",
        [x],
        dataclasses.replace(attrs, mask=True),
        name=t.node_name,
        outputs=[t.out(), mask],
    )
    t.plane_masks[indices] = (mask, shape[2:])
    if indices in t.used_as_data:
        offsets = (
            (np.arange(shape[0] * shape[1], dtype=np.float64) * plane)
            .reshape(shape[:2] + (1,) * (len(shape) - 2))
            .astype(np.float32)
        )
        t.add(
            "ConstantBinary",
            [mask],
            ConstantBinaryAttrs(operation="add", constant_shape=offsets.shape),
            {"constant": offsets},
            output=indices,
            suffix="/indices",
        )


@onnx_rule("GlobalAveragePool", "GlobalMaxPool")
def global_pool(t: Translator, node) -> None:
    method = "max" if node.op_type == "GlobalMaxPool" else "ave"
    x = t.data(0)
    if len(t.shape(x)) < 3:
        raise Unsupported(f"input of rank {len(t.shape(x))} has no spatial axes")
    t.add("Pooling", [x], PoolAttrs(global_pooling=True, method=method), output=t.out())
