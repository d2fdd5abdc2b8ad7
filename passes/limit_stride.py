"""limit-stride:max=S: a convolution or pooling whose stride exceeds S as one at an allowed
stride, then subsampling.

Pattern, per axis with stride ``s > S`` (``s'`` = the largest divisor of ``s`` not above S,
``r = s / s'``)::

    Convolution(k, s, d, pads, g)  ->  Convolution(k, s', d, pads, g) -> StridedSlice(step r)
    Pooling(MAX/AVE, k, s, pad)     ->  Pooling(k, s', pad)              -> StridedSlice(step r)

Window ``o`` of the original starts at ``o*s - pb``, window ``o*r`` of the new layer at
``o*r*s' - pb``: the same window, so the same sum (or max, or average with Caffe's divisor,
which depends only on where a window starts). Exact, bit-equal on integers. For a convolution
every needed window exists in the stride-``s'`` output (``(out-1)*s`` is within the padded
span); a Caffe pooling with CEIL rounding can have a last, partial window at stride ``s`` past
the last one at stride ``s'``: such layers are left in place with a note, as are global pooling
and MAX pooling with a mask output.

Cost: the new layer computes ``r`` times as many outputs per axis (``prod(r)`` times the MACs),
all but one in ``r`` of them discarded.
"""

from __future__ import annotations

import dataclasses

from graphconv.errors import UsageError
from graphconv.layers.slicing import StridedSliceAttrs

from ._registry import register
from ._rewrite import Skip, Step, rewrite


def _allowed(s: int, limit: int) -> int:
    return max(v for v in range(1, min(s, limit) + 1) if s % v == 0)


def _rule_for(limit: int):
    def rule(layer, ctx):
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
        n = len(out)
        cut = StridedSliceAttrs(
            starts=(0,) * n,
            ends=tuple((o - 1) * r + 1 for o, r in zip(out, steps)),
            axes=tuple(range(2, 2 + n)),
            steps=steps,
        )
        return ctx.chain(
            layer,
            [
                Step(layer.type, attrs, dict(layer.params), suffix="dense"),
                Step("StridedSlice", cut, suffix="subsample"),
            ],
        )

    return rule


@register("limit-stride")
def limit_stride(graph, max: int = 1):
    """Convolution / Pooling with a stride above ``max`` -> an allowed stride + StridedSlice."""
    if max < 1:
        raise UsageError(f"limit-stride: max={max} must be >= 1")
    return rewrite(graph, _rule_for(max), "limit-stride")
