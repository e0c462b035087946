"""Real data as NumPy arrays: the 8x8 digits, MNIST's IDX files, a seeded split and mini-batches.

``load_digits()`` is scikit-learn's bundled copy of the UCI handwritten digits
(no network). ``load_mnist(root)`` reads the four standard MNIST IDX files,
gzipped or not, from ``root``, downloading the archives there on first use
when the network allows and checking each file's published SHA-256.
``DataLoader`` yields shuffled, seeded mini-batches as ``torch.utils.data.DataLoader``
does for a tensor dataset. NumPy (and scikit-learn for the digits) are
imported only when used, so ``import agrad`` stays stdlib-only.

>>> X, y = load_digits()
>>> X.shape, y.shape, int(X.max()), sorted(set(y.tolist())) == list(range(10))
((1797, 64), (1797,), 16, True)
>>> batches = DataLoader(X, y, batch_size=500, seed=0)
>>> [len(xb) for xb, yb in batches]
[500, 500, 500, 297]
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import importlib.util
import math
import os
import tempfile
import urllib.request
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from agrad._checks import count, number

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Array = NDArray[Any]
else:
    Array = Any

#: Published SHA-256 of the four MNIST archives (TensorFlow's and torchvision's mirrors serve the same bytes)
#: and of the IDX files they unpack to, as many copies of MNIST come (listed beside the archives' sums by MNIST's
#: users; gzip at its default level, with the files' names, gives archives of exactly the published sizes).
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]
_MAX_ARCHIVE = 12_000_000  # the largest archive is 9,912,422 bytes; a download past this is not MNIST
_IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}  # unsigned bytes, 1 or 3 dimensions
_MAX_ITEMS = 1 << 31  # bytes one IDX file may promise: MNIST needs 47 MB, so anything near 2 GB is damage


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is in every extra that reaches here
        raise ImportError('agrad.datasets needs NumPy for arrays: pip install "agrad[numpy]"') from None
    return numpy


def load_digits() -> tuple[Array, Array]:
    """The 1,797 UCI handwritten digits: ``X`` (1797, 64) float64 pixels 0..16 (8x8 images, flattened), ``y`` 0..9.

    From scikit-learn's bundled copy, so it works offline (``pip install "agrad[data]"``).
    The file is read directly, without importing ``sklearn.datasets`` (which loads
    SciPy: seconds on a busy machine); scikit-learn's own loader is the fallback.

    >>> X, y = load_digits()
    >>> X.dtype, y.dtype, X[0].reshape(8, 8)[0].tolist(), int(y[0])
    (dtype('float64'), dtype('int64'), [0.0, 0.0, 5.0, 13.0, 9.0, 1.0, 0.0, 0.0], 0)
    """
    np = _numpy()
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError('load_digits reads scikit-learn\'s bundled copy of the digits: pip install "agrad[data]"')
    path = os.path.join(spec.submodule_search_locations[0], "datasets", "data", "digits.csv.gz")
    if os.path.isfile(path):
        table = np.loadtxt(path, delimiter=",")  # 64 pixel columns, then the label: what sklearn's loader reads
        X, y = table[:, :-1], table[:, -1]
    else:  # a scikit-learn that keeps the file elsewhere
        from sklearn.datasets import load_digits as sk_load_digits  # type: ignore[import-untyped]

        X, y = sk_load_digits(return_X_y=True)
    return np.ascontiguousarray(X, dtype=np.float64), np.ascontiguousarray(y, dtype=np.int64)


def _read_idx(path: str, ndim: int) -> Array:
    """One IDX file of unsigned bytes with ``ndim`` dimensions (gzipped when the name ends in .gz), checked whole."""
    np = _numpy()
    opener = gzip.open if path.endswith(".gz") else open
    name = os.path.basename(path)
    try:
        with opener(path, "rb") as f:
            head = f.read(4 + 4 * ndim)
            if len(head) < 4 + 4 * ndim:
                raise ValueError(f"{name} is truncated: {len(head)} bytes, shorter than an IDX header")
            magic = int.from_bytes(head[:4], "big")
            if magic != _IDX_MAGIC[ndim]:
                raise ValueError(
                    f"{name} is not an IDX file of unsigned bytes in {ndim} dimension(s): "
                    f"magic number {magic:#010x}, expected {_IDX_MAGIC[ndim]:#010x}"
                )
            dims = [int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
            size = 1
            for d in dims:
                size *= d
            if size > _MAX_ITEMS:
                raise ValueError(f"{name} claims dimensions {dims}, far larger than any MNIST file")
            # read one byte more than promised, so extra bytes are caught and a damaged header cannot make us read on
            body = f.read(size + 1)
    except (OSError, EOFError, zlib.error) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{name} is truncated or corrupt: {e}") from None
    if len(body) != size:
        what = "truncated" if len(body) < size else "longer than its header says"
        raise ValueError(f"{name} is {what}: its header promises {dims} = {size} bytes of data, found {len(body)}")
    pixels: Array = np.frombuffer(body, dtype=np.uint8).reshape(dims)
    return pixels


def _sha256(path: str, unpack: bool = False) -> str:
    """The file's SHA-256, or with ``unpack`` that of the bytes it gunzips to ("" if it does not)."""
    h = hashlib.sha256()
    try:
        with gzip.open(path, "rb") if unpack else open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except (OSError, EOFError, zlib.error):
        if not unpack:
            raise
        return ""
    return h.hexdigest()


def _download(archive: str, root: str) -> None:
    """Fetch ``archive`` from the first mirror that answers into ``root``, atomically, size-capped, hash-checked."""
    errors = []
    for mirror in MNIST_MIRRORS:
        try:
            with urllib.request.urlopen(mirror + archive, timeout=30) as r:
                data = r.read(_MAX_ARCHIVE + 1)
        except (OSError, ValueError) as e:  # URLError is an OSError; a malformed mirror URL a ValueError
            errors.append(f"{mirror}: {e}")
            continue
        if len(data) > _MAX_ARCHIVE:
            errors.append(f"{mirror}: more than {_MAX_ARCHIVE} bytes, not an MNIST archive")
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest != MNIST_SHA256[archive]:
            errors.append(f"{mirror}: SHA-256 {digest}, expected {MNIST_SHA256[archive]}")
            continue
        fd, tmp = tempfile.mkstemp(prefix=f".{archive}.", suffix=".tmp", dir=root)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, os.path.join(root, archive))  # a crash leaves no half archive under the real name
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return
    raise ValueError(
        f"MNIST file {archive} (or {archive[:-3]}) is not in {root} and could not be downloaded: " + "; ".join(errors)
    )


def _mnist_file(root: str, archive: str, verify: bool, download: bool) -> str:
    """The path of one MNIST file in root: the .gz archive, else the unpacked file under its name or the
    dotted name some copies use (``train-images.idx3-ubyte``); download the archive if none is there."""
    raw = archive[:-3]
    names = [archive, raw, raw.replace("-idx", ".idx")]
    found = [os.path.join(root, n) for n in names if os.path.exists(os.path.join(root, n))]
    if not found:
        if not download:
            raise ValueError(f"MNIST file {archive} (or {raw}, {names[2]}) is not in {root} (download=False)")
        made, p = [], os.path.normpath(root)
        while p and not os.path.lexists(p):  # the folders makedirs will make, innermost first
            made.append(p)
            p = os.path.dirname(p)
        os.makedirs(root, exist_ok=True)
        try:
            _download(archive, root)
        except ValueError:
            for folder in made:  # folders made for a download that failed are not left behind
                with contextlib.suppress(OSError):
                    os.rmdir(folder)
            raise
        found = [os.path.join(root, archive)]
    path = found[0]
    if not os.path.isfile(path):
        raise ValueError(f"{path} is not a regular file")
    if verify:
        published = MNIST_SHA256[archive if path.endswith(".gz") else raw]
        digest = _sha256(path)
        if digest != published and path.endswith(".gz") and _sha256(path, unpack=True) == MNIST_SHA256.get(raw):
            digest = published  # gzipped again: another header (name, time), the same IDX bytes inside
        if digest != published:
            raise ValueError(
                f"{path} has SHA-256 {digest}, expected the published {published}: "
                "the file is damaged or not MNIST's (pass verify=False only for files you made yourself)"
            )
    return path


def load_mnist(
    root: str | os.PathLike[str], verify: bool = True, download: bool = True
) -> tuple[tuple[Array, Array], tuple[Array, Array]]:
    """MNIST as ``(X_train, y_train), (X_test, y_test)``: ``X`` uint8 (n, 784), flattened 28x28 images; ``y`` 0..9.

    Reads ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
    ``t10k-labels-idx1-ubyte`` from ``root``, each gzipped (``.gz``) or not (also under the dotted
    names some copies use, ``train-images.idx3-ubyte``). A missing file is
    downloaded into ``root`` when ``download`` is true and the network allows. With ``verify``
    (the default) each file, archive or unpacked, must match its published SHA-256
    (``MNIST_SHA256``; an archive gzipped anew passes when what it unpacks to does); pass
    ``verify=False`` for IDX files you wrote yourself. Any damage is a ValueError naming the file.

    >>> import gzip, os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> for split, n in [("train", 2), ("t10k", 1)]:
    ...     with gzip.open(os.path.join(root, f"{split}-images-idx3-ubyte.gz"), "wb") as f:
    ...         _ = f.write(bytes([0, 0, 8, 3, 0, 0, 0, n, 0, 0, 0, 28, 0, 0, 0, 28]) + bytes(784 * n))
    ...     with gzip.open(os.path.join(root, f"{split}-labels-idx1-ubyte.gz"), "wb") as f:
    ...         _ = f.write(bytes([0, 0, 8, 1, 0, 0, 0, n]) + bytes(range(n)))
    >>> (X, y), (Xt, yt) = load_mnist(root, verify=False)
    >>> X.shape, y.tolist(), Xt.shape
    ((2, 784), [0, 1], (1, 784))
    """
    np = _numpy()
    where = os.fspath(root)
    out = []
    for split in ("train", "t10k"):
        images = _read_idx(_mnist_file(where, f"{split}-images-idx3-ubyte.gz", verify, download), 3)
        labels = _read_idx(_mnist_file(where, f"{split}-labels-idx1-ubyte.gz", verify, download), 1)
        if len(images) != len(labels):
            raise ValueError(f"MNIST {split}: {len(images)} images but {len(labels)} labels in {where}")
        if labels.size and int(labels.max()) > 9:
            raise ValueError(f"MNIST {split} labels must be digits 0..9, found {int(labels.max())} in {where}")
        out.append((images.reshape(len(images), -1), labels.astype(np.int64)))
    return out[0], out[1]


def _arrays(arrays: tuple[Any, ...], who: str) -> list[Array]:
    np = _numpy()
    if not arrays:
        raise ValueError(f"{who} needs at least one array")
    xs = [a if isinstance(a, np.ndarray) else np.asarray(a) for a in arrays]
    for i, a in enumerate(xs):
        if a.ndim == 0:
            raise ValueError(f"{who}: array {i} is 0-d; each array needs a first axis of samples")
    n = len(xs[0])
    if any(len(a) != n for a in xs):
        raise ValueError(f"{who}: arrays must have the same length along the first axis, got {[len(a) for a in xs]}")
    return xs


def train_test_split(*arrays: Any, test_size: float = 0.2, seed: int = 0) -> tuple[Array, ...]:
    """Shuffle rows with a seeded generator and hold out ``test_size`` of them: ``(a_train, a_test, b_train, ...)``.

    The order of the outputs is scikit-learn's ``train_test_split``; the held-out count rounds up.

    >>> import numpy as np
    >>> Xtr, Xte, ytr, yte = train_test_split(np.arange(10), np.arange(10) % 2, test_size=0.2, seed=0)
    >>> len(Xtr), len(Xte), sorted(Xtr.tolist() + Xte.tolist()) == list(range(10))
    (8, 2, True)
    """
    np = _numpy()
    xs = _arrays(arrays, "train_test_split")
    frac = number(test_size, "test_size", 0.0, 1.0)
    n = len(xs[0])
    n_test = math.ceil(frac * n)
    if not 0 < n_test < n:
        raise ValueError(f"test_size={test_size} of {n} samples leaves an empty train or test part")
    order = np.random.default_rng(_seed(seed)).permutation(n)
    test, train = order[:n_test], order[n_test:]
    return tuple(part for a in xs for part in (a[train], a[test]))


def _seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}: {seed!r}")
    return seed


class DataLoader:
    """Mini-batches of same-length arrays, shuffled anew each pass by a seeded generator, as PyTorch's DataLoader.

    ``DataLoader(X, y, batch_size=32, shuffle=True, seed=0, drop_last=False)``: iterating
    yields tuples ``(X[idx], y[idx])``; each pass draws the next permutation from one
    private generator, so the sequence of epochs repeats exactly for a given seed.
    ``len()`` is the number of batches per pass.

    >>> import numpy as np
    >>> loader = DataLoader(np.arange(5), batch_size=2, shuffle=False)
    >>> [b[0].tolist() for b in loader], len(loader)
    ([[0, 1], [2, 3], [4]], 3)
    """

    def __init__(
        self, *arrays: Any, batch_size: int = 32, shuffle: bool = True, seed: int = 0, drop_last: bool = False
    ) -> None:
        np = _numpy()
        self.arrays = _arrays(arrays, "DataLoader")
        self.batch_size = count(batch_size, "batch_size")
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self._rng = np.random.default_rng(_seed(seed))

    def __len__(self) -> int:
        n, b = len(self.arrays[0]), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[tuple[Array, ...]]:
        np = _numpy()
        n = len(self.arrays[0])
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        for k in range(len(self)):
            idx = order[k * self.batch_size : (k + 1) * self.batch_size]
            yield tuple(a[idx] for a in self.arrays)


__all__ = ["MNIST_MIRRORS", "MNIST_SHA256", "DataLoader", "load_digits", "load_mnist", "train_test_split"]
