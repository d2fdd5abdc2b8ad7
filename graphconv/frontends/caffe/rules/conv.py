"""Caffe rules: Convolution, ConvolutionDepthwise, Deconvolution."""

from __future__ import annotations

from typing import Any, Sequence

from ....ir import TensorSpec
from ....layers import ConvAttrs, DeconvAttrs, SeparableAttrs
from ._table import Spec, _filler, _per_axis, rule


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
    return dict(
        num_output=p.num_output,
        kernel=kernel,
        stride=_per_axis(p, n, "stride", "stride_h", "stride_w", 1),
        dilation=_dilation(p, n),
        pads_begin=pads,
        pads_end=pads,
        group=p.group,
        bias=p.bias_term,
    )


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


@rule("Convolution", v1="CONVOLUTION")
def convolution(lp, ins):
    return Spec("Convolution", ConvAttrs(**_conv_common(lp, ins)), _conv_blobs(lp))


@rule("Deconvolution", v1="DECONVOLUTION")
def deconvolution(lp, ins):
    return Spec("Deconvolution", DeconvAttrs(**_conv_common(lp, ins)), _conv_blobs(lp))


@rule("ConvolutionDepthwise")
def convolution_depthwise(lp, ins):
    """The depthwise fork layer: a Convolution whose group is the input channel count."""
    common = _conv_common(lp, ins)
    common["group"] = ins[0].shape[1]
    if common["num_output"] % common["group"]:
        raise ValueError(
            f"ConvolutionDepthwise num_output {common['num_output']} is not a "
            f"multiple of the {common['group']} input channels"
        )
    return Spec("Convolution", ConvAttrs(**common), _conv_blobs(lp))


@rule("SeparableConvolution")
def separable_convolution(lp, ins):
    """graphconv's own type: geometry from convolution_param, ``separable_param { multiplier }``.
    Blobs: depthwise weight [C*m, 1, k...], (depthwise bias), pointwise weight [O, C*m, 1...],
    (bias)."""
    common = _conv_common(lp, ins)
    if common.pop("group") != 1:
        raise ValueError("SeparableConvolution takes no group")
    sp = lp.separable_param
    attrs = SeparableAttrs(**common, multiplier=sp.multiplier, depthwise_bias=sp.depthwise_bias)
    p = lp.convolution_param
    blobs = [("depthwise_weight", _filler(p, "weight_filler"))]
    if attrs.depthwise_bias:
        blobs.append(("depthwise_bias", _filler(p, "bias_filler")))
    return Spec("SeparableConvolution", attrs, blobs + _conv_blobs(lp))
