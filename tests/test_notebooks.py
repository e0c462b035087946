"""The learning-path notebooks run top to bottom without error, fast, and match their source.

Each notebook is re-executed in a fresh kernel with nbclient (headless: matplotlib
draws inline PNGs, graphviz renders with the ``dot`` program). The committed copy
must also hold the outputs a learner sees on a code host, and must have been built
from ``scripts/build_notebooks.py``, where the notebooks are written.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
LEARNING_PATH = ["Understanding_Derivatives", "AutoGrad", "Beyond_Backprop"]
BUDGET_S = 60.0  # the limit for one notebook, top to bottom, on 2 cores

for _module in ("nbformat", "nbclient", "ipykernel", "matplotlib", "numpy", "graphviz"):
    if importlib.util.find_spec(_module) is None:
        pytest.skip(f"{_module} is not installed: pip install -e '.[notebooks]'", allow_module_level=True)

import nbformat  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
import build_notebooks  # noqa: E402

BUILT = [name for name in LEARNING_PATH if name in build_notebooks.NOTEBOOKS]


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)


def _pictures(nb: nbformat.NotebookNode) -> list[int]:
    """The index of the code cell behind each PNG output, in order."""
    return [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]


def test_learning_path_notebooks_exist() -> None:
    assert BUILT == LEARNING_PATH, f"scripts/build_notebooks.py builds {BUILT}, the learning path is {LEARNING_PATH}"
    for name in BUILT:
        assert (NOTEBOOK_DIR / f"{name}.ipynb").is_file(), f"run: python scripts/build_notebooks.py {name}"


@pytest.mark.parametrize("name", BUILT)
def test_committed_notebook_matches_its_source(name: str) -> None:
    committed = build_notebooks.sources(_read(name))
    assert committed == build_notebooks.sources(build_notebooks.make_notebook(build_notebooks.NOTEBOOKS[name])), (
        f"notebooks/{name}.ipynb is out of date: run python scripts/build_notebooks.py {name}"
    )


@pytest.mark.parametrize("name", BUILT)
def test_committed_notebook_has_its_outputs(name: str) -> None:
    nb = _read(name)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code_cells), f"{name}: some cells were never run"
    errors = [o for c in code_cells for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{name}: committed with an error output: {errors[0].get('ename')}"
    assert _pictures(nb), f"{name}: no pictures in the committed outputs"


@pytest.mark.parametrize("name", BUILT)
def test_notebook_runs_top_to_bottom(name: str) -> None:
    nb = build_notebooks.make_notebook(build_notebooks.NOTEBOOKS[name])
    start = time.perf_counter()
    build_notebooks.execute(nb, timeout=int(BUDGET_S))  # raises CellExecutionError on the first failing cell
    seconds = time.perf_counter() - start
    assert seconds < BUDGET_S, f"{name} took {seconds:.1f} s, over its {BUDGET_S:.0f} s budget"
    # Every picture comes back from the same cell (none lost to a non-inline matplotlib backend, or to a missing dot).
    assert _pictures(nb) == _pictures(_read(name))
