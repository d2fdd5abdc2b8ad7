"""Pooling with Caffe's semantics (BVLC master ``pooling_layer.cpp``), N-D, MAX and AVE.

Output size per spatial axis (symmetric pad ``p``, ``p < k``)::

    CEIL   out = ceil((H + 2p - k) / s) + 1      (Caffe's default round_mode)
    FLOOR  out = floor((H + 2p - k) / s) + 1
    clip   if p > 0 and (out - 1) s >= H + p: out -= 1   (last window must start inside H + p)

Window ``o`` covers ``[o s - p, o s - p + k)``.
  MAX  the maximum over the window clipped to the input, starting from -FLT_MAX with a strict
       ``>``: padding never wins, NaN is skipped, a window with no input left (only possible
       with p = 0 and k < s under CEIL) gives -FLT_MAX. The optional mask output is the argmax
       as a flat index within the channel's input plane (``h W + w``), the first maximum in
       scan order, -1 where nothing was taken; float32 as in Caffe.
  AVE  the sum over the window clipped to the input, divided by the window clipped to
       ``[-p, H + p)`` (padding counts, the overhang of a CEIL window past ``H + p`` does not).
       A window past the input (p = 0, k < s, CEIL) would make Caffe divide by a count <= 0:
       rejected at shape inference.

``global_pooling`` pools the whole spatial extent (kernel = input size, stride 1, pad 0).

``dilation`` (ONNX's ``dilations``; not in Caffe) spaces the taps: window ``o`` reads
``o s - p + j d`` for ``j < k``, and the extent ``d (k - 1) + 1`` replaces ``k`` in the formulas
above. MAX scans the taps inside the input (a window may hold none: -FLT_MAX, mask -1); AVE
divides by the taps inside ``[-p, H + p)``.

ONNX export uses floor mode with explicit end padding chosen so the window count is Caffe's:
onnx shape inference and onnxruntime disagree about ceil_mode (onnxruntime drops a last window
that starts in the end padding, onnx does not), so ceil_mode is never emitted. AVE uses
``count_include_pad=1`` (its divisor is then the full kernel) times a constant correction where a
Caffe window overhangs ``H + p``; MAX pads the output of windows past the input with -FLT_MAX
(mask -1). The mask comes from MaxPool's ``Indices`` (flat over N, C and the plane), taken modulo
the plane size and cast to float. Dilated pools emit ``dilations``; where onnxruntime's
``pads < kernel`` rule fails they pad explicitly (the mask index is then mapped back to the
input's plane), and below opset 19 a dilated AVE is a depthwise Conv of ones times 1/divisor.

Output lengths and window positions are graphconv.geometry's (``pooled_length``, ``AxisPlan``);
the kernels are graphconv.kernels.pool.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..geometry import (
    POOL_ROUND_MODES,
    AxisPlan,
    caffe_divisors,
    conv_output_size,
    end_pad,
    extent,
    pooled_length,
)
from ..ir import TensorSpec
from ..kernels import pool as kernels
from ..kernels.pool import FLT_MAX
from .base import LayerType, as_tuple, register

_METHODS = ("max", "ave")
_ROUND_MODES = POOL_ROUND_MODES


@dataclass(frozen=True)
class PoolAttrs:
    """Caffe pooling. ``kernel`` is None for global pooling. A single value (an int or a
    1-tuple) of kernel, stride or pad applies to every spatial axis of the input.

    ``method``: "max" or "ave". ``pad``: symmetric padding per axis (``pad < kernel``).
    ``round_mode``: "ceil" (Caffe's default), "floor", or "ceil_odd_extra" (the caffe-yolov3
    fork: one window more when ``kernel - stride`` is odd, see graphconv.geometry). ``mask``: a
    MAX pooling also outputs the argmax mask (Caffe's second top). ``dilation``: the spacing
    of a window's taps per axis (ONNX's ``dilations``; Caffe has none): a window of ``kernel``
    taps spans
    ``dilation (kernel - 1) + 1`` samples, and that extent takes the kernel's place in the
    output size formulas; ``pad`` must be smaller than the extent.
    """

    kernel: tuple[int, ...] | int | None = None
    stride: tuple[int, ...] | int = 1
    pad: tuple[int, ...] | int = 0
    method: str = "max"
    round_mode: str = "ceil"
    global_pooling: bool = False
    mask: bool = False
    dilation: tuple[int, ...] | int = 1

    def __post_init__(self) -> None:
        fix = object.__setattr__
        method = str(self.method).lower()
        round_mode = str(self.round_mode).lower()
        if method not in _METHODS:
            raise ValueError(
                f"pooling method '{self.method}' is not supported "
                f"(choose {' or '.join(m.upper() for m in _METHODS)})"
            )
        if round_mode not in _ROUND_MODES:
            raise ValueError(
                f"round_mode '{self.round_mode}' is not supported (CEIL, FLOOR or "
                "CEIL_ODD_EXTRA, the caffe-yolov3 fork's rule)"
            )
        fix(self, "method", method)
        fix(self, "round_mode", round_mode)
        fix(self, "global_pooling", bool(self.global_pooling))
        fix(self, "mask", bool(self.mask))
        if self.mask and method != "max":
            raise ValueError("only MAX pooling has a mask output")
        if self.global_pooling:
            if self.kernel is not None:
                raise ValueError(
                    f"global pooling takes its kernel from the input; got kernel {self.kernel}"
                )
            stride, pad = as_tuple(self.stride, what="stride"), as_tuple(self.pad, what="pad")
            dilation = as_tuple(self.dilation, what="dilation")
            if any(v != 1 for v in stride + dilation) or any(v != 0 for v in pad):
                raise ValueError(
                    f"global pooling needs stride 1 and pad 0 (and dilation 1), "
                    f"got stride {stride}, pad {pad} and dilation {dilation}"
                )
            fix(self, "stride", (1,))
            fix(self, "pad", (0,))
            fix(self, "dilation", (1,))
            return
        if self.kernel is None:
            raise ValueError("pooling needs a kernel (or global_pooling)")
        # a single value applies to every spatial axis of the input
        n = max(len(as_tuple(v)) for v in (self.kernel, self.stride, self.pad, self.dilation))
        if not 1 <= n <= 3:
            raise ValueError(f"pooling must be 1-D, 2-D or 3-D, got {n} values per axis")
        kernel = as_tuple(self.kernel, n, "kernel")
        stride = as_tuple(self.stride, n, "stride")
        pad = as_tuple(self.pad, n, "pad")
        dilation = as_tuple(self.dilation, n, "dilation")
        for what, vals, lo in (
            ("kernel", kernel, 1),
            ("stride", stride, 1),
            ("pad", pad, 0),
            ("dilation", dilation, 1),
        ):
            if any(v < lo for v in vals):
                raise ValueError(f"{what} must be >= {lo}, got {vals}")
        ext = tuple(extent(k, d) for k, d in zip(kernel, dilation))
        if any(p >= e for p, e in zip(pad, ext)):
            what = f"kernel {kernel}" if ext == kernel else f"the dilated kernel's extent {ext}"
            raise ValueError(f"pad {pad} must be smaller than {what} (as Caffe requires)")
        fix(self, "kernel", kernel)
        fix(self, "stride", stride)
        fix(self, "pad", pad)
        fix(self, "dilation", dilation)


def pool_plan(a: PoolAttrs, spatial: tuple[int, ...]) -> list[AxisPlan]:
    """Per-axis plans for input spatial shape ``spatial``; ValueError when Caffe would fail."""
    n = len(spatial)
    if a.global_pooling:
        kernel, stride, pad, dilation = tuple(spatial), (1,) * n, (0,) * n, (1,) * n
    else:
        if len(a.kernel) not in (1, n):
            raise ValueError(f"the {len(a.kernel)}-D kernel {a.kernel} does not fit a {n}-D input")
        kernel, stride, pad, dilation = (
            as_tuple(v, n) for v in (a.kernel, a.stride, a.pad, a.dilation)
        )
    plans = []
    for i in range(n):
        h, k, s, p, d = spatial[i], kernel[i], stride[i], pad[i], dilation[i]
        out = pooled_length(h, k, s, p, a.round_mode, d)
        if out < 1:
            what = f"kernel {k}" if d == 1 else f"kernel {k} dilated by {d}"
            raise ValueError(
                f"{what} does not fit the padded input {h + 2 * p} on axis "
                f"{2 + i} (stride {s}, {a.round_mode.upper()} rounding)"
            )
        plan = AxisPlan(h, k, s, p, out, d)
        if a.method == "ave" and plan.past_input:
            raise ValueError(
                f"AVE pooling's last window on axis {2 + i} starts at {plan.start(out - 1)}, past "
                f"the input of {h} (kernel {k}, stride {s}, pad 0, "
                f"{a.round_mode.upper()} rounding): Caffe divides that window by a count <= 0; "
                "use round_mode FLOOR or a kernel >= stride"
            )
        plans.append(plan)
    return plans


@register
class Pooling(LayerType):
    type = "Pooling"
    Attrs = PoolAttrs

    def infer(self, a, ins):
        x = ins[0]
        if not 1 <= x.rank - 2 <= 3:
            raise ValueError(f"pooling needs 1 to 3 spatial axes, the input is {x}")
        plans = pool_plan(a, x.shape[2:])
        out = TensorSpec(x.shape[:2] + tuple(p.out for p in plans), x.dtype)
        return [out, out] if a.mask else [out]

    def run(self, a, xs, p):
        return kernels.pool(xs[0], pool_plan(a, xs[0].shape[2:]), a.method, a.mask)

    def scratch_bytes(self, a, ins, outs):
        # with a mask, the argmax indices are int64 at the input's size (kernels/pool.py)
        return 8 * ins[0].size if a.mask else 0

    def to_onnx(self, layer, em, ins, outs):
        """Caffe's windows as ONNX pools (see the module docstring). (Long: one recipe whose
        corner cases, past-input windows, explicit pads, old-opset dilation and the mask, share
        the pads and counts computed first.)"""
        a = layer.attrs
        x = em.spec(ins[0])
        plans = pool_plan(a, x.shape[2:])
        if a.global_pooling and not a.mask:
            op = "GlobalMaxPool" if a.method == "max" else "GlobalAveragePool"
            em.node(op, ins[:1], outs[:1], name=layer.name)
            return
        # MAX: windows past the input become an appended -FLT_MAX sample (mask -1) afterwards.
        extra = [int(a.method == "max" and p.past_input) for p in plans]
        counts = [p.out - e for p, e in zip(plans, extra)]
        ends = []
        for p, c in zip(plans, counts):
            end = max(0, end_pad(c, p.size, p.kernel, p.stride, p.dilation, p.pad))
            assert conv_output_size(p.size, p.kernel, p.stride, p.dilation, p.pad, end) == c
            ends.append(end)
        attrs = {
            "kernel_shape": [p.kernel for p in plans],
            "strides": [p.stride for p in plans],
            "pads": [p.pad for p in plans] + ends,
            "ceil_mode": 0,
        }
        dilated = any(p.dilation != 1 for p in plans)
        if dilated:
            attrs["dilations"] = [p.dilation for p in plans]
        if a.method == "ave" and dilated and em.opset < 19:
            # AveragePool has dilations from opset 19: a depthwise Conv of ones sums the taps
            c = x.shape[1]
            ones = np.ones((c, 1) + tuple(p.kernel for p in plans), dtype=np.float32)
            summed = em.tmp(f"{layer.name}/sum")
            em.node(
                "Conv",
                [ins[0], em.const(f"{layer.name}.ones", ones)],
                [summed],
                name=layer.name,
                group=c,
                **{k: v for k, v in attrs.items() if k != "ceil_mode"},
            )
            em.node(
                "Mul",
                [
                    summed,
                    em.const(
                        f"{layer.name}.inverse_divisor",
                        (1.0 / caffe_divisors(plans)).astype(np.float32),
                    ),
                ],
                outs[:1],
                name=f"{layer.name}/divide",
            )
            return
        src, explicit = ins[0], None
        if dilated and any(p.pad >= p.kernel or e >= p.kernel for p, e in zip(plans, ends)):
            # onnxruntime's pools want pads < kernel: pad explicitly (zeros are what
            # count_include_pad=1 sums; -FLT_MAX never beats an input sample, as in Caffe)
            explicit = [p.pad for p in plans]
            src = em.tmp(f"{layer.name}/padded")
            em.pad(
                ins[0],
                src,
                [0, 0] + attrs["pads"][: len(plans)] + [0, 0] + ends,
                name=f"{layer.name}/pad",
                value=-FLT_MAX if a.method == "max" else 0.0,
            )
            attrs["pads"] = [0] * (2 * len(plans))
        if a.method == "ave":
            correction = caffe_divisors(plans)
            needed = any(e > p.pad for p, e in zip(plans, ends))
            pooled = em.tmp(f"{layer.name}/avg") if needed else outs[0]
            em.node("AveragePool", [src], [pooled], name=layer.name, count_include_pad=1, **attrs)
            if needed:  # Caffe divides overhanging windows by less than the full kernel
                ratio = math.prod(q.kernel for q in plans) / correction
                em.node(
                    "Mul",
                    [pooled, em.const(f"{layer.name}.divisor_fix", ratio.astype(np.float32))],
                    outs[:1],
                    name=f"{layer.name}/divisor_fix",
                )
            return
        grow = any(extra)
        vals = em.tmp(f"{layer.name}/max") if grow else outs[0]
        if not a.mask:
            em.node("MaxPool", [src], [vals], name=layer.name, **attrs)
        else:
            flat = em.tmp(f"{layer.name}/indices")
            em.node("MaxPool", [src], [vals, flat], name=layer.name, storage_order=0, **attrs)
            plane = em.tmp(f"{layer.name}/plane_index")
            sizes = (
                x.shape[2:]
                if explicit is None
                else tuple(h + b + e for h, b, e in zip(x.shape[2:], explicit, ends))
            )
            em.node(
                "Mod",
                [
                    flat,
                    em.const(
                        f"{layer.name}.plane_size", np.array(math.prod(sizes), dtype=np.int64)
                    ),
                ],
                [plane],
                name=f"{layer.name}/plane_index",
            )
            if explicit is not None:
                plane = _unpad_index(em, layer.name, plane, sizes, explicit, x.shape[2:])
            mask = em.tmp(f"{layer.name}/mask") if grow else outs[1]
            if not dilated:
                em.node("Cast", [plane], [mask], name=f"{layer.name}/mask", to=1)  # FLOAT
            else:  # a dilated window may skip the input: -1 where nothing beat -FLT_MAX
                cast, empty = em.tmp(f"{layer.name}/mask_cast"), em.tmp(f"{layer.name}/empty")
                em.node("Cast", [plane], [cast], name=f"{layer.name}/mask", to=1)  # FLOAT
                em.node(
                    "Equal",
                    [vals, em.const(f"{layer.name}.lowest", np.float32(-FLT_MAX))],
                    [empty],
                    name=f"{layer.name}/empty",
                )
                em.node(
                    "Where",
                    [empty, em.const(f"{layer.name}.none", np.float32(-1.0)), cast],
                    [mask],
                    name=f"{layer.name}/mask_none",
                )
        if grow:
            pads = [0] * (len(plans) + 2) + [0, 0] + extra
            em.pad(vals, outs[0], pads, name=f"{layer.name}/past_input", value=-FLT_MAX)
            if a.mask:
                em.pad(mask, outs[1], pads, name=f"{layer.name}/past_input_mask", value=-1.0)


def _unpad_index(
    em, name: str, plane: str, padded: tuple[int, ...], begins: list[int], sizes: tuple[int, ...]
) -> str:
    """A flat index within the explicitly padded plane, as a flat index within the input's:
    per axis the coordinate ``(i // stride) % size`` less the begin pad, then re-flattened.
    (Wrong only where the window took no input sample; the caller masks those.)"""
    total = None
    for ax, (hp, b) in enumerate(zip(padded, begins)):
        steps = (
            ("Div", "pstride", math.prod(padded[ax + 1 :])),
            ("Mod", "psize", hp),
            ("Sub", "pbegin", b),
            ("Mul", "stride", math.prod(sizes[ax + 1 :])),
        )
        term = plane
        for op, what, value in steps:
            nxt = em.tmp(f"{name}/{what}{ax}")
            em.node(
                op,
                [term, em.const(f"{name}.{what}{ax}", np.array(value, np.int64))],
                [nxt],
                name=f"{name}/{what}{ax}",
            )
            term = nxt
        if total is not None:
            acc = em.tmp(f"{name}/index{ax}")
            em.node("Add", [total, term], [acc], name=f"{name}/index{ax}")
            term = acc
        total = term
    return total
