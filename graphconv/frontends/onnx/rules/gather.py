"""ONNX rules: Gather of a computed tensor by constant indices."""

from __future__ import annotations

import numpy as np

from ....layers.activation import IdentityAttrs
from ....layers.gather import GatherAttrs
from ....layers.tensor import ReshapeAttrs
from ._common import Translator, Unsupported, _axis, onnx_rule


@onnx_rule("Gather")
def gather(t: Translator, node) -> None:
    """A gather of every entry of a rank-1 tensor in order (PyTorch's ``as_strided`` of a
    flattened tensor) is a Reshape; any other is a Gather layer."""
    x = t.data(0)
    shape = t.shape(x)
    axis = _axis(t.attr("axis", 0), len(shape))
    idx = np.asarray(t.const(node.input[1], "the indices"))
    if idx.dtype.kind not in "iu":
        raise Unsupported(f"indices of element type {idx.dtype} (integers expected)")
    flat = idx.reshape(-1)
    if len(shape) == 1 and idx.ndim and np.array_equal(flat % shape[0], np.arange(shape[0])):
        # of a flattened tensor back to its own shape (AdaptiveAvgPool2d(1) from dynamo): the
        # tensor before the flattening, so the graph keeps its batch axis
        src = t.builder.layers[-1] if t.builder.layers else None
        if src and src.type == "Reshape" and src.outputs == (x,):
            if t.spec(src.inputs[0]).shape == idx.shape:
                t.add("Identity", [src.inputs[0]], IdentityAttrs(), output=t.out())
                return
        t.add("Reshape", [x], ReshapeAttrs(shape=idx.shape), output=t.out())
        return
    attrs = GatherAttrs(indices=tuple(flat.tolist()), indices_shape=idx.shape, axis=axis)
    t.add("Gather", [x], attrs, output=t.out())
