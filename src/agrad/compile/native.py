"""The native executor: a traced graph compiled to machine code, the loop over the batch inside.

The generated code is the per-sample straight-line program of ``codegen`` (one
line per node, one per gradient contribution, both from the rule table),
written in C and wrapped in one loop over the samples, so a whole batch is one call:

* nodes that depend on no array argument (a model's parameters and what is
  made from them) are computed once, before the loop;
* with ``reduce="sum" | "mean"`` their gradients are summed in the loop as
  the samples contribute, and their part of backward runs once, after it;
  with ``reduce=None`` every sample runs all of backward (per-sample gradients).

Why C and not numba: numba took 27 s to compile the 411-node program of
micrograd's demo step (its SSA pass is quadratic in the gradient variables
that are added to more than once); the system C compiler takes about a second.
The C is compiled with IEEE semantics (no ``-ffast-math``, no contraction into
fused multiply-adds), so it computes what eager agrad's kernels compute.

Compiling takes about a second, so the shared library is kept under
``cache_dir()``, named by the hash of its source (which names the flags): the
next process that needs the same program loads it at once. A program too large
for the compiler in reasonable time (more than ``NATIVE_MAX_NODES`` nodes, or a
compile slower than ``COMPILE_TIMEOUT`` seconds), or a failed compile, runs with
the executor "auto" would pick without native code (NumPy for batches, Python
for numbers), with a debug log on the ``agrad.compile`` logger saying why.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from agrad.compile.codegen import _nary, _Templates, batched_nodes, needed
from agrad.compile.symbolic import literal, to_c
from agrad.compile.trace import Graph

log = logging.getLogger("agrad.compile")

NATIVE_MAX_NODES = 10_000
"""Larger graphs run with another executor: gcc takes about 2 s per 1,000 nodes (and more memory)."""

OPTIMIZE_MAX_NODES = 2_000
"""Up to this size -O2; above it -O1, which compiles a long straight-line function about twice as fast."""

COMPILE_TIMEOUT = 60.0
"""Seconds the C compiler may take before the program runs with the NumPy executor instead."""

CACHE_ENV = "AGRAD_CACHE_DIR"
FLAGS = ("-shared", "-fPIC", "-ffp-contract=off", "-fno-math-errno", "-std=c99")
# -ffp-contract=off: a*b + c stays two roundings, as in Python; -fno-math-errno only stops
# setting errno (sqrt(-1) is nan either way); never -ffast-math, which would drop inf and nan.


def compiler() -> str | None:
    """The C compiler the native executor uses: ``$CC``, else cc, gcc or clang on the PATH.

    >>> compiler() is None or os.path.isabs(compiler())
    True
    """
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name:
            path = shutil.which(name)
            if path:
                return path
    return None


def available() -> bool:
    """Whether the native executor can run here: cffi (``pip install "agrad[native]"``) and a C compiler.

    >>> isinstance(available(), bool)
    True
    """
    return importlib.util.find_spec("cffi") is not None and compiler() is not None


def cache_dir() -> Path:
    """Where compiled programs are kept: ``$AGRAD_CACHE_DIR``, else the user's cache folder.

    >>> import os; os.environ["AGRAD_CACHE_DIR"] = "/tmp/agrad-doc"; str(cache_dir())
    '/tmp/agrad-doc'
    >>> del os.environ["AGRAD_CACHE_DIR"]
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "agrad" / "native"


# The helpers the templates call, written after agrad's kernels (kernels.py) in C; the
# tests compare every op, IEEE edges included, with eager agrad, so the two cannot drift apart.
_PRELUDE = """\
#include <math.h>
#define _inf INFINITY
#define _nan NAN
#define _isfinite isfinite
#define _isnan isnan
#define _isinf isinf
static inline double _relu(double x) { return (x > 0.0 || x != x) ? x : 0.0; }
static inline double _sigmoid(double x) {
    if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}
static inline double _softplus(double x) {
    if (x != x) return NAN;
    return (0.0 > x ? 0.0 : x) + log1p(exp(-fabs(x)));
}
/* Python's min and max: the first argument unless the second is strictly beyond it; nan if either is. */
static inline double _min(double a, double b) { return (a == a && b == b) ? (b < a ? b : a) : NAN; }
static inline double _max(double a, double b) { return (a == a && b == b) ? (b > a ? b : a) : NAN; }
"""


def _c_render(e: Any, names: dict[str, str], safe: bool) -> str:
    return to_c(e, names)


class _Block:
    """C statements of one scope; a name's first assignment in the function declares it."""

    def __init__(self, declared: set[str], indent: str) -> None:
        self.lines: list[str] = []
        self.declared, self.indent = declared, indent

    def set(self, name: str, op: str, expr: str) -> None:
        if op == "=" and name not in self.declared:
            self.declared.add(name)
            self.lines.append(f"{self.indent}double {name} = {expr};")
        else:
            self.lines.append(f"{self.indent}{name} {op} {expr};")

    def put(self, line: str) -> None:
        self.lines.append(f"{self.indent}{line};")


def _assign(block: _Block, line: str) -> None:
    """A ``v3 = ...`` / ``g3 += ...`` line of the Python generators, into C."""
    name, op, expr = line.strip().split(" ", 2)
    block.set(name, op, expr)


def source(g: Graph, batched: list[bool], reduce: str | None) -> tuple[str, dict[str, Any]]:
    """The C source of ``run(A, B, S, OB, OS)`` for graph g, and where its results are.

    ``A`` (array arguments x B samples) holds the array arguments, ``S`` the
    number arguments, then the captured Values' numbers. ``OB`` gets what is per
    sample (rows x B), ``OS`` what is one number: outputs and gradients reduced
    over the batch, and those that depend on no array. ``reduce`` is None
    (per-sample outputs and gradients), "sum" or "mean".

    >>> from agrad.compile.trace import Placeholder, build_graph
    >>> w, x = Placeholder(1.0, "w"), Placeholder(1.0, "x"); y = w * x
    >>> text, plan = source(build_graph([w, x], [y], root=y, wrt=[w]), [False, True], "mean")
    >>> print(text[text.index("void run"):].strip())
    void run(const double *A, long B, const double *S, double *OB, double *OS) {
        double v0 = S[0];
        double out0 = 0.0;
        double invB = 1.0 / (double)B;
        double g0 = 0.0;
        for (long b = 0; b < B; b++) {
            double v1 = A[0 * B + b];
            double v2 = (v0 * v1);
            out0 += v2;
            double g2 = invB;
            g0 += (g2 * v1);
        }
        OS[0] = out0 / (double)B;
        OS[1] = g0;
    }
    >>> plan["outs"], plan["grads"]  # (where, index): both in OS, reduced over the batch
    ([('s', 0)], [('s', 1)])
    """
    n = len(g)
    ops, kids = g.ops, g.kids
    bat = batched_nodes(g, batched)
    per_sample = reduce is None
    t = _Templates(safe=False, render=_c_render)
    outer: set[str] = set()
    head = _Block(outer, "    ")  # before the loop
    body = _Block(set(outer), "        ")  # once per sample; sees the names declared before it
    tail = _Block(outer, "    ")  # after the loop

    # -- leaves and forward --
    na = ns = 0
    for i, b in zip(g.inputs, batched):
        if b:
            if i >= 0:
                body.set(f"v{i}", "=", f"A[{na} * B + b]")
            na += 1
        else:
            if i >= 0:
                head.set(f"v{i}", "=", f"S[{ns}]")
            ns += 1
    for j, i in enumerate(g.captured_nodes):
        head.set(f"v{i}", "=", f"S[{ns + j}]")
    for i, op in enumerate(ops):
        if not op:
            continue
        block = body if bat[i] else head
        if op in ("sum", "dot"):
            for line in _nary(i, op, kids[i]):
                _assign(block, line)
        else:
            names = {f"x{j}": f"v{k}" for j, k in enumerate(kids[i]) if type(k) is int}
            block.set(f"v{i}", "=", t.forward(op, kids[i]).format(**names))

    # -- outputs: per sample into rows of OB; reduced over the batch, or numbers, into OS --
    rows = slots = 0
    outs: list[tuple[str, Any]] = []
    for j, o in enumerate(g.outputs):
        if type(o) is not int and per_sample:
            outs.append(("c", float(o)))
            continue
        if type(o) is not int:  # a constant output, summed over the batch or not
            tail.put(f"OS[{slots}] = {literal(float(o))}{' * (double)B' if reduce == 'sum' else ''}")
            outs.append(("s", slots))
            slots += 1
            continue
        if per_sample and bat[o]:
            body.put(f"OB[{rows} * B + b] = v{o}")
            outs.append(("b", rows))
            rows += 1
            continue
        value = f"v{o}"
        if bat[o]:  # the sum over the samples, in order
            head.set(f"out{j}", "=", "0.0")
            body.put(f"out{j} += v{o}")
            value = f"out{j} / (double)B" if reduce == "mean" else f"out{j}"
        elif reduce == "sum":  # one number for every sample
            value = f"v{o} * (double)B"
        tail.put(f"OS[{slots}] = {value}")
        outs.append(("s", slots))
        slots += 1

    # -- backward --
    root = g.root
    need = needed(g) if type(root) is int else [False] * n
    has = [False] * n
    grads: list[tuple[str, Any]] = [("c", 0.0) for _ in g.wrt]
    if type(root) is int and need[root]:
        if per_sample:
            seed = "1.0"
        elif bat[root]:
            seed = "invB" if reduce == "mean" else "1.0"
        else:  # one number for the whole batch: it counts B times in a sum
            seed = "(double)B" if reduce == "sum" else "1.0"
        if seed == "invB":
            head.set("invB", "=", "1.0 / (double)B")
        if not per_sample:
            # Number nodes that batched nodes feed: their gradients are sums over the samples,
            # begun before the loop; their own part of backward runs once, after it.
            for i in range(n):
                if need[i] and bat[i] and ops[i]:
                    for k in kids[i]:
                        if type(k) is int and need[k] and not bat[k] and not has[k]:
                            head.set(f"g{k}", "=", "0.0")
                            has[k] = True
            body.declared |= outer
        (body if per_sample or bat[root] else tail).set(f"g{root}", "=", seed)
        has[root] = True
        for i in range(n - 1, -1, -1):
            if not (need[i] and ops[i] and has[i]):
                continue
            ks = kids[i]
            names = {f"x{j}": f"v{k}" for j, k in enumerate(ks) if type(k) is int}
            names.update(g=f"g{i}", out=f"v{i}")
            block = body if per_sample or bat[i] else tail
            for k, tmpl in zip(ks, t.backward(ops[i], ks)):
                if tmpl is None or type(k) is not int or not need[k]:
                    continue
                block.set(f"g{k}", "+=" if has[k] else "=", tmpl.format(**names))
                has[k] = True
        for j, w in enumerate(g.wrt):
            if w < 0 or not has[w]:
                continue
            if per_sample or bat[w]:
                body.put(f"OB[{rows} * B + b] = g{w}")
                grads[j] = ("b", rows)
                rows += 1
            else:
                tail.put(f"OS[{slots}] = g{w}")
                grads[j] = ("s", slots)
                slots += 1

    L = [
        f"/* agrad.compile native program: {n} nodes; {' '.join(_flags(n))} */",
        _PRELUDE,
        "void run(const double *A, long B, const double *S, double *OB, double *OS) {",
        *head.lines,
    ]
    if body.lines:
        L += ["    for (long b = 0; b < B; b++) {", *body.lines, "    }"]
    L += [*tail.lines, "}", ""]
    return "\n".join(L), {"outs": outs, "grads": grads, "rows": rows, "slots": slots}


_CDEF = "void run(const double *A, long B, const double *S, double *OB, double *OS);"
_ffi: Any = None
_lock = threading.Lock()


def _flags(nodes: int) -> tuple[str, ...]:
    return ("-O2" if nodes <= OPTIMIZE_MAX_NODES else "-O1", *FLAGS)


def _build(text: str, n: int) -> Path:
    """The shared library for this source: from the cache, or compiled and stored there atomically."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    folder = cache_dir()
    lib = folder / f"agrad_native_{digest}.so"
    if lib.exists():
        return lib
    cc = compiler()
    if cc is None:
        raise OSError("no C compiler (cc, gcc or clang; or set $CC)")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".build-") as tmp:
        c_file = Path(tmp) / "program.c"
        c_file.write_text(text)
        out = Path(tmp) / lib.name
        done = subprocess.run(
            [cc, *_flags(n), "-o", str(out), str(c_file), "-lm"],
            capture_output=True,
            text=True,
            timeout=COMPILE_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise OSError(f"{cc} failed: {done.stderr.strip()[:2000]}")
        os.replace(out, lib)  # atomic: another process sees no library or a whole one
    return lib


class NativeProgram:
    """A graph compiled to machine code; call it with numbers, or arrays of a batch B.

    ``batched[i]`` says whether argument i is an array (a row of the batch) or a
    number; ``reduce`` is None (per-sample gradients), "sum" or "mean".

    >>> import numpy as np
    >>> from agrad.compile.trace import Placeholder, build_graph
    >>> w, x = Placeholder(1.0, "w"), Placeholder(1.0, "x"); y = w * x
    >>> p = NativeProgram(build_graph([w, x], [y * y], root=y * y, wrt=[w]), [False, True], None)
    >>> outs, (dw,) = p([3.0, np.array([1.0, 2.0, 0.5])], [], 3)  # d(w²x²)/dw = 2wx², per sample
    >>> outs[0].tolist(), dw.tolist()
    ([9.0, 36.0, 2.25], [6.0, 24.0, 1.5])
    """

    def __init__(self, g: Graph, batched: list[bool], reduce: str | None) -> None:
        global _ffi
        import numpy as np

        t0 = time.perf_counter()
        self.graph = g
        self.batched = list(batched)
        self._arrays = [j for j, b in enumerate(batched) if b]
        self._numbers = [j for j, b in enumerate(batched) if not b]
        self.text, plan = source(g, self.batched, reduce)
        self.path = _build(self.text, len(g))
        with _lock:
            if _ffi is None:
                import cffi  # type: ignore[import-untyped]

                ffi = cffi.FFI()
                ffi.cdef(_CDEF)
                _ffi = ffi
        self._lib = _ffi.dlopen(str(self.path))
        self._run = self._lib.run
        self._buf = _ffi.from_buffer
        self.seconds = time.perf_counter() - t0
        self._np = np
        self._rows: int = plan["rows"]
        self._slots: int = plan["slots"]
        self._outs: list[tuple[str, Any]] = plan["outs"]
        self._grads: list[tuple[str, Any]] = plan["grads"]
        self._empty = np.empty(0)
        self.reduces_outputs = reduce is not None  # sums (averages) the outputs over the batch itself
        s = [j for k, j in self._grads if k == "s"]
        every = len(s) == len(self._grads) and s == list(range(s[0], s[0] + len(s))) if s else False
        # A model's parameters: every gradient a reduced number, in consecutive slots; one slice.
        self._slice = (s[0], s[0] + len(s)) if every else None

    def __call__(self, a: list[Any], c: list[float], batch: int = 1) -> tuple[list[Any], list[Any]]:
        np = self._np
        A = np.stack([a[j] for j in self._arrays]) if self._arrays else self._empty  # a fresh C-ordered copy
        S = np.array([a[j] for j in self._numbers] + c if self._numbers else c, dtype=np.float64)
        OB = np.empty((self._rows, batch))
        OS = np.empty(self._slots)
        buf = self._buf
        self._run(buf("double[]", A), batch, buf("double[]", S), buf("double[]", OB), buf("double[]", OS))
        os_ = OS.tolist()
        outs = [OB[j] if k == "b" else os_[j] if k == "s" else j for k, j in self._outs]
        if self._slice is not None:
            return outs, os_[self._slice[0] : self._slice[1]]
        return outs, [OB[j] if k == "b" else os_[j] if k == "s" else j for k, j in self._grads]


def program(g: Graph, batched: tuple[bool, ...], reduce: str | None) -> NativeProgram | None:
    """The native program for g, or None (with a debug log saying why) where it cannot be built.

    >>> from agrad.compile.trace import Placeholder, build_graph
    >>> x = Placeholder(2.0, "x"); p = program(build_graph([x], [x * x]), (False,), "sum")
    >>> p([3.0], [])
    ([9.0], [])
    """
    if len(g) > NATIVE_MAX_NODES:
        log.debug(
            "native executor: %d nodes is more than NATIVE_MAX_NODES (%d), too long to compile; "
            "falling back to the NumPy executor (the Python one for numbers)",
            len(g),
            NATIVE_MAX_NODES,
        )
        return None
    try:
        prog = NativeProgram(g, list(batched), reduce)
    except subprocess.TimeoutExpired:
        log.debug(
            "native executor: the C compiler took over %s s for %d nodes; falling back to NumPy (Python for numbers)",
            COMPILE_TIMEOUT,
            len(g),
        )
        return None
    except (OSError, ImportError) as e:
        log.debug("native executor unavailable (%s); falling back to NumPy (Python for numbers)", e)
        return None
    log.debug("native executor: %d nodes compiled or loaded from %s in %.3f s", len(g), prog.path, prog.seconds)
    return prog
