"""Bad input: every public function, fed junk, answers with TypeError/ValueError or an IEEE result.

Two halves:

- **Junk.** Every public callable of ``agrad`` and of its public submodules
  (found by walking ``__all__``, so a new function is covered the day it is
  exported), every public method of Value, and Value's operators are called
  with wrong types, nan, inf, -0.0, huge and tiny numbers, an int too large for
  a float, empty and mismatched sequences. Each call must return, or raise
  TypeError or ValueError (a missing file may raise OSError), within a time
  limit. Anything else (AttributeError, KeyError, OverflowError, ZeroDivisionError,
  RecursionError, a hang) is a crash from deep inside.
- **IEEE.** Every op of the test table at every combination of special values
  gives the value and gradient that PyTorch float64 gives (the C library's
  ``pow`` for real powers, where PyTorch's sqrt shortcut differs from IEEE ``pow``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import inspect
import itertools
import math
import signal
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import needs_torch
from opinfo import OPS, OpInfo

import agrad
from agrad import Value

TIME_LIMIT = 2.0  # seconds for one call; the slowest legitimate call here takes milliseconds


class Hung(BaseException):
    """Raised by the alarm; a BaseException so that no ``except Exception`` in agrad can swallow it."""


@contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Fail, instead of hanging, if the block runs longer than ``seconds`` (POSIX alarm, main thread)."""

    def on_alarm(signum: int, frame: Any) -> None:
        raise Hung(f"{what} ran for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


HUGE_INT = 10**400  # no float holds it
JUNK: list[Any] = [
    None,
    "x",
    b"\x00",
    [],
    (),
    {},
    [1.0, "a"],
    object(),
    math.nan,
    math.inf,
    -math.inf,
    -0.0,
    1e308,
    -1.7976931348623157e308,
    5e-324,
    HUGE_INT,
    -1,
    True,
    1j,
    [1.0],
    [1.0, 2.0, 3.0],
    [Value(1.0), 2.0],
    [[1.0], [2.0, 3.0]],
    lambda *a: 1.0,
    Value(math.nan),
    Value(math.inf),
]


HAS_NUMPY = importlib.util.find_spec("numpy") is not None and importlib.util.find_spec("array_api_compat") is not None
if HAS_NUMPY:  # arrays no Tensor may hold, shapes that do not fit, and Tensors where a scalar is wanted
    import numpy as np

    JUNK += [np.array(["a"]), np.array([1j]), np.array([object()]), np.ones((2, 3)), np.ones((0,)), np.array(np.nan)]
    JUNK += [agrad.Tensor([[1.0, 2.0]]), agrad.Tensor(3.0, requires_grad=True)]


def _argsets() -> list[tuple[Any, ...]]:
    sets: list[tuple[Any, ...]] = [()]
    for j in JUNK:
        sets += [(j,), (j, j), (Value(1.5), j), (j, Value(1.5)), (j, [1.0])]
    sets += [([1.0, 2.0], [1.0]), ([], []), ([Value(1.0)], [1.0, 2.0]), (lambda x: x, [1.0], [1.0, 2.0])]
    return sets


ARGSETS = _argsets()


def _public_modules() -> list[types.ModuleType]:
    mods = [agrad]
    for name in agrad.__all__:
        obj = getattr(agrad, name)
        if isinstance(obj, types.ModuleType) and hasattr(obj, "__all__"):
            mods.append(obj)
    return mods


def _public_callables() -> dict[str, Callable[..., Any]]:
    found: dict[str, Callable[..., Any]] = {}
    for mod in _public_modules():
        for name in mod.__all__:
            obj = getattr(mod, name)
            if isinstance(obj, types.ModuleType) or not callable(obj):
                continue
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                continue  # an exception type accepts anything as its message
            found[f"{mod.__name__}.{name}"] = obj
    for name, _ in inspect.getmembers(Value, callable):
        if not name.startswith("_"):
            found[f"Value(1.5).{name}"] = getattr(Value(1.5), name)
    if HAS_NUMPY:  # a Tensor's methods, and its operators, which take a Tensor, an array or a number
        for name, _ in inspect.getmembers(agrad.Tensor, callable):
            if not name.startswith("_") or name in TENSOR_OPERATORS:
                found[f"Tensor([1.5, 2.0]).{name}"] = getattr(agrad.Tensor([1.5, 2.0], requires_grad=True), name)
    return found


TENSOR_OPERATORS = {"__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__"}
TENSOR_OPERATORS |= {"__rtruediv__", "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__getitem__", "__lt__"}
TENSOR_OPERATORS |= {"__eq__", "__len__", "__float__", "__bool__", "__iter__"}


PUBLIC = _public_callables()


def _allowed(qualname: str) -> tuple[type[BaseException], ...]:
    # load and save take a path: a junk string is a missing file, and OSError is the honest answer
    if qualname.rsplit(".", 1)[-1] in ("load", "save"):
        return (TypeError, ValueError, OSError)
    if qualname.endswith("__getitem__"):  # an index out of range is an IndexError, which iteration relies on
        return (TypeError, ValueError, IndexError)
    return (TypeError, ValueError)


def _call(qualname: str, fn: Callable[..., Any], args: tuple[Any, ...], failures: list[str], depth: int = 0) -> str:
    """Call fn(*args) under the time limit: "ok", "refused" (an allowed error) or "failed" (noted in failures)."""
    what = f"{qualname}{_show(args)}"
    try:
        with time_limit(TIME_LIMIT, what):
            out = fn(*args)
    except _allowed(qualname):
        return "refused"
    except Hung as e:
        failures.append(f"{what}: hung ({e})")
        return "failed"
    except BaseException as e:
        where = _innermost(e)
        failures.append(f"{what}: {type(e).__name__}: {str(e)[:200]} (raised at {where})")
        return "failed"
    # a transform returns a function: feed that junk as well
    if depth == 0 and callable(out) and not isinstance(out, (Value, type)) and inspect.isfunction(out):
        for inner in [(), ("x",), (None,), (math.nan,), (HUGE_INT,), ([],), (1.0, 2.0, 3.0)]:
            _call(f"{what}(...)", out, inner, failures, depth + 1)
    return "ok"


def _show(args: tuple[Any, ...]) -> str:
    return "(" + ", ".join("10**400" if a is HUGE_INT else repr(a)[:40] for a in args) + ")"


def _innermost(e: BaseException) -> str:
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else "?"


def test_the_public_api_is_covered() -> None:
    """The walk finds the API, so a test below exists for each function exported."""
    for name in ("agrad.Value", "agrad.backward", "agrad.exp", "agrad.sum", "agrad.dot", "Value(1.5).backward"):
        assert name in PUBLIC
    assert len(PUBLIC) >= 40


# Known failures in modules owned by other issues, reported to their owners. strict=True: the day
# one is fixed, its XPASS fails the run, and the entry must go.
KNOWN: dict[str, str] = {}


def _params() -> list[Any]:
    return [
        pytest.param(q, marks=pytest.mark.xfail(strict=True, reason=KNOWN[q])) if q in KNOWN else q
        for q in sorted(PUBLIC)
    ]


@pytest.mark.parametrize("qualname", _params())
def test_public_function_with_junk(qualname: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a junk argument taken as a file name lands here
    failures: list[str] = []
    for args in ARGSETS:
        _call(qualname, PUBLIC[qualname], args, failures)
        if failures and "hung" in failures[-1]:
            break  # one hang is enough to report, and more would only eat memory and time
    assert not failures, f"{len(failures)} calls crashed or hung:\n" + "\n".join(failures[:20])


def _instances() -> dict[str, Any]:
    """A model and an optimizer of each kind, whose methods get the same junk."""
    model = agrad.nn.MLP(2, [3, 1], seed=0)
    found: dict[str, Any] = {"MLP": model, "Layer": agrad.nn.Layer(2, 2, seed=0), "Neuron": agrad.nn.Neuron(2, seed=0)}
    for name in agrad.optim.__all__:
        cls = getattr(agrad.optim, name)
        if inspect.isclass(cls) and name != "Optimizer":
            found[name] = cls(model.parameters())
    return found


@pytest.mark.parametrize("name", sorted(_instances()))
def test_instance_methods_with_junk(name: str) -> None:
    """Calling a model or an optimizer, and each public method, with junk; a refused call changes nothing."""
    obj = _instances()[name]
    model = obj if isinstance(obj, agrad.nn.Module) else None
    methods = {"__call__": obj} if callable(obj) else {}
    methods |= {m: getattr(obj, m) for m in dir(obj) if not m.startswith("_") and inspect.ismethod(getattr(obj, m))}
    argsets = list(ARGSETS)
    if model is not None:  # state dicts that are right up to one key: a partial load would show
        new = {k: 7.0 for k in model.state_dict()}
        last = list(new)[-1]
        argsets += [({**new, last: "x"},), ({**new, last: None},), ({**new, "extra": 1.0},), ({last: 7.0},)]
    failures: list[str] = []
    for m, fn in methods.items():
        for args in argsets:
            before = model.state_dict() if model is not None else {}
            outcome = _call(f"{name}.{m}", fn, args, failures)
            if model is not None and outcome == "refused":
                after = model.state_dict()
                if after.keys() != before.keys() or not all(_same(after[k], before[k], True) for k in after):
                    failures.append(f"{name}.{m}{_show(args)} was refused but changed the model")
    assert not failures, f"{len(failures)} calls crashed, hung or half-changed the model:\n" + "\n".join(failures[:20])


@pytest.mark.parametrize(
    "name", [n for n in agrad.optim.__all__ if n != "Optimizer" and inspect.isclass(getattr(agrad.optim, n))]
)
def test_optimizer_hyperparameters_with_junk(name: str) -> None:
    """Each keyword of each optimizer (lr, momentum, betas, eps, ...) given junk, nan, inf, -0.0, 10**400."""
    cls = getattr(agrad.optim, name)
    params = agrad.nn.MLP(2, [3, 1], seed=0).parameters()
    failures: list[str] = []
    for kw in list(inspect.signature(cls).parameters)[1:]:
        for j in JUNK:
            _call(f"agrad.optim.{name}(params, {kw}=...)", lambda j=j, kw=kw: cls(params, **{kw: j}), (), failures)
    assert not failures, "\n".join(failures[:20])


BINARY_OPERATORS = ["+", "-", "*", "/", "**", "<", "<=", ">", ">="]


@pytest.mark.parametrize("op", BINARY_OPERATORS)
def test_value_operators_with_junk(op: str) -> None:
    """Value <op> junk and junk <op> Value: TypeError for non-numbers, a float result for numbers."""
    for j in JUNK:
        for src in ("a {op} b", "b {op} a"):
            code = src.format(op=op)
            try:
                with time_limit(TIME_LIMIT, code):
                    out = eval(code, {"a": Value(1.5), "b": j})
            except (TypeError, ValueError):
                continue
            is_number = isinstance(j, (int, float, Value)) and not isinstance(j, complex)
            assert is_number, f"{code} with b={j!r} gave {out!r} instead of TypeError"
            result = out if isinstance(out, bool) else out.data
            assert isinstance(result, (bool, float)), f"{code} with b={j!r} gave {out!r}"


def test_empty_and_mismatched_sequences() -> None:
    assert agrad.sum([]) == 0.0  # the empty sum, as in Python, NumPy and PyTorch
    assert agrad.dot([], []) == 0.0
    with pytest.raises(ValueError, match="same length"):
        agrad.dot([Value(1.0), Value(2.0)], [1.0])
    with pytest.raises(ValueError, match="same length"):
        agrad.dot([], [Value(1.0)])
    with pytest.raises(ValueError):
        agrad.jvp(lambda x, y: x * y, (1.0, 2.0), (1.0,))
    with pytest.raises((TypeError, ValueError)):
        agrad.grad(lambda x: x, argnums=3)(1.0)


def test_huge_int_says_so() -> None:
    """An int beyond every float is a ValueError saying why, not Python's bare OverflowError."""
    for make in (lambda: Value(HUGE_INT), lambda: Value(1.0) + HUGE_INT, lambda: agrad.exp(HUGE_INT)):
        with pytest.raises(ValueError, match=r"too large|fit a float"):
            make()


# -- IEEE special values, op by op, against PyTorch ---------------------------------

SPECIAL = [
    math.nan,
    math.inf,
    -math.inf,
    0.0,
    -0.0,
    5e-324,
    2.2250738585072014e-308,
    1e-300,
    1e300,
    1.7976931348623157e308,
    -1e300,
    1.0,
    -1.0,
    0.5,
    -2.5,
]


def _same(a: float, b: float, zero_sign: bool) -> bool:
    """Equal as IEEE doubles to 4 ulp; nan equals nan; optionally the sign of zero must match."""
    if a != a or b != b:
        return a != a and b != b
    if a == b:
        return not zero_sign or a != 0 or math.copysign(1.0, a) == math.copysign(1.0, b)
    if math.isinf(a) or math.isinf(b):
        return False
    return abs(a - b) <= 4 * math.ulp(max(abs(a), abs(b)))


def _c_pow_reference(x: float, c: float) -> tuple[float, float]:
    """x ** c and its derivative c * x ** (c - 1) with the C library's pow (C99 Annex F, IEEE 754).

    Called through ctypes: Python's math.pow raises where C returns inf, and
    NumPy and PyTorch take a sqrt shortcut for c = 0.5 that gives nan at -inf.
    """
    pow_ = ctypes.CDLL(ctypes.util.find_library("m")).pow
    pow_.restype, pow_.argtypes = ctypes.c_double, [ctypes.c_double, ctypes.c_double]
    return pow_(x, c), c * pow_(x, c - 1)


def _special_cases(info: OpInfo) -> list[tuple[float, ...]]:
    slots = info.slots * 2 if info.nary else info.slots
    pools = [s.pool if s.const == "must" else SPECIAL for s in slots]
    return list(itertools.product(*pools))


@needs_torch
@pytest.mark.parametrize("info", OPS, ids=[info.id for info in OPS])
def test_special_values_match_ieee(info: OpInfo) -> None:
    import torch

    slots = info.slots * 2 if info.nary else info.slots
    live = [s.const != "must" for s in slots]
    bad: list[str] = []
    for args in _special_cases(info):
        xs = [Value(a) if on else a for a, on in zip(args, live)]
        out = info.agrad(*xs)
        out.backward()
        got = [out.data] + [x.grad for x in xs if isinstance(x, Value)]
        if info.id == "**[real]":
            want = list(_c_pow_reference(*args))
        else:
            ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) if on else a for a, on in zip(args, live)]
            t = info.torch(*ts)
            t.backward()
            want = [t.item()] + [0.0 if x.grad is None else x.grad.item() for x in ts if isinstance(x, torch.Tensor)]
        # relu(-0.0): PyTorch keeps -0.0, agrad gives 0.0; IEEE maxNum allows either. Gradient zeros are unsigned.
        zero_sign = [info.name != "relu"] + [False] * (len(got) - 1)
        if not all(_same(g, w, z) for g, w, z in zip(got, want, zero_sign)):
            bad.append(f"{info.id}{args}: agrad {got}, reference {want}")
        # agrad's functions take floats too (floats in, float out): the same kernel without a graph
        if info.render(["a", "b"]).startswith("agrad."):
            plain = info.agrad(*args)
            if not isinstance(plain, float) or not _same(plain, out.data, True):
                bad.append(f"{info.id}{args} on floats gave {plain!r}, on Values {out.data!r}")
    assert not bad, f"{len(bad)} mismatches:\n" + "\n".join(bad[:20])


def test_time_limit_catches_a_hang() -> None:
    """The guard itself works: a loop that never ends is stopped and reported."""
    with pytest.raises(Hung), time_limit(0.2, "an endless loop"):
        while True:
            pass
