"""Comparing an output with its reference: relative error to the largest reference value."""

from __future__ import annotations

import numpy as np


def rel_err(got, ref):
    """max |got - ref| / max |ref| (the absolute error when ref is all zeros)."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    if got.size == 0:
        return 0.0
    err = float(np.max(np.abs(got - ref)))
    scale = float(np.max(np.abs(ref)))
    return err / scale if scale > 0 else err


def assert_close(got, ref, tol=1e-4, what=""):
    got = np.asarray(got)
    ref = np.asarray(ref)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != expected {ref.shape}"
    assert np.all(np.isfinite(got)), f"{what}: non-finite values"
    e = rel_err(got, ref)
    assert e <= tol, f"{what}: relative error {e:.3g} > {tol}"
