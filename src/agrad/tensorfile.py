"""Model files for arrays: ``save``/``load`` of a state_dict of arrays as safetensors.

``agrad.save(state_dict, "model.safetensors")`` comes here by the file's
extension (``agrad.serialize`` keeps JSON for scalar models). The format is
Hugging Face's safetensors: an 8-byte header length, a JSON header naming each
array's dtype, shape and byte range, then the raw bytes. Loading parses that
header and copies bytes; it never runs code, unlike pickle. A file written by
``safetensors.torch.save_file`` or ``safetensors.numpy.save_file`` loads too.

- ``save`` writes the whole file to a temporary name beside the target, syncs
  it and renames it over the target, as the JSON files are written.
- ``load`` returns a new dict of NumPy arrays in the order they were saved, or
  raises ValueError naming the file and the damage; it returns nothing partial.

>>> import os, tempfile, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
>>> save_tensors({"w": np.eye(2, dtype=np.float32), "b": np.zeros(2)}, path)
>>> {k: (v.dtype.name, v.shape) for k, v in load_tensors(path).items()}
{'w': ('float32', (2, 2)), 'b': ('float64', (2,))}
"""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Array = NDArray[Any]
else:
    Array = Any

FORMAT = "agrad.state_dict"
VERSION = 1
SUFFIX = ".safetensors"
_KINDS = "biuf"  # bool, signed and unsigned ints, floats: what safetensors stores and a model holds


def _libraries() -> tuple[Any, Any]:
    try:
        import numpy
        import safetensors.numpy
    except ImportError:
        raise ImportError('.safetensors model files need NumPy and safetensors: pip install "agrad[tensors]"') from None
    return numpy, safetensors.numpy


def is_tensor_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` names a safetensors file (by its extension), the format ``agrad.save`` picks for arrays.

    >>> is_tensor_file("run/model.safetensors"), is_tensor_file("model.json")
    (True, False)
    """
    return os.fspath(path).lower().endswith(SUFFIX)


def _array(np: Any, key: object, value: object) -> Array:
    if not isinstance(key, str):
        raise TypeError(f"state_dict keys must be str, got {type(key).__name__}: {key!r}")
    if key == "__metadata__":  # the one name safetensors reserves for its header's metadata
        raise ValueError("state_dict key '__metadata__' is reserved by the safetensors format; rename it")
    # a Tensor (or a torch tensor) carries its array in .data; NumPy scalars also have a .data (a buffer), so go first
    data = value if isinstance(value, np.ndarray | np.generic | numbers.Real) else getattr(value, "data", value)
    if isinstance(data, np.ndarray | np.generic):
        arr = np.asarray(data)
    elif isinstance(data, numbers.Real) and not isinstance(data, bool):
        arr = np.asarray(float(data))  # a scalar model's float: a 0-d float64 array
    else:
        raise TypeError(f"state_dict[{key!r}] must be an array or a real number, got {type(value).__name__}")
    if arr.dtype.kind not in _KINDS:
        raise TypeError(f"state_dict[{key!r}] has dtype {arr.dtype}; safetensors stores bool, int and float arrays")
    out: Array = arr if arr.flags.c_contiguous else arr.copy(order="C")  # ascontiguousarray makes 0-d 1-d
    return out


def save_tensors(state_dict: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``state_dict`` (name -> array, or number) to ``path`` as safetensors, atomically.

    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
    >>> save_tensors({"w": np.arange(3.0)}, path); load_tensors(path)["w"].tolist()
    [0.0, 1.0, 2.0]
    """
    from agrad.serialize import _write_atomic

    np, st = _libraries()
    if not isinstance(state_dict, Mapping):
        hint = " (for a model, pass model.state_dict())" if hasattr(state_dict, "state_dict") else ""
        raise TypeError(f"save expects a state_dict, a mapping of name -> array, got {type(state_dict).__name__}{hint}")
    arrays = {k: _array(np, k, v) for k, v in state_dict.items()}
    meta = {"format": FORMAT, "version": str(VERSION), "order": json.dumps(list(arrays))}
    _write_atomic(os.fspath(path), st.save(arrays, metadata=meta))


def _read(where: str, max_bytes: int) -> bytes:
    """The whole file, if it is a regular file of at most max_bytes; the same checks as a JSON model file's."""
    from agrad.serialize import _too_big, open_model_file

    with open_model_file(where, max_bytes) as f:
        raw = f.read(max_bytes + 1)
    if len(raw) > max_bytes:  # it grew while we read
        raise _too_big(where, max_bytes)
    return raw


def load_tensors(path: str | os.PathLike[str], max_bytes: int = 1 << 30) -> dict[str, Array]:
    """Read a safetensors file into a new dict of NumPy arrays; damage is a ValueError naming the file.

    Only a regular file of at most ``max_bytes`` (1 GiB by default, as ``agrad.load``'s) is read.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "bad.safetensors")
    >>> with open(path, "wb") as f: _ = f.write(b"not a model")
    >>> load_tensors(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ...bad.safetensors is not a readable safetensors model file: ...
    """
    _, st = _libraries()
    where = os.fspath(path)
    raw = _read(where, max_bytes)
    bad = f"{where} is not a readable safetensors model file"
    if raw[:1] == b"{":
        raise ValueError(f"{bad}: it is JSON text (an agrad JSON model file loads from a name ending in .json)")
    try:
        arrays: dict[str, Array] = st.load(raw)
    except KeyError as e:  # a dtype NumPy has no type for, such as BF16
        raise ValueError(f"{bad}: it holds a dtype NumPy cannot represent ({e.args[0]})") from None
    except Exception as e:  # the library's SafetensorError derives from Exception only
        raise ValueError(f"{bad}: {str(e).removeprefix('Error while deserializing: ')}") from None
    meta = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")]).get("__metadata__") or {}
    if meta.get("format") == FORMAT:
        version = meta.get("version", "")
        if not version.isdigit() or int(version) < 1:
            raise ValueError(f'{bad}: its "version" must be a positive int, got {version!r}')
        if int(version) > VERSION:
            raise ValueError(
                f"{where} was written by a newer agrad (format version {version}; this one reads {VERSION})"
            )
        order = _order(meta.get("order"))
        if order is not None and sorted(order) == sorted(arrays):
            return {k: arrays[k] for k in order}
    return arrays


def _order(text: object) -> list[str] | None:
    try:
        order = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return order if isinstance(order, list) and all(isinstance(k, str) for k in order) else None


__all__ = ["FORMAT", "SUFFIX", "VERSION", "is_tensor_file", "load_tensors", "save_tensors"]
