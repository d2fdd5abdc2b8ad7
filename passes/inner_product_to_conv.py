"""inner-product-to-conv: a fully connected layer as a convolution whose kernel covers the input.

Pattern (``axis`` 1)::

    InnerProduct(W[M, C*prod(S)], b) on x (N, C, S...)   (1 to 3 spatial axes S)
      -> Convolution(kernel S, num_output M, W reshaped to (M, C, S...), b) -> Reshape (N, M)
    InnerProduct on x (N, K)
      -> Reshape (N, K, 1, 1) -> Convolution(1x1, W reshaped to (M, K, 1, 1), b) -> Reshape (N, M)

Caffe flattens ``(C, S...)`` in row-major order, the order of a convolution weight's
``(C, k...)``: every output sums the same products (bit-equal on integers). Other axes are left
in place with a note. Cost: the same MACs; ONNX Gemm becomes Conv (and Reshape), so a conv-only
target runs classifiers.
"""

from __future__ import annotations

from graphconv.layers import ConvAttrs
from graphconv.layers.tensor import ReshapeAttrs

from ._registry import register
from ._rewrite import Skip, Step, rewrite


def _rule(layer, ctx):
    if layer.type != "InnerProduct":
        return None
    a = layer.attrs
    x = ctx.spec(layer.inputs[0]).shape
    if a.axis % len(x) != 1:
        return Skip(f"axis {a.axis}: only the channel axis 1 is a convolution over the rest")
    if len(x) > 5:
        return Skip(f"a rank-{len(x)} input: convolutions have 1 to 3 spatial axes")
    steps = []
    if len(x) == 2:
        steps.append(Step("Reshape", ReshapeAttrs(shape=(x[0], x[1], 1, 1)), suffix="as_image"))
        x = (x[0], x[1], 1, 1)
    kernel = x[2:]
    weight = layer.params["weight"].reshape((a.num_output, x[1], *kernel))
    params = {"weight": weight, **({"bias": layer.params["bias"]} if a.bias else {})}
    conv = ConvAttrs(num_output=a.num_output, kernel=kernel, bias=a.bias)
    steps.append(Step("Convolution", conv, params, suffix="conv"))
    steps.append(Step("Reshape", ReshapeAttrs(shape=(x[0], a.num_output)), suffix="flat"))
    return ctx.chain(layer, steps)


@register("inner-product-to-conv")
def inner_product_to_conv(graph):
    """InnerProduct (axis 1) -> Convolution with a kernel covering the input, then Reshape."""
    return rewrite(graph, _rule, "inner-product-to-conv")
