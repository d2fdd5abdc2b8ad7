"""Every output length and index formula, once: the one place shape rules, kernels, passes and
frontends ask how long an axis becomes and which samples a window or a tap reaches.

Per spatial axis, with input length ``h``, kernel ``k``, stride ``s``, dilation ``d``, pads
``pb``/``pe`` (begin/end) and the kernel's extent ``e = d (k - 1) + 1``:

  convolution       floor((h + pb + pe - e) / s) + 1
  deconvolution     s (h - 1) + e - pb - pe + op             (op: output padding)
  pooling (Caffe)   ceil or floor((h + 2p - e) / s) + 1, less one when p > 0 and the last
                    window would start at or past h (``(out - 1) s >= h + p``: in the end
                    padding, no input sample in it)
  pooling (forks)   "ceil_odd_extra" (ChenYingpeng/caffe-yolov3's PoolingLayer::Reshape):
                    the CEIL length plus one when ``k - s`` is positive and odd (C++'s
                    ``(k - s) % 2 == 1``: a 2x2 stride-1 window keeps the length), before
                    the clip rule
  zero insertion    s (h - 1) + 1
  pad / crop        h + pb + pe                              (negative amounts crop)
  Interp            (h - 1) // shrink + 1, then h + (h - 1)(zoom - 1)

Sub-pixel phases of a transposed convolution: output ``o = s q + r`` (phase ``r < s``) takes
exactly the taps ``t`` with ``(r + pb - d t) = 0 mod s``, at input ``q + (r + pb - d t) / s``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` in integers (``b > 0``)."""
    return -(-a // b)


def extent(k: int, d: int = 1) -> int:
    """The samples a kernel of ``k`` taps at dilation ``d`` spans: ``d (k - 1) + 1``."""
    return d * (k - 1) + 1


def conv_output_size(h: int, k: int, s: int, d: int, pb: int, pe: int) -> int:
    """Convolution output length (< 1 when the kernel does not fit the padded input)."""
    return (h + pb + pe - extent(k, d)) // s + 1


def live_taps(h: int, out: int, k: int, s: int, d: int, pb: int) -> tuple[int, int] | None:
    """The first and last kernel taps that read at least one real (unpadded) input sample for
    some output, on one axis (None: every tap reads only padding). Tap ``j`` of output ``o``
    reads padded position ``o*s + j*d``, input sample ``o*s + j*d - pb``. The live taps are
    consecutive: the positions a tap reads move right as ``j`` grows."""
    live = [
        j
        for j in range(k)
        if max(0, ceil_div(pb - j * d, s)) <= min(out - 1, (pb - j * d + h - 1) // s)
    ]
    return (live[0], live[-1]) if live else None


def end_pad(count: int, h: int, k: int, s: int, d: int, pb: int) -> int:
    """The end pad that makes ``conv_output_size`` exactly ``count`` with the least padded
    length (negative: a crop; ``max(0, ...)`` of it gives at least ``count`` windows)."""
    return (count - 1) * s + extent(k, d) - h - pb


def deconv_output_size(h: int, k: int, s: int, d: int, pb: int, pe: int, op: int = 0) -> int:
    """Transposed-convolution output length: ``s (h - 1) + d (k - 1) + 1 - pb - pe + op``."""
    return s * (h - 1) + op + extent(k, d) - pb - pe


def deconv_full_size(h: int, k: int, s: int, d: int = 1) -> int:
    """The uncropped transposed-convolution length (no pads, no output padding)."""
    return deconv_output_size(h, k, s, d, 0, 0)


POOL_ROUND_MODES = ("ceil", "floor", "ceil_odd_extra")


def pooled_length(h: int, k: int, s: int, p: int, round_mode: str, d: int = 1) -> int:
    """Caffe's pooling output length (may be < 1 when the kernel does not fit); a kernel with
    dilation ``d`` counts as its extent ``d (k - 1) + 1``. ``round_mode``: "ceil", "floor" or
    a fork's rule, "ceil_odd_extra" (see the module docstring)."""
    span = h + 2 * p - extent(k, d)
    out = (span // s if round_mode == "floor" else ceil_div(span, s)) + 1
    if round_mode == "ceil_odd_extra" and (extent(k, d) - s) > 0 and (extent(k, d) - s) % 2:
        out += 1
    if p > 0 and (out - 1) * s >= h + p:
        out -= 1
    return out


def onnx_pool_length(h: int, k: int, s: int, d: int, pb: int, pe: int, ceil: bool) -> int:
    """ONNX MaxPool/AveragePool output length (onnxruntime's rule): floor, or with ``ceil`` one
    more for a partial window, except that no window may start in the end padding."""
    span = h + pb + pe - extent(k, d)
    if not ceil:
        return span // s + 1
    out = ceil_div(span, s) + 1
    if (out - 1) * s >= h + pb:
        out -= 1
    return out


def same_pads(h: int, k: int, s: int, d: int, upper: bool) -> tuple[int, int]:
    """ONNX auto_pad SAME_UPPER (``upper``) / SAME_LOWER pads (begin, end): ``ceil(h / s)``
    outputs, the total pad split in halves, the odd sample at the end (UPPER) or begin."""
    total = max(0, end_pad(ceil_div(h, s), h, k, s, d, 0))
    small = total // 2
    begin = small if upper else total - small
    return begin, total - begin


def deconv_pads_for_length(
    h: int, k: int, s: int, d: int, op: int, want: int, upper: bool
) -> tuple[int, int]:
    """Transposed-convolution pads (begin, end) that give ``want`` output samples (ONNX
    ``output_shape`` / SAME): the total split in halves, the odd one at the end (``upper``) or
    the begin; either may come out negative (extend rather than crop)."""
    total = deconv_output_size(h, k, s, d, 0, 0, op) - want
    begin = total // 2 if upper else total - total // 2
    return begin, total - begin


def zero_insert_length(h: int, s: int) -> int:
    """Length after inserting ``s - 1`` zeros between neighbouring samples."""
    return s * (h - 1) + 1


def padded_length(h: int, pb: int, pe: int) -> int:
    """Length after padding ``pb`` before and ``pe`` after (negative amounts crop)."""
    return h + pb + pe


def interp_length(h: int, shrink: int = 1, zoom: int = 1) -> int:
    """Caffe Interp's length from shrink then zoom factors."""
    h = (h - 1) // shrink + 1
    return h + (h - 1) * (zoom - 1)


def deconv_as_conv_pads(k: int, d: int, pb: int, pe: int, op: int = 0) -> tuple[int, int]:
    """The pads (low, high) that turn a zero-inserted input into the transposed convolution's
    output under a plain stride-1 convolution with the flipped kernel (negative: crop)."""
    reach = d * (k - 1)
    return reach - pb, reach - pe + op


def phase_taps(k: int, s: int, d: int, pb: int, r: int) -> tuple[list[int], int]:
    """Taps of sub-pixel phase ``r`` in reading order (``t`` descending) and the input offset
    of the first one: output ``s q + r`` reads ``x[q + offset + j d']`` times the ``j``-th tap,
    ``d' = d / gcd(s, d)``. Empty when no tap reaches the phase (then offset 0)."""
    taps = sorted((t for t in range(k) if (r + pb - d * t) % s == 0), reverse=True)
    offset = (r + pb - d * taps[0]) // s if taps else 0
    return taps, offset


def phase_count(length: int, s: int) -> int:
    """Samples per phase that cover ``length`` outputs at stride ``s``: ``ceil(length / s)``."""
    return ceil_div(length, s)


def taps_per_phase(k: int, s: int) -> int:
    """Taps of a dilation-1 transposed convolution per phase once the kernel is padded with
    zero taps to a multiple of ``s``: ``ceil(k / s)`` (phase ``r`` takes taps ``j s + r``)."""
    return ceil_div(k, s)


def receptive_field(
    kernel: int, stride: int, dilation: int, rf: int = 1, jump: int = 1
) -> tuple[int, int]:
    """(receptive field, jump) after one windowed layer, from the input's (``rf``, ``jump``):
    ``rf + (extent - 1) jump`` samples, sample spacing ``jump * stride``."""
    return rf + (extent(kernel, dilation) - 1) * jump, jump * stride


@dataclass(frozen=True)
class AxisPlan:
    """One spatial axis of a pooling: Caffe's window count and where the windows lie."""

    size: int  # input length H
    kernel: int
    stride: int
    pad: int
    out: int  # Caffe's output length
    dilation: int = 1

    def start(self, o):
        """Where window ``o`` starts (may lie in the begin padding)."""
        return o * self.stride - self.pad

    @property
    def extent(self) -> int:
        """The samples a window spans: ``dilation (kernel - 1) + 1``."""
        return extent(self.kernel, self.dilation)

    @property
    def past_input(self) -> bool:
        """The last window starts at or beyond H (p = 0, k < s, CEIL): no input in it."""
        return self.start(self.out - 1) >= self.size

    def divisors(self) -> np.ndarray:
        """Caffe's AVE divisor per window along this axis: the taps inside [-p, H+p)."""
        starts = self.start(np.arange(self.out))
        room = self.size + self.pad - starts  # > 0: every window starts before H + p
        return np.minimum(self.kernel, -(-room // self.dilation))


def caffe_divisors(plans: list[AxisPlan]) -> np.ndarray:
    """Caffe's AVE divisor for every output position, shape ``(1, 1, *out)``."""
    n = len(plans)
    div = np.ones((1, 1) + (1,) * n, dtype=np.float64)
    for i, plan in enumerate(plans):
        shape = [1] * (n + 2)
        shape[2 + i] = plan.out
        div = div * plan.divisors().reshape(shape)
    return div
