"""split-grouped-deconv and fuse-grouped-deconv: a grouped transposed convolution as one
layer per group, and back.

Pattern (split)::

    Deconvolution(W[C, O/g, k...], group g, b[O])
      -> Slice(axis 1, g equal parts)
      -> for each group i: Deconvolution(W[i*C/g : (i+1)*C/g], group 1, b[i*O/g : (i+1)*O/g])
      -> Concat(axis 1)

Pattern (fuse), the reverse: a Slice of the channel axis into equal parts, each part read by
exactly one Deconvolution, all with the same attributes (kernel, stride, dilation, pads,
output_padding, num_output, group h, bias or not), their outputs read only by one Concat on
axis 1 in the same order -> one Deconvolution with group ``parts * h``, the weights and biases
concatenated along axis 0.

Exact both ways (bit-equal on integers): group i's outputs sum exactly group i's inputs'
products in both forms. Cost: the same MACs; the split form adds a Slice and a Concat (data
movement), the fused form removes them. A depthwise deconvolution splits into C layers.
"""

from __future__ import annotations

import numpy as np

from graphconv.ir import Layer
from graphconv.layers import DeconvAttrs
from graphconv.layers.base import canonical_axis
from graphconv.layers.slicing import SliceAttrs
from graphconv.layers.tensor import ConcatAttrs

from ._registry import register
from ._rewrite import rewrite

_SAME = ("kernel", "stride", "dilation", "pads_begin", "pads_end", "output_padding", "bias")


def _split(layer, ctx):
    if layer.type != "Deconvolution" or layer.attrs.group == 1:
        return None
    a, g = layer.attrs, layer.attrs.group
    og = a.num_output // g
    cg = ctx.spec(layer.inputs[0]).shape[1] // g
    parts = [ctx.fresh(f"{layer.name}/group{i}_in") for i in range(g)]
    new = [
        Layer(
            ctx.fresh(f"{layer.name}/split"),
            "Slice",
            layer.inputs[:1],
            tuple(parts),
            SliceAttrs(num_outputs=g, axis=1),
            source=layer.source,
        )
    ]
    fields = {f: getattr(a, f) for f in _SAME}
    outs = []
    for i, part in enumerate(parts):
        params = {"weight": np.ascontiguousarray(layer.params["weight"][i * cg : (i + 1) * cg])}
        if a.bias:
            params["bias"] = np.ascontiguousarray(layer.params["bias"][i * og : (i + 1) * og])
        name = ctx.fresh(f"{layer.name}/group{i}")
        outs.append(name)
        attrs = DeconvAttrs(num_output=og, group=1, **fields)
        new.append(Layer(name, "Deconvolution", (part,), (name,), attrs, params, layer.source))
    new.append(
        Layer(
            ctx.fresh(f"{layer.name}/concat"),
            "Concat",
            tuple(outs),
            layer.outputs,
            ConcatAttrs(axis=1),
            source=layer.source,
        )
    )
    return new


def _fuse(layer, ctx):
    if layer.type != "Slice" or len(layer.outputs) < 2:
        return None
    x = ctx.spec(layer.inputs[0])
    if canonical_axis(layer.attrs.axis, x.rank) != 1:
        return None
    if len({e - b for b, e in layer.attrs.bounds(x.shape[1])}) != 1:
        return None
    deconvs = [ctx.sole_consumer(t) for t in layer.outputs]
    if any(d is None or d.type != "Deconvolution" or len(d.inputs) != 1 for d in deconvs):
        return None
    first = deconvs[0].attrs
    if any(
        getattr(d.attrs, f) != getattr(first, f)
        for d in deconvs
        for f in (*_SAME, "num_output", "group")
    ):
        return None
    concat = ctx.sole_consumer(deconvs[0].outputs[0])
    if (
        concat is None
        or concat.type != "Concat"
        or concat.inputs != tuple(d.outputs[0] for d in deconvs)
        or any(ctx.sole_consumer(d.outputs[0]) is not concat for d in deconvs)
        or canonical_axis(concat.attrs.axis, ctx.spec(concat.outputs[0]).rank) != 1
    ):
        return None
    for d in (*deconvs, concat):
        ctx.absorb(d)
    parts = len(deconvs)
    params = {"weight": np.concatenate([d.params["weight"] for d in deconvs], axis=0)}
    if first.bias:
        params["bias"] = np.concatenate([d.params["bias"] for d in deconvs])
    attrs = DeconvAttrs(
        num_output=first.num_output * parts,
        group=first.group * parts,
        **{f: getattr(first, f) for f in _SAME},
    )
    name = ctx.fresh(f"{deconvs[0].name}/fused")
    return [
        Layer(name, "Deconvolution", layer.inputs[:1], concat.outputs, attrs, params, layer.source)
    ]


@register("split-grouped-deconv")
def split_grouped_deconv(graph):
    """Grouped Deconvolution -> Slice, one Deconvolution per group, Concat."""
    return rewrite(graph, _split, "split-grouped-deconv")


@register("fuse-grouped-deconv")
def fuse_grouped_deconv(graph):
    """Slice -> equal Deconvolutions -> Concat  ->  one grouped Deconvolution."""
    return rewrite(graph, _fuse, "fuse-grouped-deconv")
