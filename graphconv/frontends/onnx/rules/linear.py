"""ONNX rules: Gemm, MatMul (with a constant second operand)."""

from __future__ import annotations

import numpy as np

from ....layers.elementwise import ConstantBinaryAttrs
from ....layers.linear import InnerProductAttrs
from ....layers.tensor import PermuteAttrs
from ._common import Translator, Unsupported, _f32, onnx_rule


@onnx_rule("Gemm")
def gemm(t: Translator, node) -> None:
    x = t.data(0)
    if len(t.shape(x)) != 2:
        raise Unsupported(f"input A has shape {t.shape(x)} (2-D expected)")
    if t.attr("transA", 0):
        x = t.add("Permute", [x], PermuteAttrs(order=(1, 0)), suffix="/transpose_a")
    b = _f32(t.const(node.input[1], "B"))
    alpha, beta = t.attr("alpha", 1.0), t.attr("beta", 1.0)
    weight = b if t.attr("transB", 0) else b.T
    n_out = weight.shape[0]
    if alpha != 1.0:
        weight = weight * np.float32(alpha)
    c = t.optional_const(2, "C")
    params = {"weight": np.ascontiguousarray(weight)}
    m = t.shape(x)[0]
    per_row = None
    if c is not None:
        c = _f32(c)
        full = np.broadcast_to(c, (m, n_out)) * np.float32(beta)
        if np.all(full == full[:1]):
            params["bias"] = np.array(full[0])
        else:  # a bias varying along the rows: added after the product
            per_row = np.ascontiguousarray(full, dtype=np.float32)
    attrs = InnerProductAttrs(num_output=n_out, bias="bias" in params)
    if per_row is None:
        t.add("InnerProduct", [x], attrs, params, output=t.out())
        return
    y = t.add("InnerProduct", [x], attrs, params, suffix="/product")
    t.add(
        "ConstantBinary",
        [y],
        ConstantBinaryAttrs(operation="add", constant_shape=per_row.shape),
        {"constant": per_row},
        output=t.out(),
        suffix="/bias",
    )


@onnx_rule("MatMul")
def matmul(t: Translator, node) -> None:
    x = t.data(0)
    b = _f32(t.const(node.input[1], "the second operand"))
    if b.ndim != 2:
        raise Unsupported(f"the constant operand has shape {b.shape} (2-D expected)")
    rank = len(t.shape(x))
    if rank < 2:
        raise Unsupported(f"the data operand has rank {rank} (2 or more expected)")
    attrs = InnerProductAttrs(num_output=b.shape[1], bias=False, axis=rank - 1)
    t.add("InnerProduct", [x], attrs, {"weight": np.ascontiguousarray(b.T)}, output=t.out())
