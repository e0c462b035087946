"""One training step of a Tensor MLP, agrad against NumPy (hand-written backward), PyTorch, JAX, MyGrad and autograd.

Two models, float32, ReLU hidden layers, mean softmax cross-entropy, plain SGD
(lr 0.01), one thread everywhere:

- mnist:  MLP 784-256-256-10, batch 256 (random pixels: the time does not depend on them);
- digits: MLP 64-64-10, batch 32 (the real 8x8 digits), where each op's fixed cost dominates.

Engines, in one process, interleaved, each from the same weights:

- ``numpy``: forward and a hand-written backward in NumPy, the floor for an engine that calls NumPy;
- ``torch``: PyTorch eager, ``F.cross_entropy``, ``torch.optim.SGD``;
- ``jax``: ``jax.jit`` of the whole step (forward, ``jax.grad``, update), so no per-op cost at all;
- ``mygrad``, ``autograd`` (HIPS): NumPy-backed tape engines, as agrad is;
- ``agrad``: ``agrad.Tensor`` (when this agrad has it).

The whole process runs on one CPU (``os.sched_setaffinity`` where the system
has it, before any library loads), so that no engine gets a second core: JAX
runs its computation on a thread of its own whatever ``XLA_FLAGS`` say, and
without the pin took up to 1.9 s of CPU per second of wall time. Times are CPU
time (``time.process_time``: every thread of the process, none of another
process on the shared machine); each engine's CPU over wall time is printed
too, at most 1.0 when it ran on one core.

Prints ms per step (min and median over repeats of ``--steps`` steps), each
engine's ratio to NumPy by the min and paired (the median, over the repeats,
of its time over NumPy's in the same repeat: the two ran a moment apart, so a
busy spell on the shared machine slows both), the first step's loss per engine (they must agree:
same weights, same data), and for the digits model the cost per op above
NumPy's: (step - numpy step) / ops, ops being the step's 11 differentiable
forward ops (3 matmuls, 3 bias adds, 2 relus, log-softmax, pick, mean).
``--memory`` adds the peak memory traced during agrad's step against the
bytes the step needs (parameters, their gradients, activations).

    python benchmarks/bench_tensor_mlp.py [--steps 10] [--repeats 15] [--model mnist|digits|both] [--memory]
"""

from __future__ import annotations

import os


def _one_cpu() -> str:
    """Pin this process (and every thread it starts later) to one CPU; say what happened."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned to one CPU (no os.sched_setaffinity here): see each engine's cpu/wall"
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu} of {os.cpu_count()}"


PINNED = _one_cpu()  # before NumPy, torch or JAX start a thread: threads inherit the affinity
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy loads its BLAS: one thread, as the others get
os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import itertools  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import agrad  # noqa: E402

LR = 0.01
OPS_PER_STEP = 11  # differentiable forward ops in NumPy terms (agrad fuses them into 4 nodes)
Params = list[np.ndarray]
Step = Callable[[], float]


def init(sizes: list[int], seed: int = 0) -> Params:
    """PyTorch's default Linear init (uniform ±1/sqrt(fan_in)) for W (in, out) and b (out,), float32."""
    rng = np.random.default_rng(seed)
    out: Params = []
    for a, b in itertools.pairwise(sizes):
        bound = 1.0 / np.sqrt(a)
        out += [rng.uniform(-bound, bound, (a, b)).astype(np.float32), rng.uniform(-bound, bound, b).astype(np.float32)]
    return out


def numpy_step(params: Params, X: np.ndarray, y: np.ndarray) -> Step:
    ps = [p.copy() for p in params]
    n = len(y)
    rows = np.arange(n)

    def step() -> float:
        acts = [X]
        h = X
        for i in range(0, len(ps) - 2, 2):
            h = np.maximum(h @ ps[i] + ps[i + 1], 0.0)
            acts.append(h)
        z = h @ ps[-2] + ps[-1]
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = float(np.log(s[:, 0]).mean() - z[rows, y].mean())
        g = e / s  # softmax minus one-hot, over the batch: dL/dz
        g[rows, y] -= 1.0
        g /= n
        for i in range(len(ps) - 2, -1, -2):
            a = acts[i // 2]
            gw, gb = a.T @ g, g.sum(axis=0)
            if i:
                g = (g @ ps[i].T) * (a > 0)
            ps[i] -= LR * gw
            ps[i + 1] -= LR * gb
        return loss

    return step


def torch_step(params: Params, X: np.ndarray, y: np.ndarray) -> Step:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    ps = [torch.tensor(p, requires_grad=True) for p in params]
    opt = torch.optim.SGD(ps, lr=LR)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def step() -> float:
        h = Xt
        for i in range(0, len(ps) - 2, 2):
            h = torch.relu(h @ ps[i] + ps[i + 1])
        loss = F.cross_entropy(h @ ps[-2] + ps[-1], yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.item())

    return step


def jax_step(params: Params, X: np.ndarray, y: np.ndarray) -> Step:
    import jax
    import jax.numpy as jnp

    def loss_fn(ps: list[Any], X: Any, y: Any) -> Any:
        h = X
        for i in range(0, len(ps) - 2, 2):
            h = jax.nn.relu(h @ ps[i] + ps[i + 1])
        logp = jax.nn.log_softmax(h @ ps[-2] + ps[-1])
        return -jnp.take_along_axis(logp, y[:, None], axis=1).mean()

    @jax.jit
    def update(ps: list[Any], X: Any, y: Any) -> tuple[list[Any], Any]:
        loss, gs = jax.value_and_grad(loss_fn)(ps, X, y)
        return [p - LR * g for p, g in zip(ps, gs)], loss

    state = [jnp.asarray(p) for p in params]
    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    def step() -> float:
        nonlocal state
        state, loss = update(state, Xj, yj)
        return float(loss)  # waits for the result, so the time is the work's, not the dispatch's

    return step


def mygrad_step(params: Params, X: np.ndarray, y: np.ndarray) -> Step:
    import mygrad as mg
    from mygrad.nnet.activations import relu
    from mygrad.nnet.losses import softmax_crossentropy

    ps = [mg.tensor(p) for p in params]

    def step() -> float:
        h: Any = X
        for i in range(0, len(ps) - 2, 2):
            h = relu(mg.matmul(h, ps[i]) + ps[i + 1])
        loss = softmax_crossentropy(mg.matmul(h, ps[-2]) + ps[-1], y)
        loss.backward()
        for p in ps:
            p.data -= LR * p.grad
        return float(loss.item())

    return step


def autograd_step(params: Params, X: np.ndarray, y: np.ndarray) -> Step:
    import autograd
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp

    rows = np.arange(len(y))

    def loss_fn(ps: list[Any]) -> Any:
        h = X
        for i in range(0, len(ps) - 2, 2):
            h = anp.maximum(anp.dot(h, ps[i]) + ps[i + 1], 0.0)
        z = anp.dot(h, ps[-2]) + ps[-1]
        return anp.mean(logsumexp(z, axis=1) - z[rows, y])

    vg = autograd.value_and_grad(loss_fn)
    ps = [p.copy() for p in params]

    def step() -> float:
        loss, gs = vg(ps)
        for p, g in zip(ps, gs):
            p -= LR * g
        return float(loss)

    return step


def agrad_parts(params: Params, X: np.ndarray, y: np.ndarray) -> tuple[Any, Any, Callable[[], Any]]:
    """agrad's public API as a user writes it: nn.Linear layers, losses.cross_entropy, optim.SGD."""
    from agrad import Tensor
    from agrad.losses import cross_entropy
    from agrad.nn import Linear, ReLU, Sequential

    layers: list[Any] = []
    for i in range(0, len(params), 2):
        layer = Linear(*params[i].shape, seed=0)
        layer.load_state_dict({"weight": params[i].T, "bias": params[i + 1]})  # PyTorch's (out, in) layout
        layers += [layer, ReLU()]
    model = Sequential(*layers[:-1])
    opt = agrad.optim.SGD(model.parameters(), lr=LR)
    Xt = Tensor(X)
    return model, opt, lambda: cross_entropy(model(Xt), y)


def agrad_step(params: Params, X: np.ndarray, y: np.ndarray) -> Step:
    _, opt, loss_of = agrad_parts(params, X, y)

    def step() -> float:
        loss = loss_of()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.item())

    return step


ENGINES: dict[str, Callable[[Params, np.ndarray, np.ndarray], Step]] = {
    "numpy": numpy_step,
    "torch": torch_step,
    "jax": jax_step,
    "mygrad": mygrad_step,
    "autograd": autograd_step,
    "agrad": agrad_step,
}


def available() -> dict[str, Callable[[Params, np.ndarray, np.ndarray], Step]]:
    out = {}
    for name, make in ENGINES.items():
        try:
            make(
                [np.zeros((2, 2), np.float32), np.zeros(2, np.float32)] * 2,
                np.zeros((1, 2), np.float32),
                np.zeros(1, np.int64),
            )()
        except ImportError as e:
            print(f"  ({name} skipped: {e})")
            continue
        out[name] = make
    return out


def data(model: str) -> tuple[list[int], np.ndarray, np.ndarray]:
    if model == "mnist":
        rng = np.random.default_rng(1)
        return [784, 256, 256, 10], rng.random((256, 784), dtype=np.float32), rng.integers(0, 10, 256)
    X, y = agrad.datasets.load_digits()
    return [64, 64, 10], (X[:32] / 16).astype(np.float32), y[:32]


def run(
    model: str, engines: dict[str, Callable[[Params, np.ndarray, np.ndarray], Step]], steps: int, repeats: int
) -> dict[str, list[float]]:
    sizes, X, y = data(model)
    params = init(sizes)
    times: dict[str, list[float]] = {k: [] for k in engines}
    walls = dict.fromkeys(engines, 0.0)
    first: dict[str, float] = {}
    for _ in range(repeats):
        for name, make in engines.items():
            step = make(params, X, y)
            first[name] = step()  # untimed: JAX compiles here; every engine warms its caches
            w, c = time.perf_counter(), time.process_time()
            for _ in range(steps):
                step()
            cpu = time.process_time() - c
            walls[name] += time.perf_counter() - w
            times[name].append(cpu / steps * 1e3)
    base = min(times["numpy"])
    print(f"\n{model}: MLP {'-'.join(map(str, sizes))}, batch {len(y)}, float32, {steps} steps x {repeats} repeats")
    print(f"  {'engine':9s} {'min ms':>8s} {'median':>8s} {'/numpy':>7s} {'paired':>7s} {'cpu/wall':>8s}  first loss")
    for name, ts in times.items():
        paired = statistics.median(t / n for t, n in zip(ts, times["numpy"]))
        ratio = sum(ts) * steps / 1e3 / walls[name]  # above 1.0: the engine ran on more than one core
        print(
            f"  {name:9s} {min(ts):8.3f} {statistics.median(ts):8.3f} {min(ts) / base:7.2f} {paired:7.2f}"
            f" {ratio:8.2f}  {first[name]:.6f}"
        )
    spread = max(first.values()) - min(first.values())
    print(f"  largest first-step loss difference between engines: {spread:.1e}")
    if model == "digits":
        print(f"  cost per op above NumPy's, (min step - numpy) / {OPS_PER_STEP} ops:")
        for name, ts in times.items():
            if name != "numpy":
                print(f"    {name:9s} {(min(ts) - base) / OPS_PER_STEP * 1e3:8.1f} µs")
    for name in ("agrad", "torch"):
        if name in times and "agrad" in times and name != "agrad":
            print(f"  agrad / {name}: {min(times['agrad']) / min(times[name]):.2f} (min)")
    for name in ("mygrad", "autograd"):
        if name in times and "agrad" in times:
            print(f"  {name} / agrad: {min(times[name]) / min(times['agrad']):.2f} (min)")
    return times


def memory(model: str, engines: dict[str, Callable[[Params, np.ndarray, np.ndarray], Step]]) -> None:
    """Peak bytes newly allocated (tracemalloc) during forward and backward, against what they must allocate.

    Forward and backward must hold, until backward has used them, the activations
    (pre- and post-ReLU per hidden layer, the logits) and must make each parameter's
    gradient. NumPy's hand-written step (with its in-place update) is the floor.
    """
    sizes, X, y = data(model)
    params = init(sizes)
    needed = sum(p.nbytes for p in params) + len(y) * 4 * (2 * sum(sizes[1:-1]) + sizes[-1])
    print(f"  {model}: gradients and activations {needed / 1e6:.3f} MB; peak allocated in forward + backward:")
    runs: dict[str, Callable[[], object]] = {"numpy (whole step)": numpy_step(params, X, y)}
    if "agrad" in engines:
        _, opt, loss_of = agrad_parts(params, X, y)

        def forward_backward() -> None:
            opt.zero_grad()
            loss_of().backward()

        runs["agrad"] = forward_backward
    for name, run in runs.items():
        run()
        tracemalloc.start()
        run()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"    {name:18s} {peak / 1e6:8.3f} MB  ratio {peak / needed:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--model", choices=["mnist", "digits", "both"], default="both")
    ap.add_argument("--memory", action="store_true")
    args = ap.parse_args()
    print(f"Python {sys.version.split()[0]}, NumPy {np.__version__}, one thread, {PINNED}; ms of CPU time per step")
    engines = available()
    for model in ["mnist", "digits"] if args.model == "both" else [args.model]:
        run(model, engines, args.steps, args.repeats)
        if args.memory:
            memory(model, engines)


if __name__ == "__main__":
    main()
