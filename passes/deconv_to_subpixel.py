"""deconv-to-subpixel: a strided transposed convolution as s^n phase convolutions, interleaved.

With output index ``o = s*q + r`` (phase ``r`` in ``0..s-1`` per axis), the Deconvolution
``y[o] = sum_{i, t: o + pb = s*i + d*t} x[i] w[t]`` reads, for a fixed phase, only the taps
``T_r = {t : (r + pb - d*t) = 0 mod s}`` at input ``x[q + (r + pb - d*t)/s]``. Consecutive taps
of ``T_r`` are ``s/gcd(s,d)`` apart and move the input by ``d' = d/gcd(s,d)``, so each phase is a
plain stride-1 convolution:

    Deconvolution(W[C, O/g, k...], s, d, pb, pe, op, g)
      -> for each phase r:  Pad(x) -> Convolution(W[..., T_r reversed], dilation d', group g)
      -> Concat(phases, axis 1)                     (N, prod(s)*O, Q...)
      -> Reshape / Permute / Reshape                 interleave: y[s*q + r] = phase_r[q]
      -> Pad(negative end)                           crop Q*s to the output length

Exact: each output sample sums the same products as the deconvolution (float summation order
aside). Every weight is a real tap: no multiplication by an inserted zero. Total MACs equal the
direct deconvolution's (up to the last, cropped row of phases), prod(s) times fewer than
``deconv-to-conv``. A phase with no taps (a kernel shorter than the stride on some axis) would be
bias only; such layers are left in place. Stride-1 deconvolutions are left to ``deconv-to-conv``.
"""

from __future__ import annotations

import itertools
from math import gcd

import numpy as np

from graphconv.geometry import end_pad, phase_count, phase_taps
from graphconv.layers import ConvAttrs, PadAttrs
from graphconv.layers.tensor import ConcatAttrs, PermuteAttrs, ReshapeAttrs

from ._registry import register
from ._rewrite import Skip, Step, rewrite


def _rule(layer, ctx):
    if layer.type != "Deconvolution":
        return None
    a = layer.attrs
    if all(s == 1 for s in a.stride):
        return None
    x = ctx.spec(layer.inputs[0])
    y = ctx.spec(layer.outputs[0])
    n, g = a.rank, a.group
    c, og = x.shape[1], a.num_output // g
    out_len = y.shape[2:]
    q_len = tuple(phase_count(L, s) for L, s in zip(out_len, a.stride))
    per_axis = []
    for i in range(n):
        s, d, k, pb = a.stride[i], a.dilation[i], a.kernel[i], a.pads_begin[i]
        phases = [phase_taps(k, s, d, pb, r) for r in range(s)]
        if any(not taps for taps, _ in phases):
            return Skip(
                f"a phase on axis {2 + i} has no kernel taps (kernel {k} < stride {s}"
                f" at dilation {d}); it would be bias only"
            )
        per_axis.append(phases)
    w = layer.params["weight"]
    bias = {"bias": layer.params["bias"]} if a.bias else {}
    new, branch_outputs = [], []
    for r in itertools.product(*(range(s) for s in a.stride)):
        taps = [per_axis[i][r[i]][0] for i in range(n)]
        offsets = [per_axis[i][r[i]][1] for i in range(n)]
        dil = tuple(d // gcd(s, d) for s, d in zip(a.stride, a.dilation))
        sub = w[np.ix_(range(c), range(og), *taps)]  # (C, Og, M...)
        m = sub.shape[2:]
        conv_w = sub.reshape(g, c // g, og, *m).swapaxes(1, 2).reshape(g * og, c // g, *m)
        low = tuple(-off for off in offsets)
        high = tuple(
            end_pad(q, h, mm, 1, dd, lo)
            for q, lo, dd, mm, h in zip(q_len, low, dil, m, x.shape[2:])
        )
        tag = "_".join(map(str, r))
        steps = []
        if any(low) or any(high):
            steps.append(Step("Pad", PadAttrs(low, high), suffix=f"phase{tag}_pad"))
        steps.append(
            Step(
                "Convolution",
                ConvAttrs(num_output=a.num_output, kernel=m, dilation=dil, group=g, bias=a.bias),
                {"weight": np.ascontiguousarray(conv_w), **bias},
                f"phase{tag}",
            )
        )
        out = ctx.fresh(f"{layer.name}/phase{tag}")
        chain = ctx.chain(layer.replace(outputs=(out,)), steps)
        new.extend(chain)
        branch_outputs.append(out)
    o = a.num_output
    N = x.shape[0]
    order = (0, 1 + n) + tuple(v for i in range(n) for v in (2 + n + i, 1 + i))
    crop_end = tuple(L - q * s for L, q, s in zip(out_len, q_len, a.stride))
    tail = [
        Step("Concat", ConcatAttrs(axis=1), suffix="phases"),
        Step("Reshape", ReshapeAttrs(shape=(N, *a.stride, o, *q_len)), suffix="split"),
        Step("Permute", PermuteAttrs(order=order), suffix="interleave"),
        Step(
            "Reshape",
            ReshapeAttrs(shape=(N, o) + tuple(q * s for q, s in zip(q_len, a.stride))),
            suffix="merge",
        ),
    ]
    if any(crop_end):
        tail.append(Step("Pad", PadAttrs((0,) * n, crop_end), suffix="crop"))
    new.extend(ctx.chain(layer, tail, inputs=branch_outputs))
    return new


@register("deconv-to-subpixel")
def deconv_to_subpixel(graph):
    """Strided Deconvolution -> prod(s) phase Convolutions, interleaved and cropped."""
    return rewrite(graph, _rule, "deconv-to-subpixel")
