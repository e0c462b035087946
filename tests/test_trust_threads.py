"""Threads: agrad's modes are per thread, and graphs in different threads never mix.

Two threads run at the same time, with the interpreter switching between them
every few microseconds: one builds and differentiates graphs with recording on,
the other works inside ``no_grad``. Both must get the closed-form answers.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable

import agrad

ROUNDS = 2000


def f(x: agrad.Value) -> agrad.Value:
    """sin(x) * exp(x) + x ** 3 / (1 + x * x)."""
    return agrad.sin(x) * agrad.exp(x) + x**3 / (1 + x * x)


def f_exact(x: float) -> tuple[float, float]:
    """f and f' in closed form."""
    q = 1 + x * x
    value = math.sin(x) * math.exp(x) + x**3 / q
    slope = (math.cos(x) + math.sin(x)) * math.exp(x) + (3 * x * x * q - 2 * x**4) / (q * q)
    return value, slope


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def recording(errors: list[str], start: threading.Barrier) -> None:
    start.wait()
    for i in range(ROUNDS):
        x0 = -2.0 + 4.0 * i / ROUNDS
        if not agrad.is_grad_enabled():
            errors.append("recording thread saw grad mode off")
        x = agrad.Value(x0)
        y = f(x)
        if not y._children:
            errors.append(f"round {i}: the recording thread built a leaf")
            continue
        y.backward()
        want, slope = f_exact(x0)
        if not (close(y.data, want) and close(x.grad, slope)):
            errors.append(f"round {i}: f({x0}) = {y.data}, f' = {x.grad}; want {want}, {slope}")


def no_grad_worker(errors: list[str], start: threading.Barrier) -> None:
    # graphs built before entering no_grad can still be differentiated inside it
    xs = [agrad.Value(-1.5 + 3.0 * i / ROUNDS) for i in range(ROUNDS)]
    ys = [f(x) for x in xs]
    start.wait()
    with agrad.no_grad():
        for i, (x, y) in enumerate(zip(xs, ys)):
            if agrad.is_grad_enabled():
                errors.append("no_grad thread saw grad mode on")
            z = f(x)
            if z._children:
                errors.append(f"round {i}: no_grad built a graph")
            y.backward()
            want, slope = f_exact(x.data)
            if not (close(z.data, want) and close(x.grad, slope)):
                errors.append(f"round {i}: f({x.data}) = {z.data}, f' = {x.grad}; want {want}, {slope}")


Worker = Callable[[list[str], threading.Barrier], None]


def run_together(workers: list[Worker], timeout: float = 60.0) -> list[str]:
    """Start the workers at one barrier, switching threads as often as the interpreter allows;
    their errors, an exception counting as one (raised in a thread, pytest would only warn)."""
    errors: list[str] = []
    start = threading.Barrier(len(workers))

    def guarded(work: Worker) -> None:
        try:
            work(errors, start)
        except Exception as e:
            errors.append(f"{work.__name__} raised {e!r}")

    threads = [threading.Thread(target=guarded, args=(w,)) for w in workers]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=timeout)
    finally:
        sys.setswitchinterval(interval)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return errors


def test_two_threads_one_in_no_grad() -> None:
    assert run_together([recording, no_grad_worker]) == []
    assert agrad.is_grad_enabled(), "no_grad in another thread leaked into this one"


def test_compile_in_one_thread_eager_second_order_in_another() -> None:
    # While a thread traces, agrad.compile guards the rules that branch on data (relu's);
    # the guard must not fire in, or leak into, a thread differentiating twice eagerly.
    rounds = 200

    def h(x: agrad.Value) -> agrad.Value:
        return x * agrad.relu(x)  # h' = 2 relu(x), h'' = 2 step(x), both from relu's rule on Values

    def eager(errors: list[str], start: threading.Barrier) -> None:
        d2 = agrad.grad(agrad.grad(h))
        start.wait()
        for i in range(rounds * 10):
            x0 = -1.0 + 2.0 * i / (rounds * 10) + 1e-3
            got = d2(x0)
            if got != (2.0 if x0 > 0 else 0.0):
                errors.append(f"eager h''({x0}) = {got}")

    def compiling(errors: list[str], start: threading.Barrier) -> None:
        start.wait()
        for i in range(rounds):
            x0 = -1.0 + 2.0 * i / rounds + 1e-3
            f = agrad.compile(agrad.value_and_grad(lambda x: x * agrad.relu(x) + abs(x)))  # traces anew
            value, slope = f(x0)
            want = (x0 * max(x0, 0.0) + abs(x0), 2.0 * max(x0, 0.0) + math.copysign(1.0, x0))
            if not (close(value, want[0]) and close(slope, want[1])):
                errors.append(f"compiled f({x0}) = {value}, f' = {slope}; want {want}")

    assert run_together([eager, compiling], timeout=120) == []
