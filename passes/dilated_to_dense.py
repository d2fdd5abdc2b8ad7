"""dilated-to-dense: a dilated convolution as a dense one with a zero-inserted kernel.

Pattern::

    Convolution(W[O, C/g, k...], dilation d > 1)
      -> Convolution(W_dense[O, C/g, d(k-1)+1 ...], dilation 1)   W_dense[..., ::d] = W

Exact (bit-identical in exact arithmetic; the extra taps multiply zeros). Stride, pads and group
are unchanged.

Cost: MACs grow by prod(d(k-1)+1) / prod(k) (3x3 at d=2: 25/9), so this is for targets without
dilation support; ``dilated-to-space-to-batch`` keeps the MAC count.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from graphconv.geometry import extent

from ._registry import register
from ._rewrite import Step, rewrite


def zero_insert_kernel(w: np.ndarray, dilation: tuple[int, ...]) -> np.ndarray:
    k = w.shape[2:]
    ext = tuple(extent(kk, d) for kk, d in zip(k, dilation))
    dense = np.zeros(w.shape[:2] + ext, dtype=w.dtype)
    dense[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in dilation)] = w
    return dense


def _rule(layer, ctx):
    if layer.type != "Convolution" or all(d == 1 for d in layer.attrs.dilation):
        return None
    a = layer.attrs
    attrs = dataclasses.replace(a, kernel=a.extent, dilation=1)
    params = dict(layer.params)
    params["weight"] = zero_insert_kernel(layer.params["weight"], a.dilation)
    return ctx.chain(layer, [Step("Convolution", attrs, params, suffix="dense")])


@register("dilated-to-dense")
def dilated_to_dense(graph):
    """Dilated Convolution -> Convolution with the zero-inserted (dense) kernel."""
    return rewrite(graph, _rule, "dilated-to-dense")
