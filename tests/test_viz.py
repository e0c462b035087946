"""draw_graph and to_dot: the DOT text, real SVG/PNG renders, big graphs, and a missing Graphviz.

Oracles: closed-form gradients of small expressions for the numbers in the
records, Graphviz's own parser (``dot -Tjson``) for the DOT text, and the PNG
and SVG file formats (magic bytes, IHDR size, XML) for the renders.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import agrad
from agrad import Value, draw_graph, to_dot, viz

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="the Graphviz dot program is not installed")
ROOT = Path(__file__).resolve().parent.parent

_NODE = re.compile(r"^\t(\w+) \[(.*)\]$")
_EDGE = re.compile(r"^\t(\w+) -> (\w+)(?: \[(.*)\])?$")
_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^ ]+)')


def parse(dot: str) -> tuple[dict[str, dict[str, str]], list[tuple[str, str, dict[str, str]]]]:
    """Nodes {id: attrs} and edges [(tail, head, attrs)] of agrad's DOT output."""

    def attrs(text: str | None) -> dict[str, str]:
        return {k: v[1:-1] if v.startswith('"') else v for k, v in _ATTR.findall(text or "")}

    nodes: dict[str, dict[str, str]] = {}
    edges: list[tuple[str, str, dict[str, str]]] = []
    lines = dot.splitlines()
    assert lines[0] == "digraph {" and lines[-1] == "}"
    for line in lines[1:-1]:
        if m := _EDGE.match(line):
            edges.append((m[1], m[2], attrs(m[3])))
        elif (m := _NODE.match(line)) and m[1] not in ("node", "edge"):
            nodes[m[1]] = attrs(m[2])
    return nodes, edges


def records(dot: str) -> dict[str, tuple[float, float | None, str]]:
    """{name: (data, grad or None, node id)} for every Value record."""
    nodes, _ = parse(dot)
    out: dict[str, tuple[float, float | None, str]] = {}
    for nid, a in nodes.items():
        if a.get("shape") != "record":
            continue
        fields = [f.strip() for f in a["label"].strip("{} ").split(" | ")]
        name = fields[0]
        assert name not in out, f"{name} drawn twice"
        data = float(fields[1].removeprefix("data "))
        grad = float(fields[2].removeprefix("grad ")) if len(fields) > 2 else None
        out[name] = (data, grad, nid)
    return out


def op_of(dot: str, name: str) -> str:
    """The id of the op node that made the record called name."""
    nodes, edges = parse(dot)
    rid = records(dot)[name][2]
    (op,) = [t for t, h, _ in edges if h == rid]
    assert nodes[op]["shape"] == "ellipse"
    return op


def seed() -> tuple[Value, Value, Value, Value, Value]:
    a = Value(2.0, label="a")
    b = Value(-3.0, label="b")
    c = Value(10.0, label="c")
    e = a * b
    f = e + c
    f.label = "f"
    f.backward()
    return a, b, c, e, f


def test_seed_dot_text_has_every_value_op_and_edge() -> None:
    *_, f = seed()
    dot = to_dot(f)
    nodes, edges = parse(dot)
    rec = records(dot)
    # f = a*b + c: df/da = b, df/db = a, df/dc = 1; e = a*b is unlabeled, so it is v1.
    assert {k: v[:2] for k, v in rec.items()} == {
        "a": (2.0, -3.0),
        "b": (-3.0, 2.0),
        "c": (10.0, 1.0),
        "v1": (-6.0, 1.0),
        "f": (4.0, 1.0),
    }
    ops = {nid: a["label"] for nid, a in nodes.items() if a.get("shape") == "ellipse"}
    assert sorted(ops.values()) == ["*", "+"]
    assert len(nodes) == 7
    mul, add = op_of(dot, "v1"), op_of(dot, "f")
    assert ops[mul] == "*" and ops[add] == "+"
    r = {k: v[2] for k, v in rec.items()}
    assert sorted((t, h) for t, h, _ in edges) == sorted(
        [(r["a"], mul), (r["b"], mul), (mul, r["v1"]), (r["v1"], add), (r["c"], add), (add, r["f"])]
    )
    # operands keep their order, so a is drawn above b
    assert [t for t, h, _ in edges if h == mul] == [r["a"], r["b"]]


def test_shared_subexpression_is_drawn_once_with_an_edge_per_use() -> None:
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    h = a * b
    h.label = "h"
    f = h * h + h
    f.label = "f"
    f.backward()
    dot = to_dot(f)
    rec = records(dot)
    _, edges = parse(dot)
    hd = -6.0
    # f = h**2 + h: df/dh = 2h + 1, df/da = (2h + 1) * b, df/db = (2h + 1) * a
    assert rec["h"][:2] == (hd, 2 * hd + 1)
    assert rec["a"][:2] == (2.0, (2 * hd + 1) * -3.0)
    assert rec["b"][:2] == (-3.0, (2 * hd + 1) * 2.0)
    assert rec["v1"][:2] == (hd * hd, 1.0) and rec["f"][:2] == (hd * hd + hd, 1.0)
    assert len(rec) == 5
    out_of_h = sorted(hh for t, hh, _ in edges if t == rec["h"][2])
    assert out_of_h == sorted([op_of(dot, "v1"), op_of(dot, "v1"), op_of(dot, "f")])


def test_constants_get_their_own_nodes_and_ordered_ops_name_their_operands() -> None:
    x = Value(3.0, label="x")
    f = (2 - x) ** 3
    f.label = "f"
    f.backward()
    dot = to_dot(f)
    nodes, edges = parse(dot)
    rec = records(dot)
    # f = (2 - x)**3: df/dx = -3 (2 - x)**2 = -3
    assert rec["x"][:2] == (3.0, -3.0)
    sub, pw = op_of(dot, "v1"), op_of(dot, "f")
    # The op says its formula with the operands named as their nodes are (no "x"/"y" stand-ins
    # that could clash with a node called x); the edges need no labels then.
    assert nodes[sub]["label"] == "2.0 - x" and nodes[pw]["label"] == "v1 ** 3.0"
    into_sub = [(nodes.get(t, {}).get("label", t), e) for t, h, e in edges if h == sub]
    assert into_sub == [("2.0", {}), ("{ x | data 3.0 | grad -3.0 }", {})]
    into_pow = [(nodes[t]["label"], e) for t, h, e in edges if h == pw]
    assert into_pow == [("{ v1 | data -1.0 | grad 3.0 }", {}), ("3.0", {})]
    assert sum(1 for a in nodes.values() if a.get("shape") == "plaintext") == 2


def test_a_neurons_edges_name_its_bias_and_weights_as_their_nodes_do() -> None:
    """Once the bias's edge said w[0] and the constant 1.0's edge x[0]."""
    n = agrad.nn.Neuron(2, seed=0)
    n.b.label, n.w[0].label, n.w[1].label = "b", "w0", "w1"
    out = n([Value(1.0, label="x0"), Value(2.0, label="x1")])
    out.label = "out"
    dot = to_dot(out)
    nodes, edges = parse(dot)
    d = op_of(dot, "out")  # a ReLU neuron is one node, dot_relu, with the dot's operands
    assert nodes[d]["label"] == "dot_relu"
    into = sorted((nodes[t]["label"].split(" | ")[0].strip("{ "), e["label"]) for t, h, e in edges if h == d)
    pairs = [("b", "1.0"), ("w0", "x0"), ("w1", "x1")]
    assert into == sorted((name, f"{w}·{x}") for w, x in pairs for name in (w, x))


def test_dot_and_sum_ops() -> None:
    w = [Value(1.5, label="w1"), Value(-2.0, label="w2")]
    x = [Value(4.0, label="x1"), 0.5]
    f = agrad.sum([agrad.dot(w, x), w[0], 1.0])
    f.label = "f"
    f.backward()
    dot = to_dot(f)
    nodes, edges = parse(dot)
    rec = records(dot)
    # f = w1*x1 + w2*0.5 + w1 + 1: df/dw1 = x1 + 1, df/dw2 = 0.5, df/dx1 = w1
    assert rec["w1"][1] == 5.0 and rec["w2"][1] == 0.5 and rec["x1"][1] == 1.5
    d = op_of(dot, "v1")
    into = [(nodes[t]["label"].split(" | ")[0].strip("{ "), e["label"]) for t, h, e in edges if h == d]
    assert into == [("w1", "w1·x1"), ("w2", "w2·0.5"), ("x1", "w1·x1"), ("0.5", "w2·0.5")]
    assert nodes[d]["label"] == "dot"
    s = op_of(dot, "f")
    assert [e for t, h, e in edges if h == s] == [{}, {}, {}]  # sum is symmetric: no operand names


def test_options_show_grad_rankdir_and_escaping() -> None:
    *_, f = seed()
    dot = to_dot(f, show_grad=False, rankdir="TB")
    assert "grad" not in dot and "rankdir=TB" in dot
    assert records(dot)["a"][:2] == (2.0, None)
    assert '[label="a | data 2.0" shape=record]' in dot  # TB: fields already run across, no braces
    with pytest.raises(ValueError, match="rankdir must be one of LR, RL, TB, BT"):
        to_dot(f, rankdir="up")
    with pytest.raises(TypeError, match="expected the Value"):
        to_dot(3.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_nodes must be a positive int"):
        to_dot(f, max_nodes=0)
    v = Value(1.0, label='odd {|<"\\>} name')
    assert r'label="{ odd \{\|\<\"\\\>\} name | data 1.0 | grad 0.0 }"' in to_dot(v)


def test_auto_names_skip_labels_in_use() -> None:
    a = Value(1.0, label="v1")
    f = a * 2 + 1
    assert sorted(records(to_dot(f))) == ["v1", "v2", "v3"]


def test_create_graph_gradients_show_their_data() -> None:
    x = Value(3.0, label="x")
    f = x * x
    f.label = "f"
    f.backward(create_graph=True)
    assert isinstance(x.grad, Value)
    assert records(to_dot(f))["x"][:2] == (3.0, 6.0)  # d(x*x)/dx = 2x


def _chain(n: int) -> Value:
    x = Value(1.0, label="x")
    v = x
    for _ in range(n):
        v = v + x
    return v


def test_too_large_is_refused_with_the_count_and_the_ways_out() -> None:
    f = _chain(300)  # 301 Values + 300 ops = 601 nodes to draw
    with pytest.raises(ValueError) as err:
        to_dot(f)
    msg = str(err.value)
    assert "601 nodes to draw (301 Values, 300 ops, 0 constants)" in msg
    assert "max_nodes=500" in msg and "max_nodes=None" in msg and "depth=" in msg
    pytest.importorskip("graphviz")
    with pytest.raises(ValueError, match="601 nodes"):
        draw_graph(f)
    assert len(records(to_dot(f, max_nodes=None))) == 301
    to_dot(_chain(200))  # 401 nodes: under the default


def test_depth_draws_only_the_last_ops() -> None:
    f = _chain(300)
    f.backward()
    dot = to_dot(f, depth=3)
    nodes, _ = parse(dot)
    rec = records(dot)
    # root (distance 0), v_299 and x (1), v_298 (2), v_297 (3, drawn, its inputs not)
    assert len(rec) == 5 and "x" in rec
    assert rec["x"][:2] == (1.0, 301.0)  # f = 301 x
    dashed = [a for a in nodes.values() if a.get("style") == "dashed"]
    assert len(dashed) == 1 and "data 298.0" in dashed[0]["label"]
    assert sum(1 for a in nodes.values() if a.get("shape") == "ellipse") == 3
    assert len(records(to_dot(f, depth=0))) == 1
    with pytest.raises(ValueError, match="depth must be a non-negative int"):
        to_dot(f, depth=-1)


@needs_dot
def test_graphviz_parses_the_dot_text_as_we_do() -> None:
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    h = a * b
    f = (h * h + h - 2.0).tanh()
    f.backward()
    dot = to_dot(f)
    out = subprocess.run(["dot", "-Tjson"], input=dot, capture_output=True, text=True, check=True)
    g: dict[str, Any] = json.loads(out.stdout)
    assert out.stderr == ""
    ours, our_edges = parse(dot)
    theirs = {o["name"]: o for o in g["objects"]}
    assert set(theirs) == set(ours)
    for nid, attrs in ours.items():
        assert theirs[nid]["label"] == attrs["label"]
    gvid = {o["_gvid"]: o["name"] for o in g["objects"]}
    assert sorted((gvid[e["tail"]], gvid[e["head"]]) for e in g["edges"]) == sorted((t, h) for t, h, _ in our_edges)


def test_draw_graph_is_a_digraph_built_from_the_same_text() -> None:
    graphviz = pytest.importorskip("graphviz")
    *_, f = seed()
    g = draw_graph(f, rankdir="RL", show_grad=False)
    assert isinstance(g, graphviz.Digraph)
    assert g.source == to_dot(f, rankdir="RL", show_grad=False)
    assert g.format == "svg"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    w, h = struct.unpack(">II", data[16:24])
    return w, h


def _svg_texts(svg: str | bytes) -> list[str]:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


@needs_dot
def test_renders_a_real_svg_and_png(tmp_path: Path) -> None:
    pytest.importorskip("graphviz")
    *_, f = seed()
    g = draw_graph(f)
    texts = _svg_texts(g.pipe(format="svg"))
    for t in ["a", "data 2.0", "grad -3.0", "b", "data -3.0", "grad 2.0", "c", "v1", "f", "data 4.0", "*", "+"]:
        assert t in texts
    w, h = _png_size(g.pipe(format="png"))
    assert w > 2 * h > 0  # left to right: wide and short
    path = Path(g.render(tmp_path / "seed", format="png"))
    assert path.suffix == ".png" and _png_size(path.read_bytes()) == (w, h)
    svg_path = Path(g.render(tmp_path / "seed"))
    assert svg_path.suffix == ".svg" and "grad -3.0" in _svg_texts(svg_path.read_bytes())
    assert "image/svg+xml" in g._repr_mimebundle_()  # what Jupyter shows


@needs_dot
def test_labels_with_dot_syntax_render_verbatim() -> None:
    pytest.importorskip("graphviz")
    name = 'odd {|<"\\>} name'
    f = Value(1.0, label=name) * 2
    assert name in _svg_texts(draw_graph(f).pipe(format="svg"))


def test_a_missing_dot_program_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    graphviz = pytest.importorskip("graphviz")
    *_, f = seed()
    g = draw_graph(f)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no dot on PATH
    for render in (lambda: g.pipe(format="png"), lambda: g.render(tmp_path / "x"), g._repr_mimebundle_):
        with pytest.raises(graphviz.ExecutableNotFound) as err:
            render()
        msg = str(err.value)
        assert "apt-get install graphviz" in msg and "brew install graphviz" in msg
        assert "conda install graphviz" in msg and "'dot'" in msg
    assert "a | data 2.0" in to_dot(f)  # the text view needs nothing


def test_a_missing_graphviz_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    *_, f = seed()
    viz._digraph_class.cache_clear()
    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz now raises ImportError
    try:
        with pytest.raises(ModuleNotFoundError, match=r'pip install "agrad\[viz\]"'):
            draw_graph(f)
    finally:
        viz._digraph_class.cache_clear()
    assert to_dot(f).startswith("digraph {")


@needs_dot
def test_the_script_draws_the_readme_picture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("graphviz")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import draw_seed_graph
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    monkeypatch.setattr(draw_seed_graph, "OUT", tmp_path)
    draw_seed_graph.main()
    texts = _svg_texts((tmp_path / "seed_graph.svg").read_bytes())
    assert {"a", "b", "c", "e", "f", "data 4.0", "grad -3.0", "grad 2.0"} <= set(texts)
    w, h = _png_size((tmp_path / "seed_graph.png").read_bytes())
    assert w > 2 * h > 0
    committed = ROOT / "docs" / "images"
    assert _png_size((committed / "seed_graph.png").read_bytes())[0] > 0
    assert set(texts) == set(_svg_texts((committed / "seed_graph.svg").read_bytes()))
