"""The CI profile draws the same examples whatever the tests before it imported.

Hypothesis mixes constants from the local modules in ``sys.modules`` into its
draws; conftest.py keeps that pool empty under the derandomized profile. The
oracle is the same test run in a fresh interpreter that imported nothing more:
both must draw the same graphs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"
SCRIPTS = TESTS.parent / "scripts"

# Draw 30 graphs under the CI profile after importing the modules named in argv.
PROGRAM = """
import importlib, sys
import conftest  # registers and loads the profile, as pytest does
for name in sys.argv[1:]:
    importlib.import_module(name)
from hypothesis import given, settings
from strategies import graphs
drawn = []
@settings(max_examples=30)
@given(g=graphs(min_ops=5, max_ops=20))
def sample(g):
    drawn.append(repr(g))
sample()
print(len(drawn), hash(tuple(drawn)))
"""


def _draws(*imports: str) -> str:
    env = {**os.environ, "HYPOTHESIS_PROFILE": "ci", "PYTHONHASHSEED": "0"}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(SRC), str(SCRIPTS), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM, *imports], capture_output=True, text=True, env=env, cwd=TESTS, timeout=300
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_ci_draws_do_not_depend_on_modules_imported_before() -> None:
    # agrad.compile and agrad.cli bring numbers of their own; test_viz imports scripts/draw_seed_graph,
    # after which the depth test once drew graphs of depth 43 at most instead of 47.
    alone = _draws()
    assert alone.startswith("30 ")
    assert _draws("agrad.compile", "agrad.cli", "agrad.tensor_run") == alone
    assert _draws("draw_seed_graph") == alone
