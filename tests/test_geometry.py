"""graphconv.geometry against brute-force definitions (oracles/geometry.py): windows counted by
enumeration, transposed convolutions by scattering, phase taps by listing which kernel tap
lands on which output phase."""

from __future__ import annotations

import itertools
from math import gcd

import numpy as np
import pytest
from oracles import caffe_pool_windows, conv_windows, onnx_pool_windows, scatter_deconv

from graphconv import geometry as G

SMALL = range(1, 7)


def test_conv_output_size_counts_windows():
    for h, k, s, d, pb, pe in itertools.product(
        range(1, 10), SMALL, range(1, 4), range(1, 4), range(3), range(3)
    ):
        want = conv_windows(h, k, s, d, pb, pe)
        got = G.conv_output_size(h, k, s, d, pb, pe)
        assert max(got, 0) == want, (h, k, s, d, pb, pe)


@pytest.mark.parametrize("mode", ["ceil", "floor"])
def test_pooled_length_is_caffe_window_count(mode):
    for h, k, s, p, d in itertools.product(range(1, 12), SMALL, range(1, 5), range(4), range(1, 3)):
        if p >= G.extent(k, d) or G.extent(k, d) > h + 2 * p:
            continue  # Caffe requires pad < kernel; the kernel must fit the padded input
        want = caffe_pool_windows(h, k, s, p, mode, d)
        assert G.pooled_length(h, k, s, p, mode, d) == want, (h, k, s, p, d, mode)


def test_pooled_length_clip_rule_example():
    # 1 sample, kernel 2, stride 2, pad 1: CEIL rounds up to windows at -1 and 1, but the
    # second starts past the input (only padding in it): Caffe drops it
    assert G.pooled_length(1, 2, 2, 1, "ceil") == 1 == G.pooled_length(1, 2, 2, 1, "floor")
    assert G.pooled_length(5, 2, 2, 1, "ceil") == 3 == G.pooled_length(5, 2, 2, 1, "floor")
    assert G.pooled_length(6, 3, 2, 0, "ceil") == 3 and G.pooled_length(6, 3, 2, 0, "floor") == 2


def test_deconv_output_size_by_scattering():
    rng = np.random.default_rng(0)
    for h, k, s, d in itertools.product(range(1, 6), SMALL, range(1, 4), range(1, 3)):
        for pb, pe, op in itertools.product(range(3), range(3), range(max(s, d))):
            if G.deconv_output_size(h, k, s, d, pb, pe, op) < 1:
                continue
            y = scatter_deconv(rng.integers(1, 4, h), rng.integers(1, 4, k), s, d, pb, pe, op)
            assert G.deconv_output_size(h, k, s, d, pb, pe, op) == len(y)
    assert G.deconv_full_size(4, 3, 2, 2) == len(
        scatter_deconv(np.ones(4), np.ones(3), 2, 2, 0, 0, 0)
    )


def test_deconv_as_conv_pads_reproduce_the_deconvolution():
    """ZeroInsert, then Pad(low, high), then a stride-1 correlation with the flipped kernel
    equals the scattered transposed convolution, sample for sample."""
    rng = np.random.default_rng(1)
    for h, k, s, d in itertools.product(range(1, 5), range(1, 5), range(1, 4), range(1, 3)):
        for pb, pe, op in itertools.product(range(4), range(4), range(max(s, d))):
            if G.deconv_output_size(h, k, s, d, pb, pe, op) < 1:
                continue
            x, w = rng.integers(-3, 4, h), rng.integers(-3, 4, k)
            want = scatter_deconv(x, w, s, d, pb, pe, op)
            z = np.zeros(G.zero_insert_length(h, s), dtype=np.int64)
            z[::s] = x
            low, high = G.deconv_as_conv_pads(k, d, pb, pe, op)
            zp = np.pad(z, (max(low, 0), max(high, 0)))[max(-low, 0) :]
            zp = zp[: len(zp) - max(-high, 0)]
            assert len(zp) == G.padded_length(len(z), low, high)
            n = G.conv_output_size(len(zp), k, 1, d, 0, 0)
            got = np.array([sum(zp[o + t * d] * w[k - 1 - t] for t in range(k)) for o in range(n)])
            np.testing.assert_array_equal(got, want)


def test_onnx_pool_length_counts_windows():
    for h, k, s, d, pb, pe, ceil in itertools.product(
        range(1, 9), range(1, 4), range(1, 4), range(1, 3), range(3), range(3), (False, True)
    ):
        if G.extent(k, d) > h + pb + pe:
            continue
        want = onnx_pool_windows(h, k, s, d, pb, pe, ceil)
        assert G.onnx_pool_length(h, k, s, d, pb, pe, ceil) == want, (h, k, s, d, pb, pe, ceil)


def test_same_pads_give_ceil_h_over_s_outputs():
    for h, k, s, d, upper in itertools.product(
        range(1, 10), range(1, 5), range(1, 4), range(1, 3), (False, True)
    ):
        b, e = G.same_pads(h, k, s, d, upper)
        assert conv_windows(h, k, s, d, b, e) == len(range(0, h, s))
        assert 0 <= (e - b if upper else b - e) <= 1


def test_deconv_pads_for_length_by_scattering():
    for h, k, s, d, want, upper in itertools.product(
        range(1, 5), range(1, 4), range(1, 4), range(1, 3), range(1, 12), (False, True)
    ):
        b, e = G.deconv_pads_for_length(h, k, s, d, 0, want, upper)
        if b < 0 or e < 0:
            continue  # an extension, not a crop: the caller turns it into output padding
        assert len(scatter_deconv(np.ones(h), np.ones(k), s, d, b, e, 0)) == want
        assert 0 <= (e - b if upper else b - e) <= 1


def test_zero_insert_and_pad_lengths():
    for h, s in itertools.product(range(1, 8), range(1, 5)):
        z = np.zeros(h * s + 4)
        z[np.arange(h) * s] = 1
        assert G.zero_insert_length(h, s) == np.flatnonzero(z)[-1] + 1
    for h, pb, pe in itertools.product(range(1, 6), range(-2, 3), range(-2, 3)):
        x = np.arange(h)
        y = np.pad(x, (max(pb, 0), max(pe, 0)))[max(-pb, 0) :]
        y = y[: len(y) - max(-pe, 0)]
        assert G.padded_length(h, pb, pe) == max(len(y), 0) or h + pb + pe < 0


def test_interp_length():
    for h, shrink, zoom in itertools.product(range(1, 10), range(1, 4), range(1, 4)):
        shrunk = len(range(0, h, shrink))
        assert G.interp_length(h, shrink, zoom) == (shrunk - 1) * zoom + 1


def test_end_pad_gives_exactly_count_windows():
    for h, k, s, d, pb, count in itertools.product(
        range(1, 8), range(1, 4), range(1, 4), range(1, 3), range(3), range(1, 6)
    ):
        e = G.end_pad(count, h, k, s, d, pb)
        if h + pb + e < G.extent(k, d):
            continue
        assert conv_windows(h, k, s, d, pb, e) == count
        assert conv_windows(h, k, s, d, pb, e - 1) == count - 1  # the least such pad


def test_phase_taps_by_enumeration():
    """Scatter input ``i`` through tap ``t`` to output ``s i + d t - pb``; the taps reaching
    phase ``r``, and the input each reads for output ``s q + r``, are phase_taps'."""
    for k, s, d, pb in itertools.product(range(1, 7), range(1, 5), range(1, 4), range(4)):
        dd = d // gcd(s, d)
        hits: dict[int, dict[int, dict[int, int]]] = {r: {} for r in range(s)}
        for i, t in itertools.product(range(-30, 30), range(k)):
            o = s * i + d * t - pb
            if 0 <= o < 4 * s:
                hits[o % s].setdefault(t, {})[o // s] = i
        for r in range(s):
            taps, offset = G.phase_taps(k, s, d, pb, r)
            assert taps == sorted(hits[r], reverse=True)
            for j, t in enumerate(taps):
                for q, i in hits[r][t].items():
                    assert i == q + offset + j * dd


def test_taps_per_phase_and_phase_count():
    for k, s in itertools.product(range(1, 9), range(1, 5)):
        per = [len(G.phase_taps(k, s, 1, 0, r)[0]) for r in range(s)]
        assert G.taps_per_phase(k, s) == max(per)
    for length, s in itertools.product(range(1, 20), range(1, 5)):
        assert G.phase_count(length, s) == len(range(0, length, s))


def test_pool_divisors_count_taps_in_the_padded_input():
    for h, k, s, p, d in itertools.product(
        range(1, 9), range(1, 4), range(1, 4), range(3), range(1, 3)
    ):
        if p >= G.extent(k, d) or G.extent(k, d) > h + 2 * p:
            continue
        out = G.pooled_length(h, k, s, p, "ceil", d)
        plan = G.AxisPlan(h, k, s, p, out, d)
        if plan.past_input:
            continue
        want = [sum(-p <= o * s - p + t * d < h + p for t in range(k)) for o in range(out)]
        np.testing.assert_array_equal(plan.divisors(), want)
        div = G.caffe_divisors([plan, plan])
        np.testing.assert_array_equal(div[0, 0], np.outer(want, want))


def test_receptive_field_by_enumeration():
    layers = [(3, 1, 1), (2, 2, 1), (3, 1, 2), (3, 2, 1)]
    rf, jump = 1, 1
    reach = {0}  # input samples that reach output 0 of the stack, walked back layer by layer
    for k, s, d in layers:
        rf, jump = G.receptive_field(k, s, d, rf, jump)
    for k, s, d in reversed(layers):
        reach = {o * s + t * d for o in reach for t in range(k)}
    assert rf == max(reach) - min(reach) + 1 == len(reach)
