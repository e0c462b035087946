"""The README's examples say what the code does: its explain example prints exactly the text shown under it."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _blocks() -> list[tuple[str, str]]:
    """Every fenced block of the README as (language, text), in order."""
    return [(m[1], m[2]) for m in re.finditer(r"^```(\w*)\n(.*?)^```$", README, re.MULTILINE | re.DOTALL)]


def test_the_explain_example_prints_what_the_readme_shows() -> None:
    blocks = _blocks()
    (i,) = [k for k, (lang, text) in enumerate(blocks) if lang == "python" and "agrad.explain(" in text]
    code, (lang, shown) = blocks[i][1], blocks[i + 1]
    assert lang == "text"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert out.getvalue() == shown
    # every node the narration names is one the code labels (once e and f were never labelled)
    named = set(re.findall(r"^(\w+)\.grad \+=", shown, re.MULTILINE))
    assert named == {"a", "b", "c", "e", "f"}
    for name in named:
        assert f'label="{name}"' in code or f'{name}.label = "{name}"' in code, name


def test_the_test_command_comes_with_the_oracle() -> None:
    (block,) = [text for lang, text in _blocks() if lang == "bash" and "pytest" in text and "[dev]" in text]
    assert "pip install torch==2.13.0" in block
