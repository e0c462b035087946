"""agrad.compile against micrograd, eager agrad, plain Python and PyTorch, in one process.

Three measurements, each reporting min and median over repeats and printing ratios:

1. micrograd's demo training step: MLP(2, [16, 16, 1]), 100 two-moons points,
   max-margin loss + L2 (alpha 1e-4), full batch, SGD with micrograd's learning
   rate schedule. micrograd 0.1.0, eager agrad, compiled agrad (the per-sample
   loss traced once and run over the batch by the NumPy executor) and the same
   step on PyTorch float64 tensors (2 threads), all from the same weights.
2. A 100,000-node random scalar graph (benchmarks/bench_graph.py's recipe):
   compiled forward + backward on floats, per node, against eager agrad and
   against plain Python arithmetic on floats (the floor). Compile time is
   reported separately.
3. MLP(2, [16, 16, 1]) forward + backward on a batch of 10,000: samples per
   second, compiled agrad against PyTorch.

    python benchmarks/bench_compile.py [--repeats 7] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

# One BLAS thread for NumPy: agrad's matrices here are tiny, and idle OpenBLAS threads
# spinning on the 2 cores would slow PyTorch's own 2 threads, which is not a fair race.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np

import agrad
from agrad.nn import MLP

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_graph import recipe
from bench_moons import ALPHA, SEED, agrad_step, micrograd_step


def timed(fn: Callable[[int], Any], repeats: int, inner: int = 1) -> list[float]:
    """Seconds per call of fn(k), each repeat averaging ``inner`` calls."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for k in range(inner):
            fn(k)
        out.append((time.perf_counter() - t0) / inner)
    return out


def stats(t: list[float], scale: float = 1e3, unit: str = "ms") -> str:
    return f"min {min(t) * scale:9.3f} {unit}   median {statistics.median(t) * scale:9.3f} {unit}"


# -- 1. micrograd's demo step -------------------------------------------------------------


def hinge_per_sample(model: MLP) -> Callable[..., Any]:
    """The demo's loss for one point; compiled with reduce="mean" it is the full-batch loss."""
    params = model.parameters()

    def loss(x0: Any, x1: Any, y: Any) -> Any:
        return agrad.relu(1.0 - y * model([x0, x1])) + ALPHA * agrad.dot(params, params)

    return loss


def compiled_step(X: list[list[float]], y: list[int]) -> Callable[[int, int], float]:
    random.seed(SEED)
    model = MLP(2, [16, 16, 1])  # the global seed, as bench_moons: the same weights as micrograd
    opt = agrad.optim.SGD(model.parameters(), lr=1.0)
    step = agrad.compile(hinge_per_sample(model), params=model.parameters(), reduce="mean")
    x0, x1, ys = np.array([x[0] for x in X]), np.array([x[1] for x in X]), np.array(y, dtype=float)

    def run(k: int, steps: int) -> float:
        opt.zero_grad()
        loss = step(x0, x1, ys)
        opt.lr = 1.0 - 0.9 * k / steps
        opt.step()
        return loss

    return run


def torch_mlp(sizes: list[int], model: MLP) -> list[Any]:
    import torch

    ps = []
    for layer in model.layers:
        ps.append(torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64, requires_grad=True))
        ps.append(torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True))
    return ps


def torch_forward(ps: list[Any], X: Any) -> Any:
    import torch

    h = X
    for i in range(0, len(ps), 2):
        h = h @ ps[i].T + ps[i + 1]
        h = torch.relu(h) if i + 2 < len(ps) else h
    return h[:, 0]


def torch_step(X: list[list[float]], y: list[int], threads: int = 2) -> Callable[[int, int], float]:
    import torch

    torch.set_num_threads(threads)
    random.seed(SEED)
    ps = torch_mlp([2, 16, 16, 1], MLP(2, [16, 16, 1]))
    tx, ty = torch.tensor(X, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)

    def run(k: int, steps: int) -> float:
        loss = torch.relu(1 - ty * torch_forward(ps, tx)).mean() + ALPHA * sum((p * p).sum() for p in ps)
        for p in ps:
            p.grad = None
        loss.backward()
        lr = 1.0 - 0.9 * k / steps
        with torch.no_grad():
            for p in ps:
                p -= lr * p.grad
        return loss.item()

    return run


def bench_moons(repeats: int, steps: int, quick: bool) -> dict[str, list[float]]:
    X, labels = agrad.datasets.make_moons(100, noise=0.1, seed=SEED)
    y = [2 * c - 1 for c in labels]
    engines: dict[str, Callable[..., Any]] = {"compiled agrad": compiled_step}
    if _has_torch():
        # 2 threads is the anchor; 1 thread is printed too, as 2 threads suffer most when
        # another process holds one of the cores.
        engines["torch (2 threads)"] = torch_step
        engines["torch (1 thread)"] = lambda X, y: torch_step(X, y, 1)
    engines["eager agrad"] = agrad_step
    if not quick:
        engines["micrograd"] = micrograd_step
    times: dict[str, list[float]] = {}
    first: dict[str, list[float]] = {}
    losses: dict[str, list[float]] = {}
    for name, make in engines.items():
        slow = name in ("micrograd", "eager agrad")
        times[name], first[name] = [], []
        for _ in range(1 if slow and quick else repeats if not slow else max(2, repeats // 3)):
            step = make(X, y)
            t0 = time.perf_counter()
            step(0, steps)  # compiled agrad traces and generates code here: reported apart, not in the ratios
            first[name].append(time.perf_counter() - t0)
            trace = []
            for k in range(1, steps):
                t0 = time.perf_counter()
                loss = step(k, steps)
                times[name].append(time.perf_counter() - t0)
                trace.append(float(loss[0] if isinstance(loss, tuple) else loss))
            losses[name] = trace
    print("1. micrograd's demo step: MLP(2, [16, 16, 1]), 100 moons, max-margin + L2, full batch, SGD")
    for name, t in times.items():
        print(f"   {name:18s} {stats(t)}   loss after {steps} steps {losses[name][-1]:.12f}")
    print(f"   compiled agrad's first step (trace + generate code + run): {stats(first['compiled agrad'])}")
    c = times["compiled agrad"]
    for name in times:
        if name != "compiled agrad":
            r_min, r_med = min(times[name]) / min(c), statistics.median(times[name]) / statistics.median(c)
            print(f"   compiled agrad vs {name:18s}: {r_min:8.1f}x faster (min), {r_med:8.1f}x (median)")
    ref = losses.get("micrograd", losses["eager agrad"])
    gap = max(abs(a - b) for a, b in zip(losses["compiled agrad"], ref))
    print(f"   largest loss difference, compiled vs {'micrograd' if 'micrograd' in losses else 'eager'}: {gap:.1e}")
    return times


# -- 2. a 100,000-node random graph ------------------------------------------------------


def graph_fn(ops: list[tuple[int, int, int]]) -> Callable[..., Any]:
    """bench_graph's recipe as a function of its 16 leaves: works on floats and on Values."""

    def f(*leaves: Any) -> Any:
        nodes = list(leaves)
        push = nodes.append
        for op, i, j in ops:
            a = nodes[i]
            if op == 0:
                push(a + nodes[j])
            elif op == 1:
                push(a * nodes[j])
            elif op == 2:
                push(agrad.relu(a))
            else:
                push(a**2 * 0.5)
        out = nodes[-1]
        for v in nodes[-64:-1]:
            out = out + v
        return out

    return f


def bench_graph(n: int, repeats: int) -> None:
    ops = recipe(n)
    f = graph_fn(ops)
    rng = random.Random(1)
    xs = [rng.uniform(-1, 1) for _ in range(16)]
    vg = agrad.compile(agrad.value_and_grad(f, argnums=tuple(range(16))), executor="python")
    t0 = time.perf_counter()
    vg.lower(*xs)
    compile_s = time.perf_counter() - t0
    nodes = len(next(iter(vg.traces.values())).graph)
    value, grads = vg(*xs)

    def eager(_: int) -> None:
        vs = [agrad.Value(x) for x in xs]
        out = f(*vs)
        out.backward()

    vs = [agrad.Value(x) for x in xs]
    out = f(*vs)
    out.backward()
    assert abs(out.data - value) <= 1e-12 * max(1.0, abs(value)), (out.data, value)
    assert all(abs(v.grad - g) <= 1e-9 * max(1.0, abs(v.grad)) for v, g in zip(vs, grads))
    del out, vs
    gc.collect()
    t_c = timed(lambda k: vg(*xs), repeats)
    t_p = timed(lambda k: f(*xs), repeats)
    straight = agrad.compile(f, executor="python")  # the forward alone, as straight-line float arithmetic
    straight(*xs)
    t_s = timed(lambda k: straight(*xs), repeats)
    t_e = timed(eager, max(2, repeats // 2))
    us = 1e6 / nodes
    print(f"2. random scalar graph, {nodes} nodes (+ * relu pow), forward + backward on floats")
    print(f"   compile (trace + generate + byte-compile): {compile_s:.2f} s, once per call signature")
    print(f"   compiled fwd+bwd   {stats(t_c, us, 'us/node')}")
    print(f"   plain Python fwd   {stats(t_p, us, 'us/node')}   (floats through the recipe's loop)")
    print(f"   straight-line fwd  {stats(t_s, us, 'us/node')}   (one line of float arithmetic per node: the floor)")
    print(f"   eager agrad fwd+bwd {stats(t_e, us, 'us/node')}")
    print(
        f"   compiled is {min(t_e) / min(t_c):.1f}x faster than eager; "
        f"{min(t_c) / min(t_p):.2f}x the recipe's loop, {min(t_c) / min(t_s):.2f}x straight-line forward (min)"
    )


# -- 3. MLP on a batch of 10,000 ---------------------------------------------------------


def torch_batch_step(X: Any, Y: Any, threads: int) -> Callable[[int], None]:
    import torch

    torch.set_num_threads(threads)
    random.seed(SEED)
    ps = torch_mlp([2, 16, 16, 1], MLP(2, [16, 16, 1]))
    tx, ty = torch.tensor(X), torch.tensor(Y)

    def step(_: int) -> None:
        loss = torch.relu(1 - ty * torch_forward(ps, tx)).mean() + ALPHA * sum((p * p).sum() for p in ps)
        for p in ps:
            p.grad = None
        loss.backward()

    return step


def bench_batch(batch: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(batch, 2))
    Y = np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
    random.seed(SEED)
    model = MLP(2, [16, 16, 1])
    step = agrad.compile(hinge_per_sample(model), params=model.parameters(), reduce="mean")

    def ours(_: int) -> None:
        model.zero_grad()
        step(X[:, 0], X[:, 1], Y)

    ours(0)
    t_a = timed(ours, repeats)
    print(f"3. MLP(2, [16, 16, 1]) forward + backward (hinge + L2), batch of {batch}")
    print(f"   compiled agrad     {stats(t_a)}   {batch / min(t_a):12,.0f} samples/s (best)")
    for threads in (2, 1) if _has_torch() else ():
        theirs = torch_batch_step(X, Y, threads)
        theirs(0)
        t_t = timed(theirs, repeats)
        name = f"torch ({threads} thread{'s' if threads > 1 else ''})"
        print(f"   {name:18s} {stats(t_t)}   {batch / min(t_t):12,.0f} samples/s (best)")
        print(
            f"   compiled agrad / {name} throughput: {min(t_t) / min(t_a):.2f} (min), "
            f"{statistics.median(t_t) / statistics.median(t_a):.2f} (median)"
        )


def _has_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7, help="repeats of each measurement (7)")
    ap.add_argument("--steps", type=int, default=6, help="training steps per moons repeat (6)")
    ap.add_argument("--nodes", type=int, default=100_000, help="random graph size (100000)")
    ap.add_argument("--batch", type=int, default=10_000, help="batch for the MLP throughput (10000)")
    ap.add_argument("--quick", action="store_true", help="skip micrograd, fewer slow repeats")
    args = ap.parse_args()
    sys.setrecursionlimit(100_000)  # micrograd's recursive toposort
    print(f"Python {sys.version.split()[0]}, NumPy {np.__version__}, agrad {agrad.__version__}")
    bench_moons(args.repeats, args.steps, args.quick)
    bench_graph(args.nodes, args.repeats)
    bench_batch(args.batch, args.repeats)


if __name__ == "__main__":
    main()
