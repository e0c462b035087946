"""micrograd's demo training step, agrad.nn against micrograd 0.1.0 on the same data in the same process.

One step is what micrograd's demo notebook does per iteration: MLP(2, [16, 16, 1])
on 100 two-moons points, full batch, SVM max-margin loss + L2 (alpha 1e-4),
zero_grad, backward, and an SGD update with lr = 1.0 - 0.9 k / steps. Both
engines start from the same weights (random.seed before building each) and
see the same points; the garbage collector stays on. Reports min and median
seconds per step over repeats, the ratio, and each step's graph size; then the
same with the collector off during each step, to show what it costs each engine.
Times are this process's CPU time (``--wall`` for the wall clock).

    python benchmarks/bench_moons.py [--steps 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from bench_graph import count_nodes  # this folder is on sys.path when a script here runs

import agrad
from agrad.losses import hinge_loss, l2_penalty
from agrad.nn import MLP

SEED = 1337
ALPHA = 1e-4


# CPU time of this process by default: the machine is shared, and time spent descheduled is
# not either engine's; --wall switches to the wall clock.
clock = time.process_time


def micrograd_step(X: list[list[float]], y: list[int]) -> Callable[[int, int], tuple[float, Any]]:
    """The demo notebook's loss() and update, verbatim in spirit, on micrograd 0.1.0."""
    from micrograd.engine import Value
    from micrograd.nn import MLP as MgMLP

    random.seed(SEED)
    model = MgMLP(2, [16, 16, 1])

    def step(k: int, steps: int) -> tuple[float, Any]:
        inputs = [list(map(Value, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = ALPHA * sum(p * p for p in model.parameters())
        total_loss = data_loss + reg_loss
        model.zero_grad()
        total_loss.backward()
        lr = 1.0 - 0.9 * k / steps
        for p in model.parameters():
            p.data -= lr * p.grad
        return total_loss.data, total_loss

    return step


def agrad_step(X: list[list[float]], y: list[int]) -> Callable[[int, int], tuple[float, Any]]:
    """The same step with agrad.nn, agrad.losses and agrad.optim."""
    random.seed(SEED)
    model = MLP(2, [16, 16, 1])  # no seed: the global one, so the weights equal micrograd's
    opt = agrad.optim.SGD(model.parameters(), lr=1.0)

    def step(k: int, steps: int) -> tuple[float, Any]:
        scores = [model(x) for x in X]
        total_loss = hinge_loss(scores, y) + l2_penalty(opt.params, ALPHA)
        opt.zero_grad()
        total_loss.backward()
        opt.lr = 1.0 - 0.9 * k / steps
        opt.step()
        return total_loss.data, total_loss

    return step


def time_steps(
    step: Callable[[int, int], tuple[float, Any]], steps: int, gc_on: bool
) -> tuple[list[float], list[float], int]:
    times, losses, nodes = [], [], 0
    for k in range(steps):
        if not gc_on:
            gc.collect()  # untimed: free the last step's garbage (micrograd's cycles) before the clock starts
            gc.disable()
        t0 = clock()
        loss, root = step(k, steps)
        times.append(clock() - t0)
        gc.enable()
        losses.append(loss)
        nodes = count_nodes(root)
    return times, losses, nodes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5, help="training steps per repeat (5)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats, each from the same start (3)")
    ap.add_argument("--wall", action="store_true", help="time with the wall clock, not this process's CPU time")
    args = ap.parse_args()
    global clock
    if args.wall:
        clock = time.perf_counter
    sys.setrecursionlimit(100_000)  # micrograd's recursive toposort needs it; agrad does not

    X, labels = agrad.datasets.make_moons(100, noise=0.1, seed=SEED)
    y = [2 * c - 1 for c in labels]
    engines = {"agrad": agrad_step, "micrograd": micrograd_step}
    print(
        f"micrograd's demo step: MLP(2, [16, 16, 1]), 100 moons, max-margin + L2, full batch, SGD; "
        f"{args.steps} steps x {args.repeats} repeats, Python {sys.version.split()[0]}, {clock.__name__}"
    )
    # gc on is the benchmark; gc off shows how much of each engine's time the cycle collector takes
    for gc_on in (True, False):
        times: dict[str, list[float]] = {name: [] for name in engines}
        losses: dict[str, list[float]] = {}
        nodes: dict[str, int] = {}
        for _ in range(args.repeats):
            for name, make in engines.items():
                t, losses[name], nodes[name] = time_steps(make(X, y), args.steps, gc_on)
                times[name] += t
        print(f" gc {'on (the benchmark)' if gc_on else 'off during the step (for comparison)'}:")
        for name in engines:
            t = times[name]
            print(
                f"  {name:10s} min {min(t) * 1e3:8.1f} ms   median {statistics.median(t) * 1e3:8.1f} ms"
                f"   nodes/step {nodes[name]:6d}   final loss {losses[name][-1]:.12f}"
            )
        a, m = times["agrad"], times["micrograd"]
        med = statistics.median(m) / statistics.median(a)
        print(f"  agrad is {min(m) / min(a):.1f}x faster (min), {med:.1f}x (median)")
    gap = max(abs(p - q) for p, q in zip(losses["agrad"], losses["micrograd"]))
    print(f" largest loss difference between the engines over the steps: {gap:.1e} (same weights, same data)")


if __name__ == "__main__":
    main()
