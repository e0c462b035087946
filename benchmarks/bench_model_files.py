"""Model files of 1,000,000 parameters: agrad.save/load (.safetensors) against the safetensors library and torch.save.

The state dict is an MLP 784-1000-213-10's weights and biases in float32
(1,000,353 parameters). Each engine saves to a fresh file in one temporary
folder and loads it back; agrad's save also syncs the file to disk and renames
it into place (atomic), which the anchors do not. Reports min and median ms
over repeats, interleaved, and the ratio to the raw library.

    python benchmarks/bench_model_files.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np

import agrad


def state() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    sizes = [784, 1000, 213, 10]
    out = {}
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        out[f"{2 * i}.weight"] = rng.standard_normal((b, a)).astype(np.float32)
        out[f"{2 * i}.bias"] = rng.standard_normal(b).astype(np.float32)
    return out


def engines(sd: dict[str, np.ndarray], folder: str) -> dict[str, Callable[[], object]]:
    from safetensors.numpy import load_file, save_file

    path = os.path.join(folder, "m")

    def agrad_io() -> object:
        agrad.save(sd, path + ".safetensors")
        return agrad.load(path + ".safetensors")

    def safetensors_io() -> object:
        save_file(sd, path + "_raw.safetensors")
        return load_file(path + "_raw.safetensors")

    out: dict[str, Callable[[], object]] = {"agrad save+load": agrad_io, "safetensors.numpy": safetensors_io}
    try:
        import torch
    except ImportError:
        return out
    tsd = {k: torch.from_numpy(v) for k, v in sd.items()}

    def torch_io() -> object:
        torch.save(tsd, path + ".pt")
        return torch.load(path + ".pt", weights_only=True)

    out["torch.save+load"] = torch_io
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    sd = state()
    n = sum(v.size for v in sd.values())
    with tempfile.TemporaryDirectory() as folder:
        runs = engines(sd, folder)
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.repeats):
            for name, fn in runs.items():  # interleaved, so load on the machine hits every engine alike
                t = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - t) * 1e3)
    base = min(times["safetensors.numpy"])
    print(f"{n:,} parameters, float32, {args.repeats} repeats; ms per save+load")
    for name, ts in times.items():
        print(f"{name:20s} min {min(ts):7.2f}  median {statistics.median(ts):7.2f}  ratio(min) {min(ts) / base:5.2f}")


if __name__ == "__main__":
    main()
