"""The NumPy executor: a traced graph run level by level, each group of nodes in one call.

A node's *level* is one more than its deepest operand's. Nodes on the same
level do not depend on each other, so all nodes of one level that apply the
same op to the same kinds of operand form a *group*, and a group is one NumPy
expression. Values live in two arrays:

* ``V`` (nodes x batch): nodes that depend on an array argument, one column
  per sample of the batch (a batch of 1 for plain floats);
* ``S`` (nodes x 1): nodes that do not (a model's parameters and what is made
  from them), stored once and broadcast over the batch.

Each group's outputs are given consecutive rows, so a group writes one slice,
and an operand row list that is consecutive is read as a slice, not gathered.
An n-ary ``dot`` whose operand lists are the same for every node of a group
(a dense layer: every neuron reads the same inputs) is one matrix product.

Backward visits the groups in reverse. Each operand's gradient expression
comes from the rule table (``symbolic.vjp_exprs``), rendered for NumPy; a
contribution is added to its operand rows with a slice, a gather-free
``+=``, or, where rows repeat, a segment sum (``np.add.reduceat``/``bincount``).
Gradients of ``S`` nodes are summed over the batch as they are made unless
per-sample gradients were asked for. The whole plan is emitted as the source
of one Python function, so a call runs no interpreter of its own.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from agrad.compile.symbolic import Expr, Sym, fold, forward_expr, literal, to_numpy, to_numpy_into, vjp_exprs
from agrad.compile.trace import Graph

NARY = ("sum", "dot")


def numpy() -> Any:
    """NumPy, or an ImportError naming the extra that installs it."""
    try:
        import numpy as np
    except ImportError as e:  # pragma: no cover - numpy is installed in development
        raise ImportError('the NumPy executor of agrad.compile needs NumPy: pip install "agrad[numpy]"') from e
    return np


def _sigmoid(x: Any) -> Any:
    np = numpy()
    e = np.exp(-np.abs(x))  # never overflows; the branch by sign keeps it stable
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(x: Any) -> Any:
    np = numpy()
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def _relu(x: Any) -> Any:
    return numpy().maximum(x, 0.0)  # passes nan through, as K.relu does


def _contiguous(idx: list[int]) -> bool:
    return all(b == a + 1 for a, b in itertools.pairwise(idx))


class _Emitter:
    """Source lines and the constant arrays they name."""

    def __init__(self) -> None:
        self.np = numpy()
        self.lines: list[str] = []
        self.end: dict[str, int] = {}  # the rows a view may reach, per store (V or S)
        self.written: dict[str, set[int]] = {}  # gradient rows that hold a value so far
        self.ns: dict[str, Any] = {
            "_np": self.np,
            "_npsigmoid": _sigmoid,
            "_npsoftplus": _softplus,
            "_nprelu": _relu,
            "_inf": float("inf"),
            "_nan": float("nan"),
        }

    def const(self, value: Any, prefix: str = "C") -> str:
        name = f"{prefix}{len(self.ns)}"
        self.ns[name] = value
        return name

    def rows(self, store: str, idx: list[int], exact: bool = False) -> str:
        """Rows ``idx`` of a 2-D store, as a slice (a view) where they are evenly spaced.

        One row read by every node comes back as that row alone, to be broadcast,
        unless ``exact`` asks for all len(idx) rows.
        """
        a, k = idx[0], len(idx)
        step = idx[1] - a if k > 1 else 1
        if step > 0 and all(i == a + j * step for j, i in enumerate(idx)):
            return f"{store}[{a}:{a + (k - 1) * step + 1}{f':{step}' if step > 1 else ''}]"
        if all(i == a for i in idx) and not exact:
            return f"{store}[{a}:{a + 1}]"
        return f"{store}[{self.const(self.np.array(idx, dtype=self.np.intp), 'I')}]"

    def matrix(self, store: str, rows: list[list[int]], wide: bool) -> str | None:
        """Rows ``rows[i][j] = base + i * s + j`` of a store as a (k, m[, B]) view, else None.

        A model's parameters are laid out neuron by neuron, so a layer's weights
        are such a view. Rows past the end are covered by padding (``self.end``).
        """
        k, m = len(rows), len(rows[0])
        base = rows[0][0]
        s = rows[1][0] - base if k > 1 else m
        if s < m or any(r[j] != base + i * s + j for i, r in enumerate(rows) for j in range(m)):
            return None
        self.end[store[-1]] = max(self.end.get(store[-1], 0), base + k * s)
        cut = f"[:, :{m}]" if s != m else ""
        if wide:
            return f"{store}[{base}:{base + k * s}].reshape({k}, {s}, B){cut}"
        return f"{store}[{base}:{base + k * s}, 0].reshape({k}, {s}){cut}"

    def add_matrix(self, store: str, rows: list[list[int]], value: str, wide: bool) -> None:
        """``store[rows] += value`` for a (k, m[, B]) value."""
        view = self.matrix(store, rows, wide)
        if view is not None:  # a reshape is a call, which += cannot target: add through a name
            op = self._first(store, [r for rs in rows for r in rs])
            self.lines.append(f"    T = {view}; T{'[...]' if op == '=' else ''} {op} {value}")
            return
        k, m = len(rows), len(rows[0])
        self.add_rows(store, [r for rs in rows for r in rs], f"({value}).reshape({k * m}, -1)", "B" if wide else "1")

    def _first(self, store: str, idx: list[int]) -> str:
        """``=`` if no row of idx holds a gradient yet, else ``+=`` (after zeroing the new rows).

        Gradient stores are allocated empty: the first contribution to a row is
        written, not added, which saves a pass of zeros over the whole batch.
        """
        done = self.written.setdefault(store, set())
        fresh = sorted(set(idx) - done)
        done.update(idx)
        if len(fresh) == len(idx):
            return "="
        if fresh:
            self.lines.append(f"    {self.rows(store, fresh)} = 0.0")
        return "+="

    def add_rows(
        self, store: str, idx: list[int], value: str, width: str, into: Callable[[str], str] | None = None
    ) -> None:
        """``store[idx] += value``, summing over repeated rows.

        ``into(view)``, if given, is a statement computing the value straight into a
        view; it is used for a first write to evenly spaced rows (no temporary copy).
        """
        np = self.np
        if len(set(idx)) == len(idx):
            op = self._first(store, idx)
            target = self.rows(store, idx)
            if op == "=" and into is not None and "[I" not in target:
                self.lines.append(f"    {into(target)}")
            else:
                self.lines.append(f"    {target} {op} {value}")
            return
        arr = np.array(idx, dtype=np.intp)
        uniq, inv = np.unique(arr, return_inverse=True)
        op = self._first(store, uniq.tolist())
        u = self.const(uniq, "I")
        if width == "1":
            i = self.const(inv, "I")
            self.lines.append(f"    {store}[{u}, 0] {op} _np.bincount({i}, _np.ravel({value}), {len(uniq)})")
            return
        order = np.argsort(arr, kind="stable")
        starts = np.flatnonzero(np.r_[True, arr[order][1:] != arr[order][:-1]])
        o, s = self.const(order, "I"), self.const(starts, "I")
        self.lines.append(f"    {store}[{u}] {op} _np.add.reduceat(({value})[{o}], {s}, axis=0)")


class LevelProgram:
    """A graph compiled to level-scheduled NumPy; call it with arrays (batch B) and numbers.

    ``batched[i]`` says whether argument i is an array (a row of the batch) or a
    number. ``reduce`` is None (per-sample gradients), "sum" or "mean": how the
    output is reduced over the batch before it is differentiated.

    >>> import numpy as np
    >>> from agrad.compile.trace import Placeholder, build_graph
    >>> w, x = Placeholder(1.0, "w"), Placeholder(1.0, "x"); y = w * x
    >>> p = LevelProgram(build_graph([w, x], [y], root=y, wrt=[w, x]), [False, True], "sum")
    >>> outs, grads = p([3.0, np.array([1.0, 2.0])], [], 2)
    >>> outs[0].tolist(), grads[0], grads[1].tolist()
    ([3.0, 6.0], 3.0, [3.0, 3.0])
    """

    def __init__(self, g: Graph, batched: list[bool], reduce: str | None) -> None:
        from agrad.compile.codegen import batched_nodes, needed

        self.graph = g
        n = len(g)
        ops, kids = g.ops, g.kids
        bat = batched_nodes(g, batched)
        depth = [0] * n
        for i in range(n):
            ks = [k for k in kids[i] if type(k) is int]
            if ks:
                depth[i] = 1 + max(depth[k] for k in ks)
            elif ops[i]:
                depth[i] = 1
        self.need = need = needed(g) if type(g.root) is int else [False] * n
        kind = ["b" if b else "s" for b in bat]

        def kinds(i: int) -> tuple[str, ...]:
            return tuple("c" if type(k) is float else kind[k] for k in kids[i])  # type: ignore[index]

        groups: dict[tuple[Any, ...], list[int]] = {}
        for i in range(n):
            if ops[i]:
                groups.setdefault((depth[i], ops[i], kinds(i), bat[i], need[i]), []).append(i)
        self.groups = sorted(groups.items(), key=lambda kv: kv[0][0])
        # Rows: leaves first (inputs, then captured), then each group's outputs together.
        row = [-1] * n
        count = {"b": 0, "s": 0}
        leaf_order = [i for i in g.inputs if i >= 0] + g.captured_nodes
        for i in leaf_order:
            if row[i] < 0:
                row[i] = count[kind[i]]
                count[kind[i]] += 1
        for _, members in self.groups:
            for i in members:
                row[i] = count[kind[i]]
                count[kind[i]] += 1
        self.row, self.kind, self.bat = row, kind, bat
        self.per_sample = reduce is None
        self.reduce = reduce
        self._buffers = threading.local()
        self._emit(count["b"], count["s"])

    # -- source ---------------------------------------------------------------------

    def _store(self, i: int, grad: bool = False) -> str:
        return ("GV" if grad else "V") if self.bat[i] else ("GS" if grad else "S")

    def _operand(self, e: _Emitter, refs: list[int | float], knd: str) -> tuple[str, float | None]:
        """One operand position over a group: (source, constant value if it is one number)."""
        if knd == "c":
            vals = [float(r) for r in refs]
            if all(literal(v) == literal(vals[0]) for v in vals):
                return literal(vals[0]), vals[0]
            return e.const(e.np.array(vals)[:, None]), None
        store = "V" if knd == "b" else "S"
        return e.rows(store, [self.row[int(r)] for r in refs]), None

    def _emit(self, nv: int, ns: int) -> None:
        e = _Emitter()
        g = self.graph
        L = e.lines
        L.append("def _run(a, c, B, V, S, GV, GS):")
        b_in = [(j, i) for j, i in enumerate(g.inputs) if i >= 0 and self.bat[i]]
        s_in = [(j, i) for j, i in enumerate(g.inputs) if i >= 0 and not self.bat[i]]
        if b_in:
            L.append(f"    V[0:{len(b_in)}] = [{', '.join(f'a[{j}]' for j, _ in b_in)}]")
        if s_in:
            L.append(f"    S[0:{len(s_in)}, 0] = [{', '.join(f'a[{j}]' for j, _ in s_in)}]")
        if g.captured_nodes:
            L.append(f"    S[{len(s_in)}:{len(s_in) + len(g.captured_nodes)}, 0] = c")
        for (_, op, knd, _, _), members in self.groups:
            lo = self.row[members[0]]
            dst = f"{self._store(members[0])}[{lo}:{lo + len(members)}]"
            if op in NARY:
                parts = self._nary_forward(e, op, knd, members)
                # A matrix product first, written straight into the rows; the other columns add on.
                parts.sort(key=lambda p: not p.startswith("_np.matmul("))
                if parts[0].startswith("_np.matmul("):
                    L.append(f"    {parts[0][:-1]}, out={dst})")
                    L.extend(f"    {dst} += {p}" for p in parts[1:])
                else:
                    L.append(f"    {dst} = " + " + ".join(parts))
            else:
                names, consts = self._operands(e, knd, members)
                L.append("    " + to_numpy_into(fold(forward_expr(op, len(knd)), consts), names, dst))
        if type(g.root) is int:
            r = g.root
            # d(reduced output)/d(root) per sample: 1, or 1/B for a mean; a root that is one
            # number for the whole batch counts B times in a sum.
            seed = "1.0 / B" if self.reduce == "mean" and self.bat[r] else "1.0"
            seed = "B" if self.reduce == "sum" and not self.bat[r] else seed
            L.append(f"    {self._store(r, True)}[{self.row[r]}] = {seed}")
            e.written[self._store(r, True)] = {self.row[r]}
            for (_, op, knd, _, need), members in reversed(self.groups):
                if need:
                    if op in NARY:
                        self._nary_backward(e, op, knd, members)
                    else:
                        self._backward(e, op, knd, members)
        outs = [self._value(o) if type(o) is int else literal(float(o)) for o in g.outputs]
        # Reduced gradients of numbers are read with one gather, not one float() each.
        numbers = [w for w in g.wrt if w >= 0 and self.need[w] and not self.bat[w] and not self.per_sample]
        if numbers:
            rows = e.const(e.np.array([self.row[w] for w in numbers], dtype=e.np.intp), "I")
            L.append(f"    gs = GS[{rows}, 0].tolist()")
        at = {w: f"gs[{j}]" for j, w in enumerate(numbers)}
        grads = [at.get(w) or self._grad(w) for w in g.wrt]
        if numbers and len(numbers) == len(g.wrt) and list(at.values()) == grads:
            L.append(f"    return [{', '.join(outs)}], gs")
        else:
            L.append(f"    return [{', '.join(outs)}], [{', '.join(grads)}]")
        # Padding rows, so a view of a (k, m) block with a row stride may run past the last row.
        self.sizes = (max(nv, e.end.get("V", 0)), max(ns, e.end.get("S", 0)))  # with padding for views
        src = "\n".join(L)
        self.source = src
        exec(compile(src, "<agrad.compile.levels>", "exec"), e.ns)
        self._run: Callable[..., tuple[list[Any], list[Any]]] = e.ns["_run"]

    def _value(self, i: int) -> str:
        return f"V[{self.row[i]}].copy()" if self.bat[i] else f"float(S[{self.row[i]}, 0])"

    def _grad(self, i: int) -> str:
        if i < 0 or not self.need[i]:
            return "0.0"
        return f"{self._store(i, True)}[{self.row[i]}].copy()"

    def _operands(
        self, e: _Emitter, knd: tuple[str, ...], members: list[int]
    ) -> tuple[dict[str, str], dict[str, float]]:
        names: dict[str, str] = {}
        consts: dict[str, float] = {}
        for j, k in enumerate(knd):
            src, value = self._operand(e, [self.graph.kids[i][j] for i in members], k)
            if value is not None:
                consts[f"x{j}"] = value
            else:
                tmp = f"x{j}"
                e.lines.append(f"    {tmp} = {src}")
                names[tmp] = tmp
        return names, consts

    def _backward(self, e: _Emitter, op: str, knd: tuple[str, ...], members: list[int]) -> None:
        g = self.graph
        lo, k = self.row[members[0]], len(members)
        out_b = self.bat[members[0]]
        exprs = vjp_exprs(op, len(knd))
        todo = [j for j, c in enumerate(knd) if c != "c" and any(self.need[int(g.kids[i][j])] for i in members)]
        if not todo:
            return
        names, consts = self._operands(e, knd, members)
        e.lines.append(f"    G = {self._store(members[0], True)}[{lo}:{lo + k}]")
        e.lines.append(f"    out = {self._store(members[0])}[{lo}:{lo + k}]")
        names.update(g="G", out="out")
        for j in todo:
            expr = fold(exprs[j], consts)
            src = to_numpy(expr, names)
            child = [int(g.kids[i][j]) for i in members]
            plain: Expr = expr  # the contribution itself, computed in place where it is a first write
            if not _uses_g(expr):  # a contribution that does not scale with g: give it the gradient's shape
                src, plain = f"_np.broadcast_to({src}, G.shape)", None
            if knd[j] == "s" and out_b and not self.per_sample:
                src, plain = f"_np.sum({src}, axis=1, keepdims=True)", None
            width = "B" if knd[j] == "b" or self.per_sample else "1"
            into = None if plain is None else (lambda out, x=plain: to_numpy_into(x, names, out))
            e.add_rows("GV" if knd[j] == "b" else "GS", [self.row[c] for c in child], src, width, into)

    # -- n-ary sum and dot: operands stacked along a second axis -------------------

    def _columns(self, op: str, knd: tuple[str, ...]) -> list[tuple[tuple[str, ...], list[int]]]:
        """Columns (one per summand) grouped by the kinds of their operands.

        A dot's column i is the pair (w_i, x_i); a sum's column i is x_i alone.
        """
        n = len(knd) // 2 if op == "dot" else len(knd)
        cols: dict[tuple[str, ...], list[int]] = {}
        for i in range(n):
            key = (knd[i], knd[n + i]) if op == "dot" else (knd[i],)
            cols.setdefault(key, []).append(i)
        return list(cols.items())

    def _side(self, e: _Emitter, members: list[int], positions: list[int], knd: str) -> tuple[str, str | None]:
        """A (k, m) matrix (k, m, B for batched) of operands, and the (m, B) rows if every node shares them."""
        g = self.graph
        refs = [[g.kids[i][p] for p in positions] for i in members]
        if knd == "c":
            return e.const(e.np.array(refs, dtype=float)), None
        rows = [[self.row[int(r)] for r in rs] for rs in refs]
        if knd == "b" and all(r == rows[0] for r in rows):
            shared = e.rows("V", rows[0], exact=True)
            return f"_np.broadcast_to({shared}, ({len(members)}, {len(positions)}, B))", shared
        view = e.matrix("V" if knd == "b" else "S", rows, knd == "b")
        if view is not None:
            return view, None
        idx = e.const(e.np.array(rows, dtype=e.np.intp), "I")
        return (f"V[{idx}]" if knd == "b" else f"S[{idx}, 0]"), None

    def _one_constant(
        self, e: _Emitter, members: list[int], cols: list[int], n: int, kinds: tuple[str, ...]
    ) -> tuple[str, float] | None:
        """For a dot column class of one column whose one side is the same constant for every
        node (a bias times 1.0): the other side's rows and the constant."""
        if len(cols) != 1 or "c" not in kinds or kinds == ("c", "c"):
            return None
        g = self.graph
        c, live = (n + cols[0], cols[0]) if kinds[1] == "c" else (cols[0], n + cols[0])
        vals = {literal(float(g.kids[i][c])) for i in members}
        if len(vals) != 1:
            return None
        store = "V" if (kinds[1] if kinds[0] == "c" else kinds[0]) == "b" else "S"
        return e.rows(store, [self.row[int(g.kids[i][live])] for i in members]), float(g.kids[members[0]][c])

    def _nary_forward(self, e: _Emitter, op: str, knd: tuple[str, ...], members: list[int]) -> list[str]:
        n = len(knd) // 2 if op == "dot" else len(knd)
        parts = []
        for kinds, cols in self._columns(op, knd):
            if op == "sum":
                src, _ = self._side(e, members, cols, kinds[0])
                parts.append(f"_np.sum({src}, axis=1)" + ("" if kinds[0] == "b" else "[:, None]"))
                continue
            one = self._one_constant(e, members, cols, n, kinds)
            if one is not None:
                parts.append(one[0] if one[1] == 1.0 else f"({one[0]} * {literal(one[1])})")
                continue
            (w, _), (x, xrows) = (
                self._side(e, members, cols, kinds[0]),
                self._side(e, members, [n + c for c in cols], kinds[1]),
            )
            wb, xb = kinds[0] == "b", kinds[1] == "b"
            if not wb and not xb:
                parts.append(f"_np.sum({w} * {x}, axis=1)[:, None]")
            elif not wb and xrows is not None:
                parts.append(f"_np.matmul({w}, {xrows})")  # a dense layer: (k, m) weights, (m, B) shared inputs
            else:
                parts.append(f"_np.einsum('{'kmb' if wb else 'km'},{'kmb' if xb else 'km'}->kb', {w}, {x})")
        return parts

    def _nary_backward(self, e: _Emitter, op: str, knd: tuple[str, ...], members: list[int]) -> None:
        g = self.graph
        lo, k = self.row[members[0]], len(members)
        e.lines.append(f"    G = {self._store(members[0], True)}[{lo}:{lo + k}]")
        n = len(knd) // 2 if op == "dot" else len(knd)
        # The rule on one stacked column: dot_vjp(g, out, W, X) = (g * X, g * W); sum_vjp(g, out, X) = (g,).
        exprs = vjp_exprs(op, 2 if op == "dot" else 1)
        for kinds, cols in self._columns(op, knd):
            sides = [cols] if op == "sum" else [cols, [n + c for c in cols]]
            one = self._one_constant(e, members, cols, n, kinds) if op == "dot" else None
            if one is not None:  # a bias times 1.0: the gradient is g times the constant
                live = next(p for p, kd in zip(sides, kinds) if kd != "c")
                if not any(self.need[int(g.kids[i][live[0]])] for i in members):
                    continue
                tb = self.bat[int(g.kids[members[0]][live[0]])]
                h = "G" if tb or self.per_sample or not self.bat[members[0]] else "_np.sum(G, axis=1, keepdims=True)"
                h = h if one[1] == 1.0 else f"({h} * {literal(one[1])})"
                rows = [self.row[int(g.kids[i][live[0]])] for i in members]
                e.add_rows("GV" if tb else "GS", rows, h, "B" if tb or self.per_sample else "1")
                continue
            mats = [self._side(e, members, p, kd) for p, kd in zip(sides, kinds)]
            for s, (positions, kd) in enumerate(zip(sides, kinds)):
                if kd == "c" or not any(self.need[int(g.kids[i][p])] for i in members for p in positions):
                    continue
                targets = [self.row[int(g.kids[i][p])] for i in members for p in positions]
                self._column_grad(e, exprs[s], mats, kinds, s, positions, members, targets)

    def _column_grad(
        self,
        e: _Emitter,
        expr: Expr,
        mats: list[tuple[str, str | None]],
        kinds: tuple[str, ...],
        s: int,
        positions: list[int],
        members: list[int],
        targets: list[int],
    ) -> None:
        k, m = len(members), len(positions)
        tb = kinds[s] == "b"
        out_b = self.bat[members[0]]
        other = 1 - s
        store, width = ("GV", "B") if tb else ("GS", "B" if self.per_sample else "1")
        prod = len(mats) == 2 and _is_product(expr, f"x{other}")
        if prod and kinds[other] != "b" and not self.per_sample and not tb:
            # g * (a number per column), summed over the batch: sum g first.
            gsum = "_np.sum(G, axis=1, keepdims=True)" if out_b else "G"
            e.lines.append(f"    H = {gsum} * {mats[other][0]}")
        elif prod and kinds[other] == "b" and not tb and not self.per_sample and mats[other][1] is not None:
            e.lines.append(f"    H = G @ {mats[other][1]}.T")  # dense: (k, B) @ (B, m)
        elif prod and kinds[other] != "b" and tb and len(set(targets)) == m and _shared(targets, k, m):
            # Every node feeds the same m rows (a dense layer): sum over the nodes with one product.
            product = f"{mats[other][0]}.T, G"
            e.add_rows(
                store, targets[:m], f"_np.matmul({product})", width, lambda out: f"_np.matmul({product}, out={out})"
            )
            return
        else:  # any other rule: broadcast the columns, then sum over the batch where needed
            names = {"g": "G[:, None, :]"}
            for j, (src, _) in enumerate(mats):
                names[f"x{j}"] = src if kinds[j] == "b" else f"{src}[:, :, None]"
            last = "B" if (tb or self.per_sample) else "None"
            e.lines.append(f"    H = _fit({to_numpy(expr, names)}, {k}, {m}, {last})")
            e.ns["_fit"] = _fit
        e.add_matrix(store, [targets[i * m : (i + 1) * m] for i in range(k)], "H", width == "B")

    def __call__(self, a: list[Any], c: list[float], batch: int = 1) -> tuple[list[Any], list[Any]]:
        np = numpy()
        # The four stores are kept between calls (per thread, for the last batch size):
        # allocating megabytes afresh each call costs more than the arithmetic for big batches.
        bufs = getattr(self._buffers, "arrays", None)
        if bufs is None or bufs[0].shape[1] != batch:
            nv, ns = self.sizes
            width = batch if self.per_sample else 1
            shapes = ((nv, batch), (ns, 1), (nv, batch), (ns, width))
            bufs = self._buffers.arrays = tuple(np.empty(s) for s in shapes)
        with np.errstate(all="ignore"):  # inf and nan flow on, as in eager agrad
            return self._run(a, c, batch, *bufs)


def _fit(r: Any, k: int, m: int, last: int | None) -> Any:
    """An n-ary column contribution as (k, m, last), summed over the batch when last is None."""
    np = numpy()
    if last is None:
        return np.broadcast_to(r.sum(axis=2) if r.ndim == 3 else r, (k, m))
    return np.broadcast_to(r, (k, m, last))


def _uses_g(e: Expr) -> bool:
    if isinstance(e, Sym):
        return (e.op == "slot" and e.args[0] == "g") or any(_uses_g(a) for a in e.args)
    if hasattr(e, "args"):  # a Cond
        return any(_uses_g(a) for a in e.args)
    return False


def _is_product(e: Expr, other: str) -> bool:
    """Is e exactly ``g * other`` (the form dot's rule gives each column)?"""
    if not (isinstance(e, Sym) and e.op == "mul"):
        return False
    a, b = e.args
    return _slot(a) == "g" and _slot(b) == other


def _slot(e: Expr) -> str | None:
    return str(e.args[0]) if isinstance(e, Sym) and e.op == "slot" else None


def _shared(targets: list[int], k: int, m: int) -> bool:
    first = targets[:m]
    return all(targets[i * m : (i + 1) * m] == first for i in range(k))
