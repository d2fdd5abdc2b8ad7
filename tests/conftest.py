"""Shared test configuration: hypothesis profiles and fixtures (helpers live in helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import IN_CI, ZOO, zoo_files
from hypothesis import HealthCheck, settings

# CI runs a fixed, derandomised set of examples so a landing never depends on luck;
# locally hypothesis explores new examples each run.
settings.register_profile(
    "ci", derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if IN_CI else "dev")


@pytest.fixture
def zoo() -> Path:
    zoo_files()
    return ZOO
