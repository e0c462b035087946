"""Shared test helpers: the oracles every test compares against."""

from __future__ import annotations

import importlib.util
import os

import pytest
from hypothesis import HealthCheck, settings

try:
    HAS_TORCH = importlib.util.find_spec("torch") is not None
except (ImportError, ValueError):  # a broken install, or one hidden from the finders, counts as absent
    HAS_TORCH = False
INSTALL_TORCH = "pip install torch==2.13.0"
TORCH_REASON = f"PyTorch (the test oracle) is not installed: {INSTALL_TORCH}"
# Every test that compares with PyTorch carries this mark, so the run can say up front how many will skip.
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason=TORCH_REASON)


def _needs_torch(item: pytest.Item) -> bool:
    return any(m.kwargs.get("reason") == TORCH_REASON for m in item.iter_markers("skipif"))


@pytest.hookimpl(tryfirst=True)  # before --collect-only lists the tests
def pytest_collection_finish(session: pytest.Session) -> None:
    """Without the oracle, the run's first line says how many tests will skip and how to install it."""
    if HAS_TORCH:
        return
    n = sum(map(_needs_torch, session.items))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if n and reporter is not None:
        reporter.write_line(
            f"PyTorch, the test oracle, is not installed: {n:,} of {len(session.items):,} tests will skip."
            f" Install it with: {INSTALL_TORCH}",
            yellow=True,
            bold=True,
        )


# Every property test in CI draws the same examples (derandomized, no database);
# HYPOTHESIS_PROFILE=long runs 5,000 examples per test instead (docs/TESTING.md).
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, print_blob=False, suppress_health_check=_SLOW_OK
)
settings.register_profile("long", max_examples=5000, deadline=None, suppress_health_check=_SLOW_OK)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _freeze_hypothesis_constants() -> None:
    """Make a derandomized test draw the same examples whatever ran before it.

    Hypothesis (since 6.131) sometimes draws a number from a pool of the constants
    in every *local* module in ``sys.modules`` (agrad's own sources, not tests),
    rescanned whenever ``sys.modules`` grows. So the examples depended on which
    agrad modules earlier tests had imported (``agrad.compile``, ``agrad.cli``...)
    and on any number anyone adds to ``src/``: ``test_strategy_reaches_every_op_and_depth_50``
    reached depth 47 alone and 43 after ``scripts/draw_seed_graph.py`` was imported
    (as ``test_viz.py`` does).
    With the pool kept empty, the examples are a function of the test alone and
    the pinned Hypothesis version (its own global constants still apply).
    """
    # Private names: the dev extra pins the Hypothesis version, and a test checks this still works.
    from hypothesis.internal.conjecture import providers
    from hypothesis.internal.constants_ast import Constants

    providers._get_local_constants = Constants
    providers.CONSTANTS_CACHE.cache.clear()


if settings.default.derandomize:
    _freeze_hypothesis_constants()
