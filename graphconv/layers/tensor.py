"""Tensor plumbing layers: Input (a graph input) and the Caffe data-movement layers that keep
every element: Concat, Split, Flatten, Reshape, Permute, ShuffleChannel, DepthToSpace (ArgMax:
layers/argmax.py). Windows and borders (Pad, Slice, Crop, StridedSlice, BorderPad)
live in :mod:`.slicing`.

Overlapping types, and how they differ:

- Flatten vs Reshape: Flatten merges the axes ``axis..end_axis`` into one; Reshape sets a whole
  new shape (Caffe's 0 = copy, -1 = infer).
- Permute vs ShuffleChannel: Permute reorders axes; ShuffleChannel reorders channels only
  (``(g, C/g)`` -> ``(C/g, g)``, ShuffleNet).

Axes follow Caffe: an ``axis`` may be negative (counted from the end, ``CanonicalAxisIndex``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..ir import TensorSpec
from ..kernels.epilogue import EPILOGUE_BLOCK, PARALLEL_ELEMENTS
from ..kernels.threads import parallel_map
from ..registry import LayerType, register
from .base import as_tuple, canonical_axis, same_rank


@dataclass(frozen=True)
class InputAttrs:
    shape: tuple[int, ...]
    dtype: str = "float32"

    def __post_init__(self) -> None:
        shape = as_tuple(self.shape, what="shape")
        if not shape or any(d < 1 for d in shape):
            raise ValueError(f"input shape must be non-empty with positive dims, got {shape}")
        object.__setattr__(self, "shape", shape)


@register
class Input(LayerType):
    type = "Input"
    Attrs = InputAttrs
    arity = (0, 0)
    is_source = True

    def infer(self, a, ins):
        return [TensorSpec(a.shape, a.dtype)]

    def run(self, a, xs, p):
        (x,) = xs
        if tuple(x.shape) != a.shape:
            raise ValueError(f"fed shape {tuple(x.shape)} differs from declared {a.shape}")
        return [np.ascontiguousarray(x, dtype=np.float32)]

    def to_onnx(self, layer, em, ins, outs):
        em.graph_input(outs[0], TensorSpec(layer.attrs.shape, layer.attrs.dtype))


# ---- shared helpers ------------------------------------------------------------------------------


def _reshape_to(em, x: str, out: str, shape, name: str) -> None:
    em.node(
        "Reshape",
        [x, em.const(f"{name}.shape", [int(d) for d in shape], np.int64)],
        [out],
        name=name,
    )


# ---- Concat --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConcatAttrs:
    """Join inputs along ``axis``; every other dimension must match."""

    axis: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "axis", int(self.axis))


@register
class Concat(LayerType):
    type = "Concat"
    Attrs = ConcatAttrs
    arity = (1, None)
    fresh_output = True

    def infer(self, a, ins):
        rank = same_rank(ins, "Concat")
        ax = canonical_axis(a.axis, rank, "Concat axis")
        first = ins[0]
        for i, x in enumerate(ins[1:], start=1):
            for j in range(rank):
                if j != ax and x.shape[j] != first.shape[j]:
                    raise ValueError(
                        f"Concat inputs differ on axis {j}: {first.shape[j]} vs {x.shape[j]} "
                        f"(input 0 is {first}, input {i} is {x}; only the concat axis {ax} "
                        f"may differ)"
                    )
        shape = list(first.shape)
        shape[ax] = sum(x.shape[ax] for x in ins)
        return [TensorSpec(tuple(shape), first.dtype)]

    def run(self, a, xs, p):
        ax = canonical_axis(a.axis, xs[0].ndim)
        if (
            ax != 1
            or sum(x.size for x in xs) < PARALLEL_ELEMENTS
            or any(x.dtype != np.float32 for x in xs)
        ):
            return [np.concatenate(xs, axis=ax)]
        return [_concat_channels(xs)]

    def to_onnx(self, layer, em, ins, outs):
        ax = canonical_axis(layer.attrs.axis, em.spec(ins[0]).rank)
        em.node("Concat", list(ins), list(outs), name=layer.name, axis=ax)


def _concat_channels(xs: list[np.ndarray]) -> np.ndarray:
    """Large float32 tensors joined along the channels by blocks of about EPILOGUE_BLOCK
    elements on the threads (one np.concatenate is a single-threaded copy: ENet's 16x256x512
    join 0.94 -> 0.56 ms on 2 cores)."""
    out = np.empty(
        (xs[0].shape[0], sum(x.shape[1] for x in xs)) + xs[0].shape[2:], dtype=np.float32
    )
    blocks, c0 = [], 0
    for x in xs:
        c = x.shape[1]
        per = max(1, EPILOGUE_BLOCK // max(1, x.size // max(1, c)))
        blocks += [(x, a, min(c, a + per), c0) for a in range(0, c, per)]
        c0 += c

    def copy(block) -> None:
        x, a, b, at = block
        out[:, at + a : at + b] = x[:, a:b]

    parallel_map(copy, blocks)
    return out


# ---- Split ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitAttrs:
    """Caffe Split: ``num_outputs`` copies of the input."""

    num_outputs: int

    def __post_init__(self) -> None:
        n = int(self.num_outputs)
        if n < 1:
            raise ValueError(f"Split needs at least one output, got {n}")
        object.__setattr__(self, "num_outputs", n)


@register
class Split(LayerType):
    type = "Split"
    Attrs = SplitAttrs
    copies_input = True

    def infer(self, a, ins):
        return [TensorSpec(ins[0].shape, ins[0].dtype)] * a.num_outputs

    def run(self, a, xs, p):
        return [xs[0]] * a.num_outputs  # kernels never write to their inputs

    def to_onnx(self, layer, em, ins, outs):
        for i, out in enumerate(outs):
            em.node("Identity", [ins[0]], [out], name=f"{layer.name}/copy{i}")


# ---- Flatten and Reshape -------------------------------------------------------------------------


@dataclass(frozen=True)
class FlattenAttrs:
    """Merge axes ``axis`` .. ``end_axis`` (inclusive) into one."""

    axis: int = 1
    end_axis: int = -1

    def __post_init__(self) -> None:
        object.__setattr__(self, "axis", int(self.axis))
        object.__setattr__(self, "end_axis", int(self.end_axis))


def flatten_shape(a: FlattenAttrs, shape: tuple[int, ...]) -> tuple[int, ...]:
    rank = len(shape)
    start = canonical_axis(a.axis, rank, "Flatten axis")
    end = canonical_axis(a.end_axis, rank, "Flatten end_axis")
    if end < start - 1:  # Caffe's count(start, end + 1) needs start <= end + 1
        raise ValueError(
            f"Flatten end_axis {a.end_axis} (axis {end}) comes before axis {a.axis} (axis {start})"
        )
    return shape[:start] + (math.prod(shape[start : end + 1]),) + shape[end + 1 :]


@dataclass(frozen=True)
class ReshapeAttrs:
    """Caffe Reshape: input axes ``axis`` .. ``axis + num_axes`` (``num_axes`` -1: to the end;
    a negative ``axis`` counts from the end, -1 meaning "after the last axis") are replaced by
    ``shape``, where 0 copies the input dimension at that position and one -1 is inferred."""

    shape: tuple[int, ...]
    axis: int = 0
    num_axes: int = -1

    def __post_init__(self) -> None:
        shape = tuple(int(d) for d in self.shape)
        if any(d < -1 for d in shape):
            raise ValueError(f"reshape dims must be >= -1 (0 copies, -1 infers), got {shape}")
        if shape.count(-1) > 1:
            raise ValueError(f"at most one reshape dim may be -1, got {shape}")
        if int(self.num_axes) < -1:
            raise ValueError(f"num_axes must be >= 0, or -1 for all, got {self.num_axes}")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "axis", int(self.axis))
        object.__setattr__(self, "num_axes", int(self.num_axes))


def reshape_shape(a: ReshapeAttrs, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Caffe ``ReshapeLayer::Reshape``'s output shape."""
    rank = len(shape)
    start = a.axis if a.axis >= 0 else rank + a.axis + 1
    if not 0 <= start <= rank:
        raise ValueError(f"Reshape axis {a.axis} is out of range for a rank-{rank} input")
    end = rank if a.num_axes == -1 else start + a.num_axes
    if end > rank:
        raise ValueError(
            f"Reshape axis {a.axis} + num_axes {a.num_axes} goes past the {rank} input axes"
        )
    out = list(shape[:start]) + list(a.shape) + list(shape[end:])
    for i, d in enumerate(a.shape):
        if d == 0:
            if start + i >= rank:
                raise ValueError(
                    f"reshape dim {i} is 0 (copy) but the input has no axis {start + i} to copy"
                )
            out[start + i] = shape[start + i]
    total = math.prod(shape)
    if -1 in a.shape:
        k = start + a.shape.index(-1)
        known = math.prod(d for j, d in enumerate(out) if j != k)
        if total % known:
            raise ValueError(
                f"cannot infer the -1 dim: {total} values are not divisible by "
                f"the {known} of the other dims {tuple(out)}"
            )
        out[k] = total // known
    if math.prod(out) != total:
        raise ValueError(f"reshape to {tuple(out)} has {math.prod(out)} values, the input {total}")
    return tuple(out)


@register
class Flatten(LayerType):
    type = "Flatten"
    Attrs = FlattenAttrs

    def infer(self, a, ins):
        return [TensorSpec(flatten_shape(a, ins[0].shape), ins[0].dtype)]

    def run(self, a, xs, p):
        return [xs[0].reshape(flatten_shape(a, xs[0].shape))]

    def to_onnx(self, layer, em, ins, outs):
        _reshape_to(em, ins[0], outs[0], em.spec(outs[0]).shape, layer.name)


@register
class Reshape(LayerType):
    type = "Reshape"
    Attrs = ReshapeAttrs

    def infer(self, a, ins):
        return [TensorSpec(reshape_shape(a, ins[0].shape), ins[0].dtype)]

    def run(self, a, xs, p):
        return [xs[0].reshape(reshape_shape(a, xs[0].shape))]

    def rebatch_attrs(self, a, old, new):
        """For a dynamic batch: a target dim 0 that restates the input's first dim follows it."""
        if a.axis == 0 and a.shape and a.shape[0] == old[0].shape[0] != new[0].shape[0]:
            return dataclasses.replace(a, shape=(0, *a.shape[1:]))
        return a

    def to_onnx(self, layer, em, ins, outs):
        _reshape_to(em, ins[0], outs[0], em.spec(outs[0]).shape, layer.name)


# ---- Permute and ShuffleChannel ------------------------------------------------------------------


@dataclass(frozen=True)
class PermuteAttrs:
    """SSD-fork Permute: output axis i is input axis ``order[i]``; axes not named follow in
    their original order."""

    order: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        order = as_tuple(self.order, what="order") if self.order else ()
        if any(o < 0 for o in order):
            raise ValueError(f"permute order values must be >= 0, got {order}")
        if len(set(order)) != len(order):
            raise ValueError(f"permute order has duplicate axes: {order}")
        object.__setattr__(self, "order", order)

    def full_order(self, rank: int) -> tuple[int, ...]:
        if any(o >= rank for o in self.order):
            raise ValueError(
                f"permute order {self.order} names an axis beyond the rank-{rank} input"
            )
        return self.order + tuple(i for i in range(rank) if i not in self.order)


@register
class Permute(LayerType):
    type = "Permute"
    Attrs = PermuteAttrs

    def infer(self, a, ins):
        x = ins[0]
        return [TensorSpec(tuple(x.shape[i] for i in a.full_order(x.rank)), x.dtype)]

    def run(self, a, xs, p):
        return [np.ascontiguousarray(xs[0].transpose(a.full_order(xs[0].ndim)))]

    def to_onnx(self, layer, em, ins, outs):
        perm = list(layer.attrs.full_order(em.spec(ins[0]).rank))
        em.node("Transpose", list(ins), list(outs), name=layer.name, perm=perm)


@dataclass(frozen=True)
class ShuffleChannelAttrs:
    """ShuffleNet channel shuffle (farmingyard/ShuffleNet): channel ``i * (C/g) + j`` moves to
    ``j * g + i``, i.e. reshape (N, g, C/g, ...) -> swap the two channel axes -> merge."""

    group: int = 1

    def __post_init__(self) -> None:
        if int(self.group) < 1:
            raise ValueError(f"ShuffleChannel group must be >= 1, got {self.group}")
        object.__setattr__(self, "group", int(self.group))


@register
class ShuffleChannel(LayerType):
    type = "ShuffleChannel"
    Attrs = ShuffleChannelAttrs

    def infer(self, a, ins):
        x = ins[0]
        if x.rank < 2:
            raise ValueError(f"ShuffleChannel needs a channel axis, the input has rank {x.rank}")
        if x.shape[1] % a.group:
            raise ValueError(
                f"ShuffleChannel group {a.group} does not divide {x.shape[1]} channels"
            )
        return [TensorSpec(x.shape, x.dtype)]

    def run(self, a, xs, p):
        x = xs[0]
        n, c = x.shape[:2]
        grouped = x.reshape(n, a.group, c // a.group, -1)
        return [np.ascontiguousarray(grouped.transpose(0, 2, 1, 3)).reshape(x.shape)]

    def to_onnx(self, layer, em, ins, outs):
        x = em.spec(ins[0])
        n, c = x.shape[:2]
        g = layer.attrs.group
        grouped = em.reshape(ins[0], (n, g, c // g, math.prod(x.shape[2:])), f"{layer.name}/group")
        swapped = em.tmp(f"{layer.name}/swap")
        em.node("Transpose", [grouped], [swapped], name=f"{layer.name}/swap", perm=[0, 2, 1, 3])
        _reshape_to(em, swapped, outs[0], x.shape, f"{layer.name}/merge")


# ---- DepthToSpace -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DepthToSpaceAttrs:
    """ONNX DepthToSpace on a rank-4 input ``(N, C*b*b, H, W) -> (N, C, H*b, W*b)``: output
    ``y[n, c, h*b + i, w*b + j]`` is input channel ``(i*b + j)*C + c`` (mode DCR) or
    ``c*b*b + i*b + j`` (mode CRD) at ``(h, w)``."""

    blocksize: int
    mode: str = "DCR"

    def __post_init__(self) -> None:
        if int(self.blocksize) < 1:
            raise ValueError(f"blocksize must be >= 1, got {self.blocksize}")
        if self.mode not in ("DCR", "CRD"):
            raise ValueError(f"mode must be DCR or CRD, got '{self.mode}'")
        object.__setattr__(self, "blocksize", int(self.blocksize))


@register
class DepthToSpace(LayerType):
    type = "DepthToSpace"
    Attrs = DepthToSpaceAttrs

    def infer(self, a, ins):
        x, b = ins[0], a.blocksize
        if x.rank != 4:
            raise ValueError(f"DepthToSpace needs a rank-4 input, got {x}")
        n, c, h, w = x.shape
        if c % (b * b):
            raise ValueError(f"blocksize {b}: {b * b} does not divide {c} channels")
        return [TensorSpec((n, c // (b * b), h * b, w * b), x.dtype)]

    def run(self, a, xs, p):
        x, b = xs[0], a.blocksize
        n, c, h, w = x.shape
        if a.mode == "DCR":
            y = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
        else:
            y = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
        return [np.ascontiguousarray(y.reshape(n, c // (b * b), h * b, w * b))]

    def to_onnx(self, layer, em, ins, outs):
        a = layer.attrs
        em.node(
            "DepthToSpace",
            list(ins),
            list(outs),
            name=layer.name,
            blocksize=a.blocksize,
            mode=a.mode,
        )
