"""fold-batchnorm: fold inference-time BatchNorm (and a following per-channel Scale) into the
layer before it.

Pattern::

    Convolution | Deconvolution | InnerProduct  (weights W, bias b)
      -> BatchNorm(stored statistics)         y = (z - mean) / sqrt(var + eps) [* s + t]
      [-> Scale(axis 1, one channel axis)]     y = y * gamma [+ beta]
    ==> one layer with W'[o] = a[o] W[o], b' = a * b + c     (per output channel o)

where ``a, c`` compose the per-channel affine maps of the BatchNorm and Scale. A Convolution or
InnerProduct scales output rows of W; a Deconvolution (weights [C, O/g, k...]) scales the columns
belonging to each output channel. The bias is added when the layer had none.

Exact up to float rounding (the arithmetic is reassociated). Applies only when each intermediate
tensor has that single consumer and is not a graph output; BatchNorm with batch statistics is
left alone (its normalisation depends on the input).

Cost: removes the BatchNorm/Scale work entirely (2 multiply-adds per element each); the folded
layer's MACs are unchanged.
"""

from __future__ import annotations

import numpy as np

from . import register
from ._rewrite import rewrite

PRODUCERS = ("Convolution", "Deconvolution", "InnerProduct")


def _batchnorm_affine(layer) -> tuple[np.ndarray, np.ndarray]:
    p, a = layer.params, layer.attrs
    mult = 1.0 / np.sqrt(p["variance"].astype(np.float64) + a.eps)
    shift = -p["mean"] * mult
    if a.affine:
        mult, shift = mult * p["scale"], shift * p["scale"] + p["bias"]
    return mult, shift


def _scale_affine(layer, channels: int, rank: int) -> tuple[np.ndarray, np.ndarray] | None:
    a = layer.attrs
    if len(layer.inputs) != 1 or a.num_axes != 1 or a.axis % rank != 1:
        return None
    if layer.params["scale"].shape != (channels,):
        return None
    shift = layer.params["bias"] if a.bias else np.zeros(channels)
    return layer.params["scale"].astype(np.float64), shift.astype(np.float64)


def _fold_into(layer, mult: np.ndarray, shift: np.ndarray, outputs) -> object:
    w = layer.params["weight"].astype(np.float64)
    if layer.type == "Deconvolution":
        g = layer.attrs.group
        c, og = w.shape[:2]
        per = mult.reshape(g, 1, og)  # output channel gi*og + j scales column j of group gi
        w = (w.reshape(g, c // g, og, -1) * per[..., None]).reshape(w.shape)
    else:
        w = w * mult.reshape((-1,) + (1,) * (w.ndim - 1))
    bias = layer.params.get("bias")
    b = shift + (mult * bias if bias is not None else 0.0)
    attrs = layer.attrs
    if not attrs.bias:
        import dataclasses

        attrs = dataclasses.replace(attrs, bias=True)
    return layer.replace(outputs=tuple(outputs), attrs=attrs,
                         params={"weight": w.astype(np.float32), "bias": b.astype(np.float32)})


def _rule(layer, ctx):
    if layer.type not in PRODUCERS:
        return None
    bn = ctx.sole_consumer(layer.outputs[0])
    if bn is None or bn.type != "BatchNorm":
        return None
    if bn.attrs.statistics != "stored":
        ctx.note(f"fold-batchnorm: BatchNorm '{bn.name}' uses batch statistics; not folded")
        return None
    mult, shift = _batchnorm_affine(bn)
    absorbed, last = [bn], bn
    scale = ctx.sole_consumer(bn.outputs[0])
    if scale is not None and scale.type == "Scale":
        affine = _scale_affine(scale, mult.shape[0], ctx.spec(bn.outputs[0]).rank)
        if affine is not None:
            m2, s2 = affine
            mult, shift = mult * m2, shift * m2 + s2
            absorbed.append(scale)
            last = scale
    for dead in absorbed:
        ctx.absorb(dead)
    return [_fold_into(layer, mult, shift, last.outputs)]


@register("fold-batchnorm")
def fold_batchnorm(graph):
    """Convolution/Deconvolution/InnerProduct + BatchNorm (+ Scale) -> one layer."""
    return rewrite(graph, _rule, "fold-batchnorm")
