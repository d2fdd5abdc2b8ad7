"""fold-batchnorm: fold a chain of per-channel affine layers into the layer before it.

Pattern::

    Convolution | Deconvolution | InnerProduct  (weights W, bias b)
      -> affine layer -> affine layer -> ...    each y = x * mult[c] + shift[c]
    ==> one layer with W'[o] = a[o] W[o], b' = a * b + c     (per output channel o)

An affine layer is any layer type whose ``LayerType.affine`` states it as a per-channel map of
channel axis 1: BatchNorm with stored statistics (also PSPNet's BN fork layer), a one-input Scale
over axis 1 alone (also caffe-segnet's INFERENCE-mode BN, which loads as one), in any number and
order (Caffe's BatchNorm + Scale pairs, SegNet's Convolution -> BN, ENet's Deconvolution -> BN).
``a, c`` compose the chain's maps (:func:`graphconv.affine.compose`), and the producer's
``LayerType.fold_affine`` absorbs them (:func:`graphconv.affine.fold_into_weights`): the very
functions the interpreter fuses with. A Convolution or InnerProduct scales output rows of W; a
Deconvolution (weights [C, O/g, k...]) the columns belonging to each output channel. The bias is
added when the layer had none.

Caffe's in-place layers (``conv1 -> bn -> scale`` all writing blob ``conv1``) are single-
assignment tensors here (``conv1#1``, ``conv1#2``, ``conv1``): the folded layer writes the
chain's last tensor, so the following layers read what they read before.

Exact up to float rounding (the arithmetic is reassociated). Applies only where each
intermediate tensor has that single consumer and is not a graph output. Every affine chain left
alone gets a note saying why: it follows a layer that cannot absorb it (Concat, Input, ...), the
tensor it reads is also read elsewhere or is a graph output, it is not a per-channel map
(BatchNorm with batch statistics, a two-input Scale, a Scale over other axes), or the producer
cannot fold it (an InnerProduct whose ``axis`` is not 1).

Cost: removes the BatchNorm/Scale work entirely (2 multiply-adds per element each); the folded
layer's MACs are unchanged.
"""

from __future__ import annotations

import dataclasses

from graphconv.affine import Affine, composable, compose
from graphconv.registry import LayerType

from ._registry import register
from ._rewrite import Skip, rewrite

PRODUCERS = ("Convolution", "Deconvolution", "InnerProduct")  # the pattern's first layer


def _maybe_affine(layer) -> bool:
    """Whether ``layer``'s type can be a per-channel affine map at all (it states one through
    ``LayerType.affine`` for some attributes): the layers a chain is made of."""
    return type(layer.definition).affine is not LayerType.affine


def _map(layer, ctx):
    """``layer`` as a per-channel ``(mult, shift)`` map, or None."""
    if len(layer.inputs) != 1 or len(layer.outputs) != 1:
        return None
    return layer.definition.affine(layer.attrs, layer.params, ctx.spec(layer.inputs[0]))


def _folded(layer, mult, shift, outputs):
    """``layer`` followed by the affine map, as one layer writing ``outputs``; None when its type
    cannot absorb the map (``LayerType.fold_affine``, the interpreter's fusion hook)."""
    params = layer.definition.fold_affine(layer.attrs, layer.params, Affine(mult, shift))
    if params is None:
        return None
    attrs = layer.attrs if layer.attrs.bias else dataclasses.replace(layer.attrs, bias=True)
    return layer.replace(outputs=tuple(outputs), attrs=attrs, params=params)


def _chain(layer, ctx):
    """The affine layers following ``layer`` one after another (each the sole reader of the
    tensor before it, which is no graph output), and their composed map."""
    chain, affine = [], None
    tensor = layer.outputs[0]
    while True:
        nxt = ctx.sole_consumer(tensor)
        if nxt is None or not _maybe_affine(nxt):
            return chain, affine
        m = _map(nxt, ctx)
        if m is None or (affine is not None and not composable(affine, m)):
            return chain, affine
        affine = m if affine is None else compose(affine, m)
        chain.append(nxt)
        tensor = nxt.outputs[0]


def _not_a_map(layer, ctx) -> str:
    """Why an affine-capable layer is not a per-channel map here."""
    a = layer.attrs
    if getattr(a, "statistics", "stored") != "stored":
        return "it normalises with batch statistics (they depend on the input)"
    if len(layer.inputs) != 1:
        return "its factor is a second input, not a stored parameter"
    return "it is not one factor per channel of axis 1"


def _why_left(layer, ctx) -> str | None:
    """Why the affine chain starting at ``layer`` is not folded; None when ``layer`` is no
    chain's head (it continues a chain already noted)."""
    source = ctx.graph.producer.get(layer.inputs[0])
    if source is not None and source.name not in ctx.absorbed and _maybe_affine(source):
        if ctx.sole_consumer(layer.inputs[0]) is not None:
            return None  # the chain's head, before it, carries the note
    if _map(layer, ctx) is None:
        return _not_a_map(layer, ctx)
    tensor = layer.inputs[0]
    if source is None or source.definition.is_source:
        return f"it reads graph input '{tensor}'"
    if source.type not in PRODUCERS and source.name not in ctx.absorbed:  # absorbed: folded
        return (
            f"it follows {source.type} '{source.name}' (only a Convolution, Deconvolution or "
            "InnerProduct absorbs a per-channel map)"
        )
    if tensor in ctx.graph.outputs:
        return f"'{tensor}' is a graph output"
    readers = [u.name for u in ctx.graph.consumers.get(tensor, ()) if u.name != layer.name]
    if readers:
        return f"'{tensor}' is also read by {', '.join(repr(r) for r in readers)}"
    if source.type == "InnerProduct":
        return (
            f"InnerProduct '{source.name}' has axis {source.attrs.axis}: its outputs are not axis 1"
        )
    return f"its map does not fit the channels of {source.type} '{source.name}'"


def _rule(layer, ctx):
    if layer.type in PRODUCERS and len(layer.outputs) == 1:
        chain, affine = _chain(layer, ctx)
        if chain:
            folded = _folded(layer, *affine, chain[-1].outputs)
            if folded is not None:
                for dead in chain:
                    ctx.absorb(dead)
                return [folded]
        return None
    if _maybe_affine(layer) and layer.inputs:
        why = _why_left(layer, ctx)
        return None if why is None else Skip(why)
    return None


@register("fold-batchnorm")
def fold_batchnorm(graph):
    """Convolution/Deconvolution/InnerProduct + any chain of per-channel affine layers
    (BatchNorm, Scale, BN) -> one layer."""
    return rewrite(graph, _rule, "fold-batchnorm")
