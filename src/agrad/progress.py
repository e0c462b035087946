"""The progress bar of the ``agrad`` command's training runs (``mlp_run``, ``tensor_run``), shared by both.

>>> tqdm_bar(10, quiet=True, note=print) is None
True
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def tqdm_bar(steps: int, quiet: bool, note: Callable[[str], None], **options: Any) -> Any:
    """A tqdm bar of ``steps`` training steps on stderr, or None: quiet, stderr not a terminal, or no tqdm.

    Without a bar the caller prints a few plain lines instead; a missing tqdm is told through ``note``.
    ``options`` go to tqdm as they are (``mininterval=0.2``).

    >>> tqdm_bar(100, quiet=False, note=print) is None  # doctest's stderr is not a terminal
    True
    """
    if quiet or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ImportError:
        note('no progress bar: tqdm is not installed (pip install "agrad[progress]")')
        return None
    return tqdm(total=steps, desc="training", unit="step", leave=True, **options)
