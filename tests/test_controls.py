"""PyTorch-style controls: backward(create_graph=True), no_grad, detach, hooks and detect_anomaly."""

from __future__ import annotations

import inspect
import math
import os
import threading
from typing import Any

import pytest
from conftest import needs_torch

import agrad
from agrad import Value, detect_anomaly, enable_grad, is_grad_enabled, no_grad
from agrad.modes import mode

HERE = os.path.abspath(__file__)


def _line() -> int:
    """The caller's line number."""
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno


# -- higher order through backward(create_graph=True) ---------------------------------


def test_create_graph_gives_value_grads_to_third_order() -> None:
    x = Value(0.5)
    y = agrad.sin(x) * x
    y.backward(create_graph=True)
    g1 = x.grad
    assert isinstance(g1, Value)
    assert math.isclose(g1.data, math.cos(0.5) * 0.5 + math.sin(0.5), rel_tol=1e-15)
    x.zero_grad()
    g1.backward(create_graph=True)
    g2 = x.grad  # -x sin x + 2 cos x
    assert math.isclose(g2.data, -0.5 * math.sin(0.5) + 2 * math.cos(0.5), rel_tol=1e-15)
    x.zero_grad()
    g2.backward()
    assert math.isclose(x.grad, -0.5 * math.cos(0.5) - 3 * math.sin(0.5), rel_tol=1e-14)


@pytest.mark.parametrize("scope", [no_grad, enable_grad, detect_anomaly])
def test_decorating_a_non_function_is_a_type_error_at_once(scope: Any) -> None:
    with pytest.raises(TypeError, match="decorates a function, got int: 3"):
        scope()(3)
    with pytest.raises(TypeError, match="decorates a function, got str"):
        no_grad("f")  # type: ignore[call-overload]


def test_create_graph_records_even_inside_no_grad() -> None:
    # As torch: backward(create_graph=True) under no_grad still gives a differentiable gradient.
    x = Value(3.0)
    y = x * x * x
    with no_grad():
        y.backward(create_graph=True)
    g = x.grad  # 3 x^2
    assert isinstance(g, Value) and g.data == 27.0
    x.zero_grad()
    g.backward()
    assert x.grad == 18.0  # 6 x


def test_create_graph_agrees_with_grad_transform() -> None:
    def f(a: Any, b: Any) -> Any:
        return agrad.exp(a * b) / (1.0 + a * a) + agrad.log(b)

    a, b = Value(0.3), Value(1.7)
    f(a, b).backward(create_graph=True)
    ga = a.grad
    a.zero_grad()
    b.zero_grad()
    ga.backward()
    assert math.isclose(a.grad, agrad.grad(agrad.grad(f, 0), 0)(0.3, 1.7), rel_tol=1e-13)
    assert math.isclose(b.grad, agrad.grad(agrad.grad(f, 0), 1)(0.3, 1.7), rel_tol=1e-13)


@needs_torch
def test_create_graph_matches_torch_second_order() -> None:
    torch = pytest.importorskip("torch")

    def f(a: Any, b: Any, m: Any) -> Any:
        return m.tanh(a * b) * m.sigmoid(b - a) + (a * a + 1.0) ** 0.5 * m.sin(b)

    xs = [0.4, -1.3]
    ta = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in xs]
    (tga, tgb) = torch.autograd.grad(f(*ta, torch), ta, create_graph=True)
    want = [torch.autograd.grad(g, ta, retain_graph=True) for g in (tga, tgb)]
    va = [Value(v) for v in xs]
    f(*va, agrad).backward(create_graph=True)
    firsts = [v.grad for v in va]
    assert all(math.isclose(g.data, t.item(), rel_tol=1e-13) for g, t in zip(firsts, (tga, tgb)))
    for i, g in enumerate(firsts):
        for v in va:
            v.zero_grad()
        g.backward()
        for j, v in enumerate(va):
            assert math.isclose(v.grad, want[i][j].item(), rel_tol=1e-12, abs_tol=1e-15)


# -- no_grad ---------------------------------------------------------------------------


def test_no_grad_nests_and_restores() -> None:
    x = Value(2.0)
    with no_grad():
        assert not is_grad_enabled()
        with no_grad():
            y = x * x
        assert not is_grad_enabled()
        with enable_grad():
            z = x * x
        w = x * x
    assert is_grad_enabled()
    assert y._prev == set() and w._prev == set() and z._prev == {x}
    assert y.data == 4.0


def test_no_grad_restores_after_an_exception() -> None:
    with pytest.raises(RuntimeError), no_grad():
        raise RuntimeError
    assert is_grad_enabled()


def test_no_grad_as_decorator_with_and_without_parentheses() -> None:
    @no_grad()
    def f(v: Value) -> Value:
        assert not is_grad_enabled()
        return v * 2.0

    @no_grad
    def g(v: Value) -> Value:
        return v * 3.0

    x = Value(1.0)
    assert f(x)._prev == set() and g(x)._prev == set()
    assert f.__name__ == "f" and is_grad_enabled()


def test_no_grad_is_thread_local() -> None:
    inside, go = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def worker() -> None:
        inside.wait()
        seen["enabled"] = is_grad_enabled()
        seen["prev"] = (Value(1.0) * 2.0)._prev
        go.set()

    t = threading.Thread(target=worker)
    t.start()
    with no_grad():
        inside.set()
        go.wait(5)
    t.join(5)
    assert seen["enabled"] is True and len(seen["prev"]) == 1


def test_one_no_grad_object_shared_by_threads() -> None:
    """Each thread gets back its own flags, even when the threads interleave on one scope object."""
    scope = no_grad()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, int] = {}

    def a() -> None:
        with detect_anomaly():  # thread a's flags differ from thread b's
            before = mode.flags
            with scope:
                a_in.set()
                b_in.wait(5)
            a_out.set()  # a leaves the scope first, while b is still inside it
            seen["a"] = mode.flags - before  # 0 if a got its own flags back

    def b() -> None:
        a_in.wait(5)
        with scope:
            b_in.set()
            a_out.wait(5)
        seen["b"] = mode.flags

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"a": 0, "b": 0}


# -- detach ----------------------------------------------------------------------------


def test_detach_stops_the_gradient() -> None:
    x = Value(3.0, label="x")
    d = x.detach()
    assert d is not x and d.data == 3.0 and d._prev == set() and d.label == "x"
    y = d * x  # only the live factor carries gradient: d/dx = d = 3, not 2x = 6
    y.backward()
    assert x.grad == 3.0 and d.grad == 3.0


# -- hooks -----------------------------------------------------------------------------


def test_hook_sees_and_replaces_the_gradient() -> None:
    x = Value(2.0)
    h = x * 3.0
    seen: list[Any] = []
    h.register_hook(lambda g: seen.append(g))  # returns None: the gradient is unchanged
    h.register_hook(lambda g: g * 10.0)  # replaces it for everything below h
    (h * h).backward()  # d/dh = 2h = 12
    assert seen == [12.0] and h.grad == 120.0 and x.grad == 360.0


def test_transforms_run_hooks_as_backward_does() -> None:
    # The same f differentiated by backward() and by grad gets the same hooked gradient.
    def f(x: Any) -> Any:
        y = x * x
        y.register_hook(lambda g: g * 10.0)  # d/dx x^2 = 2x, scaled by 10 at y
        return y

    x = Value(3.0)
    f(x).backward()
    assert x.grad == 60.0
    assert agrad.grad(f)(3.0) == 60.0
    assert agrad.jacrev(lambda a: [f(a), a])(3.0) == [[60.0], [1.0]]


def test_hook_removal() -> None:
    x = Value(2.0)
    remove = x.register_hook(lambda g: 0.0)
    remove()
    (x * 5.0).backward()
    assert x.grad == 5.0


def test_hook_gets_values_under_create_graph() -> None:
    x = Value(2.0)
    kinds: list[type] = []
    x.register_hook(lambda g: kinds.append(type(g)))
    (x * x * x).backward(create_graph=True)
    assert kinds == [Value] and x.grad.data == 12.0


def test_hook_returning_non_number_names_the_hook() -> None:
    def bad_hook(g: Any) -> str:
        return "oops"

    x = Value(1.0)
    x.register_hook(bad_hook)
    with pytest.raises(TypeError, match=r"hook .*bad_hook.*str"):
        (x * 2.0).backward()


def test_register_hook_needs_a_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        Value(1.0).register_hook(3.0)  # type: ignore[arg-type]


# -- detect_anomaly ----------------------------------------------------------------------


def test_anomaly_forward_names_op_inputs_and_user_line() -> None:
    a = Value(0.0, label="a")
    b = Value(-2.0, label="b")
    with detect_anomaly(), pytest.raises(FloatingPointError) as info:
        line = _line() + 1
        agrad.log(a * b)
    msg = str(info.value)
    assert "'log'" in msg and "gave -inf" in msg and "=-0.0" in msg
    assert f"{HERE}:{line}" in msg


def test_anomaly_names_user_code_in_a_folder_whose_name_starts_like_agrads() -> None:
    # Code in .../agrad_extra/ is the user's, not agrad's: the report must name it.
    from agrad import anomaly

    user_file = os.path.dirname(anomaly.__file__) + "_extra" + os.sep + "model.py"
    code = compile("\n\ny = agrad.log(x)", user_file, "exec")
    with detect_anomaly(), pytest.raises(FloatingPointError) as info:
        exec(code, {"agrad": agrad, "x": Value(0.0)})
    assert f"made at {user_file}:3" in str(info.value)


def test_anomaly_forward_names_labels_of_inputs() -> None:
    a = Value(1.0, label="numerator")
    z = Value(0.0, label="denominator")
    with detect_anomaly(), pytest.raises(FloatingPointError, match=r"'/' gave inf .*numerator=1\.0.*denominator=0\.0"):
        _ = a / z


def test_anomaly_backward_names_op_and_where_the_node_was_made() -> None:
    x = Value(0.0, label="x")
    with detect_anomaly():
        line = _line() + 1
        y = agrad.sqrt(x)  # value 0 is fine; its gradient 0.5 / 0 is not
        with pytest.raises(FloatingPointError) as info:
            y.backward()
    msg = str(info.value)
    assert "backward of 'sqrt' gave gradient inf for input x" in msg and "x=0.0" in msg
    assert f"{HERE}:{line}" in msg


def test_anomaly_with_create_graph_names_the_users_op_not_the_rules() -> None:
    """sqrt's rule computes 0.5 / out with ops of its own; the report is still about sqrt."""
    x = Value(0.0, label="x")
    with detect_anomaly():
        y = agrad.sqrt(x) * 2.0
        with pytest.raises(FloatingPointError, match=r"backward of 'sqrt' gave gradient inf for input x"):
            y.backward(create_graph=True)
        with pytest.raises(FloatingPointError, match=r"backward of 'sqrt' gave gradient inf"):
            agrad.grad(agrad.grad(agrad.sqrt))(0.0)


def test_anomaly_inside_transforms() -> None:
    with detect_anomaly(), pytest.raises(FloatingPointError, match="backward of 'sqrt'"):
        agrad.grad(agrad.sqrt)(0.0)


def test_anomaly_checks_forward_values_inside_no_grad_too() -> None:
    x = Value(-1.0, label="x")
    with detect_anomaly(), no_grad(), pytest.raises(FloatingPointError, match=r"forward of 'sqrt' gave nan .*x=-1\.0"):
        agrad.sqrt(x)
    with no_grad(), detect_anomaly():
        y = agrad.sqrt(Value(4.0)) * 2.0
    assert y.data == 4.0 and y._children == ()  # still a leaf: no_grad holds


def test_no_anomaly_check_outside_the_mode() -> None:
    y = agrad.sqrt(Value(0.0))
    y.backward()
    assert math.isinf(agrad.log(Value(0.0)).data)
