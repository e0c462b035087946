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
