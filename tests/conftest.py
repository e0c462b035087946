"""Shared test helpers: the oracles every test compares against."""

from __future__ import annotations

import importlib.util
import os

import pytest
from hypothesis import HealthCheck, settings

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch (the test oracle) is not installed")

# Every property test in CI draws the same examples (derandomized, no database);
# HYPOTHESIS_PROFILE=long runs 5,000 examples per test instead (docs/TESTING.md).
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, print_blob=False, suppress_health_check=_SLOW_OK
)
settings.register_profile("long", max_examples=5000, deadline=None, suppress_health_check=_SLOW_OK)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
