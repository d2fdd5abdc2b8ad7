"""Output lengths by brute force: windows counted one at a time (convolution, Caffe and ONNX
pooling), and a 1-D transposed convolution by scattering every product."""

from __future__ import annotations

import itertools

import numpy as np


def conv_windows(h: int, k: int, s: int, d: int, pb: int, pe: int) -> int:
    """Window starts -pb, -pb + s, ... whose taps all lie in the padded input [-pb, h + pe)."""
    count, start = 0, -pb
    while start + d * (k - 1) < h + pe:
        count += 1
        start += s
    return count


def caffe_pool_windows(h: int, k: int, s: int, p: int, mode: str, d: int = 1) -> int:
    """Caffe's windows, one at a time. FLOOR: while the window fits the padded input. CEIL: the
    first window, then one more while the last one has not reached the padded end (a partial
    window overhangs it); then, with padding, a last window starting at or past h (in the end
    padding: no input sample in it) is dropped."""
    span = d * (k - 1) + 1
    starts = [-p]
    if mode == "floor":
        while starts[-1] + s + span <= h + p:
            starts.append(starts[-1] + s)
    else:
        while starts[-1] + span < h + p:
            starts.append(starts[-1] + s)
    if p > 0 and starts[-1] >= h:
        starts.pop()
    return len(starts) if starts[0] + span <= h + p or mode == "ceil" else 0


def scatter_deconv(x: np.ndarray, w: np.ndarray, s: int, d: int, pb: int, pe: int, op: int):
    """1-D transposed convolution by scattering every product, then cropping pb / pe and
    extending by op zeros at the end."""
    full = np.zeros(len(x) * s + len(w) * d + op + 8)
    last = 0
    for i, t in itertools.product(range(len(x)), range(len(w))):
        full[i * s + t * d] += x[i] * w[t]
        last = max(last, i * s + t * d)
    return full[pb : last + 1 + op - pe]


def onnx_pool_windows(h: int, k: int, s: int, d: int, pb: int, pe: int, ceil: bool) -> int:
    """ONNX pool windows one at a time: as caffe_pool_windows with asymmetric pads, and a last
    window starting in the end padding dropped whatever the pads."""
    span = d * (k - 1) + 1
    starts = [-pb]
    while starts[-1] + s + span <= h + pe or (ceil and starts[-1] + span < h + pe):
        starts.append(starts[-1] + s)
    if ceil and starts[-1] >= h:
        starts.pop()
    return len(starts)
