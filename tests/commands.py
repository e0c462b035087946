"""The ``agrad`` command run as a user runs it: a fresh interpreter, headless matplotlib."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def agrad_cmd(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m agrad ARGS``, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "agrad", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "MPLBACKEND": "Agg", **(env or {})},
    )
