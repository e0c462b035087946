"""Redraw docs/images/seed_graph.svg and .png: the seed's f = a*b + c after backward, drawn by agrad.

Run from anywhere: ``python scripts/draw_seed_graph.py``. Needs ``pip install "agrad[viz]"``
and the Graphviz ``dot`` program.
"""

from __future__ import annotations

from pathlib import Path

from agrad import Value, draw_graph
from agrad.serialize import _write_atomic

OUT = Path(__file__).resolve().parent.parent / "docs" / "images"


def main() -> None:
    a = Value(2.0, label="a")
    b = Value(-3.0, label="b")
    c = Value(10.0, label="c")
    e = a * b
    e.label = "e"
    f = e + c
    f.label = "f"
    f.backward()
    g = draw_graph(f)
    OUT.mkdir(parents=True, exist_ok=True)
    for fmt in ("svg", "png"):
        path = OUT / f"seed_graph.{fmt}"
        # rendered in memory, then written as model files are: a reader sees the old picture or the new one
        _write_atomic(str(path), g.pipe(format=fmt))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
