"""Convolution and Deconvolution (transposed convolution), N-D, grouped, dilated, asymmetric pads.

Shapes (``ext = d(k-1)+1``):
  Convolution    out = floor((H + pb + pe - ext) / s) + 1
  Deconvolution  out = s(H-1) + op + ext - pb - pe        (Caffe: pb = pe = p, op = 0)
Weights: Convolution ``[O, C/g, k...]``; Deconvolution ``[C, O/g, k...]`` (Caffe and ONNX layout).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from ..ir import TensorSpec
from ..parallel import chunks, parallel_map, scratch, serial_map, threads
from .base import Epilogue, LayerType, as_tuple, register, spatial_rank_check


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
        for what, vals, lo in (("kernel", self.kernel, 1), ("stride", self.stride, 1),
                               ("dilation", self.dilation, 1), ("pads_begin", self.pads_begin, 0),
                               ("pads_end", self.pads_end, 0)):
            if any(v < lo for v in vals):
                raise ValueError(f"{what} must be >= {lo}, got {vals}")

    @property
    def rank(self) -> int:
        return len(self.kernel)

    @property
    def extent(self) -> tuple[int, ...]:
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation))


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


def conv_output_size(h: int, k: int, s: int, d: int, pb: int, pe: int) -> int:
    return (h + pb + pe - (d * (k - 1) + 1)) // s + 1


def deconv_output_size(h: int, k: int, s: int, d: int, pb: int, pe: int, op: int = 0) -> int:
    return s * (h - 1) + op + d * (k - 1) + 1 - pb - pe


def _check_channels(a: ConvAttrs, x: TensorSpec, what: str) -> int:
    spatial_rank_check(x, a.rank, f"the {a.rank}-D kernel")
    c = x.shape[1]
    if c % a.group:
        raise ValueError(f"group {a.group} does not divide {c} input channels")
    return c


def _spatial_slices(start: tuple[int, ...], step: tuple[int, ...], count: tuple[int, ...]):
    return (slice(None), slice(None)) + tuple(
        slice(b, b + s * (n - 1) + 1, s) for b, s, n in zip(start, step, count))


def _pad(x: np.ndarray, pb, pe) -> np.ndarray:
    """``x`` zero-padded on its spatial axes (np.pad's generality costs ~0.1 ms a call)."""
    if not any(pb) and not any(pe):
        return x
    out = np.zeros(x.shape[:2] + tuple(d + b + e for d, b, e in zip(x.shape[2:], pb, pe)),
                   dtype=np.float32)
    out[(slice(None), slice(None)) + tuple(slice(b, b + d) for b, d in zip(pb, x.shape[2:]))] = x
    return out


# Chunked kernels size their work buffer around this many float32 elements (a few MB: it stays
# in cache between the copy that fills it and the matrix product that reads it).
CHUNK_ELEMENTS = 1 << 18
# Below this many multiply-adds a layer runs as one piece (splitting costs more than it saves).
SERIAL_MACS = 1 << 21
MIN_COLUMNS = 256
# Chunks run on several threads only when each output column of a group costs at least this many
# multiply-adds (og * cg * k); thinner products (depthwise) are memory-bound and run on one.
PARALLEL_MIN_WORK = 256
# Deconvolution col2im works by stride blocks from this stride on (see deconv_forward).
BLOCK_MIN_STRIDE = 8


def _row_chunks(rows: int, row_len: int, row_elements: int, macs: int) -> list[tuple[int, int]]:
    """Split ``rows`` output rows (of ``row_len`` outputs, ``row_elements`` column elements) into
    chunks of about CHUNK_ELEMENTS column elements, into at least two per thread when the layer
    is big enough to be worth spreading, but of at least MIN_COLUMNS outputs (a product with
    fewer columns runs far below the BLAS's speed)."""
    if macs < SERIAL_MACS:
        return [(0, rows)]
    per = max(1, CHUNK_ELEMENTS // max(1, row_elements))
    per = min(per, max(1, -(-rows // (2 * threads()))))
    per = max(per, -(-MIN_COLUMNS // max(1, row_len)))
    return chunks(rows, per)


def conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, a: ConvAttrs,
                 epilogue: Epilogue | None = None) -> np.ndarray:
    """Direct N-D grouped convolution into one preallocated output.

    1x1 stride-1 unpadded: one matrix product per group. Otherwise (depthwise included: there the
    product is a batch of one-row matrices) im2col in chunks of output rows: each chunk
    copies its (C/g * k..., rows * W) columns out of a strided view of the padded input into a
    per-thread buffer and multiplies them straight into its slice of the output, so the column
    matrix is never whole in memory (peak: input + output + a few MB per thread).
    ``epilogue`` (a fused per-channel map, see LayerType.epilogue) runs on each finished chunk.
    """
    n, g = a.rank, a.group
    N, C = x.shape[:2]
    O = w.shape[0]
    cg, og = C // g, O // g
    out_sp = tuple(conv_output_size(x.shape[2 + i], a.kernel[i], a.stride[i], a.dilation[i],
                                    a.pads_begin[i], a.pads_end[i]) for i in range(n))
    P, K = math.prod(out_sp), math.prod(a.kernel)
    y = np.empty((N, O) + out_sp, dtype=np.float32)
    bias = None if b is None else b.reshape(O, 1)
    wg = np.ascontiguousarray(w.reshape(g, og, cg * K))
    if K == 1 and not any(a.pads_begin) and not any(a.pads_end) and all(s == 1 for s in a.stride):
        # no copy at all: column chunks of the input multiply straight into the output
        col_chunks = [(0, P)] if N * O * P * cg < SERIAL_MACS else chunks(
            P, max(MIN_COLUMNS, min(CHUNK_ELEMENTS // max(1, C), -(-P // (2 * threads())))))
        for i in range(N):
            xi, yi = x[i].reshape(g, cg, P), y[i].reshape(g, og, P)

            def cols(r, xi=xi, yi=yi) -> None:
                out = yi[:, :, r[0]:r[1]]
                np.matmul(wg, xi[:, :, r[0]:r[1]], out=out)
                if bias is not None:
                    out += bias.reshape(g, og, 1)
                if epilogue is not None:
                    epilogue(_view(out, (O, -1)), slice(None))

            if len(col_chunks) == 1:
                cols(col_chunks[0])  # one product: OpenBLAS's own threads
            elif og * cg >= PARALLEL_MIN_WORK:
                parallel_map(cols, col_chunks)
            else:
                serial_map(cols, col_chunks)
        return y
    xp = _pad(x, a.pads_begin, a.pads_end)
    st = xp.strides
    rest = out_sp[1:]
    row_len = math.prod(rest)
    chunk_rows = _row_chunks(out_sp[0], row_len, C * K * row_len, N * O * P * cg * K)

    for i in range(N):
        xi, yi = xp[i], y[i].reshape(g, og, P)

        def part(r: tuple[int, int], xi=xi, yi=yi) -> None:
            r0, r1 = r
            view = np.lib.stride_tricks.as_strided(
                xi[:, r0 * a.stride[0]:],
                shape=(g, cg) + a.kernel + (r1 - r0,) + rest,
                strides=(cg * st[1], st[1]) + tuple(st[2 + j] * a.dilation[j] for j in range(n))
                + tuple(st[2 + j] * a.stride[j] for j in range(n)), writeable=False)
            cols = scratch(view.size)
            np.copyto(cols.reshape(view.shape), view)
            out = yi[:, :, r0 * row_len:r1 * row_len]
            np.matmul(wg, cols.reshape(g, cg * K, -1), out=out)
            if bias is not None:
                out += bias.reshape(g, og, 1)
            if epilogue is not None:
                epilogue(_view(out, (O, -1)), slice(None))

        if og * cg * K >= PARALLEL_MIN_WORK:
            parallel_map(part, chunk_rows)
        else:  # a thin product is memory-bound: a second thread only adds contention
            serial_map(part, chunk_rows)
    return y


def _view(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` reshaped without a copy (an epilogue must write into the real output)."""
    v = a.view()
    v.shape = shape
    return v


def deconv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, a: DeconvAttrs,
                   epilogue: Epilogue | None = None) -> np.ndarray:
    """Transposed convolution as GEMM plus col2im, in blocks of output channels.

    Without dilation, the kernel is padded with zero taps to a multiple of the stride, k = q*s;
    tap (q, r) of input sample i lands on output block i + q at offset r. So col2im is
    prod(q) block-strided adds (4 for FCN's k16 s8 or k63 s32), not prod(k) slice-adds; when
    k == s and nothing is cropped it is a single transposed copy straight into the output. With
    dilation, or a stride below BLOCK_MIN_STRIDE, it is one strided slice-add per tap instead.
    Never a zero-inserted tensor. Each block of output channels makes its own columns, so they stay small."""
    n, g = a.rank, a.group
    N, C = x.shape[:2]
    S = x.shape[2:]
    cg = C // g
    og = w.shape[1]
    O = og * g
    Sp = math.prod(S)
    out_sp = tuple(deconv_output_size(S[i], a.kernel[i], a.stride[i], a.dilation[i],
                                      a.pads_begin[i], a.pads_end[i], a.output_padding[i])
                   for i in range(n))
    blocked = all(d == 1 for d in a.dilation)
    if blocked:
        q = tuple(-(-k // s) for k, s in zip(a.kernel, a.stride))
        kp = tuple(qi * s for qi, s in zip(q, a.stride))
        if kp != a.kernel:
            w = np.pad(w, [(0, 0), (0, 0)] + [(0, p - k) for p, k in zip(kp, a.kernel)])
        # one spare block per axis covers output_padding past the last tap
        full = tuple((S[i] + q[i]) * a.stride[i] for i in range(n))
        direct = all(qi == 1 for qi in q) and out_sp == tuple(
            si * s for si, s in zip(S, a.stride)) and not any(a.pads_begin)
    else:
        kp = a.kernel
        full = tuple(max(a.stride[i] * (S[i] - 1) + a.extent[i], a.pads_begin[i] + out_sp[i])
                     for i in range(n))
        direct = False
    K = math.prod(kp)
    # Block adds loop innermost over the last stride: worth it only when that loop is long;
    # below, one strided add per tap (prod(k) of them) keeps the inner loops long instead.
    per_tap = not blocked or a.stride[-1] < BLOCK_MIN_STRIDE
    # (g, og*K, cg): row (o, taps) of group gi multiplies that group's (cg, Sp) input
    wt = np.ascontiguousarray(w.reshape(g, cg, og * K).transpose(0, 2, 1))
    y = np.empty((N, O) + out_sp, dtype=np.float32)
    crop = tuple(slice(pb, pb + o) for pb, o in zip(a.pads_begin, out_sp))
    # blocks of output channels, never straddling a group
    per = max(1, CHUNK_ELEMENTS // max(1, K * Sp))
    if N * C * og * K * Sp >= SERIAL_MACS:
        per = min(per, max(1, -(-og // (2 * threads()))) if g < 2 * threads() else per)
    items = [(gi, o0, o1) for gi in range(g) for o0, o1 in chunks(og, per)]
    # output axes (o, S_0, s_0, S_1, s_1, ...) from column axes (o, s_0, s_1, ..., S_0, S_1, ...)
    interleave = (0,) + sum(((1 + n + j, 1 + j) for j in range(n)), ())

    for i in range(N):
        xg = x[i].reshape(g, cg, Sp)

        def part(item, xg=xg, yi=y[i]) -> None:
            gi, o0, o1 = item
            m = o1 - o0
            cols = scratch(m * K * Sp).reshape(m * K, Sp)
            np.matmul(wt[gi, o0 * K:o1 * K], xg[gi], out=cols)
            c = cols.reshape((m,) + kp + S)
            out = yi[gi * og + o0:gi * og + o1]
            if direct and per_tap:
                # k <= s, nothing cropped: output sample i*s + r of each axis is tap r of input
                # sample i (the zero taps that pad k to s included)
                for t in itertools.product(*(range(k) for k in kp)):
                    out[(slice(None),) + _spatial_slices(t, a.stride, S)[2:]] = \
                        c[(slice(None),) + t]
            elif direct:
                ov = _view(out, (m,) + sum(((si, s) for si, s in zip(S, a.stride)), ()))
                np.copyto(ov, c.reshape((m,) + a.stride + S).transpose(interleave))
            else:
                buf = np.zeros((m,) + full, dtype=np.float32)
                if per_tap:  # one strided add per tap, each with a long inner loop
                    for t in itertools.product(*(range(k) for k in kp)):
                        start = tuple(ti * d for ti, d in zip(t, a.dilation))
                        buf[(slice(None),) + _spatial_slices(start, a.stride, S)[2:]] += \
                            c[(slice(None),) + t]
                else:  # prod(q) adds of whole blocks, the inner loop over the stride
                    bv = _view(buf, (m,) + sum(((f // s, s) for f, s in zip(full, a.stride)), ()))
                    cv = c.reshape((m,) + sum(((qi, s) for qi, s in zip(q, a.stride)), ()) + S)
                    for qs in itertools.product(*(range(qi) for qi in q)):
                        src = cv[(slice(None),) + sum(((qj, slice(None)) for qj in qs), ())]
                        dst = bv[(slice(None),) + sum(((slice(qj, qj + S[j]), slice(None))
                                                       for j, qj in enumerate(qs)), ())]
                        dst += src.transpose(interleave)
                np.copyto(out, buf[(slice(None),) + crop])
            if b is not None:
                out += b[gi * og + o0:gi * og + o1].reshape((m,) + (1,) * n)
            if epilogue is not None:
                epilogue(_view(out, (m, -1)), slice(gi * og + o0, gi * og + o1))

        if cg * og * K >= PARALLEL_MIN_WORK or K * Sp * og >= 8 * CHUNK_ELEMENTS:
            parallel_map(part, items)
        else:
            serial_map(part, items)
    return y


def _fold(p, affine, channels: int, scale_weight) -> dict[str, np.ndarray] | None:
    s, t = affine.scale64, affine.shift64
    if len(s) not in (1, channels):
        return None
    s, t = np.broadcast_to(s, (channels,)), np.broadcast_to(t, (channels,))
    b = p["bias"].astype(np.float64) if "bias" in p else 0.0
    return {"weight": scale_weight(p["weight"].astype(np.float64), s).astype(np.float32),
            "bias": (b * s + t).astype(np.float32)}


def _onnx_conv_attrs(a: ConvAttrs) -> dict:
    return dict(kernel_shape=list(a.kernel), strides=list(a.stride), dilations=list(a.dilation),
                pads=list(a.pads_begin) + list(a.pads_end), group=a.group)


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
            o = conv_output_size(x.shape[2 + i], a.kernel[i], a.stride[i], a.dilation[i],
                                 a.pads_begin[i], a.pads_end[i])
            if o < 1:
                raise ValueError(f"kernel extent {a.extent[i]} exceeds the padded input "
                                 f"{x.shape[2 + i] + a.pads_begin[i] + a.pads_end[i]} on axis {2 + i}")
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
        return _fold(p, affine, p["weight"].shape[0], lambda w, s: w * s.reshape(
            (-1,) + (1,) * (w.ndim - 1)))

    def to_onnx(self, layer, em, ins, outs):
        args = [ins[0], em.initializer(f"{layer.name}.weight", layer.params["weight"])]
        if layer.attrs.bias:
            args.append(em.initializer(f"{layer.name}.bias", layer.params["bias"]))
        em.node("Conv", args, outs, name=layer.name, **_onnx_conv_attrs(layer.attrs))

    def macs(self, a, ins, outs):
        return outs[0].size * (ins[0].shape[1] // a.group) * math.prod(a.kernel)


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
            o = deconv_output_size(x.shape[2 + i], a.kernel[i], a.stride[i], a.dilation[i],
                                   a.pads_begin[i], a.pads_end[i], a.output_padding[i])
            if o < 1:
                raise ValueError(f"pads {a.pads_begin[i]}+{a.pads_end[i]} crop the whole output "
                                 f"on axis {2 + i}")
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
        w = p["weight"]
        g, og = a.group, w.shape[1]

        def scale(w, s):
            ws = w.reshape((g, w.shape[0] // g, og, -1)) * s.reshape(g, 1, og, 1)
            return ws.reshape(w.shape)
        return _fold(p, affine, g * og, scale)

    def to_onnx(self, layer, em, ins, outs):
        a = layer.attrs
        w = em.initializer(f"{layer.name}.weight", layer.params["weight"])
        b = em.initializer(f"{layer.name}.bias", layer.params["bias"]) if a.bias else None
        attrs = _onnx_conv_attrs(a)
        if all(o < s for o, s in zip(a.output_padding, a.stride)):
            attrs["output_padding"] = list(a.output_padding)
            em.node("ConvTranspose", [ins[0], w] + ([b] if b else []), outs, name=layer.name,
                    **attrs)
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
        em.pad(full, cropped, [0, 0] + [-p for p in a.pads_begin] + [0, 0] + ends,
               name=f"{layer.name}/crop")
        if b:
            bb = em.initializer(f"{layer.name}.bias_bcast",
                                layer.params["bias"].reshape((1, -1) + (1,) * n))
            em.node("Add", [cropped, bb], outs, name=f"{layer.name}/bias")

    def macs(self, a, ins, outs):
        return ins[0].size * (a.num_output // a.group) * math.prod(a.kernel)


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
            raise ValueError("SeparableConvolution takes no group (the depthwise stage is "
                             "grouped by construction)")
        if int(self.multiplier) < 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier}")
        object.__setattr__(self, "multiplier", int(self.multiplier))
        object.__setattr__(self, "depthwise_bias", bool(self.depthwise_bias))

    def depthwise(self, channels: int) -> ConvAttrs:
        return ConvAttrs(num_output=channels * self.multiplier, kernel=self.kernel,
                         stride=self.stride, dilation=self.dilation, pads_begin=self.pads_begin,
                         pads_end=self.pads_end, group=channels, bias=self.depthwise_bias)

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
        mid = conv_forward(x, p["depthwise_weight"], p.get("depthwise_bias"),
                           a.depthwise(x.shape[1]))
        return [conv_forward(mid, p["weight"], p.get("bias"), a.pointwise())]

    def to_onnx(self, layer, em, ins, outs):
        a, p = layer.attrs, layer.params
        c = em.spec(ins[0]).shape[1]
        mid = em.tmp(f"{layer.name}/depthwise")
        args = [ins[0], em.initializer(f"{layer.name}.depthwise_weight", p["depthwise_weight"])]
        if a.depthwise_bias:
            args.append(em.initializer(f"{layer.name}.depthwise_bias", p["depthwise_bias"]))
        em.node("Conv", args, [mid], name=f"{layer.name}/depthwise",
                **_onnx_conv_attrs(a.depthwise(c)))
        args = [mid, em.initializer(f"{layer.name}.weight", p["weight"])]
        if a.bias:
            args.append(em.initializer(f"{layer.name}.bias", p["bias"]))
        em.node("Conv", args, outs, name=layer.name, **_onnx_conv_attrs(a.pointwise()))

    def macs(self, a, ins, outs):
        mid = self._mid(a, ins[0])
        return (self._conv.macs(a.depthwise(ins[0].shape[1]), ins, [mid])
                + self._conv.macs(a.pointwise(), [mid], outs))
