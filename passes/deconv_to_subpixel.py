"""deconv-to-subpixel: a transposed convolution as s^n phase convolutions, interleaved.

With output index ``o = s*q + r`` (phase ``r`` in ``0..s-1`` per axis), the Deconvolution
``y[o] = sum_{i, t: o + pb = s*i + d*t} x[i] w[t]`` reads, for a fixed phase, only the taps
``T_r = {t : (r + pb - d*t) = 0 mod s}`` at input ``x[q + (r + pb - d*t)/s]``. Consecutive taps
of ``T_r`` are ``s/gcd(s,d)`` apart and move the input by ``d' = d/gcd(s,d)``, so each phase is a
plain stride-1 convolution:

    Deconvolution(W[C, O/g, k...], s, d, pb, pe, op, g)
      -> for each phase r:  Pad(x) -> Convolution(W[..., T_r reversed], dilation d', group g)
         (a phase no tap reaches is bias only: zeros cut from another phase's output by a
         Pad that crops it away and pads it back, plus the bias: Pad -> ConstantBinary(add);
         or, ``bias_only=conv``, a zero-weight depthwise 1x1 Convolution with the bias, for
         targets that run convolutions only: the same for finite inputs)
      -> interleave: y[s*q + r] = phase_r[q]
      -> Pad(negative end)                           crop Q*s to the output length

Every configuration is rewritten: 1-3-D, stride 1 (one phase: the flipped-kernel convolution,
no interleave), dilation (sharing a factor with the stride leaves whole phases without taps),
kernels shorter than the stride, output_padding, asymmetric pads and pads beyond the kernel
extent (the phase Pads then crop), groups.

``interleave=`` chooses how the phases are put back together:

- ``transpose`` (default): Concat(axis 1) -> Reshape (N, s..., O, Q...) -> Permute -> Reshape;
  tensors of rank 2 + 2n.
- ``depth-to-space``: Concat(axis 1) -> ONNX DepthToSpace (mode DCR: channel ``(r1*s + r2)*O +
  o``, the Concat's order). 2-D with equal strides only; other layers are left in place with
  a note.
- ``rank4``: one axis at a time, last first, with Reshape and Concat only: each phase tensor
  is reshaped to ``(A, Q_i, 1, B)`` (``A`` = N*O*the lengths before axis i, ``B`` = the already
  interleaved lengths after it), the ``s_i`` of them concatenated on axis 2 and reshaped back
  with length ``Q_i*s_i``. No tensor of rank above max(4, the layer's own rank): a 1-D or 2-D
  layer meets a rank-4 limit.

Exact: each output sample sums the same products as the deconvolution (float summation order
aside; bit-equal on small integers). Every weight is a real tap: no multiplication by an
inserted zero. Total MACs equal the direct deconvolution's (up to the last, cropped row of
phases), prod(s) times fewer than ``deconv-to-conv``.
"""

from __future__ import annotations

import itertools
import math
from math import gcd

import numpy as np

from graphconv.errors import UsageError
from graphconv.geometry import end_pad, phase_count, phase_taps
from graphconv.layers import ConvAttrs, PadAttrs
from graphconv.layers.elementwise import ConstantBinaryAttrs
from graphconv.layers.tensor import ConcatAttrs, DepthToSpaceAttrs, PermuteAttrs, ReshapeAttrs

from ._registry import register
from ._rewrite import Skip, Step, rewrite

INTERLEAVES = ("transpose", "depth-to-space", "rank4")


def _one(ctx, layer, step: Step, inputs) -> list:
    """One layer applying ``step`` to ``inputs``, writing a fresh tensor."""
    out = ctx.fresh(f"{layer.name}/{step.suffix}")
    return ctx.chain(layer.replace(outputs=(out,)), [step], inputs=list(inputs))


def _phase(ctx, layer, x, r, per_axis, q_len):
    """Pad -> Convolution computing phase ``r`` (shape (N, O, Q...))."""
    a, n, g = layer.attrs, layer.attrs.rank, layer.attrs.group
    c, og = x.shape[1], a.num_output // g
    taps = [per_axis[i][r[i]][0] for i in range(n)]
    offsets = [per_axis[i][r[i]][1] for i in range(n)]
    dil = tuple(d // gcd(s, d) for s, d in zip(a.stride, a.dilation))
    sub = layer.params["weight"][np.ix_(range(c), range(og), *taps)]  # (C, Og, M...)
    m = sub.shape[2:]
    conv_w = sub.reshape(g, c // g, og, *m).swapaxes(1, 2).reshape(g * og, c // g, *m)
    low = tuple(-off for off in offsets)
    high = tuple(
        end_pad(q, h, mm, 1, dd, lo) for q, lo, dd, mm, h in zip(q_len, low, dil, m, x.shape[2:])
    )
    tag = "_".join(map(str, r))
    steps = []
    if any(low) or any(high):
        steps.append(Step("Pad", PadAttrs(low, high), suffix=f"phase{tag}_pad"))
    params = {"weight": np.ascontiguousarray(conv_w)}
    if a.bias:
        params["bias"] = layer.params["bias"]
    conv = ConvAttrs(num_output=a.num_output, kernel=m, dilation=dil, group=g, bias=a.bias)
    steps.append(Step("Convolution", conv, params, f"phase{tag}"))
    out = ctx.fresh(f"{layer.name}/phase{tag}")
    return ctx.chain(layer.replace(outputs=(out,)), steps), out


def _bias_only(ctx, layer, template: str, q_len, form: str):
    """Layers making the output of a phase with no taps from ``template`` (a phase output of
    the same shape). ``pad``: zeros cut by cropping all of axis 2 away and padding it back (no
    value of it survives), plus the bias; ``conv``: a depthwise 1x1 Convolution with zero
    weights and the bias (the same for finite inputs; 0 * inf is NaN)."""
    a, n = layer.attrs, layer.attrs.rank
    o = a.num_output
    bias = layer.params["bias"] if a.bias else np.zeros(o, np.float32)
    if form == "conv":
        conv = ConvAttrs(num_output=o, kernel=(1,) * n, group=o, bias=True)
        params = {"weight": np.zeros((o, 1) + (1,) * n, np.float32), "bias": bias}
        step = Step("Convolution", conv, params, "no_taps_bias")
        new = _one(ctx, layer, step, [template])
        return new, new[-1].outputs[0]
    crop = PadAttrs((-q_len[0],) + (0,) * (n - 1), (q_len[0],) + (0,) * (n - 1))
    new = _one(ctx, layer, Step("Pad", crop, suffix="no_taps_zeros"), [template])
    if a.bias:
        shape = (1, o) + (1,) * n
        add = ConstantBinaryAttrs("add", constant_shape=shape)
        params = {"constant": bias.reshape(shape)}
        step = Step("ConstantBinary", add, params, "no_taps_bias")
        new += _one(ctx, layer, step, [new[-1].outputs[0]])
    return new, new[-1].outputs[0]


def _rank4(ctx, layer, phases: dict, n_batch: int, q_len) -> list:
    """Interleave with Reshape and Concat at rank 4, last axis first (see the module doc)."""
    a, o, n = layer.attrs, layer.attrs.num_output, layer.attrs.rank
    new = []
    lengths = list(q_len)
    current = dict(phases)  # key: the phase indices of the axes not yet interleaved
    for i in reversed(range(n)):
        s = a.stride[i]
        groups: dict = {}
        for key, t in current.items():
            groups.setdefault(key[:i], []).append((key[i], t))
        if s == 1:
            current = {k: ts[0][1] for k, ts in groups.items()}
            continue
        outer = n_batch * o * math.prod(q_len[:i])
        inner = math.prod(lengths[i + 1 :])
        merged_shape = (n_batch, o, *q_len[:i], q_len[i] * s, *lengths[i + 1 :])
        nxt = {}
        for key, ts in groups.items():
            tag = "_".join(map(str, key)) or "all"
            parts = []
            for r, t in sorted(ts):
                shape = ReshapeAttrs(shape=(outer, q_len[i], 1, inner))
                step = Step("Reshape", shape, suffix=f"axis{2 + i}_{tag}_{r}")
                new += _one(ctx, layer, step, [t])
                parts.append(new[-1].outputs[0])
            cat = Step("Concat", ConcatAttrs(axis=2), suffix=f"axis{2 + i}_{tag}")
            new += _one(ctx, layer, cat, parts)
            back = Step("Reshape", ReshapeAttrs(shape=merged_shape), suffix=f"axis{2 + i}_{tag}")
            new += _one(ctx, layer, back, [new[-1].outputs[0]])
            nxt[key] = new[-1].outputs[0]
        current = nxt
        lengths[i] = q_len[i] * s
    return new


def _interleave(ctx, layer, interleave, outputs: list, n_batch: int, q_len) -> list:
    a, o, n = layer.attrs, layer.attrs.num_output, layer.attrs.rank
    if len(outputs) == 1:
        return []
    if interleave == "rank4":
        keys = itertools.product(*(range(s) for s in a.stride))
        return _rank4(ctx, layer, dict(zip(keys, outputs)), n_batch, q_len)
    new = _one(ctx, layer, Step("Concat", ConcatAttrs(axis=1), suffix="phases"), outputs)
    if interleave == "depth-to-space":
        step = Step("DepthToSpace", DepthToSpaceAttrs(a.stride[0]), suffix="interleave")
        return new + _one(ctx, layer, step, [new[-1].outputs[0]])
    order = (0, 1 + n) + tuple(v for i in range(n) for v in (2 + n + i, 1 + i))
    merged = (n_batch, o) + tuple(q * s for q, s in zip(q_len, a.stride))
    for step in (
        Step("Reshape", ReshapeAttrs(shape=(n_batch, *a.stride, o, *q_len)), suffix="split"),
        Step("Permute", PermuteAttrs(order=order), suffix="interleave"),
        Step("Reshape", ReshapeAttrs(shape=merged), suffix="merge"),
    ):
        new += _one(ctx, layer, step, [new[-1].outputs[0]])
    return new


def _rule(layer, ctx):
    """The rule with the default options."""
    return _lower(layer, ctx, "transpose", "pad")


def _lower(layer, ctx, interleave: str, bias_only: str):
    if layer.type != "Deconvolution":
        return None
    a = layer.attrs
    n = a.rank
    if interleave == "depth-to-space" and math.prod(a.stride) > 1:
        if n != 2 or a.stride[0] != a.stride[1]:
            return Skip(
                f"interleave=depth-to-space needs a 2-D layer with equal strides, not a {n}-D "
                f"one with stride {a.stride} (try interleave=rank4 or transpose)"
            )
    x = ctx.spec(layer.inputs[0])
    out_len = ctx.spec(layer.outputs[0]).shape[2:]
    q_len = tuple(phase_count(L, s) for L, s in zip(out_len, a.stride))
    per_axis = [
        [phase_taps(a.kernel[i], a.stride[i], a.dilation[i], a.pads_begin[i], r) for r in range(s)]
        for i, s in enumerate(a.stride)
    ]
    new, outputs = [], []
    for r in itertools.product(*(range(s) for s in a.stride)):
        if all(per_axis[i][r[i]][0] for i in range(n)):
            layers, out = _phase(ctx, layer, x, r, per_axis, q_len)
            new += layers
            outputs.append(out)
        else:
            outputs.append(None)
    if None in outputs:
        template = next(t for t in outputs if t is not None)
        layers, filler = _bias_only(ctx, layer, template, q_len, bias_only)
        new += layers
        outputs = [filler if t is None else t for t in outputs]
    new += _interleave(ctx, layer, interleave, outputs, x.shape[0], q_len)
    crop_end = tuple(L - q * s for L, q, s in zip(out_len, q_len, a.stride))
    if any(crop_end):
        crop = Step("Pad", PadAttrs((0,) * n, crop_end), suffix="crop")
        new += ctx.chain(layer, [crop], inputs=[new[-1].outputs[0]])
    else:
        new[-1] = new[-1].replace(outputs=tuple(layer.outputs))
    return new


@register("deconv-to-subpixel")
def deconv_to_subpixel(graph, interleave: str = "transpose", bias_only: str = "pad"):
    """Deconvolution -> prod(s) phase Convolutions, interleaved and cropped.

    ``interleave``: transpose (default), depth-to-space or rank4. ``bias_only``: how a phase
    no tap reaches is made: pad (default; Pad + Add, exact for every input) or conv (a
    zero-weight depthwise 1x1 Convolution with the bias: Conv only, exact for finite inputs)."""
    if interleave not in INTERLEAVES:
        raise UsageError(
            f"deconv-to-subpixel: interleave={interleave} is not one of {', '.join(INTERLEAVES)}"
        )
    if bias_only not in ("pad", "conv"):
        raise UsageError(f"deconv-to-subpixel: bias-only={bias_only} is not one of pad, conv")
    if (interleave, bias_only) == ("transpose", "pad"):
        return rewrite(graph, _rule, "deconv-to-subpixel")
    return rewrite(
        graph, lambda layer, ctx: _lower(layer, ctx, interleave, bias_only), "deconv-to-subpixel"
    )
