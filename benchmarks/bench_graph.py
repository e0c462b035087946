"""Build + backward of a 100,000-node random graph of + * relu pow, agrad against micrograd.

Both engines run the same recipe (same seed, same ops) in one process. Reports
min and median over repeats, time per node, and memory per node (tracemalloc).

    python benchmarks/bench_graph.py [--nodes 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
import tracemalloc
from typing import Any


def recipe(n: int, seed: int = 0) -> list[tuple[int, int, int]]:
    """n ops as (op, i, j): each reads two earlier nodes; 0 add, 1 mul, 2 relu, 3 pow 2."""
    rng = random.Random(seed)
    ops = []
    for k in range(n):
        lo = max(0, k + 16 - 64)  # operands come from a recent window, so the graph stays deep and wide
        ops.append((rng.randrange(4), rng.randrange(lo, k + 16), rng.randrange(lo, k + 16)))
    return ops


def build(value_cls: Any, ops: list[tuple[int, int, int]], seed: int = 1) -> Any:
    rng = random.Random(seed)
    nodes = [value_cls(rng.uniform(-1, 1)) for _ in range(16)]
    for op, i, j in ops:
        a, b = nodes[i], nodes[j]
        if op == 0:
            v = a + b
        elif op == 1:
            v = a * b
        elif op == 2:
            v = a.relu()
        else:
            v = a**2
        # keep magnitudes bounded so neither engine overflows
        nodes.append(v * 0.5 if op == 3 else v)
    out = nodes[-1]
    for v in nodes[-64:-1]:
        out = out + v
    return out


def count_nodes(root: Any) -> int:
    seen, stack = set(), [root]
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        stack.extend(c for c in getattr(v, "_prev", ()) if hasattr(c, "data"))
    return len(seen)


def time_once(value_cls: Any, ops: list[tuple[int, int, int]]) -> tuple[float, int]:
    t0 = time.perf_counter()
    out = build(value_cls, ops)
    out.backward()
    dt = time.perf_counter() - t0
    n = count_nodes(out)
    del out
    gc.collect()
    return dt, n


def mem_per_node(value_cls: Any, ops: list[tuple[int, int, int]]) -> float:
    gc.collect()
    tracemalloc.start()
    out = build(value_cls, ops)
    out.backward()
    cur, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n = count_nodes(out)
    return cur / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    import sys

    sys.setrecursionlimit(1_000_000)  # micrograd's recursive toposort needs it; agrad does not
    from micrograd.engine import Value as MgValue

    import agrad

    ops = recipe(args.nodes)
    engines = {"agrad": agrad.Value, "micrograd": MgValue}
    res: dict[str, list[float]] = {k: [] for k in engines}
    nodes = {}
    for _ in range(args.repeats):
        for name, cls in engines.items():
            dt, n = time_once(cls, ops)
            res[name].append(dt)
            nodes[name] = n
    mem = {name: mem_per_node(cls, ops) for name, cls in engines.items()}
    print(f"random graph of + * relu pow, {args.nodes} ops, build + backward, {args.repeats} repeats, gc on")
    for name in engines:
        t = res[name]
        n = nodes[name]
        print(
            f"  {name:10s} nodes={n:7d}  min {min(t) * 1e3:8.1f} ms  median {statistics.median(t) * 1e3:8.1f} ms"
            f"  = {min(t) / n * 1e6:.2f} us/node (min)  memory {mem[name]:.0f} B/node"
        )
    a, m = res["agrad"], res["micrograd"]
    # Ratios over the whole recipe, the same work for both: micrograd's graph has more nodes
    # (each constant is a node there), so per-node ratios would compare different counts.
    total = {name: mem[name] * nodes[name] for name in engines}
    print(
        f"  same recipe, agrad vs micrograd: {min(m) / min(a):.1f}x faster (min), "
        f"{statistics.median(m) / statistics.median(a):.1f}x (median); "
        f"{total['micrograd'] / total['agrad']:.1f}x less memory"
    )
    per = (min(m) / nodes["micrograd"]) / (min(a) / nodes["agrad"])
    less = mem["micrograd"] / mem["agrad"]
    print(f"  per node of each engine's own graph: {per:.1f}x faster (min), {less:.1f}x less memory")


if __name__ == "__main__":
    main()
