"""MNIST-shaped IDX files that tests write themselves (never the real files, which tests must not need)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np


def idx_bytes(data: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes, written from the format's spec (magic 0x08 0x0N, big-endian sizes)."""
    head = bytes([0, 0, 8, data.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in data.shape)
    return head + data.astype(np.uint8).tobytes()


def write_idx(path: Path, data: np.ndarray) -> None:
    """``data`` as a gzipped IDX file at ``path``."""
    path.write_bytes(gzip.compress(idx_bytes(data)))


def write_learnable_mnist(root: Path, n_train: int, n_test: int, seed: int) -> None:
    """A stand-in for MNIST that a small MLP learns in a few epochs: class k lights up row 2k of the 28x28 image."""
    rng = np.random.default_rng(seed)
    for split, n in [("train", n_train), ("t10k", n_test)]:
        y = rng.integers(0, 10, n)
        X = rng.integers(0, 60, (n, 28, 28))
        X[np.arange(n), y * 2] = 255
        write_idx(root / f"{split}-images-idx3-ubyte.gz", X)
        write_idx(root / f"{split}-labels-idx1-ubyte.gz", y)
