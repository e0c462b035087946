"""agrad on Dask arrays: lazy graphs, full-batch gradients on a real cluster, and the failures a cluster has.

The tensor cases run on Dask arrays chunked by rows, checked against PyTorch
float64 and checked to compute nothing until asked. The cluster tests (marked
``cluster``; ``-m "not cluster"`` skips them) start a ``LocalCluster`` of two
worker processes with a memory limit each and compare full-batch gradients of
logistic regression and an MLP with their closed forms in NumPy to 1e-12.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from dask_tasks import block, die_once, logistic, mlp, slow, squared_error
from tensor_cases import CASES, inputs

import agrad
from agrad import Tensor

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from agrad.distributed import value_and_grad  # noqa: E402  (needs dask, skipped above without it)

RTOL = 1e-12
WORKER_MEMORY = 200 * 2**20  # bytes, per worker


def _forbid(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("a Dask graph was computed before the user asked")


def lazy() -> Any:
    """A context in which any compute fails: what runs inside must only build graphs."""
    return dask.config.set(scheduler=_forbid)


def rows(a: np.ndarray, size: int = 2) -> Any:
    """a as a Dask array chunked by rows (size rows a chunk), as a dataset is."""
    return da.from_array(a, chunks=(min(size, max(len(a), 1)), *a.shape[1:]) if a.ndim else ())


# -- every tensor primitive on Dask arrays, lazily -------------------------------------------

UNKNOWN_SHAPE = {"getitem-mask"}  # a boolean mask of a Dask array has unknown size: tested as bad input below
DASK_CASES = [
    pytest.param(name, k, id=f"{name}-{k}")
    for name, (_, _, shapes, _) in CASES.items()
    for k in range(len(shapes))
    if name not in UNKNOWN_SHAPE
]


@pytest.mark.parametrize(("name", "k"), DASK_CASES)
def test_tensor_ops_on_dask_build_graphs_and_match_torch(name: str, k: int) -> None:
    torch = pytest.importorskip("torch")
    fn, tfn, shapes, domain = CASES[name]
    arrays = inputs(shapes[k], domain, seed=k)
    # Dask reshapes only along chunk boundaries (its own NotImplementedError otherwise): one chunk there
    size = 10**9 if name.startswith("reshape") else 2
    with lazy():
        xs = [Tensor(rows(a, size), requires_grad=True) for a in arrays]
        out = fn(*xs)
        assert isinstance(out.data, da.Array)
        gt = np.random.default_rng(100 + k).standard_normal(out.shape)
        out.backward(gradient=rows(gt, size))
        grads = [x.grad for x in xs]
        assert all(g is None or isinstance(g, da.Array) for g in grads)
    value, *gs = dask.compute(out.data, *grads, scheduler="sync")
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    tout = tfn(*ts)
    np.testing.assert_allclose(value, tout.detach().numpy(), rtol=1e-12, atol=1e-14)
    tgrads = torch.autograd.grad(tout, ts, torch.tensor(gt), allow_unused=True)
    for g, tg in zip(gs, tgrads):
        if g is None or tg is None:
            assert g is None or not np.any(g)
            continue
        np.testing.assert_allclose(g, tg.numpy(), rtol=1e-12, atol=1e-14)


def test_numpy_parameter_gets_a_lazy_dask_gradient() -> None:
    # regression: the gradient of a NumPy leaf was converted to NumPy on arrival, computing the Dask graph
    x = np.arange(6.0).reshape(3, 2)
    w = Tensor(np.array([1.0, -1.0]), requires_grad=True)
    with lazy():
        (Tensor(rows(x)) @ w).sum().backward()
    assert isinstance(w.grad, da.Array)
    np.testing.assert_array_equal(w.grad.compute(scheduler="sync"), x.sum(axis=0))


def test_second_derivative_on_dask_matches_closed_form() -> None:
    a = np.linspace(-1.0, 1.0, 7)
    x = Tensor(rows(a, 3), requires_grad=True)
    with lazy():
        (agrad.tanh(x) ** 3.0).sum().backward(create_graph=True)
        g = x.grad
        x.zero_grad()
        g.sum().backward()
    t = np.tanh(a)
    d1 = 3 * t**2 * (1 - t**2)  # d/dx tanh^3
    d2 = (6 * t - 12 * t**3) * (1 - t**2)  # its derivative
    first, second = dask.compute(g.data, x.grad, scheduler="sync")
    np.testing.assert_allclose(first, d1, rtol=RTOL)
    np.testing.assert_allclose(second, d2, rtol=1e-11, atol=1e-14)


# -- bad input -----------------------------------------------------------------------------


def test_unknown_chunk_sizes_are_a_clear_value_error() -> None:
    x = da.from_array(np.arange(8.0).reshape(4, 2), chunks=(2, 2))
    masked = x[x[:, 0] > 2.0]  # boolean-mask indexing: Dask no longer knows how many rows
    with pytest.raises(ValueError, match=r"unknown sizes.*compute_chunk_sizes"):
        Tensor(masked)
    with pytest.raises(ValueError, match=r"unknown sizes"):
        Tensor(np.ones(2), requires_grad=True) * masked
    t = Tensor(x, requires_grad=True)
    with pytest.raises(ValueError, match=r"unknown sizes.*where\(mask"):
        t[t > 2.0]
    with pytest.raises(ValueError, match=r"unknown sizes"):
        agrad.compile(lambda v: v * v, reduce="sum")(masked[:, 0])
    # the advice works: with its sizes computed the same data is fine
    assert Tensor(masked.compute_chunk_sizes()).shape == (2, 2)


def test_value_and_grad_bad_loss_and_params() -> None:
    x = rows(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"one element, got a Tensor of shape \(4,\)"):
        value_and_grad(lambda ps, x: x @ ps[0], [Tensor(np.ones(2))], x)
    with pytest.raises(TypeError, match="loss must be a function"):
        value_and_grad("loss", [Tensor(np.ones(2))], x)
    with pytest.raises(TypeError, match="list or tuple of Tensors"):
        value_and_grad(lambda ps, x: (x @ ps[0]).sum(), Tensor(np.ones(2)), x)


def test_compile_params_with_dask_is_refused_clearly() -> None:
    w = agrad.Value(2.0)
    f = agrad.compile(lambda x: w * x, reduce="sum", params=[w])
    with pytest.raises(ValueError, match="params= with Dask arrays"):
        f(rows(np.ones(4)))


# -- agrad.compile on Dask arrays ----------------------------------------------------------


@pytest.mark.parametrize("reduce", [None, "sum", "mean"])
def test_compiled_program_runs_per_chunk_and_reduces(reduce: str | None) -> None:
    rng = np.random.default_rng(0)
    xn = rng.standard_normal((11, 3))
    c = np.array([0.5, -1.0, 2.0])  # broadcast against x's rows: its gradient sums over them
    w = 0.7
    f = agrad.compile(agrad.value_and_grad(lambda w, x, c: agrad.tanh(w * x + c), argnums=(0, 1, 2)), reduce=reduce)
    with lazy():
        value, (gw, gx, gc) = f(w, rows(xn, 4), c)
    value, gw, gx, gc = dask.compute(value, gw, gx, gc, scheduler="sync")
    # closed forms in NumPy
    t = np.tanh(w * xn + c)
    d = 1 - t**2
    scale = 1.0 / xn.size if reduce == "mean" else 1.0
    if reduce is None:
        np.testing.assert_allclose(value, t, rtol=RTOL)
        np.testing.assert_allclose(gw, d * xn, rtol=RTOL)
    else:
        np.testing.assert_allclose(value, t.sum() * scale, rtol=RTOL)
        np.testing.assert_allclose(gw, (d * xn).sum() * scale, rtol=RTOL)
    np.testing.assert_allclose(gx, d * w * scale, rtol=RTOL)
    np.testing.assert_allclose(gc, d.sum(axis=0) * scale, rtol=RTOL)


def test_compiled_program_on_dask_passes_keyword_arguments() -> None:
    xn = np.linspace(-1.0, 1.0, 9)
    f = agrad.compile(agrad.value_and_grad(lambda w, x, p=2.0: (w * x) ** p, argnums=0), reduce="sum")
    value, gw = dask.compute(*f(1.5, rows(xn, 4), p=3.0), scheduler="sync")
    assert value == pytest.approx(np.sum((1.5 * xn) ** 3), rel=RTOL)
    assert gw == pytest.approx(np.sum(3 * 1.5**2 * xn**3), rel=RTOL)


# -- on a cluster of worker processes --------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, memory_limit=WORKER_MEMORY, dashboard_address=":0"
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _logistic_numpy(w: np.ndarray, b: float, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, float]:
    z = X @ w + b
    r = 1 / (1 + np.exp(-z)) - y  # d/dz of the loss, per row
    return float(np.mean(np.logaddexp(0, z) - y * z)), X.T @ r / len(y), float(r.mean())


def _mlp_numpy(params: list[np.ndarray], X: np.ndarray, y: np.ndarray) -> tuple[float, list[Any]]:
    W1, b1, w2, b2 = params
    h = np.tanh(X @ W1 + b1)
    e = h @ w2 + b2 - y
    d_out = 2 * e / len(y)
    dz = np.outer(d_out, w2) * (1 - h**2)
    return float(np.mean(e**2)), [X.T @ dz, dz.sum(axis=0), h.T @ d_out, d_out.sum()]


def _data(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (X @ rng.standard_normal(d) + 0.3 * rng.standard_normal(n) > 0).astype(np.float64)
    return X, y


@pytest.mark.cluster
def test_logistic_regression_training_on_a_cluster_matches_numpy(client: Any) -> None:
    Xn, yn = _data(4000, 5)
    X, y = rows(Xn, 500), rows(yn, 500)
    params = [Tensor(np.zeros(5)), Tensor(0.0)]
    w, b, lr, losses = np.zeros(5), 0.0, 0.5, []
    for _ in range(3):  # the README's training loop, beside the same steps in NumPy
        loss, grads = value_and_grad(logistic, params, X, y)
        ref, gw, gb = _logistic_numpy(w, b, Xn, yn)
        assert loss == pytest.approx(ref, rel=RTOL)
        np.testing.assert_allclose(grads[0], gw, rtol=RTOL)
        np.testing.assert_allclose(grads[1], gb, rtol=RTOL)
        for p, g in zip(params, grads):
            p.data = p.data - lr * g
        w, b = w - lr * gw, b - lr * gb
        losses.append(loss)
    assert losses[2] < losses[0]


@pytest.mark.cluster
def test_mlp_gradient_on_a_cluster_matches_numpy(client: Any) -> None:
    Xn, yn = _data(3000, 4, seed=1)
    rng = np.random.default_rng(2)
    ps = [rng.standard_normal((4, 8)), rng.standard_normal(8), rng.standard_normal(8), np.array(0.1)]
    loss, grads = value_and_grad(mlp, [Tensor(p) for p in ps], rows(Xn, 700), rows(yn, 700))
    ref, refs = _mlp_numpy(ps, Xn, yn)
    assert loss == pytest.approx(ref, rel=RTOL)
    for g, r in zip(grads, refs):
        assert g.shape == np.shape(r)
        np.testing.assert_allclose(g, r, rtol=RTOL, atol=1e-15)


@pytest.mark.cluster
def test_dataset_four_times_the_worker_memory(client: Any) -> None:
    d, chunk = 10, 100_000  # 8 MB a chunk
    n_chunks = -(-4 * WORKER_MEMORY // (chunk * d * 8))  # 4x one worker's limit, 2x both workers' together
    X = da.map_blocks(
        block, rows=chunk, d=d, chunks=((chunk,) * n_chunks, (d,)), dtype=np.float64, meta=np.empty((0, 0))
    )
    assert X.nbytes >= 4 * WORKER_MEMORY
    y = (X[:, 0] > 0.0).astype(np.float64)
    w = np.linspace(-0.5, 0.5, d)
    pids = set(client.run(os.getpid).values())
    with dask.config.set({"array.chunk-size": "4MiB"}), distributed.get_task_stream(client) as stream:
        loss, (gw, gb) = value_and_grad(logistic, [Tensor(w), Tensor(0.25)], X, y)
    assert set(client.run(os.getpid).values()) == pids  # no worker went past its memory limit and was restarted
    made = [t for t in stream.data if "block" in str(t["key"])]
    assert len(made) == n_chunks  # one pass: each chunk made once for the loss and the gradient together
    # the oracle: the same chunks made here one at a time, the closed form summed in NumPy
    total, sw, sb = 0.0, np.zeros(d), 0.0
    for i in range(n_chunks):
        Xi = block((i, 0), rows=chunk, d=d)
        li, gwi, gbi = _logistic_numpy(w, 0.25, Xi, (Xi[:, 0] > 0.0).astype(np.float64))
        total, sw, sb = total + li, sw + gwi, sb + gbi
    assert loss == pytest.approx(total / n_chunks, rel=1e-12)
    np.testing.assert_allclose(gw, sw / n_chunks, rtol=1e-12)
    assert gb == pytest.approx(sb / n_chunks, rel=1e-12)


@pytest.mark.cluster
def test_compiled_program_on_a_cluster_reduces_across_chunks(client: Any) -> None:
    xn = np.random.default_rng(5).standard_normal(10_001)
    f = agrad.compile(agrad.value_and_grad(squared_error, argnums=0), reduce="mean")
    value, gw = dask.compute(*f(0.5, rows(xn, 1000)))  # 11 chunks, on the workers
    assert value == pytest.approx(np.mean((0.5 * xn - 1) ** 2), rel=RTOL)
    assert gw == pytest.approx(np.mean(2 * (0.5 * xn - 1) * xn), rel=RTOL)


@pytest.mark.cluster
def test_a_worker_that_dies_is_retried_and_the_gradient_is_right(client: Any, tmp_path: Any) -> None:
    Xn, yn = _data(2000, 3, seed=3)
    marker = str(tmp_path / "died")
    X = rows(Xn, 500).map_blocks(die_once, marker, dtype=np.float64, meta=np.empty((0, 0)))
    loss, (gw, gb) = value_and_grad(logistic, [Tensor(np.ones(3)), Tensor(0.0)], X, rows(yn, 500))
    assert os.path.exists(marker)  # a worker did die
    ref, rw, rb = _logistic_numpy(np.ones(3), 0.0, Xn, yn)
    assert loss == pytest.approx(ref, rel=RTOL)
    np.testing.assert_allclose(gw, rw, rtol=RTOL)
    assert gb == pytest.approx(rb, rel=RTOL)


@pytest.mark.cluster
def test_a_cluster_that_goes_away_mid_step_raises_and_leaves_the_parameters(client: Any) -> None:
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, memory_limit=WORKER_MEMORY, dashboard_address=":0"
    )
    Xn, yn = _data(400, 3, seed=4)
    params = [Tensor(np.ones(3)), Tensor(0.5)]
    before = [p.data.copy() for p in params]
    with distributed.Client(cluster, set_as_default=False) as other:
        X = rows(Xn, 50).map_blocks(slow, dtype=np.float64, meta=np.empty((0, 0)))  # 8 chunks of half a second each
        threading.Timer(1.0, cluster.close).start()
        t0 = time.perf_counter()
        with pytest.raises(Exception) as info:
            value_and_grad(logistic, params, X, rows(yn, 50), scheduler=other)
        assert time.perf_counter() - t0 < 30  # it raises, it does not hang
    assert "parameters are unchanged" in "".join(getattr(info.value, "__notes__", []))
    for p, b in zip(params, before):
        np.testing.assert_array_equal(p.data, b)
        assert p.grad is None
