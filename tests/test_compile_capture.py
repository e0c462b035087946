"""What a trace may capture: every number that depends on an argument is recomputed per call, or refused.

agrad.compile runs f once on placeholders and replays the graph. A number that
depends on an argument and reaches the graph as anything but an op of it would
be frozen at the first call's value. The oracle in each test is the eager
(uncompiled) function, or a closed form, evaluated on every new input: a trace
that froze a number gives the first input's answer for the second.

- ``detach()`` and ops under ``no_grad()`` are recomputed on every call, with a
  zero gradient (JAX's ``stop_gradient``).
- ``float(v)``, ``v.data``, ``v < w`` (and ``max(v, w)``, ``math.exp(v)``, which
  use them) on a Value computed from the arguments raise ``agrad.TracingError``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import agrad
from agrad import Value
from agrad.nn import MLP

XS = [1.0, 5.0, -2.5, 0.25]


# -- recomputed on every call ------------------------------------------------------------


def test_a_no_grad_function_is_recomputed() -> None:
    f = agrad.compile(agrad.no_grad(lambda x: x * 2.0))
    assert [f(x) for x in XS] == [2.0 * x for x in XS]  # was 2.0 for every x


def test_detach_is_recomputed_with_a_zero_gradient() -> None:
    g = agrad.compile(lambda x: x * x.detach())
    assert [g(x) for x in XS] == [x * x for x in XS]  # was 9.0, 15.0: 3.0 frozen in
    vg = agrad.compile(agrad.value_and_grad(lambda x: x * x.detach()))
    # d/dx [x * stop(x)] = stop(x) = x: the detached factor has no derivative, as in torch and JAX.
    assert [vg(x) for x in XS] == [(x * x, x) for x in XS]
    eager = agrad.grad(lambda x: x * x.detach())  # a Value: agrad cannot tell a detached leaf from a parameter
    assert [float(eager(x)) for x in XS] == [vg(x)[1] for x in XS]


def test_a_with_no_grad_block_inside_f() -> None:
    def f(x: Any) -> Any:
        with agrad.no_grad():
            y = agrad.exp(x) * x  # recomputed, no gradient
        return y + x * x

    vg = agrad.compile(agrad.value_and_grad(f))
    for x in XS:
        value, grad = vg(x)
        assert value == pytest.approx(math.exp(x) * x + x * x, rel=1e-15)
        assert grad == pytest.approx(2 * x, rel=1e-15)  # the no_grad part contributes nothing
    batch = agrad.compile(f)(np.array(XS))  # the NumPy executor too
    assert batch == pytest.approx([math.exp(x) * x + x * x for x in XS], rel=1e-15)


def test_a_no_grad_mlp_inference_is_recomputed() -> None:
    model = MLP(2, [4, 1], seed=3)
    infer = agrad.compile(agrad.no_grad(lambda a, b: model([a, b])))
    for a, b in [(0.5, -1.0), (2.0, 3.0), (-0.7, 0.1)]:
        assert infer(a, b) == pytest.approx(model([a, b]).data, rel=1e-14)
    model.parameters()[0].data += 1.0  # the parameters stay live inside a no_grad block too
    assert infer(2.0, 3.0) == pytest.approx(model([2.0, 3.0]).data, rel=1e-14)


def test_a_no_grad_result_of_parameters_only_stays_live() -> None:
    w = Value(2.0)

    def f(x: Any) -> Any:
        with agrad.no_grad():
            scale = w * w  # depends on no argument, but on a live Value
        return scale * x

    c = agrad.compile(f)
    assert c(1.0) == 4.0
    w.data = 3.0
    assert c(1.0) == 9.0  # was 4.0: the product was a leaf holding the first call's number


def test_a_trace_made_inside_an_outer_no_grad_still_differentiates() -> None:
    vg = agrad.compile(agrad.value_and_grad(lambda x: x * x))
    with agrad.no_grad():
        assert vg(3.0) == (9.0, 6.0)  # the first call traces here
    assert vg(5.0) == (25.0, 10.0)


def test_a_detached_placeholder_and_nested_detach() -> None:
    f = agrad.compile(agrad.value_and_grad(lambda x, y: x.detach() * y + (x * y).detach().detach(), argnums=(0, 1)))
    for x, y in [(2.0, 3.0), (-1.0, 4.0)]:
        assert f(x, y) == (2 * x * y, (0.0, x))


# -- refused: a Python decision or a plain number taken from an argument -------------------

REFUSED = {
    "float(v)": lambda x: x if float(x * x) > 1.0 else -x,
    "v.data": lambda x: x if (x * x).data > 1.0 else -x,
    "v < 1.0": lambda x: x if x * x < 1.0 else -x,
    "1.0 < v": lambda x: x if 1.0 < x * x else -x,  # noqa: SIM300 (the reflected comparison is the case)
    "Value < v": lambda x: x if Value(1.0) < x * x else -x,
    "v < w": lambda x: x if x * 2.0 < x * x else -x,
    "max(v, w)": lambda x: max(x * x, x * 2.0),
    "math.exp(v)": lambda x: x * math.exp(x * 2.0),
    "Value(float(v))": lambda x: Value(float(x + 1.0)) * x,
    "v.data = ...": lambda x: setattr(x * 2.0, "data", 1.0),
    "jvp's float()": lambda x: float(agrad.jvp(lambda t: t * t, (x,), (1.0,))[1]) * x,
    "jvp's compare": lambda x: agrad.jvp(lambda t: t * t, (x,), (1.0,))[0] > 0.0,
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_reading_a_number_computed_from_an_argument_raises(name: str) -> None:
    with pytest.raises(agrad.TracingError, match=r"computed from the arguments|placeholder 'x'"):
        agrad.compile(REFUSED[name])(2.0)


def test_agrad_ops_in_place_of_the_decisions_compile() -> None:
    f = agrad.compile(lambda x: agrad.maximum(x * x, x * 2.0) + agrad.relu(x - 1.0))
    for x in XS:
        assert f(x) == max(x * x, x * 2.0) + max(x - 1.0, 0.0)


def test_reading_numbers_outside_a_trace_is_unchanged() -> None:
    x = Value(2.0)
    y = x * x
    assert float(y) == 4.0 and y.data == 4.0 and y > 3.0 and 5.0 > y and max(y, x) is y  # noqa: SIM300
    assert y.detach()._prev == set()
    with agrad.no_grad():
        z = x * 3.0
    assert z._prev == set() and z._op == ""


# -- compile's own settings -----------------------------------------------------------------


def test_compile_of_compile_takes_the_outer_settings() -> None:
    vg = agrad.value_and_grad(lambda w, x: w * x)
    c = agrad.compile(agrad.compile(vg, reduce="mean"), reduce=None)
    assert c.reduce is None  # was "mean", copied from the inner one's __dict__
    value, grad = c(2.0, np.array([1.0, 3.0]))
    assert value.tolist() == [2.0, 6.0] and grad.tolist() == [1.0, 3.0]  # per sample, as reduce=None says


def test_attributes_of_f_do_not_become_settings() -> None:
    def f(x: Any) -> Any:
        return x * x

    f.params = [Value(1.0)]  # type: ignore[attr-defined]
    f.spec = 3  # type: ignore[attr-defined]
    f.reduce = "sum"  # type: ignore[attr-defined]
    c = agrad.compile(f)
    assert c.params == [] and c.reduce is None
    assert c(3.0) == 9.0  # was an AttributeError: 'int' object has no attribute 'fun'
    assert f.params[0].grad == 0.0  # type: ignore[attr-defined]
    assert c.__name__ == "f" and c.__wrapped__ is f and c.__doc__ == f.__doc__


# -- keyword arguments: static, part of the call signature -----------------------------------


def test_compile_passes_keywords_as_static_arguments() -> None:
    def f(x: Any, y: Any, flag: bool = False, power: float = 2.0) -> Any:
        return x * y if flag else x**power + y

    vg = agrad.compile(agrad.value_and_grad(f, argnums=(0, 1)))
    assert vg(2.0, 3.0, flag=True) == (6.0, (3.0, 2.0))
    assert vg(2.0, 3.0) == (7.0, (4.0, 1.0))
    assert vg(2.0, 3.0, power=3.0) == (11.0, (12.0, 1.0))
    assert vg(5.0, 3.0, flag=True) == (15.0, (3.0, 5.0))
    assert len(vg.traces) == 3  # one per keyword signature; the fourth call reuses the first
    assert vg(2.0, 3.0, flag=1) == (6.0, (3.0, 2.0)) and len(vg.traces) == 4  # 1 is not True
    plain = agrad.compile(f)
    assert plain(2.0, np.array([1.0, 2.0]), flag=True).tolist() == [2.0, 4.0]


def test_an_unhashable_keyword_is_refused() -> None:
    c = agrad.compile(lambda x, scale=(1.0,): x * scale[0])
    assert c(2.0, scale=(3.0,)) == 6.0
    with pytest.raises(TypeError, match=r"keyword argument scale= is static .* must be hashable, got list"):
        c(2.0, scale=[3.0])


def test_an_array_method_on_a_traced_scalar_says_f_is_written_for_one_sample() -> None:
    # An array argument is a batch of scalars: x.sum() inside f was a bare "'Tracer' object has no attribute 'sum'".
    with pytest.raises(AttributeError, match="f must be written for one sample"):
        agrad.compile(lambda x: (x * x).sum())(np.ones(3))
    seen = []
    f = agrad.compile(lambda x: seen.append(hasattr(x, "shape")) or x * x)  # hasattr still answers False
    assert f(3.0) == 9.0 and seen == [False]
