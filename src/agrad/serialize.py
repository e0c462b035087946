"""Model files: ``save(state_dict, path)`` and ``load(path)``, as plain, documented JSON.

A model file looks like this (one parameter per line)::

    {
      "format": "agrad.state_dict",
      "version": 1,
      "params": {
        "layers.0.neurons.0.w.0": 0.5488135039273248,
        "layers.0.neurons.0.b": 0.0,
        "...": "..."
      },
      "sha256": "9f86d0..."
    }

- ``format`` and ``version`` say what the file is; a newer version is refused
  with a clear message rather than misread.
- ``params`` maps each parameter's name (``Module.named_parameters()``) to its
  number. Numbers are written as Python's shortest repr, which reads back to
  the same float bit for bit; nan, inf and -inf, which JSON has no numbers
  for, are written as the strings ``"nan"``, ``"inf"`` and ``"-inf"``.
- ``sha256`` is the SHA-256 of ``params`` written compactly
  (``json.dumps(params, separators=(",", ":"))``). It catches a damaged file;
  it is checked when present, so after editing a file by hand, delete it.

Loading only parses JSON: it never runs code, unlike pickle. Saving writes a
temporary file in the same folder and renames it over the target, so a crash
leaves either the old file or the new one, never half of one.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "model.json")
>>> save({"w": 0.1, "b": -2.5}, path)
>>> load(path)
{'w': 0.1, 'b': -2.5}
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Mapping
from typing import Any

from agrad._checks import real
from agrad.tensorfile import is_tensor_file, load_tensors, save_tensors

FORMAT = "agrad.state_dict"
VERSION = 1
_SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}

PathLike = str | os.PathLike[str]


def _encode(x: float) -> float | str:
    if math.isfinite(x):
        return x
    return "nan" if x != x else "inf" if x > 0 else "-inf"


def _digest(params: Mapping[str, float | str]) -> str:
    text = json.dumps(params, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def save(state_dict: Mapping[str, Any], path: PathLike) -> None:
    """Write ``state_dict`` (name -> number, e.g. ``model.state_dict()``) to ``path`` as JSON, atomically.

    A name ending in ``.safetensors`` writes arrays as safetensors instead (``agrad.tensorfile``).

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "m.json")
    >>> save({"x": 1 / 3, "y": float("inf")}, path); load(path)
    {'x': 0.3333333333333333, 'y': inf}
    """
    if is_tensor_file(path):
        return save_tensors(state_dict, path)
    if not isinstance(state_dict, Mapping):
        hint = " (for a model, pass model.state_dict())" if hasattr(state_dict, "state_dict") else ""
        raise TypeError(
            f"save expects a state_dict, a mapping of name -> number, got {type(state_dict).__name__}{hint}"
        )
    params: dict[str, float | str] = {}
    for k, v in state_dict.items():
        if not isinstance(k, str):
            raise TypeError(f"state_dict keys must be str, got {type(k).__name__}: {k!r}")
        params[k] = _encode(real(v, f"state_dict[{k!r}]"))
    doc = {"format": FORMAT, "version": VERSION, "params": params, "sha256": _digest(params)}
    text = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    _write_atomic(os.fspath(path), text)


def _write_atomic(path: str, data: str | bytes) -> None:
    """Write data (text as UTF-8) to a temporary file beside path, then rename it over path."""
    folder, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())  # the bytes reach the disk before the rename makes them the file
        # mkstemp makes the file private (0600); give it the old file's mode, or a normal one
        os.chmod(tmp, os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load(path: PathLike) -> dict[str, Any]:
    """Read a state_dict written by ``save``; a damaged or foreign file raises ValueError saying what is wrong.

    A name ending in ``.safetensors`` gives a dict of NumPy arrays (``agrad.tensorfile``).

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "bad.json")
    >>> with open(path, "w") as f: _ = f.write('{"format": "agrad.state_dict", "version": 1, "par')
    >>> load(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ...bad.json is not a readable agrad model file: the JSON is truncated or corrupt (...)
    """
    if is_tensor_file(path):
        return load_tensors(path)
    where = os.fspath(path)
    with open(where, "rb") as f:
        raw = f.read()
    bad = f"{where} is not a readable agrad model file"
    try:
        doc = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant, parse_float=_finite
        )
    except UnicodeDecodeError as e:
        raise ValueError(f"{bad}: it is not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{bad}: the JSON is truncated or corrupt ({e.msg} at line {e.lineno}, column {e.colno})"
        ) from None
    except _Corrupt as e:
        raise ValueError(f"{bad}: {e}") from None
    except RecursionError:
        raise ValueError(f"{bad}: its JSON is nested too deeply to be one") from None
    except ValueError as e:  # what json leaves to int(): a number of more than 4300 digits
        raise ValueError(f"{bad}: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f'{bad}: it lacks the tag "format": {FORMAT!r}')
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f'{bad}: "version" must be a positive int, got {version!r}')
    if version > VERSION:
        raise ValueError(f"{where} was written by a newer agrad (format version {version}; this one reads {VERSION})")
    params = doc.get("params")
    if not isinstance(params, dict):
        raise ValueError(f'{bad}: "params" must be an object of name -> number, got {type(params).__name__}')
    out: dict[str, float] = {}
    for k, v in params.items():
        if isinstance(v, str) and v in _SPECIAL:
            out[k] = _SPECIAL[v]
        elif isinstance(v, int | float) and not isinstance(v, bool):
            try:
                out[k] = float(v)
            except OverflowError:  # a JSON integer past 1.8e308; save never writes integers
                raise ValueError(f"{bad}: params[{k!r}] is an integer too large for a float") from None
        else:
            raise ValueError(f'{bad}: params[{k!r}] must be a number (or "nan", "inf", "-inf"), got {v!r}')
    digest = doc.get("sha256")
    if digest is not None and digest != _digest(params):
        raise ValueError(f"{bad}: its sha256 does not match its params, so it was damaged or edited after saving")
    return out


class _Corrupt(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for k, v in pairs:
        if k in d:
            raise _Corrupt(f"the key {k!r} appears twice")
        d[k] = v
    return d


def _finite(text: str) -> float:
    x = float(text)
    if math.isinf(x):  # json would read 1e400 as inf without a word; save writes infinity as "inf"
        raise _Corrupt(f"it contains the number {text[:40]}, too large for a float")
    return x


def _no_constant(name: str) -> Any:
    raise _Corrupt(f'it contains {name}, which save never writes (it writes the string "nan" or "inf")')


__all__ = ["FORMAT", "VERSION", "load", "save"]
