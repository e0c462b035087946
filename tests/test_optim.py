"""Optimizers and schedules against hand calculations and torch.optim (float64, several steps)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import pytest
from conftest import needs_torch

from agrad import Value
from agrad.optim import SGD, Adam, AdamW, Optimizer, cosine_decay, linear_decay


def _set_grads(ps: list[Value], gs: list[float]) -> None:
    for p, g in zip(ps, gs):
        p.grad = g


def test_plain_sgd_by_hand() -> None:
    w = Value(2.0)
    opt = SGD([w], lr=0.1)
    (w * w).backward()
    opt.step()
    assert w.data == 2.0 - 0.1 * 4.0
    opt.zero_grad()
    assert w.grad == 0.0


def test_sgd_momentum_weight_decay_and_dampening_by_hand() -> None:
    w = Value(1.0)
    opt = SGD([w], lr=0.5, momentum=0.5, dampening=0.5, weight_decay=0.25)
    grads = [2.0, -1.0, 4.0]
    p, buf = 1.0, None
    for g in grads:
        w.grad = g
        opt.step()
        d = g + 0.25 * p
        buf = d if buf is None else 0.5 * buf + 0.5 * d  # the first step takes the gradient as it is
        p -= 0.5 * buf
        assert w.data == p


def test_nesterov_by_hand() -> None:
    w = Value(0.0)
    opt = SGD([w], lr=1.0, momentum=0.5, nesterov=True)
    w.grad = 1.0
    opt.step()  # buf = 1, step = 1 + 0.5 * 1
    assert w.data == -1.5
    w.grad = 1.0
    opt.step()  # buf = 1.5, step = 1 + 0.75
    assert w.data == -1.5 - 1.75


def test_adam_first_steps_by_hand() -> None:
    w = Value(1.0)
    opt = Adam([w], lr=0.1, betas=(0.5, 0.75), eps=0.0)
    w.grad = 2.0
    opt.step()  # m = 1, v = 1, m_hat = 2, v_hat = 4: step = lr * 2 / 2
    assert w.data == pytest.approx(0.9, rel=1e-15)
    w.grad = -2.0
    opt.step()  # m = -0.5, v = 1.75; m_hat = -0.5 / (1 - 0.5²), v_hat = 1.75 / (1 - 0.75²) = 4
    assert w.data == pytest.approx(0.9 + 0.1 * (0.5 / 0.75) / 2.0, rel=1e-15)


def test_adam_l2_and_adamw_decoupled_decay_by_hand() -> None:
    a, b = Value(2.0), Value(2.0)
    Adam([a], lr=0.1, weight_decay=0.5, eps=0.0).step()  # the gradient becomes 0 + 0.5 * 2 = 1: a full lr step
    assert a.data == pytest.approx(1.9, rel=1e-12)
    AdamW([b], lr=0.1, weight_decay=0.5).step()  # no gradient: only p *= 1 - lr * wd
    assert b.data == 2.0 * (1 - 0.05)
    assert AdamW([Value(0.0)]).weight_decay == 0.01 and Adam([Value(0.0)]).weight_decay == 0.0


@pytest.mark.parametrize("make", [lambda p: SGD(p, lr=0.1, momentum=0.9), lambda p: Adam(p), lambda p: AdamW(p)])
def test_a_bad_gradient_is_refused_before_anything_changes(make: Callable[[list[Value]], Optimizer]) -> None:
    ws = [Value(1.0), Value(2.0)]
    opt = make(ws)
    for bad, error in [("2.5", TypeError), (None, TypeError), (10**400, ValueError)]:
        ws[0].grad, ws[1].grad = 1.0, bad
        with pytest.raises(error, match=r"params\[1\]\.grad"):
            opt.step()
        assert [w.data for w in ws] == [1.0, 2.0]
        assert vars(opt) == vars(make([Value(1.0), Value(2.0)])) | {"params": ws}  # no step counted, no buffer
    ws[0].grad = ws[1].grad = 0.5
    opt.step()  # the first real step is still a first step: for Adam, a full lr step
    if isinstance(opt, Adam) and not opt.decoupled:
        step = 0.001 * 0.5 / (0.5 + 1e-8)  # lr * m_hat / (sqrt(v_hat) + eps), both bias-corrected for t = 1
        assert [w.data for w in ws] == pytest.approx([1.0 - step, 2.0 - step], rel=1e-12)


def test_a_value_gradient_from_create_graph_is_used_as_its_number() -> None:
    x = Value(3.0)
    (x * x * x).backward(create_graph=True)
    assert isinstance(x.grad, Value)
    SGD([x], lr=0.01).step()
    assert x.data == 3.0 - 0.01 * 27.0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: SGD(p, lr=-1.0), "lr"),
        (lambda p: SGD(p, momentum=-0.1), "momentum"),
        (lambda p: SGD(p, nesterov=True), "nesterov"),
        (lambda p: SGD(p, momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
        (lambda p: Adam(p, betas=(1.0, 0.9)), "beta1"),
        (lambda p: Adam(p, betas=(0.9,)), "pair"),
        (lambda p: Adam(p, eps=-1.0), "eps"),
        (lambda p: AdamW(p, weight_decay=float("nan")), "weight_decay"),
        (lambda p: SGD([], lr=0.1), "empty"),
        (lambda p: SGD([*p, *p], lr=0.1), "same parameter twice"),
        (lambda p: SGD([1.0], lr=0.1), "Value"),
        (lambda p: SGD(p, lr=True), "lr"),
        (lambda p: SGD(p, lr=10**400), "too large for a float"),
        (lambda p: Adam(p, lr=float("inf")), "finite"),
    ],
)
def test_bad_hyper_parameters(make: Callable[[list[Value]], Optimizer], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        make([Value(1.0)])


def test_a_bad_learning_rate_set_between_steps_is_refused_at_once() -> None:
    w = Value(1.0)
    opt = SGD([w], lr=0.1, momentum=0.9)
    for bad in (float("nan"), -0.5, float("inf"), "0.1", None):
        with pytest.raises(ValueError, match="lr must be a finite number"):
            opt.lr = bad  # type: ignore[assignment]
    assert opt.lr == 0.1
    w.grad = 2.0
    opt.step()
    assert w.data == 1.0 - 0.1 * 2.0 and opt.buffers == [2.0]


# -- schedules -------------------------------------------------------------------------


def test_linear_decay_is_micrograds_formula() -> None:
    at = linear_decay(1.0, 100)
    assert [at(k) for k in range(100)] == [1.0 - 0.9 * k / 100 for k in range(100)]
    assert at(100) == at(1000)


def test_cosine_decay_by_hand() -> None:
    at = cosine_decay(0.5, 8, min_lr=0.1)
    assert at(0) == 0.5 and at(8) == pytest.approx(0.1, abs=1e-16)
    assert at(4) == pytest.approx(0.3, rel=1e-15)
    assert at(2) == pytest.approx(0.1 + 0.4 * (1 + math.cos(math.pi / 4)) / 2, rel=1e-15)
    with pytest.raises(ValueError, match="steps"):
        cosine_decay(0.5, 0)
    with pytest.raises(ValueError, match="lr"):
        linear_decay(10**400, 10)


# -- torch.optim, float64 ---------------------------------------------------------------


def _grad(x: float) -> float:
    return math.sin(3.0 * x) + x  # the gradient of a wavy bowl, the same for both sides


def _race(
    make_ours: Callable[[list[Value]], Optimizer], make_torch: Callable[[list[Any]], Any], steps: int = 10
) -> None:
    import torch

    rng = random.Random(0)
    x0 = [rng.uniform(-2, 2) for _ in range(6)]
    ps = [Value(v) for v in x0]
    tp = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    ours, theirs = make_ours(ps), make_torch([tp])
    for _ in range(steps):
        g = [_grad(p.data) for p in ps]
        _set_grads(ps, g)
        tp.grad = torch.tensor(g, dtype=torch.float64)
        ours.step()
        theirs.step()
        # PyTorch's kernels may fuse a*b + c, so allow a few rounding errors, never more
        assert [p.data for p in ps] == pytest.approx(tp.tolist(), rel=1e-14, abs=1e-15)
    assert [p.data for p in ps] != pytest.approx(x0)  # it really moved


@needs_torch
@pytest.mark.parametrize(
    "kw",
    [
        {"lr": 0.1},
        {"lr": 0.1, "momentum": 0.9},
        {"lr": 0.05, "momentum": 0.9, "nesterov": True},
        {"lr": 0.1, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01},
        {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
    ],
)
def test_sgd_matches_torch(kw: dict[str, Any]) -> None:
    import torch

    _race(lambda p: SGD(p, **kw), lambda p: torch.optim.SGD(p, **kw))


@needs_torch
@pytest.mark.parametrize(
    ("cls", "kw"),
    [
        ("Adam", {"lr": 0.1}),
        ("Adam", {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
        ("Adam", {"lr": 0.1, "betas": (0.3, 0.5)}),  # beta1 < 0.5 takes the other branch of PyTorch's lerp
        ("AdamW", {"lr": 0.1}),
        ("AdamW", {"lr": 0.05, "weight_decay": 0.3, "betas": (0.9, 0.9)}),
    ],
)
def test_adam_and_adamw_match_torch(cls: str, kw: dict[str, Any]) -> None:
    import torch

    ours = {"Adam": Adam, "AdamW": AdamW}[cls]
    _race(lambda p: ours(p, **kw), lambda p: getattr(torch.optim, cls)(p, **kw))


@needs_torch
def test_schedules_match_torch() -> None:
    import torch

    steps = 20
    for ours, make in [
        (linear_decay(0.8, steps), lambda o: torch.optim.lr_scheduler.LinearLR(o, 1.0, 0.1, total_iters=steps)),
        (cosine_decay(0.8, steps, 0.05), lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, steps, eta_min=0.05)),
    ]:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.8)
        sched = make(opt)
        for k in range(steps + 1):
            assert ours(k) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
            opt.step()
            sched.step()
