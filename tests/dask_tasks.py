"""Functions that tests/test_dask.py sends to Dask workers.

They live here, away from the test module, because a worker imports the module
of each function it runs, and the test module imports PyTorch (the oracle),
which would take a worker past its memory limit before it read any data.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

import agrad
from agrad import Tensor


def logistic(params: list[Tensor], X: Any, y: Any) -> Tensor:
    w, b = params
    z = X @ w + b
    return (agrad.softplus(z) - y * z).mean()  # the mean of log(1 + e^z) - y z: binary cross-entropy on logits


def mlp(params: list[Tensor], X: Any, y: Any) -> Tensor:
    W1, b1, w2, b2 = params
    h = agrad.tanh(X @ W1 + b1)
    return ((h @ w2 + b2 - y) ** 2.0).mean()


def block(block_id: tuple[int, ...] | None = None, *, rows: int = 0, d: int = 0) -> np.ndarray:
    """One chunk of the big dataset: the same numbers wherever and whenever it is made."""
    i = 0 if block_id is None else block_id[0]
    return np.random.default_rng([7, i]).standard_normal((rows, d))


def die_once(block: np.ndarray, marker: str) -> np.ndarray:
    """Kill this worker process the first time any chunk gets here; later attempts pass."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return block
    os._exit(1)


def slow(block: np.ndarray) -> np.ndarray:
    time.sleep(0.5)
    return block


def squared_error(w: Any, x: Any) -> Any:
    """(w x - 1)^2 per sample: a scalar program for agrad.compile."""
    return (w * x - 1.0) ** 2
