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
