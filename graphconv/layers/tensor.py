"""Tensor plumbing layers: Input (a graph input), Pad (constant; negative amounts crop) and the
Caffe data-movement layers: Concat, Slice, Split, Crop, Flatten, Reshape, Permute and
ShuffleChannel (ArgMax: layers/argmax.py).

Axes follow Caffe: an ``axis`` may be negative (counted from the end, ``CanonicalAxisIndex``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from ..geometry import padded_length
from ..ir import TensorSpec
from ..kernels.epilogue import EPILOGUE_BLOCK, PARALLEL_ELEMENTS
from ..kernels.threads import parallel_map
from .base import LayerType, as_tuple, register


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


@dataclass(frozen=True)
class PadAttrs:
    """Constant padding of the spatial axes (2, 3, ...); negative amounts crop."""

    pads_begin: tuple[int, ...]
    pads_end: tuple[int, ...]
    value: float = 0.0

    def __post_init__(self) -> None:
        pb = as_tuple(self.pads_begin, what="pads_begin")
        pe = as_tuple(self.pads_end, len(pb), "pads_end")
        object.__setattr__(self, "pads_begin", pb)
        object.__setattr__(self, "pads_end", pe)
        object.__setattr__(self, "value", float(self.value))


def pad_crop(x: np.ndarray, pb, pe, value: float = 0.0) -> np.ndarray:
    """``out[i] = x[i - pb]`` where that index exists, else ``value`` (per spatial axis)."""
    sp = x.shape[2:]
    out_sp = tuple(padded_length(h, b, e) for h, b, e in zip(sp, pb, pe))
    out = np.full(x.shape[:2] + out_sp, value, dtype=x.dtype)
    dst, src = [slice(None)] * 2, [slice(None)] * 2
    for h, b, o in zip(sp, pb, out_sp):
        lo, hi = max(0, b), min(o, h + b)
        if lo >= hi:
            return out
        dst.append(slice(lo, hi))
        src.append(slice(lo - b, hi - b))
    out[tuple(dst)] = x[tuple(src)]
    return out


@register
class Pad(LayerType):
    type = "Pad"
    Attrs = PadAttrs

    def infer(self, a, ins):
        x = ins[0]
        if x.rank != len(a.pads_begin) + 2:
            raise ValueError(f"pads cover {len(a.pads_begin)} spatial axes but the input has "
                             f"rank {x.rank}")
        out = tuple(padded_length(h, b, e)
                    for h, b, e in zip(x.shape[2:], a.pads_begin, a.pads_end))
        if any(o < 1 for o in out):
            raise ValueError(f"pads {a.pads_begin}/{a.pads_end} crop an axis to nothing")
        return [TensorSpec(x.shape[:2] + out, x.dtype)]

    def run(self, a, xs, p):
        return [pad_crop(xs[0], a.pads_begin, a.pads_end, a.value)]

    def to_onnx(self, layer, em, ins, outs):
        a = layer.attrs
        em.pad(ins[0], outs[0], [0, 0, *a.pads_begin, 0, 0, *a.pads_end], value=a.value,
               name=layer.name)


# ---- shared helpers ------------------------------------------------------------------------------

def canonical_axis(axis: int, rank: int, what: str = "axis") -> int:
    """Caffe's ``CanonicalAxisIndex``: ``-rank <= axis < rank``, negatives count from the end."""
    if not -rank <= axis < rank:
        raise ValueError(f"{what} {axis} is out of range for a rank-{rank} input")
    return axis % rank


def _same_rank(ins, what: str) -> int:
    ranks = {x.rank for x in ins}
    if len(ranks) > 1:
        raise ValueError(f"{what} inputs have different ranks: "
                         + ", ".join(str(x) for x in ins))
    return ins[0].rank


def _reshape_to(em, x: str, out: str, shape, name: str) -> None:
    em.node("Reshape", [x, em.const(f"{name}.shape", [int(d) for d in shape], np.int64)], [out],
            name=name)


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
        rank = _same_rank(ins, "Concat")
        ax = canonical_axis(a.axis, rank, "Concat axis")
        first = ins[0]
        for i, x in enumerate(ins[1:], start=1):
            for j in range(rank):
                if j != ax and x.shape[j] != first.shape[j]:
                    raise ValueError(
                        f"Concat inputs differ on axis {j}: {first.shape[j]} vs {x.shape[j]} "
                        f"(input 0 is {first}, input {i} is {x}; only the concat axis {ax} "
                        f"may differ)")
        shape = list(first.shape)
        shape[ax] = sum(x.shape[ax] for x in ins)
        return [TensorSpec(tuple(shape), first.dtype)]

    def run(self, a, xs, p):
        ax = canonical_axis(a.axis, xs[0].ndim)
        if ax != 1 or sum(x.size for x in xs) < PARALLEL_ELEMENTS \
                or any(x.dtype != np.float32 for x in xs):
            return [np.concatenate(xs, axis=ax)]
        return [_concat_channels(xs)]

    def to_onnx(self, layer, em, ins, outs):
        ax = canonical_axis(layer.attrs.axis, em.spec(ins[0]).rank)
        em.node("Concat", list(ins), list(outs), name=layer.name, axis=ax)


def _concat_channels(xs: list[np.ndarray]) -> np.ndarray:
    """Large float32 tensors joined along the channels by blocks of about EPILOGUE_BLOCK
    elements on the threads (one np.concatenate is a single-threaded copy: ENet's 16x256x512
    join 0.94 -> 0.56 ms on 2 cores)."""
    out = np.empty((xs[0].shape[0], sum(x.shape[1] for x in xs)) + xs[0].shape[2:],
                   dtype=np.float32)
    blocks, c0 = [], 0
    for x in xs:
        c = x.shape[1]
        per = max(1, EPILOGUE_BLOCK // max(1, x.size // max(1, c)))
        blocks += [(x, a, min(c, a + per), c0) for a in range(0, c, per)]
        c0 += c

    def copy(block) -> None:
        x, a, b, at = block
        out[:, at + a:at + b] = x[:, a:b]

    parallel_map(copy, blocks)
    return out


# ---- Slice ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SliceAttrs:
    """Cut the input along ``axis`` into ``num_outputs`` parts: at the ``slice_points``
    (``num_outputs - 1`` increasing positions), or into equal parts when there are none."""

    num_outputs: int
    axis: int = 1
    slice_points: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        n = int(self.num_outputs)
        points = as_tuple(self.slice_points, what="slice_points") if self.slice_points else ()
        if n < 1:
            raise ValueError(f"Slice needs at least one output, got {n}")
        if points and len(points) != n - 1:
            raise ValueError(f"{len(points)} slice points make {len(points) + 1} parts, "
                             f"but {n} outputs are named")
        prev = 0
        for pt in points:
            if pt <= prev:
                raise ValueError(f"slice points must be positive and increasing, got {points}")
            prev = pt
        object.__setattr__(self, "num_outputs", n)
        object.__setattr__(self, "axis", int(self.axis))
        object.__setattr__(self, "slice_points", points)

    def bounds(self, size: int) -> list[tuple[int, int]]:
        """(begin, end) of every part along an axis of ``size``."""
        if self.slice_points:
            cuts = [0, *self.slice_points, size]
        else:
            step = size // self.num_outputs
            cuts = [i * step for i in range(self.num_outputs + 1)]
        return list(itertools.pairwise(cuts))


@register
class Slice(LayerType):
    type = "Slice"
    Attrs = SliceAttrs

    def infer(self, a, ins):
        x = ins[0]
        ax = canonical_axis(a.axis, x.rank, "Slice axis")
        size = x.shape[ax]
        if a.slice_points:
            if a.slice_points[-1] >= size:
                raise ValueError(f"slice point {a.slice_points[-1]} leaves nothing for the last "
                                 f"output (axis {ax} has size {size})")
        elif size % a.num_outputs:
            raise ValueError(f"{a.num_outputs} outputs do not evenly divide axis {ax} of size "
                             f"{size} (give slice_point values)")
        outs = []
        for b, e in a.bounds(size):
            shape = list(x.shape)
            shape[ax] = e - b
            outs.append(TensorSpec(tuple(shape), x.dtype))
        return outs

    def run(self, a, xs, p):
        x = xs[0]
        ax = canonical_axis(a.axis, x.ndim)
        lead = (slice(None),) * ax
        return [np.ascontiguousarray(x[lead + (slice(b, e),)]) for b, e in a.bounds(x.shape[ax])]

    def to_onnx(self, layer, em, ins, outs):
        x = em.spec(ins[0])
        ax = canonical_axis(layer.attrs.axis, x.rank)
        for i, ((b, e), out) in enumerate(zip(layer.attrs.bounds(x.shape[ax]), outs)):
            em.slice(ins[0], out, [b], [e], [ax], name=f"{layer.name}/part{i}")


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


# ---- Crop ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CropAttrs:
    """Caffe Crop (BVLC, N-D): crop input 0 to the shape of input 1 on the axes from ``axis`` on,
    starting at ``offsets`` (none: 0 everywhere; one value: the same on every cropped axis; else
    one per cropped axis). Input 1 only gives the shape.

    BVLC Caffe also CHECKs that input 0 is at least as large as input 1 on the axes before
    ``axis``; that is not required here, so HED's crops of 1-channel maps to the 3-channel
    ``data`` load (BVLC 1.0 refuses them: "(1 vs. 3) invalid crop parameters in dimension: 1")."""

    axis: int = 2
    offsets: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        offsets = as_tuple(self.offsets, what="offsets") if self.offsets else ()
        if any(o < 0 for o in offsets):
            raise ValueError(f"crop offsets must be >= 0, got {offsets}")
        object.__setattr__(self, "axis", int(self.axis))
        object.__setattr__(self, "offsets", offsets)

    def begins(self, rank: int) -> tuple[int, ...]:
        """Start of the crop on every axis (0 before ``axis``)."""
        ax = canonical_axis(self.axis, rank, "Crop axis")
        n = rank - ax
        if len(self.offsets) > 1 and len(self.offsets) != n:
            raise ValueError(f"Crop from axis {ax} of a rank-{rank} input needs 1 or {n} offsets, "
                             f"got {len(self.offsets)}")
        per_axis = self.offsets * n if len(self.offsets) == 1 else (self.offsets or (0,) * n)
        return (0,) * ax + per_axis


@register
class Crop(LayerType):
    type = "Crop"
    Attrs = CropAttrs
    arity = (2, 2)

    def infer(self, a, ins):
        x, ref = ins
        rank = _same_rank(ins, "Crop")
        begins = a.begins(rank)
        ax = canonical_axis(a.axis, rank)
        for i in range(ax, rank):
            if begins[i] + ref.shape[i] > x.shape[i]:
                raise ValueError(f"Crop on axis {i}: offset {begins[i]} + reference size "
                                 f"{ref.shape[i]} exceeds the input size {x.shape[i]}")
        return [TensorSpec(x.shape[:ax] + ref.shape[ax:], x.dtype)]

    @staticmethod
    def _window(a, x: TensorSpec, ref: TensorSpec) -> list[tuple[int, int, int]]:
        """(axis, begin, end) of every axis that is actually cut."""
        begins = a.begins(x.rank)
        ax = canonical_axis(a.axis, x.rank)
        return [(i, begins[i], begins[i] + ref.shape[i]) for i in range(ax, x.rank)
                if begins[i] != 0 or ref.shape[i] != x.shape[i]]

    def run(self, a, xs, p):
        x, ref = xs
        index = [slice(None)] * x.ndim
        for i, b, e in self._window(a, TensorSpec(x.shape), TensorSpec(ref.shape)):
            index[i] = slice(b, e)
        return [np.ascontiguousarray(x[tuple(index)])]

    def to_onnx(self, layer, em, ins, outs):
        window = self._window(layer.attrs, em.spec(ins[0]), em.spec(ins[1]))
        if not window:
            em.node("Identity", [ins[0]], list(outs), name=layer.name)
            return
        axes, begins, ends = zip(*window)
        em.slice(ins[0], outs[0], begins, ends, axes, name=layer.name)


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
        raise ValueError(f"Flatten end_axis {a.end_axis} (axis {end}) comes before axis "
                         f"{a.axis} (axis {start})")
    return shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:]


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
        raise ValueError(f"Reshape axis {a.axis} + num_axes {a.num_axes} goes past the "
                         f"{rank} input axes")
    out = list(shape[:start]) + list(a.shape) + list(shape[end:])
    for i, d in enumerate(a.shape):
        if d == 0:
            if start + i >= rank:
                raise ValueError(f"reshape dim {i} is 0 (copy) but the input has no axis "
                                 f"{start + i} to copy")
            out[start + i] = shape[start + i]
    total = math.prod(shape)
    if -1 in a.shape:
        k = start + a.shape.index(-1)
        known = math.prod(d for j, d in enumerate(out) if j != k)
        if total % known:
            raise ValueError(f"cannot infer the -1 dim: {total} values are not divisible by "
                             f"the {known} of the other dims {tuple(out)}")
        out[k] = total // known
    if math.prod(out) != total:
        raise ValueError(f"reshape to {tuple(out)} has {math.prod(out)} values, the input "
                         f"{total}")
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
            raise ValueError(f"permute order {self.order} names an axis beyond the rank-{rank} "
                             "input")
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
            raise ValueError(f"ShuffleChannel group {a.group} does not divide {x.shape[1]} "
                             "channels")
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
        grouped = em.reshape(ins[0], (n, g, c // g, math.prod(x.shape[2:])),
                             f"{layer.name}/group")
        swapped = em.tmp(f"{layer.name}/swap")
        em.node("Transpose", [grouped], [swapped], name=f"{layer.name}/swap", perm=[0, 2, 1, 3])
        _reshape_to(em, swapped, outs[0], x.shape, f"{layer.name}/merge")
