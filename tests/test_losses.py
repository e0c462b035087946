"""Losses against hand calculations and PyTorch float64 (values and gradients)."""

from __future__ import annotations

import math
import random

import pytest
from conftest import needs_torch

import agrad
from agrad import Value
from agrad.losses import binary_cross_entropy_with_logits, cross_entropy, hinge_loss, l2_penalty, log_softmax, mse_loss


def _values(xs: list[float]) -> list[Value]:
    return [Value(x) for x in xs]


def test_mse_by_hand() -> None:
    p = _values([1.0, 4.0])
    loss = mse_loss(p, [3.0, 4.5])
    assert loss.data == ((1 - 3) ** 2 + (4 - 4.5) ** 2) / 2
    loss.backward()
    assert [v.grad for v in p] == [2 * (1 - 3) / 2, 2 * (4 - 4.5) / 2]


def test_hinge_by_hand_and_as_micrograds_demo() -> None:
    s = _values([2.0, 0.25, -0.5])
    y = [1, 1, 1]
    loss = hinge_loss(s, y)
    assert loss.data == (0.0 + 0.75 + 1.5) / 3
    loss.backward()
    assert [v.grad for v in s] == [0.0, -1 / 3, -1 / 3]
    s2, y2 = [0.3, -0.7, 1.2], [-1, 1, -1]
    demo = sum(max(0.0, 1 + -yi * si) for yi, si in zip(y2, s2)) * (1.0 / 3)
    assert hinge_loss(s2, y2) == pytest.approx(demo, rel=1e-15)


def test_hinge_refuses_zero_one_labels() -> None:
    with pytest.raises(ValueError, match=r"labels\[1\] = 0 .*2\*y - 1"):
        hinge_loss([1.0, 2.0], [1, 0])


def test_l2_penalty_is_one_node() -> None:
    ps = _values([1.0, -2.0, 3.0])
    pen = l2_penalty(ps, 0.1)
    assert pen.data == pytest.approx(0.1 * 14.0, rel=1e-15)
    assert pen._op == "*" and pen._children[1]._op == "dot"  # type: ignore[union-attr]
    pen.backward()
    assert [p.grad for p in ps] == pytest.approx([0.2, -0.4, 0.6], rel=1e-15)


def test_bce_by_hand_and_stable_at_extremes() -> None:
    z = _values([0.0, 2.0])
    loss = binary_cross_entropy_with_logits(z, [1.0, 0.25])
    by_hand = (
        -math.log(0.5) + -(0.25 * math.log(1 / (1 + math.exp(-2))) + 0.75 * math.log(1 - 1 / (1 + math.exp(-2))))
    ) / 2
    assert loss.data == pytest.approx(by_hand, rel=1e-14)
    big = _values([1000.0, -1000.0, 800.0])
    loss = binary_cross_entropy_with_logits(big, [0.0, 1.0, 1.0])
    assert loss.data == pytest.approx((1000.0 + 1000.0 + 0.0) / 3, rel=1e-15)
    loss.backward()
    assert [v.grad for v in big] == pytest.approx([1 / 3, -1 / 3, 0.0], abs=1e-15)
    with pytest.raises(ValueError, match=r"targets\[0\] = 1.5"):
        binary_cross_entropy_with_logits([0.0], [1.5])


def test_log_softmax_and_cross_entropy_by_hand() -> None:
    z = [1.0, 2.0, 3.0]
    lse = math.log(math.exp(1) + math.exp(2) + math.exp(3))
    assert log_softmax(z) == pytest.approx([1 - lse, 2 - lse, 3 - lse], rel=1e-15)
    zs = _values(z)
    loss = cross_entropy([zs], [2])
    assert loss.data == pytest.approx(lse - 3, rel=1e-14)
    loss.backward()
    soft = [math.exp(v - lse) for v in z]
    assert [v.grad for v in zs] == pytest.approx([soft[0], soft[1], soft[2] - 1], rel=1e-14)


def test_cross_entropy_is_stable_for_huge_logits() -> None:
    zs = _values([1000.0, -1000.0, 999.0])
    loss = cross_entropy([zs], [2])
    assert loss.data == pytest.approx(math.log1p(math.exp(-1.0)) + 1.0, rel=1e-14)
    loss.backward()
    assert all(math.isfinite(v.grad) for v in zs)


def test_bad_batches() -> None:
    with pytest.raises(ValueError, match="2 predictions but 1 targets"):
        mse_loss([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="empty batch"):
        hinge_loss([], [])
    with pytest.raises(TypeError, match=r"targets\[0\]"):
        mse_loss([1.0], ["a"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"targets\[0\] must be a class index in 0..1, got 2"):
        cross_entropy([[0.0, 1.0]], [2])
    with pytest.raises(ValueError, match="at least one logit"):
        log_softmax([])


def test_numbers_alone_give_a_float() -> None:
    assert mse_loss([1.0, 2.0], [1.0, 0.0]) == 2.0


# -- PyTorch float64 --------------------------------------------------------------


def _random(n: int, seed: int, scale: float = 3.0) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(-scale, scale) for _ in range(n)]


@needs_torch
@pytest.mark.parametrize("seed", range(3))
def test_mse_and_bce_match_torch(seed: int) -> None:
    import torch
    import torch.nn.functional as F

    z0, t = _random(6, seed), [random.Random(seed + 9).random() for _ in range(6)]
    for ours, theirs in [
        (mse_loss, F.mse_loss),
        (binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits),
    ]:
        z = _values(z0)
        loss = ours(z, t)
        loss.backward()
        tz = torch.tensor(z0, dtype=torch.float64, requires_grad=True)
        tl = theirs(tz, torch.tensor(t, dtype=torch.float64))
        tl.backward()
        assert loss.data == pytest.approx(tl.item(), rel=1e-13)
        assert [v.grad for v in z] == pytest.approx(tz.grad.tolist(), rel=1e-12, abs=1e-16)  # type: ignore[union-attr]


@needs_torch
@pytest.mark.parametrize("scale", [1.0, 50.0, 700.0])
def test_cross_entropy_matches_torch(scale: float) -> None:
    import torch
    import torch.nn.functional as F

    rows = [_random(4, s, scale) for s in range(5)]
    targets = [0, 3, 1, 2, 3]
    zs = [_values(r) for r in rows]
    loss = cross_entropy(zs, targets)
    loss.backward()
    tz = torch.tensor(rows, dtype=torch.float64, requires_grad=True)
    tl = F.cross_entropy(tz, torch.tensor(targets))
    tl.backward()
    assert loss.data == pytest.approx(tl.item(), rel=1e-13)
    grads = [[v.grad for v in row] for row in zs]
    for ours, theirs in zip(grads, tz.grad.tolist()):  # type: ignore[union-attr]
        assert ours == pytest.approx(theirs, rel=1e-11, abs=1e-15)
    assert log_softmax(rows[0]) == pytest.approx(F.log_softmax(tz[0].detach(), dim=0).tolist(), rel=1e-13)


def test_log_softmax_compiled_shifts_by_each_calls_own_maximum() -> None:
    """The shift is in the graph, so a trace made at small logits stays stable at large ones."""
    pytest.importorskip("numpy")
    f = agrad.compile(lambda a, b: log_softmax([a, b])[0])
    assert f(0.0, 0.0) == pytest.approx(-math.log(2.0))
    assert f(1000.0, 1000.0) == pytest.approx(-math.log(2.0))  # closed form: log(1/2)
    assert f(0.0, 1000.0) == pytest.approx(-1000.0)
    vg = agrad.compile(agrad.value_and_grad(lambda a, b: cross_entropy([[a, b]], [0]), argnums=(0, 1)))
    value, (da, db) = vg(1000.0, 1002.0)
    p = 1.0 / (1.0 + math.exp(-2.0))  # softmax of the true class's rival
    assert value == pytest.approx(math.log(1.0 + math.exp(2.0)))
    assert (da, db) == (pytest.approx(-p), pytest.approx(p))
