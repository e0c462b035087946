"""agrad.Tensor on the GPU (CuPy), and the device rules that hold everywhere.

The GPU tests run every tensor case of tests/tensor_cases.py on CuPy arrays
against PyTorch float64 on the CPU: value, gradient and second derivative. They
skip, with the reason, where CuPy or a GPU is missing. The device rules (an op
that mixes devices is a TypeError naming both; ``--device cuda`` without CuPy or
a GPU is one line) are checked here on any machine: two devices of one library
with PyTorch's "cpu" and "meta" devices, and ``array_module`` itself.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest
from tensor_cases import CASES, inputs

import agrad
from agrad import Tensor
from agrad.devices import DeviceUnavailable, array_module, to_device


def _gpu() -> str | None:
    """Why the GPU tests cannot run here, or None when they can."""
    if importlib.util.find_spec("cupy") is None:
        return 'CuPy is not installed (pip install "agrad[cuda]")'
    try:
        array_module("cuda")
    except DeviceUnavailable as e:
        return str(e)
    return None


WHY_NOT = _gpu()
needs_gpu = pytest.mark.skipif(WHY_NOT is not None, reason=f"no GPU run here: {WHY_NOT}")


# -- everywhere ------------------------------------------------------------------------------


def test_cuda_without_cupy_or_a_gpu_is_one_line() -> None:
    if WHY_NOT is None:
        pytest.skip("this machine has CuPy and a GPU: nothing to refuse")
    with pytest.raises(DeviceUnavailable) as info:
        array_module("cuda")
    assert "\n" not in str(info.value) and "cuda" in str(info.value)


def test_cpu_is_numpy_and_to_device_keeps_what_is_there() -> None:
    a = np.array([1.0, 2.0])
    assert to_device(a, "cpu") is a
    assert to_device([1.0, 2.0], "cpu").tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match=r"one of \('cpu', 'cuda'\), got 'gpu'"):
        to_device(a, "gpu")
    with pytest.raises(TypeError, match="real numbers, got str"):
        to_device("abc", "cpu")


def test_an_op_on_two_devices_is_a_type_error_naming_both() -> None:
    torch = pytest.importorskip("torch")
    x = Tensor(torch.ones(2, dtype=torch.float64), requires_grad=True)
    y = Tensor(torch.ones(2, dtype=torch.float64, device="meta"))
    ops = (lambda: x + y, lambda: y * x, lambda: x @ y, lambda: agrad.maximum(x, y), lambda: agrad.where(x > 0, x, y))
    for op in ops:
        with pytest.raises(TypeError, match=r"two devices, (cpu and meta|meta and cpu)"):
            op()
    assert (x * x).sum().item() == 2.0  # one device is fine


def test_an_op_on_two_libraries_names_both_and_their_devices() -> None:
    strict = pytest.importorskip("array_api_strict")
    with pytest.raises(TypeError, match=r"array_api_compat\.numpy and array_api_strict \(on cpu and .*CPU_DEVICE.*\)"):
        Tensor(np.ones(2)) + Tensor(strict.ones(2, dtype=strict.float64))


# -- on the GPU ------------------------------------------------------------------------------------


def _host(a: Any) -> np.ndarray:
    a = a.data if isinstance(a, Tensor) else a
    return np.asarray(a.get() if hasattr(a, "get") else a)


@needs_gpu
@pytest.mark.parametrize(
    ("name", "k"),
    [(n, k) for n, (_, _, shapes, _) in CASES.items() for k in range(len(shapes)) if n != "mul-array-left"],
)
def test_tensor_ops_on_cupy_match_torch(name: str, k: int) -> None:
    torch = pytest.importorskip("torch")
    cp = pytest.importorskip("cupy")
    fn, tfn, shapes, domain = CASES[name]
    arrays = inputs(shapes[k], domain, seed=k)
    xs = [Tensor(cp.asarray(a), requires_grad=True) for a in arrays]
    out = fn(*xs)
    assert isinstance(out.data, cp.ndarray)  # computed on the GPU, never copied back behind the user's back
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    tout = tfn(*ts)
    np.testing.assert_allclose(_host(out), tout.detach().numpy(), rtol=1e-9, atol=1e-11)
    rng = np.random.default_rng(100 + k)
    gt = rng.standard_normal(tuple(tout.shape))
    out.backward(gradient=cp.asarray(gt), create_graph=True)
    tgrads = torch.autograd.grad(tout, ts, torch.tensor(gt), create_graph=True, allow_unused=True)
    for x, tg in zip(xs, tgrads):
        if x.grad is None or tg is None:
            assert (x.grad is None or not np.any(_host(x.grad))) and (tg is None or not tg.detach().numpy().any())
            continue
        assert isinstance(_grad_data(x.grad), cp.ndarray)
        np.testing.assert_allclose(_host(x.grad), tg.detach().numpy(), rtol=1e-9, atol=1e-11)
    vs = [rng.standard_normal(a.shape) for a in arrays]
    live = [(x.grad, v, tg) for x, v, tg in zip(xs, vs, tgrads) if x.grad is not None and tg is not None]
    live = [(g, v, tg) for g, v, tg in live if tg.requires_grad]
    if not live:
        return
    s = agrad.sum(agrad.stack([(g * Tensor(cp.asarray(v))).sum() for g, v, _ in live]))
    t2 = torch.autograd.grad(
        torch.stack([(tg * torch.tensor(v)).sum() for _, v, tg in live]).sum(), ts, allow_unused=True
    )
    for x in xs:
        x.zero_grad()
    s.backward()
    for x, tg2 in zip(xs, t2):
        if x.grad is not None and tg2 is not None:
            np.testing.assert_allclose(_host(x.grad), tg2.numpy(), rtol=1e-8, atol=1e-10)


def _grad_data(g: Any) -> Any:
    return g.data if isinstance(g, Tensor) else g


@needs_gpu
def test_a_numpy_and_a_cupy_array_in_one_op_is_a_type_error() -> None:
    cp = pytest.importorskip("cupy")
    with pytest.raises(TypeError, match=r"array_api_compat\.cupy and array_api_compat\.numpy \(on cuda:0 and cpu\)"):
        Tensor(cp.ones(2)) * np.ones(2)
    with pytest.raises(TypeError, match=r"numpy.*cupy|cupy.*numpy"):
        Tensor(np.ones(2), requires_grad=True) @ Tensor(cp.ones(2))
    moved = to_device(np.array([1.0, 2.0]), "cuda")  # the explicit way
    assert isinstance(moved, cp.ndarray) and to_device(moved, "cpu").tolist() == [1.0, 2.0]
