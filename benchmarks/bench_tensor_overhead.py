"""Overhead per op on a 1-element Tensor: agrad against PyTorch (with autograd) and plain NumPy.

On one element the arithmetic is nothing, so the time is what each library
spends around it: dispatch, type checks, making the graph node. Each op runs
``--ops`` times per repeat; the engines take turns within each repeat, so load on
the machine falls on all of them alike. Reports min and median microseconds per
op over the repeats and the ratios of agrad to each anchor. ``backward`` is a
chain of ``--ops`` multiplications walked back, per op.

    python benchmarks/bench_tensor_overhead.py [--ops 2000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import agrad
from agrad import Tensor

try:
    import torch
except ImportError:  # the table shows agrad and NumPy alone
    torch = None


def ops_for(lib: str) -> dict[str, Callable[[Any, Any], Any]]:
    m: Any = {"numpy": np, "torch": torch}.get(lib, agrad)  # each library's own exp and tanh
    return {
        "add": lambda a, b: a + b,
        "mul": lambda a, b: a * b,
        "exp": lambda a, b: m.exp(a),
        "tanh": lambda a, b: m.tanh(a),
        "matmul": lambda a, b: a @ b,
        "sum": lambda a, b: a.sum(),
    }


def operands(lib: str) -> tuple[Any, Any]:
    if lib == "numpy":
        return np.full((1, 1), 0.5), np.full((1, 1), 0.25)
    if lib == "torch":
        return (
            torch.full((1, 1), 0.5, dtype=torch.float64, requires_grad=True),
            torch.full((1, 1), 0.25, dtype=torch.float64, requires_grad=True),
        )
    return Tensor(np.full((1, 1), 0.5), requires_grad=True), Tensor(np.full((1, 1), 0.25), requires_grad=True)


def time_op(fn: Callable[[Any, Any], Any], a: Any, b: Any, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn(a, b)
    return (time.perf_counter() - t0) / n * 1e6


def time_backward(lib: str, n: int) -> float:
    a, b = operands(lib)
    y = a
    for _ in range(n):
        y = y * b
    y = y.sum()
    t0 = time.perf_counter()
    y.backward()
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ops", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    libs = ["agrad", "numpy"] + (["torch"] if torch is not None else [])
    names = [*ops_for("numpy"), "backward"]
    times: dict[tuple[str, str], list[float]] = {(lib, op): [] for lib in libs for op in names}
    for _ in range(args.repeats):
        for op in names:
            for lib in libs:  # interleaved: each repeat runs every engine back to back
                if op == "backward":
                    if lib != "numpy":
                        times[(lib, op)].append(time_backward(lib, args.ops))
                    continue
                a, b = operands(lib)
                times[(lib, op)].append(time_op(ops_for(lib)[op], a, b, args.ops))
    print(f"1-element Tensor, {args.ops} ops per repeat, {args.repeats} repeats: microseconds per op (min / median)")
    header = f"{'op':9}" + "".join(f"{lib:>18}" for lib in libs) + "   agrad/torch   agrad/numpy (min)"
    print(header)
    for op in names:
        row = f"{op:9}"
        mins = {}
        for lib in libs:
            ts = times[(lib, op)]
            if not ts:
                row += f"{'-':>18}"
                continue
            mins[lib] = min(ts)
            row += f"{min(ts):>9.2f} / {statistics.median(ts):<6.2f}"
        vs_torch = f"{mins['agrad'] / mins['torch']:>10.1f}x" if "torch" in mins else f"{'-':>11}"
        vs_numpy = f"{mins['agrad'] / mins['numpy']:>12.1f}x" if "numpy" in mins else f"{'-':>13}"
        print(row + "   " + vs_torch + "  " + vs_numpy)


if __name__ == "__main__":
    main()
