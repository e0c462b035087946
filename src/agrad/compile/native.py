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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agrad.compile.codegen import _nary, _Templates, batched_nodes, needed
from agrad.compile.symbolic import literal, to_c
from agrad.compile.trace import Graph

log = logging.getLogger("agrad.compile")

NATIVE_MAX_NODES = 5_000
"""Larger graphs run with another executor: gcc takes 2-4 s per 1,000 nodes (and more memory)."""

OPTIMIZE_MAX_NODES = 2_000
"""Up to this size -O2; above it -O1, which compiles a long straight-line function about twice as fast."""

COMPILE_TIMEOUT = 60.0
"""Seconds the C compiler may take before the program runs with the NumPy executor instead."""

CACHE_ENV = "AGRAD_CACHE_DIR"
FLAGS = ("-shared", "-fPIC", "-ffp-contract=off", "-fno-math-errno", "-std=c99", "-Wno-psabi")
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
    global _AVAILABLE
    if _AVAILABLE is None:  # asked on every batched call: look once (PATH lookups cost microseconds)
        _AVAILABLE = importlib.util.find_spec("cffi") is not None and compiler() is not None
    return _AVAILABLE


_AVAILABLE: bool | None = None


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

/* W samples at once. A number (a parameter, a constant) meets a vector by adding -0.0 to
   each lane, exact for every double; functions run lane by lane; where is a bitwise select. */
#include <string.h>
typedef double vd __attribute__((vector_size(8 * W)));
typedef long long vl __attribute__((vector_size(8 * W)));
static const vd _NZ = {NEGZEROS};
static const vl _ZL = {0};
static inline vd _ld(const double *p) { vd r; memcpy(&r, p, sizeof r); return r; }
static inline void _st(double *p, vd v) { memcpy(p, &v, sizeof v); }
static inline double _hsum(vd v) { return HSUM; }
static inline vd _vsel(vl m, vd a, vd b) { return (vd)(((vl)a & m) | ((vl)b & ~m)); }
#define V_sel(c, a, b) _vsel((_ZL + (c)) != 0, _NZ + (a), _NZ + (b))
#define _LANES1(name, f) \\
    static inline vd name(vd x) { vd r; for (int i = 0; i < W; i++) r[i] = f(x[i]); return r; }
#define _LANES2(name, f) \\
    static inline vd name(vd x, vd y) { vd r; for (int i = 0; i < W; i++) r[i] = f(x[i], y[i]); return r; }
#define _TEST(name, f) \\
    static inline vl name(vd x) { vl r; for (int i = 0; i < W; i++) r[i] = f(x[i]) ? -1 : 0; return r; }
_LANES1(_vexp, exp) _LANES1(_vlog, log) _LANES1(_vsqrt, sqrt) _LANES1(_vtanh, tanh) _LANES1(_vsin, sin)
_LANES1(_vcos, cos) _LANES1(_vfabs, fabs) _LANES1(_vsigmoid, _sigmoid) _LANES1(_vsoftplus, _softplus)
_LANES1(_vrelu, _relu) _LANES2(_vpow, pow) _LANES2(_vmin, _min) _LANES2(_vmax, _max)
_TEST(_visfinite, isfinite) _TEST(_visnan, isnan) _TEST(_visinf, isinf)
#define V_exp(x) _vexp(_NZ + (x))
#define V_log(x) _vlog(_NZ + (x))
#define V_sqrt(x) _vsqrt(_NZ + (x))
#define V_tanh(x) _vtanh(_NZ + (x))
#define V_sin(x) _vsin(_NZ + (x))
#define V_cos(x) _vcos(_NZ + (x))
#define V_fabs(x) _vfabs(_NZ + (x))
#define V_sigmoid(x) _vsigmoid(_NZ + (x))
#define V_softplus(x) _vsoftplus(_NZ + (x))
#define V_relu(x) _vrelu(_NZ + (x))
#define V_pow(x, y) _vpow(_NZ + (x), _NZ + (y))
#define V_min(x, y) _vmin(_NZ + (x), _NZ + (y))
#define V_max(x, y) _vmax(_NZ + (x), _NZ + (y))
#define V_isfinite(x) _visfinite(_NZ + (x))
#define V_isnan(x) _visnan(_NZ + (x))
#define V_isinf(x) _visinf(_NZ + (x))
"""


_LANES: tuple[int, tuple[str, ...]] | None = None


def lanes() -> tuple[int, tuple[str, ...]]:
    """Samples per vector, and the compiler flag for it: 4 with AVX2 (-mavx2), else 2 (SSE2, NEON).

    A vector wider than the machine's registers is emulated, and slower than no vectors at all.

    >>> lanes()[0] in (2, 4)
    True
    """
    global _LANES
    if _LANES is None:
        try:
            avx2 = " avx2" in Path("/proc/cpuinfo").read_text()
        except OSError:
            avx2 = False
        _LANES = (4, ("-mavx2",)) if avx2 else (2, ())
    return _LANES


def _prelude(width: int) -> str:
    pairs = [f"v[{i}]" for i in range(width)]
    while len(pairs) > 1:  # a fixed tree of additions, the same on every call
        pairs = [f"({pairs[i]} + {pairs[i + 1]})" for i in range(0, len(pairs), 2)]
    text = _PRELUDE.replace("NEGZEROS", ", ".join(["-0.0"] * width)).replace("HSUM", pairs[0])
    return f"#define W {width}\n" + text


def _c_render(e: Any, names: dict[str, str], safe: bool) -> str:
    return to_c(e, names)


def _cv_render(e: Any, names: dict[str, str], safe: bool) -> str:
    return to_c(e, names, vector=True)


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


class _Body:
    """The per-sample statements, written twice: for a vector of samples at once (``lanes()``), and for one (the rest).

    Each statement has a scalar and a vector form of its expression. ``acc`` adds to a number
    declared before the loop (a sum over the samples); the vector loop sums into lanes
    of its own, added to the number after that loop.
    """

    def __init__(self) -> None:
        self.steps: list[tuple[str, str, str, str, str]] = []  # (kind, name, op, scalar, vector)
        self.sums: list[str] = []

    def set(self, name: str, op: str, expr: str, vexpr: str | None = None) -> None:
        self.steps.append(("set", name, op, expr, expr if vexpr is None else vexpr))

    def load(self, name: str, row: int) -> None:
        self.steps.append(("load", name, "", str(row), ""))

    def store(self, row: int, name: str) -> None:
        self.steps.append(("store", name, "", str(row), ""))

    def acc(self, name: str, expr: str, vexpr: str | None = None) -> None:
        if name not in self.sums:
            self.sums.append(name)
        self.steps.append(("acc", name, "+=", expr, expr if vexpr is None else vexpr))

    def lines(self, vector: bool) -> list[str]:
        """The loop body in C: on ``vd`` vectors of samples, or on one sample's doubles."""
        # (load, store, first assignment, accumulation) for each form
        forms = (
            ("vd {0} = _ld(A + {1} * B + b);", "_st(OB + {1} * B + b, {0});", "vd {0} = _NZ + ({1});", "_S{0}")
            if vector
            else ("double {0} = A[{1} * B + b];", "OB[{1} * B + b] = {0};", "double {0} = {1};", "{0}")
        )
        out, declared = [], set()
        for kind, name, op, expr, vexpr in self.steps:
            if kind in ("load", "store"):
                declared.add(name)
                out.append(forms[kind == "store"].format(name, expr))
                continue
            e = vexpr if vector else expr
            if kind == "acc":
                out.append(f"{forms[3].format(name)} += {e};")
            elif op == "=" and name not in declared:
                declared.add(name)
                out.append(forms[2].format(name, e))
            else:
                out.append(f"{name} {op} {e};")
        return ["        " + line for line in out]


def _assign(block: Any, line: str) -> None:
    """A ``v3 = ...`` / ``g3 += ...`` line of the Python generators, into C."""
    name, op, expr = line.strip().split(" ", 2)
    block.set(name, op, expr)


def source(g: Graph, batched: list[bool], reduce: str | None, width: int = 0) -> tuple[str, dict[str, Any]]:
    """The C source of ``run(A, B, S, OB, OS)`` for graph g, and where its results are.

    ``A`` (array arguments x B samples) holds the array arguments, ``S`` the
    number arguments, then the captured Values' numbers. ``OB`` gets what is per
    sample (rows x B), ``OS`` what is one number: outputs and gradients reduced
    over the batch, and those that depend on no array. ``reduce`` is None
    (per-sample outputs and gradients), "sum" or "mean"; ``width`` the samples per
    vector (``lanes()`` by default).

    >>> from agrad.compile.trace import Placeholder, build_graph
    >>> w, x = Placeholder(1.0, "w"), Placeholder(1.0, "x"); y = w * x
    >>> text, plan = source(build_graph([w, x], [y], root=y, wrt=[w]), [False, True], "mean", width=2)
    >>> print(text[text.index("void run") : text.index("void sgd")].strip())
    void run(const double *A, long B, const double *S, double *OB, double *OS) {
        double v0 = S[0];
        double out0 = 0.0;
        double invB = 1.0 / (double)B;
        double g0 = 0.0;
        long b = 0;
        vd _Sout0 = {0.0};
        vd _Sg0 = {0.0};
        for (; b + 2 <= B; b += 2) {
            vd v1 = _ld(A + 0 * B + b);
            vd v2 = _NZ + ((v0 * v1));
            _Sout0 += v2;
            vd g2 = _NZ + (invB);
            _Sg0 += (g2 * v1);
        }
        out0 += _hsum(_Sout0);
        g0 += _hsum(_Sg0);
        for (; b < B; b++) {
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
    width = width or lanes()[0]
    t = _Templates(safe=False, render=_c_render)
    tv = _Templates(safe=False, render=_cv_render)
    outer: set[str] = set()
    head = _Block(outer, "    ")  # before the loop
    body = _Body()  # once per sample (a vector of them at a time)
    tail = _Block(outer, "    ")  # after the loop

    # -- leaves and forward --
    na = ns = 0
    for i, b in zip(g.inputs, batched):
        if b:
            if i >= 0:
                body.load(f"v{i}", na)
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
        if op in ("sum", "dot"):
            for line in _nary(i, op, kids[i]):
                _assign(body if bat[i] else head, line)
            continue
        names = {f"x{j}": f"v{k}" for j, k in enumerate(kids[i]) if type(k) is int}
        if bat[i]:
            body.set(f"v{i}", "=", t.forward(op, kids[i]).format(**names), tv.forward(op, kids[i]).format(**names))
        else:
            head.set(f"v{i}", "=", t.forward(op, kids[i]).format(**names))

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
            body.store(rows, f"v{o}")
            outs.append(("b", rows))
            rows += 1
            continue
        value = f"v{o}"
        if bat[o]:  # the sum over the samples, in order
            head.set(f"out{j}", "=", "0.0")
            body.acc(f"out{j}", f"v{o}")
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
        (body if per_sample or bat[root] else tail).set(f"g{root}", "=", seed)
        has[root] = True
        for i in range(n - 1, -1, -1):
            if not (need[i] and ops[i] and has[i]):
                continue
            ks = kids[i]
            names = {f"x{j}": f"v{k}" for j, k in enumerate(ks) if type(k) is int}
            names.update(g=f"g{i}", out=f"v{i}")
            in_loop = per_sample or bat[i]
            for k, tmpl, vtmpl in zip(ks, t.backward(ops[i], ks), tv.backward(ops[i], ks)):
                if tmpl is None or vtmpl is None or type(k) is not int or not need[k]:
                    continue
                expr, op = tmpl.format(**names), "+=" if has[k] else "="
                if not in_loop:
                    tail.set(f"g{k}", op, expr)
                elif per_sample or bat[k]:
                    body.set(f"g{k}", op, expr, vtmpl.format(**names))
                else:  # a number node's gradient: the sum over the samples
                    body.acc(f"g{k}", expr, vtmpl.format(**names))
                has[k] = True
        for j, w in enumerate(g.wrt):
            if w < 0 or not has[w]:
                continue
            if per_sample or bat[w]:
                body.store(rows, f"g{w}")
                grads[j] = ("b", rows)
                rows += 1
            else:
                tail.put(f"OS[{slots}] = g{w}")
                grads[j] = ("s", slots)
                slots += 1

    L = [
        f"/* agrad.compile native program: {n} nodes; {' '.join(_flags(n))} */",
        _prelude(width),
        "void run(const double *A, long B, const double *S, double *OB, double *OS) {",
        *head.lines,
    ]
    if body.steps:
        L += ["    long b = 0;", *[f"    vd _S{a} = {{0.0}};" for a in body.sums]]
        L += [f"    for (; b + {width} <= B; b += {width}) {{", *body.lines(vector=True), "    }"]
        L += [f"    {a} += _hsum(_S{a});" for a in body.sums]
        L += ["    for (; b < B; b++) {", *body.lines(vector=False), "    }"]
    L += [*tail.lines, "}", _SGD, ""]
    return "\n".join(L), {"outs": outs, "grads": grads, "rows": rows, "slots": slots}


# A training step in one call: the n parameters are P (copied into S at ``at``, where run reads
# them) and their gradients are OS[g:g+n]; the update is in place, so P stays in C between
# steps. p - lr * g in double, no fused multiply-add: what SGD.step computes on each Value.
_SGD = """
void sgd(const double *A, long B, double *S, double *OB, double *OS, double *P, long n, long at, long g, double lr) {
    memcpy(S + at, P, (size_t)n * sizeof(double));
    run(A, B, S, OB, OS);
    for (long j = 0; j < n; j++) P[j] -= lr * OS[g + j];
}"""


_CDEF = """
void run(const double *A, long B, const double *S, double *OB, double *OS);
void sgd(const double *A, long B, double *S, double *OB, double *OS, double *P, long n, long at, long g, double lr);
"""
_ffi: Any = None
_lock = threading.Lock()


def _flags(nodes: int) -> tuple[str, ...]:
    return ("-O2" if nodes <= OPTIMIZE_MAX_NODES else "-O1", *FLAGS, *lanes()[1])


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
    # Loading a library runs its code: the folder is the user's alone, as any compiled-code cache should be.
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
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
        self._sgd = self._lib.sgd
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

    def sgd(self, a: list[Any], c: list[float], params: Any, lr: float, batch: int) -> list[Any]:
        """One call: the outputs at ``params``, then ``params -= lr * gradients`` in place; gives the outputs.

        ``params`` (a C-contiguous float64 array) stands for the first ``len(params)``
        captured Values, which must be what the gradients are taken with respect to,
        reduced over the batch; ``c`` holds the other captured Values' numbers.

        >>> import numpy as np
        >>> from agrad.compile.trace import Placeholder, build_graph
        >>> w, x = Placeholder(1.0, "w"), Placeholder(1.0, "x"); loss = w * w * x
        >>> p = NativeProgram(build_graph([x], [loss], root=loss, wrt=[w]), [True], "mean")
        >>> ws = np.array([3.0]); p.sgd([np.array([1.0, 2.0])], [], ws, 0.1, 2), ws  # mean of w²x is 13.5, d/dw 9
        ([13.5], array([2.1]))
        """
        return self.bind_sgd(params, batch)(a, c, lr)

    def bind_sgd(self, params: Any, batch: int) -> Callable[[Sequence[Any], list[float], float], list[Any]]:
        """``sgd`` for one parameter array and batch size, its buffers made once: ``step(a, c, lr)``.

        The buffers are reused, so one bound step must not run in two threads at once
        (it updates one parameter array in place anyway).

        >>> import numpy as np
        >>> from agrad.compile.trace import Placeholder, build_graph
        >>> w, x = Placeholder(1.0, "w"), Placeholder(1.0, "x"); loss = (w - x) ** 2
        >>> prog = NativeProgram(build_graph([x], [loss], root=loss, wrt=[w]), [True], "mean")
        >>> ws = np.array([0.0]); step = prog.bind_sgd(ws, 2)
        >>> [step([np.array([1.0, 3.0])], [], 0.25)[0] for _ in range(3)], ws  # w moves to the mean, 2
        ([5.0, 2.0, 1.25], array([1.75]))
        """
        np, n = self._np, len(params)
        if self._slice is None or self._slice[1] - self._slice[0] != n:
            raise ValueError(f"native sgd: the program's gradients are not {n} reduced numbers, one per parameter")
        arrays, numbers, outs, run = self._arrays, self._numbers, self._outs, self._sgd
        ns = len(numbers)
        A = np.empty((len(arrays), batch))
        S = np.empty(ns + len(self.graph.captured))
        OB, OS = np.empty((self._rows, batch)), np.empty(self._slots)
        buf = self._buf
        P = buf("double[]", params, require_writable=True)
        fixed = (buf("double[]", A), batch, buf("double[]", S), buf("double[]", OB), buf("double[]", OS), P)
        at = (n, ns, self._slice[0])

        def step(a: Sequence[Any], c: list[float], lr: float) -> list[Any]:
            for row, j in enumerate(arrays):  # copies in, as np.stack would, into the same buffer
                A[row] = a[j]
            if ns:
                S[:ns] = [a[j] for j in numbers]
            if c:
                S[ns + n :] = c
            run(*fixed, *at, lr)
            return [OB[j].copy() if k == "b" else OS.item(j) if k == "s" else j for k, j in outs]

        return step


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
