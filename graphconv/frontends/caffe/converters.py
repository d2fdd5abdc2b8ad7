"""Caffe layer parameters -> graphconv layer types, one rule per Caffe type.

A rule reads a LayerParameter (and the input specs) and returns a :class:`Spec`: the graphconv
layer type, its attrs, and the Caffe blobs in order with our parameter names and their fillers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ...ir import TensorSpec
from ...layers import ConvAttrs, DeconvAttrs, ReLUAttrs, UpsampleAttrs


@dataclass
class Spec:
    type: str
    attrs: Any
    blobs: list[tuple[str, Any]] = field(default_factory=list)  # (param key, filler or None)


def _filler(msg, name):
    return getattr(msg, name) if msg.HasField(name) else None


def _per_axis(p, n: int, repeated: str, h: str, w: str, default: int) -> tuple[int, ...]:
    """Caffe's per-axis values: ``x_h``/``x_w`` (2-D only) or a repeated field (1 or n values)."""
    if p.HasField(h) or p.HasField(w):
        if n != 2:
            raise ValueError(f"{h}/{w} are only allowed for 2-D convolution, the input is {n}-D")
        return (getattr(p, h) if p.HasField(h) else default,
                getattr(p, w) if p.HasField(w) else default)
    vals = list(getattr(p, repeated))
    if not vals:
        return (default,) * n
    if len(vals) == 1:
        return (vals[0],) * n
    if len(vals) != n:
        raise ValueError(f"{repeated} has {len(vals)} values for a {n}-D convolution")
    return tuple(vals)


def _conv_common(lp, ins: Sequence[TensorSpec]) -> dict:
    p = lp.convolution_param
    if p.axis != 1:
        raise ValueError(f"convolution_param.axis {p.axis} is not supported (only 1)")
    n = ins[0].rank - 2
    if n < 1:
        raise ValueError(f"convolution needs a rank >= 3 input, got shape {ins[0]}")
    if not p.HasField("num_output"):
        raise ValueError("convolution_param.num_output is required")
    kernel = _per_axis(p, n, "kernel_size", "kernel_h", "kernel_w", 0)
    if any(k == 0 for k in kernel):
        raise ValueError("convolution_param needs kernel_size or kernel_h/kernel_w")
    pads = _per_axis(p, n, "pad", "pad_h", "pad_w", 0)
    return dict(num_output=p.num_output, kernel=kernel,
                stride=_per_axis(p, n, "stride", "stride_h", "stride_w", 1),
                dilation=_dilation(p, n),
                pads_begin=pads, pads_end=pads, group=p.group, bias=p.bias_term)


def _dilation(p, n: int) -> tuple[int, ...]:
    vals = list(p.dilation)
    if not vals:
        return (1,) * n
    if len(vals) == 1:
        return (vals[0],) * n
    if len(vals) != n:
        raise ValueError(f"dilation has {len(vals)} values for a {n}-D convolution")
    return tuple(vals)


def _conv_blobs(lp) -> list[tuple[str, Any]]:
    p = lp.convolution_param
    blobs = [("weight", _filler(p, "weight_filler"))]
    if p.bias_term:
        blobs.append(("bias", _filler(p, "bias_filler")))
    return blobs


def convolution(lp, ins):
    return Spec("Convolution", ConvAttrs(**_conv_common(lp, ins)), _conv_blobs(lp))


def deconvolution(lp, ins):
    return Spec("Deconvolution", DeconvAttrs(**_conv_common(lp, ins)), _conv_blobs(lp))


def relu(lp, ins):
    return Spec("ReLU", ReLUAttrs(lp.relu_param.negative_slope))


def upsample(lp, ins):
    if len(lp.bottom) != 1:
        raise ValueError("Upsample with two bottoms (max-unpooling with a mask) is not supported "
                         "yet; only one-bottom nearest Upsample")
    p = lp.upsample_param
    n = ins[0].rank - 2
    if p.HasField("scale_h") or p.HasField("scale_w"):
        if n != 2:
            raise ValueError("scale_h/scale_w need a 2-D input")
        scale = (p.scale_h or p.scale, p.scale_w or p.scale)
    else:
        scale = (p.scale,) * n
    return Spec("Upsample", UpsampleAttrs(scale))


RULES: dict[str, Callable] = {
    "Convolution": convolution,
    "Deconvolution": deconvolution,
    "ReLU": relu,
    "Upsample": upsample,
}

# V1 (``layers { type: CONVOLUTION }``) enum names -> V2 type strings.
V1_TYPES = {
    "CONVOLUTION": "Convolution", "DECONVOLUTION": "Deconvolution", "RELU": "ReLU",
}
