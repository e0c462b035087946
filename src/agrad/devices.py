"""Where arrays live: ``"cpu"`` (NumPy) or ``"cuda"`` (CuPy, on an NVIDIA GPU).

agrad never moves an array between devices by itself: a Tensor computes where
its data is, and an op that mixes two devices (or two array libraries) is a
TypeError naming both. Putting data on a device is the user's explicit step,
``to_device(a, "cuda")``; ``array_module`` is what a command's ``--device``
option asks for, and ``DeviceUnavailable`` its one-line refusal.
"""

from __future__ import annotations

import importlib
from typing import Any

DEVICES = ("cpu", "cuda")


class DeviceUnavailable(RuntimeError):
    """The device asked for cannot be used here (CuPy or a GPU is missing); the message is one line."""


def array_module(device: str) -> Any:
    """The array-API namespace whose arrays live on device: NumPy for "cpu", CuPy for "cuda".

    >>> array_module("cpu").__name__
    'array_api_compat.numpy'
    >>> array_module("tpu")
    Traceback (most recent call last):
    ...
    ValueError: device must be one of ('cpu', 'cuda'), got 'tpu'
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cpu":
        from agrad.tensor import _default_xp

        return _default_xp()
    try:
        cupy = importlib.import_module("cupy")  # by name: mypy has no stubs where CuPy is not installed
    except ImportError:
        raise DeviceUnavailable('--device cuda needs CuPy: pip install "agrad[cuda]" (and an NVIDIA GPU)') from None
    try:
        n = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as e:  # CuPy raises its own CUDARuntimeError when there is no driver
        raise DeviceUnavailable(f"--device cuda: CuPy finds no usable CUDA GPU ({type(e).__name__}: {e})") from None
    if n == 0:
        raise DeviceUnavailable("--device cuda: CuPy finds no CUDA GPU on this machine")
    import array_api_compat.cupy as xp

    return xp


def to_device(a: Any, device: str) -> Any:
    """A copy of array a on device (an explicit copy: agrad makes none by itself); a itself if it is there.

    >>> import numpy as np
    >>> to_device(np.array([1.0, 2.0]), "cpu").tolist()
    [1.0, 2.0]
    """
    xp = array_module(device)
    from agrad.tensor import _is_array, namespace

    if _is_array(a) and namespace(a) is xp:
        return a
    if device == "cpu" and hasattr(a, "get"):  # a CuPy array: copy it to the host
        a = a.get()
    r = xp.asarray(a)
    if getattr(r.dtype, "kind", "f") not in "biuf":
        raise TypeError(f"to_device expects an array or (nested) list of real numbers, got {type(a).__name__}: {a!r}")
    return r
