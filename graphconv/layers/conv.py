"""Convolution and Deconvolution (transposed convolution), N-D, grouped, dilated, asymmetric pads.

Shapes (``ext = d(k-1)+1``):
  Convolution    out = floor((H + pb + pe - ext) / s) + 1
  Deconvolution  out = s(H-1) + op + ext - pb - pe        (Caffe: pb = pe = p, op = 0)
Weights: Convolution ``[O, C/g, k...]``; Deconvolution ``[C, O/g, k...]`` (Caffe and ONNX layout).
The lengths are graphconv.geometry's; the kernels (graphconv.kernels.conv, .transposed) only
compute faster what these classes define.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..affine import fold_into_weights
from ..geometry import conv_output_size, deconv_full_size, deconv_output_size, extent, live_taps
from ..ir import TensorSpec
from ..kernels.conv import conv_forward
from ..kernels.transposed import deconv_forward
from .base import LayerType, as_tuple, register, spatial_rank_check


@dataclass(frozen=True)
class ConvAttrs:
    """Attributes of a convolution. Ints broadcast to every spatial axis.

    ``pads`` is a shorthand that sets both ``pads_begin`` and ``pads_end``.
    """

    num_output: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...] | int = 1
    dilation: tuple[int, ...] | int = 1
    pads_begin: tuple[int, ...] | int = 0
    pads_end: tuple[int, ...] | int = 0
    group: int = 1
    bias: bool = True
    pads: tuple[int, ...] | int | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        kernel = as_tuple(self.kernel, what="kernel")
        n = len(kernel)
        if not 1 <= n <= 3:
            raise ValueError(f"kernel must be 1-D, 2-D or 3-D, got {n}-D")
        pb, pe = self.pads_begin, self.pads_end
        if self.pads is not None:
            pb = pe = self.pads
        fix = object.__setattr__
        fix(self, "kernel", kernel)
        fix(self, "stride", as_tuple(self.stride, n, "stride"))
        fix(self, "dilation", as_tuple(self.dilation, n, "dilation"))
        fix(self, "pads_begin", as_tuple(pb, n, "pads_begin"))
        fix(self, "pads_end", as_tuple(pe, n, "pads_end"))
        fix(self, "pads", None)
        fix(self, "num_output", int(self.num_output))
        fix(self, "group", int(self.group))
        fix(self, "bias", bool(self.bias))
        if self.num_output < 1:
            raise ValueError(f"num_output must be >= 1, got {self.num_output}")
        if self.group < 1:
            raise ValueError(f"group must be >= 1, got {self.group}")
        if self.num_output % self.group:
            raise ValueError(f"group {self.group} does not divide num_output {self.num_output}")
        for what, vals, lo in (
            ("kernel", self.kernel, 1),
            ("stride", self.stride, 1),
            ("dilation", self.dilation, 1),
            ("pads_begin", self.pads_begin, 0),
            ("pads_end", self.pads_end, 0),
        ):
            if any(v < lo for v in vals):
                raise ValueError(f"{what} must be >= {lo}, got {vals}")

    @property
    def rank(self) -> int:
        return len(self.kernel)

    @property
    def extent(self) -> tuple[int, ...]:
        return tuple(extent(k, d) for k, d in zip(self.kernel, self.dilation))


@dataclass(frozen=True)
class DeconvAttrs(ConvAttrs):
    """Transposed-convolution attributes: ConvAttrs plus per-axis ``output_padding``
    (extra samples at the end of each axis, ``0 <= op < max(stride, dilation)`` as in ONNX)."""

    output_padding: tuple[int, ...] | int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        op = as_tuple(self.output_padding, self.rank, "output_padding")
        object.__setattr__(self, "output_padding", op)
        for o, s, d in zip(op, self.stride, self.dilation):
            if o < 0 or o >= max(s, d):
                raise ValueError(f"output_padding {op} must be >= 0 and < max(stride, dilation)")


def _check_channels(a: ConvAttrs, x: TensorSpec, what: str) -> int:
    spatial_rank_check(x, a.rank, f"the {a.rank}-D kernel")
    c = x.shape[1]
    if c % a.group:
        raise ValueError(f"group {a.group} does not divide {c} input channels")
    return c


def _onnx_conv_attrs(a: ConvAttrs) -> dict:
    return dict(
        kernel_shape=list(a.kernel),
        strides=list(a.stride),
        dilations=list(a.dilation),
        pads=list(a.pads_begin) + list(a.pads_end),
        group=a.group,
    )


@register
class Convolution(LayerType):
    type = "Convolution"
    Attrs = ConvAttrs
    fresh_output = True

    def infer(self, a, ins):
        x = ins[0]
        _check_channels(a, x, "Convolution")
        out = []
        for i in range(a.rank):
            o = conv_output_size(
                x.shape[2 + i],
                a.kernel[i],
                a.stride[i],
                a.dilation[i],
                a.pads_begin[i],
                a.pads_end[i],
            )
            if o < 1:
                raise ValueError(
                    f"kernel extent {a.extent[i]} exceeds the padded input "
                    f"{x.shape[2 + i] + a.pads_begin[i] + a.pads_end[i]} "
                    f"on axis {2 + i}"
                )
            out.append(o)
        return [TensorSpec((x.shape[0], a.num_output, *out), x.dtype)]

    def param_shapes(self, a, ins):
        c = ins[0].shape[1]
        shapes = {"weight": (a.num_output, c // a.group, *a.kernel)}
        if a.bias:
            shapes["bias"] = (a.num_output,)
        return shapes

    def run(self, a, xs, p):
        return [conv_forward(xs[0], p["weight"], p.get("bias"), a)]

    def run_then(self, a, xs, p, epilogue):
        return [conv_forward(xs[0], p["weight"], p.get("bias"), a, epilogue)]

    def fold_affine(self, a, p, affine):
        # out[o] * s[o] + t[o] = (W[o] * s[o]) x + (b[o] * s[o] + t[o])
        return fold_into_weights(p, affine.scale64, affine.shift64)

    def to_onnx(self, layer, em, ins, outs):
        args = [ins[0], em.initializer(f"{layer.name}.weight", layer.params["weight"])]
        if layer.attrs.bias:
            args.append(em.initializer(f"{layer.name}.bias", layer.params["bias"]))
        em.node("Conv", args, outs, name=layer.name, **_onnx_conv_attrs(layer.attrs))

    def macs(self, a, ins, outs):
        return outs[0].size * (ins[0].shape[1] // a.group) * math.prod(a.kernel)

    def scratch_bytes(self, a, ins, outs):
        # the padded input, cut to what the live taps read (kernels/conv.py without_dead_taps)
        x, lengths = ins[0], []
        for i in range(a.rank):
            h, o = x.shape[2 + i], outs[0].shape[2 + i]
            span = live_taps(h, o, a.kernel[i], a.stride[i], a.dilation[i], a.pads_begin[i])
            k0, k1 = span or (0, 0)
            lengths.append((o - 1) * a.stride[i] + (k1 - k0) * a.dilation[i] + 1)
        return 4 * math.prod(x.shape[:2]) * math.prod(lengths)


@register
class Deconvolution(LayerType):
    type = "Deconvolution"
    Attrs = DeconvAttrs
    fresh_output = True

    def infer(self, a, ins):
        x = ins[0]
        _check_channels(a, x, "Deconvolution")
        out = []
        for i in range(a.rank):
            o = deconv_output_size(
                x.shape[2 + i],
                a.kernel[i],
                a.stride[i],
                a.dilation[i],
                a.pads_begin[i],
                a.pads_end[i],
                a.output_padding[i],
            )
            if o < 1:
                raise ValueError(
                    f"pads {a.pads_begin[i]}+{a.pads_end[i]} crop the whole output on axis {2 + i}"
                )
            out.append(o)
        return [TensorSpec((x.shape[0], a.num_output, *out), x.dtype)]

    def param_shapes(self, a, ins):
        c = ins[0].shape[1]
        shapes = {"weight": (c, a.num_output // a.group, *a.kernel)}
        if a.bias:
            shapes["bias"] = (a.num_output,)
        return shapes

    def fan_in(self, a, weight_shape):
        # each output sample sums about C/g * prod(k) / prod(s) products
        return max(1, weight_shape[0] // a.group * math.prod(a.kernel) // math.prod(a.stride))

    def run(self, a, xs, p):
        return [deconv_forward(xs[0], p["weight"], p.get("bias"), a)]

    def run_then(self, a, xs, p, epilogue):
        return [deconv_forward(xs[0], p["weight"], p.get("bias"), a, epilogue)]

    def fold_affine(self, a, p, affine):
        # weight (C, O/g, k...): output channel gi * O/g + o sits at [group gi rows, o]
        return fold_into_weights(p, affine.scale64, affine.shift64, groups=a.group, transposed=True)

    def to_onnx(self, layer, em, ins, outs):
        a = layer.attrs
        w = em.initializer(f"{layer.name}.weight", layer.params["weight"])
        b = em.initializer(f"{layer.name}.bias", layer.params["bias"]) if a.bias else None
        attrs = _onnx_conv_attrs(a)
        if all(o < s for o, s in zip(a.output_padding, a.stride)):
            attrs["output_padding"] = list(a.output_padding)
            em.node(
                "ConvTranspose", [ins[0], w] + ([b] if b else []), outs, name=layer.name, **attrs
            )
            return
        # onnxruntime rejects output_padding >= stride (allowed when dilation > stride): emit
        # the full, uncropped transposed convolution, then crop/extend with one Pad
        # (out[i] = full[i + pb]), then add the bias.
        n = a.rank
        attrs["pads"] = [0] * (2 * n)
        full = em.tmp(f"{layer.name}/full")
        em.node("ConvTranspose", [ins[0], w], [full], name=layer.name, **attrs)
        cropped = em.tmp(f"{layer.name}/crop") if b else outs[0]
        ends = [op - pe for op, pe in zip(a.output_padding, a.pads_end)]
        em.pad(
            full,
            cropped,
            [0, 0] + [-p for p in a.pads_begin] + [0, 0] + ends,
            name=f"{layer.name}/crop",
        )
        if b:
            bb = em.initializer(
                f"{layer.name}.bias_bcast", layer.params["bias"].reshape((1, -1) + (1,) * n)
            )
            em.node("Add", [cropped, bb], outs, name=f"{layer.name}/bias")

    def macs(self, a, ins, outs):
        return ins[0].size * (a.num_output // a.group) * math.prod(a.kernel)

    def scratch_bytes(self, a, ins, outs):
        # the uncropped result the phases are scattered into (kernels/transposed.py)
        x = ins[0]
        full = [
            deconv_full_size(x.shape[2 + i], a.kernel[i], a.stride[i], a.dilation[i])
            for i in range(a.rank)
        ]
        return 4 * x.shape[0] * a.num_output * math.prod(full)


@dataclass(frozen=True)
class SeparableAttrs(ConvAttrs):
    """A depthwise-separable convolution (the MobileNet/Xception block) as one layer:
    a depthwise k x k convolution with channel ``multiplier`` m (C -> C*m, group C; its stride,
    pads and dilation are this layer's), then a pointwise 1x1 convolution C*m -> num_output.
    ``bias`` is the pointwise bias; ``depthwise_bias`` adds one after the depthwise stage."""

    multiplier: int = 1
    depthwise_bias: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.group != 1:
            raise ValueError(
                "SeparableConvolution takes no group (the depthwise stage is "
                "grouped by construction)"
            )
        if int(self.multiplier) < 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier}")
        object.__setattr__(self, "multiplier", int(self.multiplier))
        object.__setattr__(self, "depthwise_bias", bool(self.depthwise_bias))

    def depthwise(self, channels: int) -> ConvAttrs:
        return ConvAttrs(
            num_output=channels * self.multiplier,
            kernel=self.kernel,
            stride=self.stride,
            dilation=self.dilation,
            pads_begin=self.pads_begin,
            pads_end=self.pads_end,
            group=channels,
            bias=self.depthwise_bias,
        )

    def pointwise(self) -> ConvAttrs:
        return ConvAttrs(num_output=self.num_output, kernel=(1,) * self.rank, bias=self.bias)


@register
class SeparableConvolution(LayerType):
    type = "SeparableConvolution"
    Attrs = SeparableAttrs
    fresh_output = True
    _conv = Convolution()

    def _mid(self, a, x: TensorSpec) -> TensorSpec:
        return self._conv.infer(a.depthwise(x.shape[1]), [x])[0]

    def infer(self, a, ins):
        return self._conv.infer(a.pointwise(), [self._mid(a, ins[0])])

    def param_shapes(self, a, ins):
        c = ins[0].shape[1]
        dw = {f"depthwise_{k}": v for k, v in self._conv.param_shapes(a.depthwise(c), ins).items()}
        pw = self._conv.param_shapes(a.pointwise(), [self._mid(a, ins[0])])
        return {**dw, **pw}

    def fan_in(self, a, weight_shape):
        return math.prod(weight_shape[1:])

    def run(self, a, xs, p):
        x = xs[0]
        mid = conv_forward(
            x, p["depthwise_weight"], p.get("depthwise_bias"), a.depthwise(x.shape[1])
        )
        return [conv_forward(mid, p["weight"], p.get("bias"), a.pointwise())]

    def to_onnx(self, layer, em, ins, outs):
        a, p = layer.attrs, layer.params
        c = em.spec(ins[0]).shape[1]
        mid = em.tmp(f"{layer.name}/depthwise")
        args = [ins[0], em.initializer(f"{layer.name}.depthwise_weight", p["depthwise_weight"])]
        if a.depthwise_bias:
            args.append(em.initializer(f"{layer.name}.depthwise_bias", p["depthwise_bias"]))
        em.node(
            "Conv", args, [mid], name=f"{layer.name}/depthwise", **_onnx_conv_attrs(a.depthwise(c))
        )
        args = [mid, em.initializer(f"{layer.name}.weight", p["weight"])]
        if a.bias:
            args.append(em.initializer(f"{layer.name}.bias", p["bias"]))
        em.node("Conv", args, outs, name=layer.name, **_onnx_conv_attrs(a.pointwise()))

    def macs(self, a, ins, outs):
        mid = self._mid(a, ins[0])
        return self._conv.macs(a.depthwise(ins[0].shape[1]), ins, [mid]) + self._conv.macs(
            a.pointwise(), [mid], outs
        )
