"""split-large-kernel:max=K: a convolution with a kernel larger than K as a sum of convolutions
with kernels of at most K, each reading the input shifted to its taps.

Pattern: per axis the taps ``0..k-1`` are cut into consecutive chunks ``[a, a + m)`` with
``m <= K``; every combination of chunks over the axes is one piece::

    Convolution(W[O, C/g, k...], s, d, pb, pe, g, bias)
      -> for each piece: [Pad(crop)] -> Convolution(W[..., a:a+m ...], s, d, pb - d*a, pe', g)
      -> Binary(add) pairwise                                   (ONNX Add), the bias in piece 0

Output ``o`` of the original sums ``w[t] x[o*s + d*t - pb]``; the taps ``t = a + u`` of one
chunk are a convolution with ``m`` taps whose begin pad is ``pb - d*a`` (negative: a crop, done
by a Pad layer before it) and whose end pad gives the same output length. Exact in real
arithmetic; float sums are regrouped (bit-equal on integers). Cost: the same MACs, plus one
addition per output sample for each piece after the first.
"""

from __future__ import annotations

import dataclasses
import itertools

from graphconv.errors import UsageError
from graphconv.geometry import end_pad
from graphconv.layers import PadAttrs
from graphconv.layers.elementwise import BinaryAttrs

from ._registry import register
from ._rewrite import Skip, Step, rewrite


def _chunks(k: int, limit: int) -> list[tuple[int, int]]:
    """(first tap, taps) of each chunk: as few as possible, sizes differing by at most one."""
    count = -(-k // limit)
    sizes = [k // count + (i < k % count) for i in range(count)]
    starts = [sum(sizes[:i]) for i in range(count)]
    return list(zip(starts, sizes))


def _piece(ctx, layer, chunks, out_len, x_len, tag):
    a = layer.attrs
    begin = [pb - d * c0 for pb, d, (c0, _) in zip(a.pads_begin, a.dilation, chunks)]
    end = [
        end_pad(o, h, m, s, d, b)
        for o, h, (_, m), s, d, b in zip(out_len, x_len, chunks, a.stride, a.dilation, begin)
    ]
    index = (slice(None), slice(None)) + tuple(slice(c0, c0 + m) for c0, m in chunks)
    params = {"weight": layer.params["weight"][index].copy()}
    first = all(c0 == 0 for c0, _ in chunks)
    if a.bias and first:
        params["bias"] = layer.params["bias"]
    conv = dataclasses.replace(
        a,
        kernel=tuple(m for _, m in chunks),
        pads_begin=tuple(max(v, 0) for v in begin),
        pads_end=tuple(max(v, 0) for v in end),
        bias=a.bias and first,
    )
    steps = []
    if any(h + min(b, 0) + min(e, 0) < 1 for h, b, e in zip(x_len, begin, end)):
        return None, None  # this piece's taps only ever meet padding
    if any(v < 0 for v in begin + end):
        crop = PadAttrs(tuple(min(v, 0) for v in begin), tuple(min(v, 0) for v in end))
        steps.append(Step("Pad", crop, suffix=f"piece{tag}_crop"))
    steps.append(Step("Convolution", conv, params, suffix=f"piece{tag}"))
    out = ctx.fresh(f"{layer.name}/piece{tag}")
    return ctx.chain(layer.replace(outputs=(out,)), steps), out


def _rule_for(limit: int):
    def rule(layer, ctx):
        if layer.type not in ("Convolution", "Deconvolution", "Pooling"):
            return None
        a = layer.attrs
        if layer.type == "Pooling":
            if a.global_pooling or all(k <= limit for k in a.kernel):
                return None
            return Skip(f"pooling kernel {a.kernel} above {limit}: not split (not a sum)")
        if all(k <= limit for k in a.kernel):
            return None
        if layer.type == "Deconvolution":
            return Skip(f"kernel {a.kernel} above {limit}: lower the deconvolution first")
        out_len = ctx.spec(layer.outputs[0]).shape[2:]
        x_len = ctx.spec(layer.inputs[0]).shape[2:]
        per_axis = [_chunks(k, limit) for k in a.kernel]
        new, outs = [], []
        for chunks in itertools.product(*per_axis):
            tag = "_".join(str(c0) for c0, _ in chunks)
            layers, out = _piece(ctx, layer, chunks, out_len, x_len, tag)
            if layers is None:
                return Skip(f"the taps {chunks} only ever meet the padding (pads {a.pads_begin})")
            new += layers
            outs.append(out)
        acc = outs[0]
        for i, t in enumerate(outs[1:], start=1):
            last = i == len(outs) - 1
            target = layer if last else layer.replace(outputs=(ctx.fresh(f"{layer.name}/sum{i}"),))
            step = Step("Binary", BinaryAttrs("add"), suffix=f"sum{i}")
            new += ctx.chain(target, [step], inputs=[acc, t])
            acc = new[-1].outputs[0]
        return new

    return rule


@register("split-large-kernel")
def split_large_kernel(graph, max: int = 3):
    """Convolution with a kernel above ``max`` -> convolutions of at most ``max`` taps, added."""
    if max < 1:
        raise UsageError(f"split-large-kernel: max={max} must be >= 1")
    return rewrite(graph, _rule_for(max), "split-large-kernel")
