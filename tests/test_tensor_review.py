"""Adversarial review of Tensor against PyTorch float64: corner cases a torch user would try.

Each test pins a case where agrad once gave different numbers from torch (or a
deep traceback instead of a clear error); torch is the oracle throughout.
"""

from __future__ import annotations

import numpy as np
import pytest

import agrad
from agrad import Tensor

torch = pytest.importorskip("torch")


def test_logsumexp_of_infinite_slices_is_infinite_as_in_torch() -> None:
    a = np.array([[-np.inf, -np.inf], [1.0, np.inf], [0.0, -np.inf]])
    want = torch.logsumexp(torch.tensor(a), dim=1).numpy()
    got = agrad.logsumexp(Tensor(a), axis=1).data
    np.testing.assert_array_equal(got, want)  # [-inf, inf, 0], not nan


def test_transpose_takes_one_tuple_of_axes_as_numpy_and_torch_permute_do() -> None:
    a = np.random.default_rng(0).standard_normal((2, 3, 4))
    x = Tensor(a, requires_grad=True)
    y = x.transpose((2, 0, 1))
    s = np.random.default_rng(1).standard_normal((4, 2, 3))
    y.backward(s)
    xt = torch.tensor(a, requires_grad=True)
    yt = xt.permute((2, 0, 1))
    yt.backward(torch.tensor(s))
    np.testing.assert_array_equal(y.data, yt.detach().numpy())
    np.testing.assert_allclose(x.grad, xt.grad.numpy())


def test_numpy_integers_serve_as_axes_and_sizes_as_in_numpy_and_torch() -> None:
    a = np.random.default_rng(2).standard_normal((2, 3))
    n, k = np.int64(3), np.argmax([0, 1])  # what shape arithmetic and argmax hand a NumPy user
    x = Tensor(a, requires_grad=True)
    y = (x.sum(axis=k) * x.reshape(n, -1).max(axis=(k,)).sum()).sum()
    y.backward()
    xt = torch.tensor(a, requires_grad=True)
    yt = (xt.sum(dim=int(k)) * xt.reshape(int(n), -1).amax(dim=(int(k),)).sum()).sum()
    yt.backward()
    np.testing.assert_allclose(y.data, yt.detach().numpy())
    np.testing.assert_allclose(x.grad, xt.grad.numpy())
    k1 = np.int64(-1)
    got = x.softmax(axis=k1) + x.log_softmax(axis=k1) + x.expand_dims(k1)[..., 0]
    want = xt.softmax(dim=-1) + xt.log_softmax(dim=-1) + xt.unsqueeze(-1)[..., 0]
    np.testing.assert_allclose(got.data, want.detach().numpy())


def test_a_grad_of_another_shape_is_refused_not_broadcast_into_later_gradients() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    xt = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        xt.grad = torch.ones(3, 2)  # torch refuses it
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        x.grad = np.ones((3, 2))  # once kept, the next backward gave a (3, 2) gradient
    x.grad = np.ones(2)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 5.0])


def test_a_numpy_index_into_a_tensor_on_torch_arrays_matches_torch() -> None:
    # torch and JAX take NumPy index arrays themselves; agrad's take and scatter once crashed inside torch.where
    a = np.random.default_rng(3).standard_normal((3, 4))
    i, m = np.array([0, 2, 0, -1]), np.array([True, False, True, True])
    x = Tensor(torch.tensor(a), requires_grad=True)
    y = (x[i] ** 2).sum() + (x[:, m] * x[1:, m][0]).sum()
    y.backward()
    xt = torch.tensor(a, requires_grad=True)
    yt = (xt[torch.tensor(i)] ** 2).sum() + (xt[:, torch.tensor(m)] * xt[1:, torch.tensor(m)][0]).sum()
    yt.backward()
    np.testing.assert_allclose(y.data.numpy(), yt.detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy())


def test_softmax_along_an_empty_axis_is_empty_as_in_torch() -> None:
    a = np.ones((0, 3))
    for axis in (0, -2):
        for ours, theirs in ((agrad.softmax, torch.softmax), (agrad.log_softmax, torch.log_softmax)):
            x = Tensor(a, requires_grad=True)
            y = ours(x, axis=axis)
            y.sum().backward()
            xt = torch.tensor(a, requires_grad=True)
            yt = theirs(xt, dim=axis)
            yt.sum().backward()
            assert y.shape == tuple(yt.shape) and x.grad.shape == tuple(xt.grad.shape)


def test_a_tensor_survives_deepcopy_and_pickle_as_a_torch_tensor_does() -> None:
    # copy.deepcopy(params) to keep the best weights is a torch habit; it raised "cannot pickle 'module' object"
    import copy
    import pickle

    a = np.array([[1.0, -2.0], [3.0, 0.5]])
    w = Tensor(a, requires_grad=True, label="w")
    (w * w).sum().backward()
    wt = torch.tensor(a, requires_grad=True)
    (wt * wt).sum().backward()
    pairs = [(copy.deepcopy(w), copy.deepcopy(wt)), (pickle.loads(pickle.dumps(w)), pickle.loads(pickle.dumps(wt)))]
    for c, ct in pairs:
        assert c.requires_grad and c.label == "w" and c.data is not w.data
        np.testing.assert_array_equal(c.data, ct.detach().numpy())
        c.grad = ct.grad = None  # deepcopy keeps .grad in both; torch's pickle drops it
        (c**3).sum().backward()
        (ct**3).sum().backward()
        np.testing.assert_allclose(c.grad, ct.grad.numpy())
    np.testing.assert_array_equal(w.grad, wt.grad.numpy())  # the original is untouched


def test_a_number_to_a_float32_power_keeps_float32_in_forward_mode_and_create_graph() -> None:
    # where(keep, 2.0, 1.0) inside pow's rule made a float64 array, so 2.0 ** x32 had float64 derivatives
    a = np.array([0.5, 1.5], np.float32)
    _, t = agrad.jvp(lambda x: 2.0**x, (a,), (np.ones(2, np.float32),))
    x = Tensor(a, requires_grad=True)
    (2.0**x).sum().backward(create_graph=True)
    xt = torch.tensor(a, requires_grad=True)
    (gt,) = torch.autograd.grad((2.0**xt).sum(), xt)
    assert t.dtype == x.grad.dtype == np.float32
    np.testing.assert_allclose(t, gt.numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.data, gt.numpy(), rtol=1e-6)


def test_forward_mode_of_zero_to_a_tensor_power_is_zero_not_nan() -> None:
    # the constant base's term, its zero tangent times d/dbase = y * 0 ** (y - 1) = inf, was 0 * inf = nan
    a = np.array([0.5, 1.5, 2.0])
    _, t = agrad.jvp(lambda x: 0.0**x, (a,), (np.ones(3),))
    _, tt = torch.func.jvp(lambda x: 0.0**x, (torch.tensor(a),), (torch.ones(3, dtype=torch.float64),))
    np.testing.assert_array_equal(t, tt.numpy())  # [0, 0, 0], was [nan, 0, 0]


POW_BASES = [0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.5]
POW_EXPONENTS = [0.5, 1.5, 2.0, -0.5, 0.0, 0.7, -1.5]


@pytest.mark.parametrize("kind", ["array", "tensor"])
def test_a_constant_base_with_zeros_to_a_tensor_power_matches_torch_in_every_mode(kind: str) -> None:
    # forward mode gave the constant base a tangent of zeros, and zeros times d/dbase = y * 0 ** (y - 1) = inf
    # was nan; the tangent of 0 ** y at y > 0 is 0, as torch (and the scalar engine) give
    b, a = np.array(POW_BASES), np.array(POW_EXPONENTS)
    base = Tensor(b) if kind == "tensor" else b
    w = np.linspace(0.5, 2.0, len(a))
    bt, wt, ones = torch.tensor(b), torch.tensor(w), torch.ones(len(a), dtype=torch.float64)

    def f(x: object) -> object:
        return (base**x * w).sum()

    def ft(x: torch.Tensor) -> torch.Tensor:
        return (bt**x * wt).sum()

    def elementwise(x: object) -> object:
        return base**x

    x, v = torch.tensor(a), np.ones(len(a))
    second = torch.func.jvp(torch.func.grad(ft), (x,), (ones,))[1]  # the Hessian's diagonal, forward over reverse
    cases = [
        (agrad.jvp(elementwise, (a,), (v,))[1], torch.func.jvp(lambda x: bt**x, (x,), (ones,))[1]),
        (agrad.grad(f)(a), torch.func.grad(ft)(x)),
        (agrad.jvp(agrad.grad(f), (a,), (v,))[1], second),
        # reverse over forward (the tangents then form a graph) is the same diagonal; torch's own reverse over
        # forward gives nan where the base is 0, its mask leaking into the second pass
        (agrad.grad(lambda x: agrad.jvp(f, (x,), (v,))[1])(a), second),
    ]
    for got, want in cases:
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-14, atol=0)
    assert np.isfinite(cases[0][0][:3]).all() and not cases[0][0][:3].any()  # 0, not nan, at y > 0
    # the scalar engine's rule for a float base gives the same numbers, element by element
    scalar = [agrad.jvp(lambda y, c=c: c**y, (y,), (1.0,))[1] for c, y in zip(POW_BASES, POW_EXPONENTS)]
    np.testing.assert_allclose(cases[0][0], scalar, rtol=1e-15, atol=0)


def test_forward_mode_leaves_out_a_constant_operand_where_its_term_would_be_inf_times_zero() -> None:
    # x / c overflowing to inf, and x = inf times a constant: the constant's term was 0 * inf = nan
    ones, t64 = (np.ones(1),), torch.float64
    cases = [
        (lambda x: x / np.array([0.5]), lambda x: x / torch.tensor([0.5], dtype=t64), lambda x: x / 0.5, 1e308),
        (lambda x: x * np.array([2.0]), lambda x: x * torch.tensor([2.0], dtype=t64), lambda x: x * 2.0, np.inf),
        (lambda x: np.array([2.0]) - x / 0.5, lambda x: 2.0 - x / 0.5, lambda x: 2.0 - x / 0.5, 1e308),
    ]
    for f, ft, fs, x in cases:
        _, got = agrad.jvp(f, (np.array([x]),), ones)
        _, want = torch.func.jvp(ft, (torch.tensor([x], dtype=t64),), (torch.ones(1, dtype=t64),))
        np.testing.assert_array_equal(got, want.numpy())
        assert agrad.jvp(fs, (float(x),), (1.0,))[1] == float(want[0])  # the scalar engine agrees


def test_jacfwd_holds_the_other_inputs_constant_so_their_nan_partials_stay_out() -> None:
    # d2/db2 of b ** y at b = -1, y = 2 is 2 (b ** 2); jacfwd seeded y with zeros, and zeros times d/dy = out * log(-1)
    # = nan was nan (JAX gives nan too); torch's Hessian and the scalar engine's give 2
    b, y = np.array([-1.0, 2.0]), np.array([2.0, 0.7])
    H = agrad.hessian(lambda b, y: (b**y).sum())(b, y)
    Ht = torch.autograd.functional.hessian(lambda b, y: (b**y).sum(), (torch.tensor(b), torch.tensor(y)))
    np.testing.assert_allclose(H[0][0], Ht[0][0].numpy(), rtol=1e-14)  # [[2, 0], [0, -0.085]]
    assert H[1][1][1, 1] == pytest.approx(Ht[1][1][1, 1].item(), rel=1e-14)  # 2 ** 0.7 log(2) ** 2, away from b < 0
    assert agrad.hessian(lambda b, y: b**y)(-1.0, 2.0)[0][0] == H[0][0][0, 0] == 2.0


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict"])
def test_cross_entropy_of_infinite_and_nan_logits_is_torchs(backend: str) -> None:
    # NumPy takes its own path (reductions over z transposed), other libraries the generic one: both against torch
    xp = pytest.importorskip(backend)
    a = np.array(
        [[-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 2.0], [np.nan, 1.0, 0.0], [3.0, -1.0, 0.5], [-np.inf, 0.0, 1.0]]
    )
    t = np.array([0, 2, 1, 0, 0])
    for reduction in ("none", "sum", "mean"):
        for rows in ([1, 3], range(5)):  # finite losses (gradients compared too), then every kind of row
            rows = list(rows)
            z = Tensor(xp.asarray(a[rows]), requires_grad=True)
            loss = agrad.tensor.cross_entropy(z, t[rows], reduction)
            zt = torch.tensor(a[rows], requires_grad=True)
            want = torch.nn.functional.cross_entropy(zt, torch.tensor(t[rows]), reduction=reduction)
            np.testing.assert_allclose(np.asarray(loss.data), want.detach().numpy(), rtol=1e-12)
            loss.backward(xp.ones(loss.shape, dtype=xp.float64))
            want.backward(torch.ones(want.shape, dtype=torch.float64))
            np.testing.assert_allclose(np.asarray(z.grad), zt.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shape", [(1, 3), (4, 1), (3, 4)])
def test_cross_entropy_leaves_its_logits_as_they_were(shape: tuple[int, int]) -> None:
    # one row or one class: z.T is contiguous too, so NumPy's path must copy it before working on it in place
    a = np.random.default_rng(0).standard_normal(shape)
    t = np.arange(shape[0]) % shape[1]
    z = Tensor(a.copy(), requires_grad=True)
    loss = agrad.tensor.cross_entropy(z, t)
    loss.backward()
    zt = torch.tensor(a, requires_grad=True)
    want = torch.nn.functional.cross_entropy(zt, torch.tensor(t))
    want.backward()
    np.testing.assert_array_equal(z.data, a)
    np.testing.assert_allclose(loss.item(), want.item(), rtol=1e-12)
    np.testing.assert_allclose(z.grad, zt.grad.numpy(), rtol=1e-12, atol=1e-15)
