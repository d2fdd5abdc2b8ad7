"""fold-batchnorm: fold inference-time BatchNorm (and a following per-channel Scale) into the
layer before it.

Pattern::

    Convolution | Deconvolution | InnerProduct  (weights W, bias b)
      -> BatchNorm(stored statistics)         y = (z - mean) / sqrt(var + eps) [* s + t]
      [-> Scale(axis 1, one channel axis)]     y = y * gamma [+ beta]
    ==> one layer with W'[o] = a[o] W[o], b' = a * b + c     (per output channel o)

where ``a, c`` compose the per-channel affine maps of the BatchNorm and Scale. The maps come
from ``LayerType.affine`` and the folding from ``LayerType.fold_affine`` (both computed by
:mod:`graphconv.affine`): the very functions the interpreter fuses with. A Convolution or
InnerProduct scales output rows of W; a Deconvolution (weights [C, O/g, k...]) scales the columns
belonging to each output channel. The bias is added when the layer had none.

Exact up to float rounding (the arithmetic is reassociated). Applies only when each intermediate
tensor has that single consumer and is not a graph output; BatchNorm with batch statistics is
left alone (its normalisation depends on the input), and so is an InnerProduct whose ``axis`` is
not 1 (its output channels are then not the BatchNorm's channel axis).

Cost: removes the BatchNorm/Scale work entirely (2 multiply-adds per element each); the folded
layer's MACs are unchanged.
"""

from __future__ import annotations

import dataclasses

from graphconv.affine import Affine, compose

from ._registry import register
from ._rewrite import rewrite

PRODUCERS = ("Convolution", "Deconvolution", "InnerProduct")  # the pattern's first layer


def _folded(layer, mult, shift, outputs):
    """``layer`` followed by the affine map, as one layer writing ``outputs``; None when its type
    cannot absorb the map (``LayerType.fold_affine``, the interpreter's fusion hook)."""
    params = layer.definition.fold_affine(layer.attrs, layer.params, Affine(mult, shift))
    if params is None:
        return None
    attrs = layer.attrs if layer.attrs.bias else dataclasses.replace(layer.attrs, bias=True)
    return layer.replace(outputs=tuple(outputs), attrs=attrs, params=params)


def _rule(layer, ctx):
    if layer.type not in PRODUCERS:
        return None
    bn = ctx.sole_consumer(layer.outputs[0])
    if bn is None or bn.type != "BatchNorm":
        return None
    x = ctx.spec(layer.outputs[0])
    affine = bn.definition.affine(bn.attrs, bn.params, x)
    if affine is None:
        ctx.note(f"fold-batchnorm: BatchNorm '{bn.name}' uses batch statistics; not folded")
        return None
    absorbed = [bn]
    scale = ctx.sole_consumer(bn.outputs[0])
    if scale is not None and scale.type == "Scale":
        then = scale.definition.affine(scale.attrs, scale.params, ctx.spec(bn.outputs[0]))
        if then is not None and len(then[0]) == len(affine[0]):
            affine = compose(affine, then)
            absorbed.append(scale)
    folded = _folded(layer, *affine, absorbed[-1].outputs)
    if folded is None:
        return None
    for dead in absorbed:
        ctx.absorb(dead)
    return [folded]


@register("fold-batchnorm")
def fold_batchnorm(graph):
    """Convolution/Deconvolution/InnerProduct + BatchNorm (+ Scale) -> one layer."""
    return rewrite(graph, _rule, "fold-batchnorm")
