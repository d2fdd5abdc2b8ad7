"""Receptive fields: which samples of a graph input each position of a tensor can depend on.

Per spatial axis a field is three numbers, all relative to the graph input the tensor comes
from (its coordinates, in samples):

  size   the span of input samples one output position can see (gaps of a dilated kernel
         included: a 3-tap kernel at dilation 2 spans 5 samples with 3 weights)
  jump   the input distance between neighbouring output positions (the product of strides; a
         fraction after a transposed convolution, an upsampling or a resize)
  start  the input coordinate where output position 0's field begins (negative: in padding)

so output ``o`` sees at most the input samples in ``[start + o jump, start + o jump + size - 1]``
(clipped to the input). Through convolutions, poolings, pads and crops (integer jumps) this is
exact: the samples at both ends can change the output. A layer whose output positions do not
read inputs at a constant stride (transposed convolution, nearest upsampling, zero insertion,
max-unpooling, Interp, Resize) is an *envelope*: every output's own tap range lies inside it,
and ``slack`` bounds how far inside (per side, in input samples) its ends may lie.

A layer that is not spatial (InnerProduct, Flatten, Reshape, Permute), mixes every position
(batch-statistics BatchNorm, a softmax over a spatial axis) or combines inputs of different
jumps has :class:`NoField` with the reason. The field of every tensor follows from
:data:`RULES`, one entry per layer type (:func:`receptive_fields` checks the table is complete).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Callable, Sequence

import numpy as np

from .geometry import extent
from .ir import Graph, Layer, TensorSpec
from .registry import layer_types


@dataclass(frozen=True)
class AxisField:
    """One spatial axis of a receptive field (see the module docstring); ``slack`` is how far
    each end of the envelope may overreach the true field (0: exact)."""

    size: Fraction
    jump: Fraction
    start: Fraction
    slack: Fraction = Fraction(0)

    def bounds(self, o: int) -> tuple[Fraction, Fraction]:
        """The first and last input coordinate output position ``o`` may see (unclipped)."""
        lo = self.start + o * self.jump
        return lo, lo + self.size - 1

    @property
    def exact(self) -> bool:
        return self.slack == 0


@dataclass(frozen=True)
class Field:
    """The receptive field of a tensor in graph input ``source``, one :class:`AxisField` per
    spatial axis."""

    source: str
    axes: tuple[AxisField, ...]

    @property
    def exact(self) -> bool:
        return all(a.exact for a in self.axes)

    def sizes(self) -> tuple[Fraction, ...]:
        return tuple(a.size for a in self.axes)


@dataclass(frozen=True)
class NoField:
    """A tensor without a receptive field in the spatial sense, and why."""

    reason: str


Result = Field | NoField
Rule = Callable[[Layer, Sequence[Result], Sequence[TensorSpec], Sequence[TensorSpec]], object]


def fmt(x: Fraction) -> str:
    """An integer as is, a fraction as ``a/b``."""
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def describe(field: Result) -> str:
    """``size 15x15, jump 2x2, start -7x-7`` (``~`` marks an envelope), or ``n/a (reason)``."""
    if isinstance(field, NoField):
        return f"n/a ({field.reason})"
    mark = "" if field.exact else "~"

    def join(values):
        return "x".join(fmt(v) for v in values)

    axes = field.axes
    return (
        f"size {mark}{join(a.size for a in axes)}, jump {join(a.jump for a in axes)}, "
        f"start {join(a.start for a in axes)}"
    )


# ---- how one layer maps its input field ---------------------------------------------------------


def window(f: AxisField, k: int, s: int, d: int, pb: int) -> AxisField:
    """A sliding window of ``k`` taps, stride ``s``, dilation ``d``, begin pad ``pb``: output
    ``o`` reads positions ``o s - pb + d t``."""
    return replace(
        f,
        size=f.size + (extent(k, d) - 1) * f.jump,
        jump=f.jump * s,
        start=f.start - pb * f.jump,
    )


def shift(f: AxisField, offset: int, step: int = 1) -> AxisField:
    """Output ``o`` is input position ``offset + o step`` (pads: negative offsets; crops)."""
    return replace(f, jump=f.jump * step, start=f.start + offset * f.jump)


def from_taps(f: AxisField, lo: np.ndarray, hi: np.ndarray, ratio: Fraction) -> AxisField:
    """The envelope of per-output tap ranges: output ``o`` reads input positions ``lo[o]`` to
    ``hi[o]`` (integer arrays; an output reading nothing has ``lo > hi`` and is left out, its
    run adding to the slack), and neighbouring outputs are ``ratio`` input samples apart."""
    o = np.arange(len(lo), dtype=np.int64)
    keep = lo <= hi
    num, den = ratio.numerator, ratio.denominator
    lo_rel = lo[keep] * den - o[keep] * num  # den * (lo - o ratio), integers
    hi_rel = hi[keep] * den - o[keep] * num
    if not keep.any():
        return replace(f, jump=f.jump * ratio)
    first, last = int(lo_rel.min()), int(hi_rel.max())
    gap = max(int((lo_rel - first).max()), int((last - hi_rel).max()))
    # outputs that read nothing (zero insertion): a later window ending on a run of them
    # sees its last real sample up to that run further in
    empty = np.diff(np.flatnonzero(np.concatenate(([True], keep, [True])))).max() - 1
    return AxisField(
        size=f.size + Fraction(last - first, den) * f.jump,
        jump=f.jump * ratio,
        start=f.start + Fraction(first, den) * f.jump,
        slack=f.slack + Fraction(gap, den) * f.jump + int(empty) * f.jump * ratio,
    )


def transposed_taps(n_out: int, k: int, s: int, d: int, pb: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output of a transposed convolution the first and last input it reads: output ``o``
    takes input ``i`` through tap ``t`` when ``o = s i - pb + d t``."""
    o = np.arange(n_out, dtype=np.int64)[:, None]
    num = o + pb - d * np.arange(k, dtype=np.int64)[None, :]
    hit = num % s == 0
    idx = num // s
    big = np.iinfo(np.int64).max // 4
    lo = np.where(hit, idx, big).min(axis=1)
    hi = np.where(hit, idx, -big).max(axis=1)
    return lo, hi


def _each_axis(field: Result, fn) -> Result:
    if isinstance(field, NoField):
        return field
    return Field(field.source, tuple(fn(i, a) for i, a in enumerate(field.axes)))


def _conv(layer, fields, ins, outs):
    a = layer.attrs
    return _each_axis(
        fields[0],
        lambda i, f: window(f, a.kernel[i], a.stride[i], a.dilation[i], a.pads_begin[i]),
    )


def _deconv(layer, fields, ins, outs):
    a = layer.attrs

    def axis(i, f):
        lo, hi = transposed_taps(
            outs[0].shape[2 + i], a.kernel[i], a.stride[i], a.dilation[i], a.pads_begin[i]
        )
        return from_taps(f, lo, hi, Fraction(1, a.stride[i]))

    return _each_axis(fields[0], axis)


def _pool(layer, fields, ins, outs):
    from .layers.pool import pool_plan

    plans = pool_plan(layer.attrs, ins[0].shape[2:])
    return _each_axis(
        fields[0],
        lambda i, f: window(f, plans[i].kernel, plans[i].stride, plans[i].dilation, plans[i].pad),
    )


def _upsample_like(factors):
    def rule(layer, fields, ins, outs):
        def axis(i, f):
            scale = factors(layer.attrs)
            s = scale[i] if len(scale) > 1 else scale[0]
            o = np.arange(outs[0].shape[2 + i], dtype=np.int64)
            return from_taps(f, o // s, o // s, Fraction(1, s))

        return union(layer, fields, ins, outs, axis)

    return rule


def _zero_insert(layer, fields, ins, outs):
    def axis(i, f):
        s = layer.attrs.stride[i]
        o = np.arange(outs[0].shape[2 + i], dtype=np.int64)
        hit = o % s == 0
        return from_taps(f, np.where(hit, o // s, 1), np.where(hit, o // s, 0), Fraction(1, s))

    return _each_axis(fields[0], axis)


def _interp(layer, fields, ins, outs):
    from .layers.resample import align_corners_taps

    def axis(i, f):
        n_in, n_out = ins[0].shape[2 + i], outs[0].shape[2 + i]
        if n_in == n_out:
            return f
        lo, hi, w_hi = align_corners_taps(n_in, n_out)
        hi = np.where(w_hi != 0, hi, lo)  # a zero weight cannot change the output
        ratio = Fraction(n_in - 1, n_out - 1) if n_out > 1 else Fraction(1)
        return from_taps(f, lo, hi, ratio)

    return _each_axis(fields[0], axis)


def _resize(layer, fields, ins, outs):
    from .layers.resize import resize_axis_taps

    taps = resize_axis_taps(layer.attrs, ins[0].shape)
    if any(t is not None for t in taps[:2]):
        return NoField("resizes the batch or channel axis")
    if any(t is not None and t[2] is not None for t in taps):
        return NoField("extrapolates outside its region of interest")

    def axis(i, f):
        t = taps[2 + i]
        if t is None:
            return f
        index, weight, _ = t
        live = weight != 0
        big = np.iinfo(np.int64).max // 4
        lo = np.where(live, index, big).min(axis=1)
        hi = np.where(live, index, -big).max(axis=1)
        ratio = Fraction(ins[0].shape[2 + i], outs[0].shape[2 + i])
        return from_taps(f, lo, hi, ratio)

    return _each_axis(fields[0], axis)


def _crop(layer, fields, ins, outs):
    begins = layer.attrs.begins(ins[0].rank)
    return _each_axis(fields[0], lambda i, f: shift(f, begins[2 + i]))


def _pad(layer, fields, ins, outs):
    """Pad (spatial pads) and BorderPad (every axis): the interior shifts by the begin pad.
    An edge or reflect border repeats samples near the input's border (the field of a border
    output is then the mirror of an interior one, not covered here); wrap reads the far end."""
    a = layer.attrs
    pb, pe = a.pads_begin, a.pads_end
    if len(pb) == ins[0].rank:
        if any(pb[:2]) or any(pe[:2]):
            return NoField("pads the batch or channel axis")
        pb = pb[2:]
    if getattr(a, "mode", "constant") == "wrap":
        return NoField("wrap padding reads the far end of the axis")
    return _each_axis(fields[0], lambda i, f: shift(f, -pb[i]))


def _strided_slice(layer, fields, ins, outs):
    ranges = layer.attrs.ranges(ins[0].shape)
    if any(step < 0 for _, _, step in ranges[2:]):
        return NoField("reverses a spatial axis")
    return _each_axis(fields[0], lambda i, f: shift(f, ranges[2 + i][0], ranges[2 + i][2]))


def _slice(layer, fields, ins, outs):
    ax = layer.attrs.axis % ins[0].rank
    if ax < 2:
        return fields[0]
    starts = [0] + list(np.cumsum([o.shape[ax] for o in outs])[:-1])
    return [
        _each_axis(fields[0], lambda i, f, b=b: shift(f, int(b)) if 2 + i == ax else f)
        for b in starts
    ]


def _lrn(layer, fields, ins, outs):
    a = layer.attrs
    if a.region == "across_channels":
        return fields[0]
    return _each_axis(
        fields[0], lambda i, f: window(f, a.local_size, 1, 1, (a.local_size - 1) // 2)
    )


def _axis_op(what: str):
    """Softmax / ArgMax / Unary: pointwise in space unless their axis is spatial (or all)."""

    def rule(layer, fields, ins, outs):
        axis = layer.attrs.axis
        if getattr(layer.attrs, "function", "log_softmax") != "log_softmax":
            return fields[0]  # an elementwise Unary function
        if axis is None:
            return NoField(f"{what} over every axis")
        if axis % ins[0].rank >= 2:
            return NoField(f"{what} along spatial axis {axis % ins[0].rank}")
        return fields[0]

    return rule


def _batchnorm(layer, fields, ins, outs):
    if layer.attrs.statistics != "stored":
        return NoField("batch statistics mix every position")
    return fields[0]


def _concat(layer, fields, ins, outs):
    if layer.attrs.axis % ins[0].rank >= 2:
        return NoField("concatenates along a spatial axis")
    return union(layer, fields, ins, outs)


def union(layer, fields, ins, outs, axis=None) -> Result:
    """The fields of every input with the output's spatial shape, united (after mapping each
    through ``axis(i, f)`` when given). Crop's reference and a second Interp input only give a
    shape: their rules read input 0 alone."""
    out_spatial = outs[0].shape[2:]
    mapped = []
    for f, spec in zip(fields, ins):
        if axis is None and spec.shape[2:] != out_spatial:
            return NoField(f"broadcasts an input of spatial shape {spec.shape[2:]}")
        if isinstance(f, NoField):
            return f
        mapped.append(f if axis is None else _each_axis(f, axis))
    if len({f.source for f in mapped}) > 1:
        return NoField(f"mixes graph inputs {', '.join(sorted({f.source for f in mapped}))}")
    axes = []
    for per_axis in zip(*(f.axes for f in mapped)):
        jumps = {a.jump for a in per_axis}
        if len(jumps) > 1:
            return NoField(f"inputs with different jumps {', '.join(map(fmt, sorted(jumps)))}")
        start = min(a.start for a in per_axis)
        end = max(a.start + a.size for a in per_axis)
        axes.append(AxisField(end - start, per_axis[0].jump, start, max(a.slack for a in per_axis)))
    return Field(mapped[0].source, tuple(axes))


def _first(layer, fields, ins, outs):
    return fields[0]


def _not_spatial(why: str) -> Rule:
    return lambda layer, fields, ins, outs: NoField(why)


def _input(layer, fields, ins, outs):
    n = outs[0].rank - 2
    if n < 1:
        return NoField("no spatial axes")
    one = AxisField(Fraction(1), Fraction(1), Fraction(0))
    return Field(layer.outputs[0], (one,) * n)


RULES: dict[str, Rule] = {
    "Input": _input,
    "Convolution": _conv,
    "SeparableConvolution": _conv,
    "Deconvolution": _deconv,
    "Pooling": _pool,
    "Upsample": _upsample_like(lambda a: a.scale),
    "MaxUnpool": _upsample_like(lambda a: a.scale),
    "ZeroInsert": _zero_insert,
    "Interp": _interp,
    "Resize": _resize,
    "Crop": _crop,
    "Pad": _pad,
    "BorderPad": _pad,
    "StridedSlice": _strided_slice,
    "Slice": _slice,
    "LRN": _lrn,
    "BatchNorm": _batchnorm,
    "Softmax": _axis_op("softmax"),
    "ArgMax": _axis_op("argmax"),
    "Unary": _axis_op("log_softmax"),
    "Concat": _concat,
    "Eltwise": union,
    "Binary": union,
    "Scale": union,  # a second input (per-position factors) is read like Eltwise's
    # pointwise in space: the output position sees what the input position saw
    **{
        t: _first
        for t in (
            "ReLU",
            "PReLU",
            "Sigmoid",
            "TanH",
            "Power",
            "Dropout",
            "Identity",
            "ConstantBinary",
            "ShuffleChannel",
            "Split",
            "Clip",
            "HardSigmoid",
            "HardSwish",
            "Erf",
            "Gelu",
            "Mish",
        )
    },
    "Normalize": lambda layer, fields, ins, outs: (
        NoField("Normalize across_spatial divides by a norm over the whole map")
        if layer.attrs.across_spatial
        else fields[0]  # over the channels at each position: pointwise in space
    ),
    "PriorBox": _not_spatial("PriorBox depends only on shapes"),
    "DetectionOutput": _not_spatial("DetectionOutput lists boxes"),
    "ArgExtreme": _axis_op("ArgMax/ArgMin"),
    "Reduce": lambda layer, fields, ins, outs: (
        fields[0]
        if layer.attrs.axes and all(a % ins[0].rank < 2 for a in layer.attrs.axes)
        else NoField("reduces over a spatial axis (or every axis)")
    ),
    "InstanceNorm": _not_spatial("InstanceNorm's statistics cover the whole map"),
    "GroupNorm": _not_spatial("GroupNorm's statistics cover the whole map"),
    "LayerNorm": _not_spatial("LayerNorm's statistics may cover the whole map"),
    "Gather": _not_spatial("Gather picks entries by index"),
    "DepthToSpace": _not_spatial("DepthToSpace moves samples between channels and space"),
    "InnerProduct": _not_spatial("InnerProduct sees every input sample"),
    "Flatten": _not_spatial("Flatten leaves no spatial axes"),
    "Reshape": _not_spatial("Reshape may move samples between axes"),
    "Permute": _not_spatial("Permute may reorder the spatial axes"),
}


def missing_rules() -> list[str]:
    """Built-in layer types without a receptive-field rule (should be none; a plugin's layer
    type has none and reports n/a)."""
    built_in = {
        n for n, lt in layer_types().items() if type(lt).__module__.startswith("graphconv.")
    }
    return sorted(built_in - set(RULES))


def receptive_fields(graph: Graph) -> dict[str, Result]:
    """The receptive field of every tensor, by tensor name."""
    out: dict[str, Result] = {}
    for layer in graph.layers:
        rule = RULES.get(layer.type)
        ins = [graph.specs[t] for t in layer.inputs]
        outs = [graph.specs[t] for t in layer.outputs]
        if rule is None:
            result: object = NoField(f"no receptive-field rule for {layer.type}")
        elif any(o.rank < 3 for o in outs):
            result = NoField("no spatial axes")
        else:
            result = rule(layer, [out[t] for t in layer.inputs], ins, outs)
        results = result if isinstance(result, list) else [result] * len(outs)
        for t, r, spec in zip(layer.outputs, results, outs):
            if isinstance(r, Field) and len(r.axes) != spec.rank - 2:
                r = NoField("no spatial axes")
            out[t] = r
    return out


def layer_fields(graph: Graph) -> dict[str, Result]:
    """The receptive field of each layer's first output, by layer name."""
    fields = receptive_fields(graph)
    return {layer.name: fields[layer.outputs[0]] for layer in graph.layers}
