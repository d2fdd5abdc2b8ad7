"""dilated-to-space-to-batch: the atrous algorithm. A dilated convolution equals an undilated one
run on the d-times-subsampled phases of the input, folded into the batch axis.

With output ``o = d*q + r``: ``y[d*q + r] = sum_t w[t] xp[d*(q + t) + r]``, an undilated
convolution of the phase sequence ``xp_r[j] = xp[d*j + r]``. Per axis:

    Convolution(k, dilation d, stride 1, pads pb/pe, group g)
      -> Pad(pb, pe + extra)                 padded length a multiple of d: d*B
      -> Reshape (N, C, B1, d1, ..., Bn, dn) -> Permute (d1..dn, N, C, B1..Bn)
      -> Reshape (d1*...*dn*N, C, B1..Bn)    phases in the batch axis
      -> Convolution(k, dilation 1, stride 1, no pads, group g)
      -> Reshape (d1..dn, N, M, b1..bn) -> Permute (N, M, b1, d1, ..., bn, dn)
      -> Reshape (N, M, b1*d1, ...)          interleave the phases back
      -> Pad(negative end)                   crop to the output length

Exact (the same products and sums). MACs equal the dilated convolution's plus the rows that the
padding to a multiple of d adds; no kernel is inflated (``dilated-to-dense`` multiplies zeros).
Strided dilated convolutions are left in place (stride-1 atrous then subsampling would need a
strided slice, which the IR does not have yet).
"""

from __future__ import annotations

import math

from graphconv.geometry import conv_output_size, padded_length, phase_count
from graphconv.layers import ConvAttrs, PadAttrs
from graphconv.layers.tensor import PermuteAttrs, ReshapeAttrs

from ._registry import register
from ._rewrite import Skip, Step, rewrite


def _rule(layer, ctx):
    if layer.type != "Convolution" or all(d == 1 for d in layer.attrs.dilation):
        return None
    a = layer.attrs
    if any(s != 1 for s in a.stride):
        return Skip(
            f"stride {a.stride} with dilation: only stride-1 dilated convolutions are "
            "folded into the batch"
        )
    x = ctx.spec(layer.inputs[0])
    y = ctx.spec(layer.outputs[0])
    n, d = a.rank, a.dilation
    N, C = x.shape[:2]
    M = a.num_output
    padded = [padded_length(h, pb, pe) for h, pb, pe in zip(x.shape[2:], a.pads_begin, a.pads_end)]
    blocks = [phase_count(p, dd) for p, dd in zip(padded, d)]
    extra = [b * dd - p for b, dd, p in zip(blocks, d, padded)]
    # >= 1: d*B >= d(k-1) + 1
    outb = [conv_output_size(b, k, 1, 1, 0, 0) for b, k in zip(blocks, a.kernel)]
    fold = math.prod(d)
    steps = [
        Step(
            "Pad",
            PadAttrs(a.pads_begin, tuple(pe + e for pe, e in zip(a.pads_end, extra))),
            suffix="pad",
        ),
        Step(
            "Reshape",
            ReshapeAttrs(shape=(N, C) + tuple(v for b, dd in zip(blocks, d) for v in (b, dd))),
            suffix="split",
        ),
        Step(
            "Permute",
            PermuteAttrs(
                order=tuple(3 + 2 * i for i in range(n))
                + (0, 1)
                + tuple(2 + 2 * i for i in range(n))
            ),
            suffix="to_batch",
        ),
        Step("Reshape", ReshapeAttrs(shape=(fold * N, C, *blocks)), suffix="fold"),
        Step(
            "Convolution",
            ConvAttrs(num_output=M, kernel=a.kernel, group=a.group, bias=a.bias),
            dict(layer.params),
            suffix="conv",
        ),
        Step("Reshape", ReshapeAttrs(shape=tuple(d) + (N, M, *outb)), suffix="unfold"),
        Step(
            "Permute",
            PermuteAttrs(order=(n, n + 1) + tuple(v for i in range(n) for v in (n + 2 + i, i))),
            suffix="from_batch",
        ),
        Step(
            "Reshape",
            ReshapeAttrs(shape=(N, M) + tuple(o * dd for o, dd in zip(outb, d))),
            suffix="merge",
        ),
    ]
    crop = tuple(L - o * dd for L, o, dd in zip(y.shape[2:], outb, d))
    if any(crop):
        steps.append(Step("Pad", PadAttrs((0,) * n, crop), suffix="crop"))
    return ctx.chain(layer, steps)


@register("dilated-to-space-to-batch")
def dilated_to_space_to_batch(graph):
    """Stride-1 dilated Convolution -> phases folded into the batch, undilated Convolution."""
    return rewrite(graph, _rule, "dilated-to-space-to-batch")
