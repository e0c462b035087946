"""Memory per node, agrad against micrograd, measured with tracemalloc, and a bound that fails loudly.

Both engines build the same random graph (bench_graph's recipe: + * relu pow)
in one process. For each we measure, per node of the graph:

- ``graph``: bytes held by the graph after the forward pass;
- ``+grads``: bytes held after backward (the graph and every .grad);
- ``peak``: the most bytes alive at any moment of backward (its sort, its
  per-walk gradients);
- ``left``: bytes still held after ``del root`` with the cyclic collector off.
  agrad's nodes form no cycles, so this is near 0 (what remains is CPython's
  free lists: up to 2,000 freed tuples of each small size are kept for reuse,
  and tracemalloc counts them as held); micrograd's ``_backward`` closure
  refers back to its node, so its whole graph stays until gc runs.

Exits with status 1 if agrad's ``+grads`` or ``peak`` exceed ``--max-bytes`` per
node, or if ``left`` is more than 1% of ``+grads`` plus 1 MiB (the free lists),
so a change that bloats the node or makes it leak shows up as a failure, not a
number nobody reads.

    python benchmarks/bench_memory.py [--nodes 50000] [--repeats 3] [--max-bytes 300]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tracemalloc
from typing import Any

from bench_graph import build, count_nodes, recipe  # this folder is on sys.path when a script here runs

FIELDS = ("graph", "+grads", "peak", "left")
FREE_LISTS = 2**20  # bytes: CPython keeps freed small tuples for reuse, which tracemalloc counts as held


def measure(value_cls: Any, ops: list[tuple[int, int, int]]) -> dict[str, float]:
    """Bytes per node at each stage, for one build + backward + drop, with gc off throughout."""
    n = count_nodes(build(value_cls, ops))  # a twin graph: counting allocates, so not while tracing
    gc.collect()
    gc.disable()
    try:
        tracemalloc.start()
        out = build(value_cls, ops)
        graph, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        out.backward()
        grads, peak = tracemalloc.get_traced_memory()
        del out
        left, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        gc.enable()
        gc.collect()
    return {"graph": graph / n, "+grads": grads / n, "peak": peak / n, "left": left / n, "nodes": n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-bytes", type=float, default=300.0, help="bound on agrad's bytes per node")
    args = ap.parse_args()
    sys.setrecursionlimit(1_000_000)  # micrograd's recursive toposort needs it; agrad does not

    from micrograd.engine import Value as MgValue

    import agrad

    ops = recipe(args.nodes)
    engines = {"agrad": agrad.Value, "micrograd": MgValue}
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in engines}
    for _ in range(args.repeats):
        for name, cls in engines.items():
            runs[name].append(measure(cls, ops))

    print(f"memory per node, random graph of + * relu pow from {args.nodes} ops, {args.repeats} repeats, gc off")
    print(f"  {'bytes/node (min/median)':24s}" + "".join(f"{f:>14s}" for f in FIELDS))
    summary: dict[str, dict[str, float]] = {}
    for name in engines:
        summary[name] = {f: statistics.median(r[f] for r in runs[name]) for f in (*FIELDS, "nodes")}
        cells = [f"{min(r[f] for r in runs[name]):.0f}/{summary[name][f]:.0f}" for f in FIELDS]
        print(f"  {name:24s}" + "".join(f"{c:>14s}" for c in cells))
    a, m = summary["agrad"], summary["micrograd"]
    print(
        f"  micrograd / agrad (median): graph {m['graph'] / a['graph']:.1f}x, +grads {m['+grads'] / a['+grads']:.1f}x,"
        f" peak {m['peak'] / a['peak']:.1f}x; left after del with gc off: agrad {a['left']:.0f} B/node,"
        f" micrograd {m['left']:.0f} B/node"
    )
    problems = [f"{f} {a[f]:.0f} B/node > {args.max_bytes:.0f}" for f in ("+grads", "peak") if a[f] > args.max_bytes]
    if a["left"] > 0.01 * a["+grads"] + FREE_LISTS / a["nodes"]:
        problems.append(f"{a['left']:.0f} B/node still held after del with gc off: the graph leaks without gc")
    for p in problems:
        print(f"  BOUND EXCEEDED: agrad {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
