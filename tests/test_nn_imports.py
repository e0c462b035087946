"""``agrad.nn`` is a package laid out as ``torch.nn``: PyTorch's import lines work with ``torch`` replaced by ``agrad``.

Each line runs in a fresh interpreter (an earlier import in this process could
otherwise make a submodule reachable that a user's first import would not find),
first with torch as the oracle that the line is PyTorch's, then with agrad.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")

# PyTorch's own import lines for the names agrad.nn has (issue 15: agrad.nn.utils.clip_grad_norm_).
TORCH_LINES = [
    "import torch.nn.utils; torch.nn.utils.clip_grad_norm_",
    "from torch.nn.utils import clip_grad_norm_",
    "from torch.nn import utils; utils.clip_grad_norm_",
    "from torch.nn import Linear, Sequential, ReLU, Tanh, Sigmoid, Flatten, Embedding, Dropout, Module",
    "import torch.nn as nn; nn.Linear; nn.utils.clip_grad_norm_",
    "import torch; torch.nn.Module; torch.nn.utils.clip_grad_norm_",
]

# agrad's own paths, used by its tests, notebooks and README before nn became a package.
AGRAD_LINES = [
    "from agrad.nn import MLP, Layer, Module, Neuron, Linear, ReLU, Sequential",
    "import agrad; agrad.nn.MLP; agrad.nn.Neuron; agrad.nn.Layer; agrad.nn.Module; agrad.nn.utils.clip_grad_norm_",
    "from agrad import nn; nn.MLP",
]


def _runs(line: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-c", line], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("line", TORCH_LINES)
def test_pytorch_import_lines_work_for_agrad(line: str) -> None:
    pytest.importorskip("torch", reason="torch is the oracle that each line is PyTorch's")
    oracle = _runs(line)
    assert oracle.returncode == 0, oracle.stderr
    ours = _runs(line.replace("torch", "agrad"))
    assert ours.returncode == 0, ours.stderr


@pytest.mark.parametrize("line", AGRAD_LINES)
def test_existing_agrad_import_paths_still_work(line: str) -> None:
    got = _runs(line)
    assert got.returncode == 0, got.stderr


def test_the_names_are_one_object_whichever_path() -> None:
    import agrad
    import agrad.nn.utils
    from agrad.nn import MLP, Linear, Module
    from agrad.nn.layers import Linear as LayersLinear
    from agrad.nn.scalar import MLP as ScalarMLP
    from agrad.nn.scalar import Module as ScalarModule
    from agrad.nn.utils import clip_grad_norm_

    assert agrad.nn.utils.clip_grad_norm_ is clip_grad_norm_
    assert (Linear, MLP, Module) == (LayersLinear, ScalarMLP, ScalarModule)
    assert issubclass(Linear, Module) and issubclass(MLP, Module)
