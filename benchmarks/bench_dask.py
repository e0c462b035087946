"""Full-batch logistic-regression gradients over Dask arrays: the overhead of Dask, and rows per second.

Part 1, data that fits in memory: the same agrad Tensor program (loss and
gradient of logistic regression) on a NumPy array and on the same array as a
Dask array chunked by rows, at several chunk sizes, interleaved in one process
on Dask's threaded scheduler. Reports min and median of the repeats and the
ratio Dask / NumPy.

Part 2, data that does not fit: a dataset generated lazily chunk by chunk on a
LocalCluster of worker processes, each with a memory limit, several times the
size of that limit. Reports rows per second for one gradient step, beside the
anchor measured in the same run: generating the data and summing it (a pass
that does nothing else), so the ratio is the price of the gradient itself.

    python benchmarks/bench_dask.py [--rows 400000] [--chunks 5000,20000,100000,400000] [--repeats 5]
        [--big-rows 11000000] [--workers 2] [--memory 200MiB] [--skip-cluster]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import dask
import dask.array as da
import numpy as np

import agrad
from agrad import Tensor
from agrad.distributed import value_and_grad

D = 10


def logistic(params: list[Tensor], X: Any, y: Any) -> Tensor:
    w, b = params
    z = X @ w + b
    return (agrad.softplus(z) - y * z).mean()


def block(block_id: tuple[int, ...] | None = None, *, rows: int = 0) -> np.ndarray:
    """One chunk of the big dataset, the same wherever it is made."""
    return np.random.default_rng([7, 0 if block_id is None else block_id[0]]).standard_normal((rows, D))


def params() -> list[Tensor]:
    return [Tensor(np.linspace(-0.5, 0.5, D)), Tensor(0.25)]


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def numpy_step(X: np.ndarray, y: np.ndarray) -> Any:
    leaves = [Tensor(p.data, requires_grad=True) for p in params()]
    out = logistic(leaves, X, y)
    out.backward()
    return out.item(), [p.grad for p in leaves]


def in_memory(rows: int, chunk_sizes: list[int], repeats: int) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, D))
    y = (X[:, 0] > 0).astype(np.float64)
    ref, ref_g = numpy_step(X, y)
    dasks = {c: (da.from_array(X, chunks=(c, D)), da.from_array(y, chunks=c)) for c in chunk_sizes}
    for c, (Xd, yd) in dasks.items():  # the same numbers, before timing anything
        v, g = value_and_grad(logistic, params(), Xd, yd, scheduler="threads")
        assert abs(v - ref) <= 1e-12 * abs(ref) and np.allclose(g[0], ref_g[0], rtol=1e-12), c
    times: dict[str, list[float]] = {"numpy": []} | {f"dask {c}": [] for c in chunk_sizes}
    for _ in range(repeats):  # interleaved: load on the machine hits every variant alike
        times["numpy"].append(timed(lambda: numpy_step(X, y)))
        for c, (Xd, yd) in dasks.items():
            times[f"dask {c}"].append(
                timed(lambda Xd=Xd, yd=yd: value_and_grad(logistic, params(), Xd, yd, scheduler="threads"))
            )
    base = statistics.median(times["numpy"])
    print(f"in memory: {rows} rows x {D} float64 ({X.nbytes / 2**20:.0f} MiB), loss + gradient, {repeats} repeats")
    print(f"{'variant':>14} {'chunks':>7} {'min ms':>9} {'median ms':>10} {'median / numpy':>15}")
    for name, ts in times.items():
        n = "1" if name == "numpy" else str(-(-rows // int(name.split()[1])))
        med = statistics.median(ts)
        print(f"{name:>14} {n:>7} {min(ts) * 1e3:9.1f} {med * 1e3:10.1f} {med / base:15.2f}")


def out_of_memory(rows: int, workers: int, memory: str, repeats: int) -> None:
    import distributed
    from dask.utils import parse_bytes

    chunk = 100_000
    n_chunks = -(-rows // chunk)
    X = da.map_blocks(block, rows=chunk, chunks=((chunk,) * n_chunks, (D,)), dtype=np.float64, meta=np.empty((0, 0)))
    y = (X[:, 0] > 0.0).astype(np.float64)
    limit = parse_bytes(memory)
    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, memory_limit=limit, dashboard_address=":0"
    )
    with distributed.Client(cluster) as client, dask.config.set({"array.chunk-size": "4MiB"}):
        client.run(lambda: None)
        value_and_grad(logistic, params(), X[:chunk], y[:chunk])  # workers import agrad once, not in the timing
        grad_t, pass_t = [], []
        for _ in range(repeats):
            pass_t.append(timed(lambda: X.sum().compute()))
            grad_t.append(timed(lambda: value_and_grad(logistic, params(), X, y)))
    cluster.close()
    print(
        f"\nout of memory: {n_chunks * chunk} rows x {D} float64 = {X.nbytes / 2**20:.0f} MiB on {workers} workers "
        f"of {memory} each ({X.nbytes / limit:.1f}x one worker's limit), chunks of {chunk} rows, {repeats} repeats"
    )
    print(f"{'':>22} {'min s':>8} {'median s':>9} {'rows/s (median)':>16}")
    for name, ts in (("generate + sum (anchor)", pass_t), ("loss + gradient", grad_t)):
        med = statistics.median(ts)
        print(f"{name:>22} {min(ts):8.2f} {med:9.2f} {n_chunks * chunk / med:16,.0f}")
    print(f"gradient / anchor (median): {statistics.median(grad_t) / statistics.median(pass_t):.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=400_000)
    p.add_argument("--chunks", default="5000,20000,100000,400000")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--big-rows", type=int, default=11_000_000)
    p.add_argument("--big-repeats", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--memory", default="200MiB")
    p.add_argument("--skip-cluster", action="store_true")
    a = p.parse_args()
    in_memory(a.rows, [int(c) for c in a.chunks.split(",")], a.repeats)
    if not a.skip_cluster:
        out_of_memory(a.big_rows, a.workers, a.memory, a.big_repeats)


if __name__ == "__main__":
    main()
