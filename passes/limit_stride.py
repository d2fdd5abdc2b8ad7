"""limit-stride:max=S: a convolution or pooling whose stride exceeds S as one at an allowed
stride, then subsampling; a transposed convolution as zero insertion, then one at an allowed
stride.

Pattern, per axis with stride ``s > S`` (``s'`` = the largest divisor of ``s`` not above S,
``r = s / s'``)::

    Convolution(k, s, d, pads, g)  ->  Convolution(k, s', d, pads, g) -> StridedSlice(step r)
    Pooling(MAX/AVE, k, s, pad)     ->  Pooling(k, s', pad)              -> StridedSlice(step r)
    Deconvolution(k, s, d, pads, op, g)
      -> Deconvolution(kernel 1, stride r_1, group C, weight 1, no bias)   zero insertion,
         ... one per factor r_j <= S of r = r_1 r_2 ...                     as a ConvTranspose
      -> Deconvolution(k, s', d, pads, op, g)

Window ``o`` of the original starts at ``o*s - pb``, window ``o*r`` of the new layer at
``o*r*s' - pb``: the same window, so the same sum (or max, or average with Caffe's divisor,
which depends only on where a window starts). Exact, bit-equal on integers. For a convolution
every needed window exists in the stride-``s'`` output (``(out-1)*s`` is within the padded
span); a Caffe pooling with CEIL rounding can have a last, partial window at stride ``s`` past
the last one at stride ``s'``: such layers are left in place with a note, as are global pooling
and MAX pooling with a mask output.

A transposed convolution reads ``x[i]`` at ``s*i``; zero insertion by ``r`` puts it at ``r*i``
and the stride-``s'`` layer then at ``s'*r*i``: the same sums (a kernel-1 ConvTranspose with
weight 1 is exact zero insertion, length ``r(H-1) + 1``). A stride whose prime factors exceed S,
or an output_padding not below ``max(s', d)``, is left with a note (``remove-output-padding``
first).

``subsample=conv`` subsamples with depthwise 1x1 Convolutions of weight 1 (strides whose
product is ``r``, each at most S) in place of the StridedSlice, for targets without Slice: exact
(``1 * x`` is ``x``); for a convolution the lengths agree by ``floor(floor(a/s')/r) =
floor(a/s)``, a pooling whose lengths do not is left with a note.

Cost: the new layer computes ``r`` times as many outputs per axis (``prod(r)`` times the MACs),
all but one in ``r`` of them discarded. A deconvolution's MACs do not change (plus one
multiply per sample of each zero insertion).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from graphconv.errors import UsageError
from graphconv.layers import ConvAttrs, DeconvAttrs
from graphconv.layers.slicing import StridedSliceAttrs

from ._registry import register
from ._rewrite import Skip, Step, rewrite


def _allowed(s: int, limit: int) -> int:
    return max(v for v in range(1, min(s, limit) + 1) if s % v == 0)


def _factors(r: int, limit: int) -> list[int] | None:
    """``r`` as a product of factors each at most ``limit`` (largest first), or None."""
    out = []
    while r > 1:
        f = _allowed(r, limit)
        if f == 1:
            return None
        out.append(f)
        r //= f
    return out


def _deconv(layer, ctx, limit: int):
    a = layer.attrs
    new_stride = tuple(_allowed(s, limit) for s in a.stride)
    rest = [_factors(s // t, limit) for s, t in zip(a.stride, new_stride)]
    if None in rest:
        return Skip(f"stride {a.stride} has a prime factor above {limit}")
    try:
        attrs = dataclasses.replace(a, stride=new_stride)
    except ValueError as e:
        return Skip(f"at stride {new_stride}: {e} (remove-output-padding first)")
    n, c = a.rank, ctx.spec(layer.inputs[0]).shape[1]
    stages = max(len(f) for f in rest)
    steps = []
    for j in range(stages):
        stride = tuple(f[j] if j < len(f) else 1 for f in rest)
        insert = DeconvAttrs(num_output=c, kernel=(1,) * n, stride=stride, group=c, bias=False)
        weight = np.ones((c, 1) + (1,) * n, np.float32)
        steps.append(Step("Deconvolution", insert, {"weight": weight}, f"zero_insert{j}"))
    steps.append(Step("Deconvolution", attrs, dict(layer.params), suffix="deconv"))
    return ctx.chain(layer, steps)


def _subsampling_convs(steps, dense, out, limit: int, c: int) -> list[Step] | Skip:
    """Depthwise 1x1 Convolutions (weight 1, no bias) with strides <= ``limit`` whose product is
    ``steps`` per axis, or why there are none. Each keeps samples ``0, f, 2f, ...``: the
    subsampling, exactly (1 * x is x, Inf and NaN included)."""
    rest = [_factors(r, limit) for r in steps]
    if None in rest:
        return Skip(f"subsampling by {steps} with strides <= {limit}: a prime factor is larger")
    lengths = list(dense)
    n, stages = len(steps), max(len(f) for f in rest)
    convs = []
    for j in range(stages):
        stride = tuple(f[j] if j < len(f) else 1 for f in rest)
        lengths = [(h - 1) // f + 1 for h, f in zip(lengths, stride)]
        attrs = ConvAttrs(num_output=c, kernel=(1,) * n, stride=stride, group=c, bias=False)
        weight = np.ones((c, 1) + (1,) * n, np.float32)
        convs.append(Step("Convolution", attrs, {"weight": weight}, f"subsample{j}"))
    if tuple(lengths) != tuple(out):
        return Skip(f"subsampling {tuple(dense)} by {steps} gives {tuple(lengths)}, not {out}")
    return convs


def _rule_for(limit: int, subsample: str):
    def rule(layer, ctx):
        if layer.type == "Deconvolution" and any(s > limit for s in layer.attrs.stride):
            return _deconv(layer, ctx, limit)
        if layer.type not in ("Convolution", "Pooling"):
            return None
        a = layer.attrs
        if all(s <= limit for s in a.stride):
            return None
        if layer.type == "Pooling" and (a.global_pooling or a.mask):
            return Skip("global pooling and MAX pooling with a mask output are not subsampled")
        out = ctx.spec(layer.outputs[0]).shape[2:]
        stride = a.stride * len(out) if len(a.stride) == 1 else a.stride  # Pooling broadcasts
        new_stride = tuple(_allowed(s, limit) for s in stride)
        steps = tuple(s // t for s, t in zip(stride, new_stride))
        attrs = dataclasses.replace(a, stride=new_stride)
        dense = layer.definition.infer(attrs, [ctx.spec(layer.inputs[0])])[0].shape[2:]
        if any((o - 1) * r >= d for o, r, d in zip(out, steps, dense)):
            return Skip(
                f"the last window at stride {stride} lies past the last one at stride "
                f"{new_stride} (Caffe's CEIL rounding)"
            )
        dense_step = Step(layer.type, attrs, dict(layer.params), suffix="dense")
        if subsample == "conv":
            sub = _subsampling_convs(steps, dense, out, limit, ctx.spec(layer.outputs[0]).shape[1])
            if isinstance(sub, Skip):
                return sub
            return ctx.chain(layer, [dense_step, *sub])
        n = len(out)
        cut = StridedSliceAttrs(
            starts=(0,) * n,
            ends=tuple((o - 1) * r + 1 for o, r in zip(out, steps)),
            axes=tuple(range(2, 2 + n)),
            steps=steps,
        )
        return ctx.chain(layer, [dense_step, Step("StridedSlice", cut, suffix="subsample")])

    return rule


@register("limit-stride")
def limit_stride(graph, max: int = 1, subsample: str = "slice"):
    """Stride above ``max`` -> an allowed stride + subsampling (or zero insertion first).

    Convolution / Pooling: the layer at an allowed stride, then StridedSlice; Deconvolution:
    zero insertion (kernel-1 Deconvolutions), then the layer at an allowed stride.
    ``subsample=conv``: subsample with depthwise 1x1 Convolutions (weight 1, strides <= max)
    instead of a StridedSlice."""
    if max < 1:
        raise UsageError(f"limit-stride: max={max} must be >= 1")
    if subsample not in ("slice", "conv"):
        raise UsageError(f"limit-stride: subsample={subsample} is not one of slice, conv")
    return rewrite(graph, _rule_for(max, subsample), "limit-stride")
