"""Build, backward and freeing of a 100,000-op random graph, agrad against micrograd 0.1.0.

Two workloads, each run by both engines from the same recipe in one process,
interleaved, with the garbage collector on:

- ``same nodes``: ``+ * relu`` where every operand is a Value, so both engines
  build exactly the same nodes. This measures the core: the cost of a node.
- ``with constants``: ``+ * relu pow`` and a multiplication by 0.5 after each
  pow. A constant is a node in micrograd and none in agrad, so this one also
  measures that design choice (micrograd builds about 1.4x more nodes).

Each phase is timed on its own: ``build`` (the ops, from a recipe made
beforehand), ``backward`` (the topological sort and the chain rule, as
``root.backward()`` runs them) and ``free`` (dropping the graph and a
``gc.collect()``, which micrograd needs: its ``_backward`` closures make every
node part of a reference cycle). Reports min and median over repeats, the
ratios, and memory per node (tracemalloc). Times are this process's CPU time
(``--wall`` for the wall clock): on a shared machine, the time the process
spends waiting for a core is neither engine's.

``--workload modes`` times agrad alone on the same-nodes graph along its other
paths through the walk (create_graph, hooks, no_grad, detect_anomaly, grad and
grad of grad): run it under two checkouts to compare them.

    python benchmarks/bench_graph.py [--nodes 100000] [--repeats 5] [--workload same|constants|both|modes]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

Recipe = list[tuple[int, int, int]]


# CPU time of this process by default: the machine is shared, and time spent descheduled is
# not either engine's; --wall switches to the wall clock.
clock = time.process_time


def recipe(n: int, seed: int = 0) -> Recipe:
    """n ops as (op, i, j): each reads two earlier nodes; 0 add, 1 mul, 2 relu, 3 pow 2."""
    rng = random.Random(seed)
    ops = []
    for k in range(n):
        lo = max(0, k + 16 - 64)  # operands come from a recent window, so the graph stays deep and wide
        ops.append((rng.randrange(4), rng.randrange(lo, k + 16), rng.randrange(lo, k + 16)))
    return ops


def leaves(seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(-1, 1) for _ in range(16)]


def build(value_cls: Any, ops: Recipe, seed: int = 1) -> Any:
    """The ``with constants`` workload: ``recipe``'s ops, a pow followed by ``* 0.5``."""
    nodes = [value_cls(x) for x in leaves(seed)]
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


def same_recipe(n: int, seed: int = 0) -> tuple[Recipe, list[int]]:
    """n ops (op, i, j) of 0 add, 1 mul, 2 relu on earlier nodes, and the nodes no op reads.

    The recipe runs the ops on floats as it draws them, and draws the operands
    again where a result would leave [0.1, 1] in size (and another op where
    that fails), so the values neither vanish nor overflow (the gradients, which
    grow with the number of paths, stay finite). ``build_same`` adds
    up the nodes that no op reads, so that every node is under the root.
    """
    rng = random.Random(seed)
    xs = leaves()
    ops: Recipe = []
    used = [False] * (n + 16)
    for k in range(n):
        lo = max(0, k + 16 - 64)
        op = rng.randrange(3)  # the op is drawn first, so the three stay about equally frequent
        for tries in range(256):
            if tries % 64 == 63:
                op = rng.randrange(3)
            i = rng.randrange(lo, k + 16)
            j = rng.randrange(lo, k + 16) if rng.random() < 0.75 else rng.randrange(16)  # a leaf brings signs back
            a, b = xs[i], xs[j]
            r = a + b if op == 0 else a * b if op == 1 else max(a, 0.0)
            if 0.1 <= abs(r) <= 1.0:
                break
        else:
            raise RuntimeError("the recipe found no operands in range")
        ops.append((op, i, j))
        xs.append(r)
        used[i] = True
        used[j] |= op != 2
    return ops, [k for k, u in enumerate(used) if not u]


def build_same(value_cls: Any, recipe: tuple[Recipe, list[int]]) -> Any:
    """The ``same nodes`` workload: every op's operands are nodes; the unread ones are summed."""
    return run_same([value_cls(x) for x in leaves()], recipe)


def run_same(nodes: list[Any], recipe: tuple[Recipe, list[int]]) -> Any:
    """``same_recipe``'s ops on 16 given leaves (appended to ``nodes``); returns the root."""
    ops, unread = recipe
    append = nodes.append
    for op, i, j in ops:
        if op == 0:
            append(nodes[i] + nodes[j])
        elif op == 1:
            append(nodes[i] * nodes[j])
        else:
            append(nodes[i].relu())
    out = nodes[unread[0]]
    for k in unread[1:]:
        out = out + nodes[k]
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


PHASES = ("build", "backward", "free", "total")


def time_phases(make: Callable[[], Any]) -> dict[str, float]:
    """Seconds for each phase of one build + backward + free, gc on."""
    gc.collect()  # untimed: the last run's garbage is not this run's cost
    t0 = clock()
    out = make()
    t1 = clock()
    out.backward()
    t2 = clock()
    del out
    gc.collect()
    t3 = clock()
    return {"build": t1 - t0, "backward": t2 - t1, "free": t3 - t2, "total": t3 - t0}


def mem_per_node(make: Callable[[], Any]) -> float:
    gc.collect()
    tracemalloc.start()
    out = make()
    out.backward()
    cur, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return cur / count_nodes(out)


def run(title: str, makers: dict[str, Callable[[], Any]], repeats: int) -> None:
    res: dict[str, list[dict[str, float]]] = {k: [] for k in makers}
    for _ in range(repeats):
        for name, make in makers.items():  # interleaved: a slow spell of the machine hits both
            res[name].append(time_phases(make))
    nodes = {name: count_nodes(make()) for name, make in makers.items()}
    mem = {name: mem_per_node(make) for name, make in makers.items()}
    print(f"{title}, {repeats} repeats, gc on; ms of {clock.__name__}, min / median")
    print(f"  {'':10s} {'nodes':>7s}" + "".join(f"{p:>18s}" for p in PHASES) + "   memory")
    stats = {
        name: {p: (min(r[p] for r in runs), statistics.median(r[p] for r in runs)) for p in PHASES}
        for name, runs in res.items()
    }
    for name, s in stats.items():
        cells = "".join(f"{s[p][0] * 1e3:9.1f}/{s[p][1] * 1e3:8.1f}" for p in PHASES)
        print(f"  {name:10s} {nodes[name]:7d}{cells}   {mem[name]:.0f} B/node")
    a, m = stats["agrad"], stats["micrograd"]
    cells = "".join(f"{m[p][0] / a[p][0]:8.2f}x/{m[p][1] / a[p][1]:7.2f}x" for p in PHASES)
    print(f"  {'speedup':10s} {'':7s}{cells}   (micrograd / agrad, min / median)")


def modes(n: int, repeats: int) -> None:
    """agrad's other paths through the walk, on the same-nodes graph: run under two checkouts to compare."""
    import agrad

    rec = same_recipe(n)
    xs = leaves()

    def plain() -> None:
        build_same(agrad.Value, rec).backward()

    def create_graph() -> None:
        build_same(agrad.Value, rec).backward(create_graph=True)

    def hooks() -> None:
        out = build_same(agrad.Value, rec)
        for k, v in enumerate(agrad.toposort(out)):
            if k % 10 == 0:
                v.register_hook(lambda g: g)
        out.backward()

    def no_grad() -> None:
        with agrad.no_grad():
            build_same(agrad.Value, rec)

    def anomaly() -> None:
        with agrad.detect_anomaly():
            build_same(agrad.Value, rec).backward()

    f = agrad.grad(lambda *ls: run_same(list(ls), rec), argnums=tuple(range(16)))

    def grad() -> None:
        f(*xs)

    ff = agrad.grad(lambda x: agrad.grad(lambda y: run_same([x * y, *map(agrad.Value, xs[1:])], rec))(0.5))

    def grad_of_grad() -> None:
        ff(0.25)

    cases: dict[str, Callable[[], None]] = {
        "build + backward": plain,
        "create_graph=True": create_graph,
        "hooks on 1 node in 10": hooks,
        "build in no_grad": no_grad,
        "detect_anomaly": anomaly,
        "grad, 16 inputs": grad,
        "grad(grad(f))": grad_of_grad,
    }
    res: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(repeats):
        for name, case in cases.items():
            gc.collect()
            t0 = clock()
            case()
            gc.collect()
            res[name].append(clock() - t0)
    print(f"agrad's other paths, same-nodes graph of {n} ops, {repeats} repeats, gc on; ms of {clock.__name__}")
    for name, t in res.items():
        print(f"  {name:24s} min {min(t) * 1e3:8.1f}  median {statistics.median(t) * 1e3:8.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--workload", choices=("same", "constants", "both", "modes"), default="both")
    ap.add_argument("--wall", action="store_true", help="time with the wall clock, not this process's CPU time")
    args = ap.parse_args()
    global clock
    if args.wall:
        clock = time.perf_counter
    import sys

    sys.setrecursionlimit(1_000_000)  # micrograd's recursive toposort needs it; agrad does not
    from micrograd.engine import Value as MgValue

    import agrad

    engines = {"agrad": agrad.Value, "micrograd": MgValue}
    if args.workload == "modes":
        modes(args.nodes, args.repeats)
    if args.workload in ("same", "both"):
        same = same_recipe(args.nodes)
        makers = {name: (lambda cls=cls: build_same(cls, same)) for name, cls in engines.items()}
        run(f"same nodes: random graph of + * relu, every operand a Value, {args.nodes} ops", makers, args.repeats)
    if args.workload in ("constants", "both"):
        ops = recipe(args.nodes)
        makers = {name: (lambda cls=cls: build(cls, ops)) for name, cls in engines.items()}
        run(
            f"with constants: random graph of + * relu pow, {args.nodes} ops (micrograd makes a node per constant)",
            makers,
            args.repeats,
        )


if __name__ == "__main__":
    main()
