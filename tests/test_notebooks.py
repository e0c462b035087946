"""The learning-path notebooks run top to bottom without error, fast, and match their text sources.

Each notebook's source is a jupytext percent-format script beside it
(``notebooks/NAME.py``, paired with ``NAME.ipynb``); the ``.ipynb`` is the same
cells plus the outputs a learner sees on a code host. Here each source is read
with jupytext, compared cell by cell with the committed notebook, and run in a
fresh kernel with nbclient (headless: matplotlib draws inline PNGs, graphviz
renders with the ``dot`` program).
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
LEARNING_PATH = ["Understanding_Derivatives", "AutoGrad", "Beyond_Backprop", "Tensors"]
BUDGET_S = 60.0  # the limit for one notebook, top to bottom, on 2 cores
PAIRING = "ipynb,py:percent"

for _module in ("jupytext", "nbformat", "nbclient", "ipykernel", "matplotlib", "numpy", "graphviz"):
    if importlib.util.find_spec(_module) is None:
        pytest.skip(f"{_module} is not installed: pip install -e '.[notebooks]'", allow_module_level=True)

import jupytext  # noqa: E402
import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

SYNC = "jupytext --sync --execute notebooks/{0}.py"


def _read(name: str) -> Any:
    return nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)


def _source(name: str) -> Any:
    return jupytext.read(NOTEBOOK_DIR / f"{name}.py")


def _cells(nb: Any) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source) for c in nb.cells]


def _pictures(nb: Any) -> list[int]:
    """The index of the code cell behind each PNG output, in order."""
    return [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]


def test_every_notebook_is_on_the_learning_path_and_paired() -> None:
    assert sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(LEARNING_PATH)
    assert sorted(p.stem for p in NOTEBOOK_DIR.glob("*.py")) == sorted(LEARNING_PATH)
    for name in LEARNING_PATH:
        assert _read(name).metadata.get("jupytext", {}).get("formats") == PAIRING, name
        assert _source(name).metadata.get("jupytext", {}).get("formats") == PAIRING, name


@pytest.mark.parametrize("name", LEARNING_PATH)
def test_committed_notebook_matches_its_source(name: str) -> None:
    assert _cells(_read(name)) == _cells(_source(name)), (
        f"notebooks/{name}.ipynb and notebooks/{name}.py disagree; after editing the .py run: {SYNC.format(name)}"
    )


@pytest.mark.parametrize("name", LEARNING_PATH)
def test_committed_notebook_has_its_outputs(name: str) -> None:
    nb = _read(name)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code_cells), f"{name}: some cells were never run"
    errors = [o for c in code_cells for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{name}: committed with an error output: {errors[0].get('ename')}"
    assert _pictures(nb), f"{name}: no pictures in the committed outputs"


@pytest.mark.parametrize("name", LEARNING_PATH)
def test_notebook_runs_top_to_bottom(name: str) -> None:
    nb = _source(name)  # the text source, as a reader who edits it would run it
    client = NotebookClient(
        nb, timeout=int(BUDGET_S), kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK_DIR)}}
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell
    seconds = time.perf_counter() - start
    assert seconds < BUDGET_S, f"{name} took {seconds:.1f} s, over its {BUDGET_S:.0f} s budget"
    # Every picture comes back from the same cell (none lost to a non-inline matplotlib backend, or to a missing dot).
    assert _pictures(nb) == _pictures(_read(name))
