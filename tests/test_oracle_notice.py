"""Without PyTorch (the oracle), the test run's first line says how many tests will skip and how to install it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

HIDE_TORCH = """
import sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Hide())
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""


def test_the_first_line_counts_the_oracle_tests_that_will_skip() -> None:
    files = ["tests/test_controls.py", "tests/test_seed.py", "tests/test_optim.py"]
    r = subprocess.run(
        [sys.executable, "-c", HIDE_TORCH, "-p", "no:cacheprovider", *files],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert r.returncode == 0, r.stdout[-2000:]
    first = r.stdout.splitlines()[0]
    m = re.fullmatch(
        r"PyTorch, the test oracle, is not installed: (\d+) of ([\d,]+) tests will skip\."
        r" Install it with: pip install torch==2\.13\.0",
        first,
    )
    assert m, first
    summary = re.search(r"(\d+) passed, (\d+) skipped", r.stdout)
    assert summary, r.stdout[-500:]
    # the count said up front is the count that skipped (these files skip for no other reason)
    assert int(m[1]) == int(summary[2]) > 0
    assert int(m[2].replace(",", "")) == int(summary[1]) + int(summary[2])
