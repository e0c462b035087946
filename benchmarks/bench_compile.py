"""agrad.compile against micrograd, eager agrad, PyTorch and JAX, in one process, interleaved.

Each measurement reports min and median over repeats and prints ratios; the
engines take turns within each repeat, so a busy machine slows them alike.
Everything is float64 on one thread (NumPy's BLAS, PyTorch, and XLA via
XLA_FLAGS, all set before the libraries load).

1. micrograd's demo training step: MLP(2, [16, 16, 1]), 100 two-moons points,
   max-margin loss + L2 (alpha 1e-4), full batch, SGD with micrograd's learning
   rate schedule, the loss read back every step (the demo prints it).
   ``CompiledSGD`` (the per-sample loss traced once; loss, gradient and update
   of the flat parameter array in one native call, and with the NumPy
   executor), ``compile(params=)`` with the update over the Values in Python,
   ``jax.jit`` of the whole step (loss, gradient and update), PyTorch, eager
   agrad and micrograd 0.1.0, all from the same weights and reaching the same
   loss. Also: where the native step's time goes, and the arithmetic floor of
   the step (its floating-point operations at this core's measured matmul rate).
2. A 100,000-op random scalar graph (benchmarks/bench_graph.py's recipe), and
   a 6,000-op one: compiled forward + backward on floats, per node, against
   eager agrad and against straight-line float arithmetic (the floor). Compile
   time apart.
3. MLP(2, [16, 16, 1]) forward + backward on a batch of 10,000: samples per
   second, compiled agrad against PyTorch and ``jax.jit``.
4. The start of ``agrad demo --compile`` (a fresh process: import, trace,
   compile, 1 step), with an empty native cache and again with it filled.

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

# One thread everywhere, set before the libraries load: NumPy's BLAS, and XLA's CPU backend.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
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


def ratios(times: dict[str, list[float]], ours: str, indent: str = "   ") -> None:
    c = times[ours]
    for name, t in times.items():
        if name != ours:
            r_min, r_med = min(t) / min(c), statistics.median(t) / statistics.median(c)
            print(f"{indent}{ours} vs {name:22s}: {r_min:7.2f}x faster (min), {r_med:7.2f}x (median)")


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def matmul_gflops() -> float:
    """This core's float64 matrix-product rate (one BLAS thread): the arithmetic ceiling."""
    a = np.random.default_rng(0).uniform(size=(384, 384))
    t = min(timed(lambda _: a @ a, 7, 5))
    return 2 * 384**3 / t / 1e9


# -- 1. micrograd's demo step -------------------------------------------------------------


def hinge_per_sample(model: MLP) -> Callable[..., Any]:
    """The demo's loss for one point; compiled with reduce="mean" it is the full-batch loss."""
    params = model.parameters()

    def loss(x0: Any, x1: Any, y: Any) -> Any:
        return agrad.relu(1.0 - y * model([x0, x1])) + ALPHA * agrad.dot(params, params)

    return loss


def sgd_step(X: list[list[float]], y: list[int], executor: str = "auto") -> Callable[[int, int], float]:
    """``CompiledSGD``: loss, gradient and update in one call, the parameters in one flat array."""
    from agrad.compile.training import CompiledSGD

    random.seed(SEED)
    model = MLP(2, [16, 16, 1])  # the global seed, as bench_moons: the same weights as micrograd
    step = CompiledSGD(hinge_per_sample(model), model.parameters(), lr=1.0, executor=executor)
    x0, x1, ys = np.array([x[0] for x in X]), np.array([x[1] for x in X]), np.array(y, dtype=float)

    def run(k: int, steps: int) -> float:
        step.lr = 1.0 - 0.9 * k / steps
        return step(x0, x1, ys)

    run.step = step  # type: ignore[attr-defined]
    run.args = (x0, x1, ys)  # type: ignore[attr-defined]
    return run


def values_step(X: list[list[float]], y: list[int], executor: str = "auto") -> Callable[[int, int], float]:
    """``compile(loss, params=...)``: gradients added to each Value's .grad, the update in Python."""
    random.seed(SEED)
    model = MLP(2, [16, 16, 1])
    params = model.parameters()
    step = agrad.compile(hinge_per_sample(model), params=params, reduce="mean", executor=executor)
    x0, x1, ys = np.array([x[0] for x in X]), np.array([x[1] for x in X]), np.array(y, dtype=float)

    def run(k: int, steps: int) -> float:
        loss = step(x0, x1, ys)  # adds the gradient to each p.grad, which the last step left at 0
        lr = 1.0 - 0.9 * k / steps
        for p in params:  # the demo's update, as micrograd, PyTorch and JAX run it here, then zero_grad
            p.data -= lr * p.grad
            p.grad = 0.0
        return float(loss)

    run.step = step  # type: ignore[attr-defined]
    run.args = (x0, x1, ys)  # type: ignore[attr-defined]
    return run


def layers(model: MLP) -> list[tuple[Any, Any]]:
    """Each layer's weights (out x in) and biases as NumPy arrays."""
    return [
        (np.array([[w.data for w in n.w] for n in layer.neurons]), np.array([n.b.data for n in layer.neurons]))
        for layer in model.layers
    ]


def torch_step(X: list[list[float]], y: list[int]) -> Callable[[int, int], float]:
    import torch

    random.seed(SEED)
    ps = [torch.tensor(a, requires_grad=True) for wb in layers(MLP(2, [16, 16, 1])) for a in wb]
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


def torch_forward(ps: list[Any], X: Any) -> Any:
    import torch

    h = X
    for i in range(0, len(ps), 2):
        h = h @ ps[i].T + ps[i + 1]
        h = torch.relu(h) if i + 2 < len(ps) else h
    return h[:, 0]


def jax_loss(X: Any, y: Any) -> Callable[[list[Any]], Any]:
    import jax
    import jax.numpy as jnp

    def loss(ps: list[Any]) -> Any:
        h = X
        for i in range(0, len(ps), 2):
            h = h @ ps[i].T + ps[i + 1]
            h = jax.nn.relu(h) if i + 2 < len(ps) else h
        return jnp.mean(jax.nn.relu(1.0 - y * h[:, 0])) + ALPHA * sum(jnp.sum(p * p) for p in ps)

    return loss


def jax_step(X: list[list[float]], y: list[int]) -> Callable[[int, int], float]:
    """``jax.jit`` of the whole step: loss, gradient and the SGD update, one XLA call."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    random.seed(SEED)
    state = [[jnp.asarray(a) for wb in layers(MLP(2, [16, 16, 1])) for a in wb]]
    loss = jax_loss(jnp.asarray(np.array(X)), jnp.asarray(np.array(y, dtype=float)))

    @jax.jit
    def update(ps: list[Any], lr: Any) -> tuple[list[Any], Any]:
        value, grads = jax.value_and_grad(loss)(ps)
        return [p - lr * g for p, g in zip(ps, grads)], value

    def run(k: int, steps: int) -> float:
        state[0], value = update(state[0], 1.0 - 0.9 * k / steps)
        return float(value)  # read back each step, as the demo prints it

    return run


def bench_moons(repeats: int, steps: int, quick: bool) -> None:
    X, labels = agrad.datasets.make_moons(100, noise=0.1, seed=SEED)
    y = [2 * c - 1 for c in labels]
    engines: dict[str, Callable[..., Any]] = {}
    from agrad.compile import native

    if native.available():
        engines["CompiledSGD (native)"] = lambda X, y: sgd_step(X, y, "native")
    engines["CompiledSGD (numpy)"] = lambda X, y: sgd_step(X, y, "numpy")
    if native.available():
        engines["compile+Values (native)"] = lambda X, y: values_step(X, y, "native")
    if _has("jax"):
        engines["jax.jit"] = jax_step
    if _has("torch"):
        import torch

        torch.set_num_threads(1)
        engines["torch"] = torch_step
    engines["eager agrad"] = agrad_step
    if not quick:
        engines["micrograd"] = micrograd_step
    ours = next(iter(engines))
    times: dict[str, list[float]] = {name: [] for name in engines}
    first: dict[str, list[float]] = {name: [] for name in engines}
    losses: dict[str, list[float]] = {}
    for r in range(repeats):
        for name, make in engines.items():  # interleaved: every engine once per repeat
            slow = name in ("micrograd", "eager agrad")
            if slow and r >= (1 if quick else max(2, repeats // 3)):
                continue
            step = make(X, y)
            t0 = time.perf_counter()
            step(0, steps)  # compile-time work happens here: reported apart, not in the ratios
            first[name].append(time.perf_counter() - t0)
            trace = []
            for k in range(1, steps):
                t0 = time.perf_counter()
                loss = step(k, steps)
                times[name].append(time.perf_counter() - t0)
                trace.append(float(loss[0] if isinstance(loss, tuple) else loss))
            losses[name] = trace
    parts = {}
    if "CompiledSGD (native)" in engines:  # where the native step's time goes
        run = sgd_step(X, y, "native")
        run(0, steps)
        sgd, args = run.step, run.args  # type: ignore[attr-defined]
        prog = sgd.fn.lower(*args)
        flat = list(args)
        buf, A = prog._buf, np.stack(args)
        S, OB, OS = np.empty(len(sgd.params)), np.empty((0, len(y))), np.empty(prog._slots)
        c_args = [buf("double[]", a) for a in (A, S, OB, OS, sgd.flat)]
        g0 = prog._slice[0]
        parts["the C step alone (forward, backward, update)"] = timed(
            lambda _: prog._sgd(c_args[0], len(y), *c_args[1:], len(sgd.params), 0, g0, 0.0), repeats, 50
        )
        parts["+ the Python call around it (CompiledSGD)"] = timed(lambda _: sgd(*args), repeats, 50)
        parts["C forward+backward, gradients back as floats"] = timed(
            lambda _: prog(flat, sgd.flat.tolist(), len(y)), repeats, 50
        )
        parts["write_values() at the end of training (337 Values)"] = timed(lambda _: sgd.write_values(), repeats, 50)
    print("1. micrograd's demo step: MLP(2, [16, 16, 1]), 100 moons, max-margin + L2, full batch, SGD")
    for name, t in times.items():
        print(f"   {name:24s} {stats(t)}   loss after {steps} steps {losses[name][-1]:.15f}")
    for name in engines:
        if name.startswith("Compiled") or name == "jax.jit":
            print(f"   {name}: first step (trace + compile or load + run) {stats(first[name])}")
    for name, t in parts.items():
        print(f"   {name}: {stats(t)}")
    ratios(times, ours)
    ref = losses.get("micrograd", losses["eager agrad"])
    for name in losses:
        gap = max(abs(a - b) for a, b in zip(losses[name], ref))
        print(f"   largest loss difference, {name} vs {'micrograd' if 'micrograd' in losses else 'eager'}: {gap:.1e}")
    # The step's arithmetic: per sample a forward (304 multiply-adds), the weight
    # gradients (304) and the hidden activations' gradients (16*16 + 16); then L2 and SGD.
    flops = 100 * 2 * (304 + 304 + 272) + 3 * 2 * 337
    rate = matmul_gflops()
    floor = flops / (rate * 1e9)
    print(
        f"   arithmetic floor: {flops:,} flops at this core's float64 matmul rate "
        f"({rate:.1f} GFLOP/s) = {floor * 1e6:.1f} us; "
        + ", ".join(f"{n} is {min(t) / floor:.1f}x it" for n, t in times.items() if n in (ours, "jax.jit", "torch"))
        + "".join(f", {n} is {min(t) / floor:.1f}x it" for n, t in parts.items() if n.startswith("the C step"))
    )


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
    from agrad.compile import native

    ops = recipe(n)
    f = graph_fn(ops)
    rng = random.Random(1)
    xs = [rng.uniform(-1, 1) for _ in range(16)]
    vs = [agrad.Value(x) for x in xs]
    out = f(*vs)
    out.backward()
    want, want_g = out.data, [v.grad for v in vs]
    del out, vs
    gc.collect()
    executors = ["python"] + (["native"] if native.available() else [])
    compiled, compile_s = {}, {}
    for ex in executors:
        vg = agrad.compile(agrad.value_and_grad(f, argnums=tuple(range(16))), executor=ex)
        t0 = time.perf_counter()
        vg.lower(*xs)
        compile_s[f"{ex} (ran as {vg.last_executor})"] = time.perf_counter() - t0
        value, grads = vg(*xs)
        assert abs(want - value) <= 1e-12 * max(1.0, abs(value)), (ex, want, value)
        assert all(abs(a - b) <= 1e-9 * max(1.0, abs(a)) for a, b in zip(want_g, grads)), ex
        compiled[f"compiled {vg.last_executor} fwd+bwd"] = vg
    nodes = len(next(iter(vg.traces.values())).graph)
    straight = agrad.compile(f, executor="python")  # the forward alone, one line of float arithmetic per node
    straight(*xs)

    def eager(_: int) -> None:
        vs = [agrad.Value(x) for x in xs]
        f(*vs).backward()

    times: dict[str, list[float]] = {name: [] for name in compiled}
    times["straight-line Python fwd"] = []
    times["eager agrad fwd+bwd"] = []
    for r in range(repeats):
        for name, vg in compiled.items():
            times[name] += timed(lambda k, vg=vg: vg(*xs), 1)
        times["straight-line Python fwd"] += timed(lambda k: straight(*xs), 1)
        if r < max(2, repeats // 2):
            times["eager agrad fwd+bwd"] += timed(eager, 1)
    us = 1e6 / nodes
    print(f"2. random scalar graph, {nodes} nodes (+ * relu pow), forward + backward on floats")
    for ex, sec in compile_s.items():
        print(f"   compile with executor={ex}: {sec:.2f} s, once per call signature (native: cached on disk)")
    for name, t in times.items():
        print(f"   {name:26s} {stats(t, us, 'us/node')}")
    s = min(times["straight-line Python fwd"])
    for name in compiled:
        t = min(times[name])
        print(f"   {name}: {min(times['eager agrad fwd+bwd']) / t:.1f}x faster than eager, {t / s:.2f}x the floor")


# -- 3. MLP on a batch of 10,000 ---------------------------------------------------------


def bench_batch(batch: int, repeats: int) -> None:
    from agrad.compile import native

    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(batch, 2))
    Y = np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0)
    random.seed(SEED)
    model = MLP(2, [16, 16, 1])
    params = model.parameters()
    weights = layers(model)
    engines: dict[str, Callable[[int], Any]] = {}
    for ex in ("native", "numpy") if native.available() else ("numpy",):
        step = agrad.compile(hinge_per_sample(model), params=model.parameters(), reduce="mean", executor=ex)

        def ours(_: int, step: Any = step) -> float:
            for p in params:
                p.grad = 0.0
            return float(step(X[:, 0], X[:, 1], Y))

        engines[f"compiled agrad ({ex})"] = ours
    if _has("jax"):
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        vg = jax.jit(jax.value_and_grad(jax_loss(jnp.asarray(X), jnp.asarray(Y))))
        jps = [jnp.asarray(a) for wb in weights for a in wb]
        engines["jax.jit"] = lambda _: float(jax.block_until_ready(vg(jps))[0])
    if _has("torch"):
        import torch

        torch.set_num_threads(1)
        ps = [torch.tensor(a, requires_grad=True) for wb in weights for a in wb]
        tx, ty = torch.tensor(X), torch.tensor(Y)

        def theirs(_: int) -> float:
            loss = torch.relu(1 - ty * torch_forward(ps, tx)).mean() + ALPHA * sum((p * p).sum() for p in ps)
            for p in ps:
                p.grad = None
            loss.backward()
            return loss.item()

        engines["torch"] = theirs
    values = {name: fn(0) for name, fn in engines.items()}  # warm up; every engine computes the same loss
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(repeats):
        for name, fn in engines.items():
            times[name] += timed(fn, 1)
    print(f"3. MLP(2, [16, 16, 1]) forward + backward (hinge + L2), batch of {batch}")
    for name, t in times.items():
        print(f"   {name:24s} {stats(t)}   {batch / min(t):12,.0f} samples/s (best)   loss {values[name]:.15f}")
    ratios(times, next(iter(engines)))


# -- 4. the start of agrad demo --compile ----------------------------------------------------


def bench_start() -> None:
    import subprocess
    import tempfile

    from agrad.compile import native

    if not native.available():
        return
    print("4. agrad demo --compile --steps 1, a fresh process each time (import, trace, compile or load, one step)")
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as out:
        env = dict(os.environ, AGRAD_CACHE_DIR=cache)
        cmd = [sys.executable, "-m", "agrad", "demo", "--steps", "1", "--no-progress", "--out", out]
        runs = [("--compile, empty native cache", True), ("--compile, cache filled by the run before", True)]
        runs += [("without --compile (eager), for reference", False), ("--compile, cache filled", True)]
        for label, compiled in runs:
            t0 = time.perf_counter()
            subprocess.run(cmd + ["--compile"] * compiled, env=env, check=True, capture_output=True)
            print(f"   {label:42s} {time.perf_counter() - t0:6.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7, help="repeats of each measurement (7)")
    ap.add_argument("--steps", type=int, default=6, help="training steps per moons repeat (6)")
    ap.add_argument("--nodes", type=int, default=100_000, help="random graph size (100000)")
    ap.add_argument("--batch", type=int, default=10_000, help="batch for the MLP throughput (10000)")
    ap.add_argument("--quick", action="store_true", help="skip micrograd, fewer slow repeats")
    ap.add_argument("--only", type=int, choices=(1, 2, 3, 4), help="run one measurement")
    args = ap.parse_args()
    sys.setrecursionlimit(100_000)  # micrograd's recursive toposort
    print(f"Python {sys.version.split()[0]}, NumPy {np.__version__}, agrad {agrad.__version__}")
    runs = {
        1: lambda: bench_moons(args.repeats, args.steps, args.quick),
        # 100,000 ops is past the native executor's limit (it falls back); 6,000 ops is within it.
        2: lambda: [bench_graph(n, args.repeats) for n in (args.nodes, 6_000)],
        3: lambda: bench_batch(args.batch, args.repeats),
        4: bench_start,
    }
    for k, run in runs.items():
        if args.only in (None, k):
            run()


if __name__ == "__main__":
    main()
