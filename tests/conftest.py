"""Shared test configuration: hypothesis profiles and the caffe-zoo location."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT.parent / "shared" / "caffe-zoo"
IN_CI = os.environ.get("CI", "").lower() == "true"

# CI runs a fixed, derandomised set of examples so a landing never depends on luck;
# locally hypothesis explores new examples each run.
settings.register_profile("ci", derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if IN_CI else "dev")


def zoo_files() -> list[Path]:
    """The real Caffe prototxt files, or a skip (a failure under CI) when the folder is absent."""
    if not ZOO.is_dir():
        if IN_CI:
            pytest.fail(f"{ZOO} is missing: the caffe-zoo tests cannot run under CI")
        pytest.skip(f"{ZOO} is absent (a clone without ../shared); caffe-zoo tests skipped")
    return sorted(ZOO.glob("*.prototxt"))


@pytest.fixture
def zoo() -> Path:
    zoo_files()
    return ZOO
