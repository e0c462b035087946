"""gradcheck and gradgradcheck: they pass right derivatives and name what is wrong in wrong ones."""

from __future__ import annotations

import math
from typing import Any

import pytest

import agrad
import agrad.backprop
import agrad.transforms
from agrad import RULES, GradcheckError, Value, gradcheck, gradgradcheck
from agrad.forward import Dual
from agrad.rules import Primitive


def test_passes_on_right_derivatives_with_several_outputs() -> None:
    def f(a: Any, b: Any) -> list[Any]:
        return [agrad.exp(a) * b, agrad.tanh(a - b), a / (1.0 + b * b)]

    assert gradcheck(f, [0.3, -0.8]) is True
    assert gradgradcheck(lambda a, b: agrad.softplus(a * b) + agrad.sin(a) ** 2.0, [0.3, -0.8]) is True


def _cut(x: Any) -> Any:
    """x * x, but in reverse mode one factor is detached: the gradient comes out x, not 2x."""
    return x.detach() * x if isinstance(x, Value) else x * x


def test_names_input_mode_analytic_and_numeric() -> None:
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda a, b: a + _cut(b), [1.0, 3.0])
    e = info.value
    assert (e.input, e.output, e.mode) == (1, 0, "reverse mode (jacrev)")
    assert e.analytic == 3.0 and math.isclose(e.numeric, 6.0, rel_tol=1e-6)
    msg = str(e)
    assert "d out[0] / d input 1 (= 3.0)" in msg and "is 3.0" in msg and "central differences give 6.0" in msg


def test_each_mode_is_checked_on_its_own() -> None:
    assert gradcheck(_cut, [3.0], modes=("fwd",))  # Duals never detach, so forward mode is right
    with pytest.raises(GradcheckError, match="reverse mode"):
        gradcheck(_cut, [3.0], modes=("rev",))


def test_backward_path_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule broken in the walk that backward() and the transforms share is caught in reverse mode."""
    monkeypatch.setitem(agrad.backprop._VJP, "exp", lambda g, out, x: (g * 2.0,))
    with pytest.raises(GradcheckError, match=r"reverse mode|Value\.backward"):
        gradcheck(agrad.exp, [0.5], modes=("rev",))
    assert gradcheck(agrad.exp, [0.5], modes=("fwd",))  # forward mode uses the JVP rule, untouched


def test_gradgradcheck_catches_a_rule_right_only_to_first_order(monkeypatch: pytest.MonkeyPatch) -> None:
    # cos(x) read as a float: right in value, but invisible to a second derivative.
    def sin_vjp(g: Any, out: Any, x: Any) -> tuple[Any, ...]:
        return (g * math.cos(float(x)),)

    def sin_jvp(d: tuple[Any, ...], out: Any, x: Any) -> Any:
        return d[0] * math.cos(float(x))

    wrong = Primitive("sin", agrad.sin, sin_vjp, sin_jvp)
    monkeypatch.setitem(RULES, "sin", wrong)
    monkeypatch.setitem(agrad.backprop._VJP, "sin", sin_vjp)
    assert gradcheck(agrad.sin, [0.7])
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(agrad.sin, [0.7])
    assert info.value.analytic == 0.0 and math.isclose(info.value.numeric, -math.sin(0.7), rel_tol=1e-6)


def test_kink_disagrees_with_central_differences() -> None:
    with pytest.raises(GradcheckError, match=r"central differences give 0\.5"):
        gradcheck(agrad.relu, [0.0])
    assert gradcheck(agrad.relu, [1e-3])


def test_nan_on_both_sides_agrees_and_on_one_side_does_not() -> None:
    assert gradcheck(agrad.sqrt, [-1.0])  # nan everywhere

    def half_nan(x: Any) -> Any:
        return x * (math.nan if isinstance(x, (Value, Dual)) else 1.0)

    with pytest.raises(GradcheckError, match="is nan"):
        gradcheck(half_nan, [1.0])


def test_tolerances_are_used() -> None:
    # eps = 0.1 makes central differences of exp off by about eps^2/6 = 0.17%
    with pytest.raises(GradcheckError):
        gradcheck(agrad.exp, [0.0], eps=0.1, rtol=1e-4, atol=0.0)
    assert gradcheck(agrad.exp, [0.0], eps=0.1, rtol=1e-2)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="eps > 0"):
        gradcheck(agrad.exp, [0.0], eps=0.0)
    with pytest.raises(TypeError, match="input 0"):
        gradcheck(agrad.exp, ["0.0"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="modes"):
        gradcheck(agrad.exp, [0.0], modes=("sideways",))


def test_bad_function_or_inputs_container() -> None:
    with pytest.raises(TypeError, match="function to check"):
        gradcheck(None, [1.0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list or tuple"):
        gradcheck(agrad.exp, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fit a float"):
        gradcheck(agrad.exp, [10**400])


@pytest.mark.parametrize("check", [gradcheck, gradgradcheck])
def test_bad_arguments_are_named_by_both_checks(check: Any) -> None:
    name = check.__name__
    with pytest.raises(TypeError, match=f"{name} expects a function to check"):
        check(None, [1.0])
    with pytest.raises(TypeError, match=f"{name} expects inputs as a list or tuple"):
        check(agrad.sin, 3.0)
    with pytest.raises(ValueError, match=f"{name} needs at least one input"):
        check(agrad.sin, [])
    with pytest.raises(TypeError, match=f"{name} inputs must be real numbers or arrays, got str for input 0"):
        check(agrad.sin, ["a"])
    with pytest.raises(TypeError, match=f"{name}: eps must be a real number, got str"):
        check(agrad.sin, [1.0], eps="x")
    with pytest.raises(ValueError, match=f"{name} needs eps > 0"):
        check(agrad.sin, [1.0], rtol=-1.0)
