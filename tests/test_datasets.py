"""Toy data sets: shapes, reproducibility, and the geometry each recipe promises."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable
from typing import Any

import pytest

from agrad.datasets import make_blobs, make_circles, make_moons, make_spirals

GENERATORS: list[Callable[..., Any]] = [make_moons, make_circles, make_blobs, make_spirals]


@pytest.mark.parametrize("make", GENERATORS)
def test_plain_lists_reproducible_and_private(make: Callable[..., Any]) -> None:
    state = random.getstate()
    X, y = make(60, seed=4)
    assert random.getstate() == state  # the seed drives a private generator
    assert type(X) is list and type(y) is list and len(X) == len(y) == 60
    assert all(type(p) is list and len(p) == 2 and all(type(v) is float for v in p) for p in X)
    assert all(type(c) is int for c in y)
    assert make(60, seed=4) == (X, y)
    assert make(60, seed=5) != (X, y)


@pytest.mark.parametrize("make", GENERATORS)
def test_rows_are_shuffled(make: Callable[..., Any]) -> None:
    _, y = make(100, seed=0)
    assert y != sorted(y)


@pytest.mark.parametrize("make", GENERATORS)
def test_bad_arguments(make: Callable[..., Any]) -> None:
    with pytest.raises(ValueError, match="n_samples"):
        make(1)
    with pytest.raises(ValueError, match="n_samples"):
        make(10.5)
    with pytest.raises(ValueError, match=r"n_samples .* sys\.maxsize"):
        make(10**400)  # refused at once, not an attempt to build that many points
    spread = "std" if make is make_blobs else "noise"
    with pytest.raises(ValueError, match="too large for a float"):
        make(10, **{spread: 10**400})
    with pytest.raises(ValueError, match="finite"):
        make(10, **{spread: float("inf")})
    with pytest.raises(TypeError, match="seed"):
        make(10, seed="x")


def test_moons_without_noise_lie_on_their_half_circles() -> None:
    X, y = make_moons(101, noise=0.0, seed=1)
    assert y.count(0) == 50 and y.count(1) == 51
    for (a, b), c in zip(X, y):
        if c == 0:  # the upper moon: the unit circle's top half
            assert math.hypot(a, b) == pytest.approx(1.0, abs=1e-12) and b >= -1e-12
        else:  # the lower moon: centre (1, 0.5), bottom half
            assert math.hypot(a - 1.0, b - 0.5) == pytest.approx(1.0, abs=1e-12) and b <= 0.5 + 1e-12


def test_moons_noise_has_the_asked_spread() -> None:
    X0, _ = make_moons(2000, noise=0.0, seed=2)
    X1, _ = make_moons(2000, noise=0.2, seed=2)
    # the same points before shuffling are not paired after it, so compare each point's distance to its curve
    dist = [min(abs(math.hypot(a, b) - 1), abs(math.hypot(a - 1, b - 0.5) - 1)) for a, b in X1]
    assert 0.05 < statistics.mean(dist) < 0.25
    assert all(min(abs(math.hypot(a, b) - 1), abs(math.hypot(a - 1, b - 0.5) - 1)) < 1e-12 for a, b in X0)


def test_circles_radii() -> None:
    X, y = make_circles(40, noise=0.0, factor=0.3)
    for p, c in zip(X, y):
        assert math.hypot(*p) == pytest.approx(1.0 if c == 0 else 0.3, abs=1e-12)
    with pytest.raises(ValueError, match="factor"):
        make_circles(10, factor=1.5)


def test_blobs_gather_round_their_centres() -> None:
    X, y = make_blobs(3000, centers=3, std=0.5, box=(-5.0, 5.0), seed=6)
    assert [y.count(c) for c in range(3)] == [1000, 1000, 1000]
    rng = random.Random(6)  # the documented recipe: centres are the seed's first draws, uniform in the box
    centres = [(rng.uniform(-5, 5), rng.uniform(-5, 5)) for _ in range(3)]
    for c, (cx, cy) in enumerate(centres):
        pts = [p for p, k in zip(X, y) if k == c]
        mx, my = statistics.mean(p[0] for p in pts), statistics.mean(p[1] for p in pts)
        assert mx == pytest.approx(cx, abs=0.06) and my == pytest.approx(cy, abs=0.06)  # 4 standard errors
        assert statistics.pstdev([p[0] for p in pts]) == pytest.approx(0.5, rel=0.1)
    with pytest.raises(ValueError, match="centers"):
        make_blobs(5, centers=6)
    with pytest.raises(ValueError, match="box"):
        make_blobs(5, box=(1.0, -1.0))


def test_spirals_arms() -> None:
    X, y = make_spirals(90, classes=3, noise=0.0, turn=4.0, seed=0)
    assert [y.count(c) for c in range(3)] == [30, 30, 30]
    for (a, b), c in zip(X, y):
        r = math.hypot(a, b)
        assert r <= 1.0 + 1e-12
        if r > 1e-9:  # angle = 2πc/3 + 4r, measured as atan2(x, y) since x = r sin t, y = r cos t
            t = 2 * math.pi * c / 3 + 4.0 * r
            assert math.atan2(a, b) == pytest.approx(math.atan2(math.sin(t), math.cos(t)), abs=1e-9)
    with pytest.raises(ValueError, match="classes"):
        make_spirals(10, classes=1)
