"""ONNX rules: Concat, Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Split, DepthToSpace,
SpaceToDepth, Pad, Slice."""

from __future__ import annotations

import math

import numpy as np

from ....geometry import ceil_div
from ....layers.activation import IdentityAttrs
from ....layers.slicing import BorderPadAttrs, PadAttrs, SliceAttrs, StridedSliceAttrs
from ....layers.tensor import ConcatAttrs, PermuteAttrs, ReshapeAttrs
from ._common import Translator, Unsupported, _axis, _text, onnx_rule


@onnx_rule("Concat")
def concat(t: Translator, node) -> None:
    ins = [t.data(i) for i in range(len(node.input)) if node.input[i]]
    axis = _axis(t.attr("axis", 1), len(t.shape(ins[0])))
    t.add("Concat", ins, ConcatAttrs(axis=axis), output=t.out())


def _reshape(t: Translator, x: str, shape: tuple[int, ...], target=None) -> None:
    """Reshape ``x`` to ``shape``; ``target`` (the ONNX shape with its 0s and -1, which
    graphconv's Reshape reads the same way) is kept as the attribute, so the layer still fits
    another batch size."""
    if tuple(shape) == t.shape(x):
        t.add("Identity", [x], IdentityAttrs(), output=t.out())
        return
    if any(d < 1 for d in shape):
        raise Unsupported(f"output shape {tuple(shape)} has an empty axis")
    t.add("Reshape", [x], ReshapeAttrs(shape=tuple(target or shape)), output=t.out())


@onnx_rule("Reshape")
def reshape(t: Translator, node) -> None:
    x = t.data(0)
    in_shape = t.shape(x)
    if t.opset < 5:
        target = list(t.attr("shape"))
    else:
        target = [int(v) for v in t.const(node.input[1], "the target shape").reshape(-1)]
    allowzero = t.attr("allowzero", 0)
    out = []
    for i, d in enumerate(target):
        if d == 0 and not allowzero:
            if i >= len(in_shape):
                raise Unsupported(f"shape {target} copies axis {i}, which the input lacks")
            d = in_shape[i]
        out.append(d)
    if out.count(-1) > 1:
        raise Unsupported(f"shape {target} has more than one -1")
    total = math.prod(in_shape)
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        if known == 0 or total % known:
            raise Unsupported(f"cannot infer the -1 in {target} for input {in_shape}")
        out[out.index(-1)] = total // known
    if math.prod(out) != total:
        raise Unsupported(f"shape {tuple(out)} does not hold the input's {total} values")
    _reshape(t, x, tuple(out), None if allowzero else tuple(target))


@onnx_rule("Flatten")
def flatten(t: Translator, node) -> None:
    x = t.data(0)
    shape = t.shape(x)
    axis = t.attr("axis", 1)
    axis = axis + len(shape) if axis < 0 else axis
    if not 0 <= axis <= len(shape):
        raise Unsupported(f"axis {t.attr('axis')} is out of range for rank {len(shape)}")
    _reshape(t, x, (math.prod(shape[:axis]), math.prod(shape[axis:])))


def _axes_arg(t: Translator, node, what: str):
    if t.opset >= 13:
        value = t.optional_const(1, f"the {what} axes")
        return None if value is None else [int(v) for v in value.reshape(-1)]
    value = t.attr("axes")
    return None if value is None else list(value)


@onnx_rule("Squeeze")
def squeeze(t: Translator, node) -> None:
    x = t.data(0)
    shape = t.shape(x)
    axes = _axes_arg(t, node, "squeeze")
    if axes is None:
        axes = [i for i, d in enumerate(shape) if d == 1]
    axes = {_axis(a, len(shape)) for a in axes}
    if any(shape[a] != 1 for a in axes):
        raise Unsupported(f"squeezed axes {sorted(axes)} of {shape} are not all 1")
    _reshape(t, x, tuple(d for i, d in enumerate(shape) if i not in axes))


@onnx_rule("Unsqueeze")
def unsqueeze(t: Translator, node) -> None:
    x = t.data(0)
    shape = t.shape(x)
    axes = _axes_arg(t, node, "unsqueeze")
    if axes is None:
        raise Unsupported("axes are required")
    rank = len(shape) + len(axes)
    axes = {_axis(a, rank) for a in axes}
    it = iter(shape)
    _reshape(t, x, tuple(1 if i in axes else next(it) for i in range(rank)))


@onnx_rule("Transpose")
def transpose(t: Translator, node) -> None:
    x = t.data(0)
    rank = len(t.shape(x))
    perm = t.attr("perm")
    perm = tuple(range(rank))[::-1] if perm is None else tuple(int(p) for p in perm)
    if perm == tuple(range(rank)):
        t.add("Identity", [x], IdentityAttrs(), output=t.out())
        return
    t.add("Permute", [x], PermuteAttrs(order=perm), output=t.out())


@onnx_rule("Split")
def split(t: Translator, node) -> None:
    x = t.data(0)
    shape = t.shape(x)
    axis = _axis(t.attr("axis", 0), len(shape))
    outs = list(node.output)
    n = len(outs)
    sizes = t.optional_const(1, "the split sizes") if t.opset >= 13 else t.attr("split")
    if sizes is not None and len(sizes):
        sizes = [int(v) for v in np.asarray(sizes).reshape(-1)]
    else:  # equal parts; from opset 18 the last part may be smaller
        chunk = ceil_div(shape[axis], n)
        sizes = [min(chunk, shape[axis] - i * chunk) for i in range(n)]
    if len(sizes) != n or sum(sizes) != shape[axis] or any(v < 1 for v in sizes):
        raise Unsupported(
            f"split sizes {sizes} do not cut axis {axis} of size {shape[axis]} "
            f"into {n} non-empty parts"
        )
    if n == 1:
        t.add("Identity", [x], IdentityAttrs(), output=outs[0])
        return
    points = tuple(int(v) for v in np.cumsum(sizes)[:-1])
    t.builder.add(
        "Slice",
        [x],
        SliceAttrs(num_outputs=n, axis=axis, slice_points=points),
        name=t.node_name,
        outputs=outs,
    )


@onnx_rule("DepthToSpace", "SpaceToDepth")
def depth_space(t: Translator, node) -> None:
    """Reshape -> Permute -> Reshape, with ONNX's DCR / CRD channel orders."""
    x = t.data(0)
    shape = t.shape(x)
    if len(shape) != 4:
        raise Unsupported(f"input of shape {shape} (rank 4 expected)")
    n, c, h, w = shape
    b = int(t.attr("blocksize"))
    if node.op_type == "DepthToSpace":
        if c % (b * b):
            raise Unsupported(f"blocksize {b}: {b * b} does not divide {c} channels")
        mode = _text(t.attr("mode"), "DCR")
        if mode == "DCR":
            split, order = (n, b, b, c // (b * b), h, w), (0, 3, 4, 1, 5, 2)
        elif mode == "CRD":
            split, order = (n, c // (b * b), b, b, h, w), (0, 1, 4, 2, 5, 3)
        else:
            raise Unsupported(f"mode '{mode}' is not an ONNX value")
        final = (n, c // (b * b), h * b, w * b)
    else:
        if h % b or w % b:
            raise Unsupported(f"blocksize {b} does not divide the spatial size {h}x{w}")
        mode = _text(t.attr("mode"), "DCR")
        if mode not in ("DCR", "CRD"):
            raise Unsupported(f"mode '{mode}' is not an ONNX value")
        order = (0, 3, 5, 1, 2, 4) if mode == "DCR" else (0, 1, 3, 5, 2, 4)
        split = (n, c, h // b, b, w // b, b)
        final = (n, c * b * b, h // b, w // b)
    blocks = t.add("Reshape", [x], ReshapeAttrs(shape=split), suffix="/blocks")
    moved = t.add("Permute", [blocks], PermuteAttrs(order=order), suffix="/move")
    t.add("Reshape", [moved], ReshapeAttrs(shape=final), output=t.out())


@onnx_rule("Pad")
def pad(t: Translator, node) -> None:
    x = t.data(0)
    rank = len(t.shape(x))
    mode = _text(t.attr("mode"), "constant")
    if t.opset < 11:
        pads = list(t.attr("pads"))
        value = float(t.attr("value", 0.0))
    else:
        pads = [int(v) for v in t.const(node.input[1], "the pads").reshape(-1)]
        v = t.optional_const(2, "the pad value")
        value = 0.0 if v is None or v.size == 0 else float(np.asarray(v).reshape(-1)[0])
        axes = t.optional_const(3, "the axes")
        if axes is not None:
            full = [0] * (2 * rank)
            axes = [_axis(int(a), rank) for a in axes.reshape(-1)]
            for i, a in enumerate(axes):
                full[a], full[rank + a] = pads[i], pads[len(axes) + i]
            pads = full
    if len(pads) != 2 * rank:
        raise Unsupported(f"pads {pads} do not fit rank {rank}")
    if not any(pads):
        t.add("Identity", [x], IdentityAttrs(), output=t.out())
        return
    if (
        mode == "constant"
        and rank >= 2
        and not (pads[0] or pads[1] or pads[rank] or pads[rank + 1])
    ):
        pb, pe = tuple(pads[2:rank]), tuple(pads[rank + 2 :])
        t.add("Pad", [x], PadAttrs(pads_begin=pb, pads_end=pe, value=value), output=t.out())
        return
    if mode not in ("constant", "edge", "reflect", "wrap"):
        raise Unsupported(f"mode '{mode}' is not an ONNX Pad mode")
    t.add(
        "BorderPad",
        [x],
        BorderPadAttrs(
            pads_begin=tuple(pads[:rank]), pads_end=tuple(pads[rank:]), mode=mode, value=value
        ),
        output=t.out(),
    )


@onnx_rule("Slice")
def strided_slice(t: Translator, node) -> None:
    x = t.data(0)
    rank = len(t.shape(x))
    if t.opset < 10:
        starts, ends = list(t.attr("starts")), list(t.attr("ends"))
        axes, steps = t.attr("axes"), None
    else:

        def ints(i, what):
            v = t.optional_const(i, what)
            return None if v is None else [int(e) for e in v.reshape(-1)]

        starts, ends = ints(1, "the starts"), ints(2, "the ends")
        axes, steps = ints(3, "the axes"), ints(4, "the steps")
    axes = list(range(len(starts))) if axes is None else [_axis(int(a), rank) for a in axes]
    attrs = StridedSliceAttrs(
        starts=tuple(starts),
        ends=tuple(ends),
        axes=tuple(axes),
        steps=None if steps is None else tuple(steps),
    )
    t.add("StridedSlice", [x], attrs, output=t.out())
