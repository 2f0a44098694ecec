"""py3langid's model, unpacked once into a cache file that every worker maps.

The package ships its model LZMA-compressed: unpacking it takes about half a second of CPU in
every worker of every run, and each worker then holds its own 125 MB of tables. Unpacked once
into a plain file, the model maps in milliseconds, and the workers share one copy of its pages
(and of the processor's caches). The file is named for the package's model digest; it is
input like any other that is read back: opened without following a symlink, its layout and
every index bound checked before use, and rebuilt from the package when anything is off.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mmap
import os
import stat
from array import array
from pathlib import Path
from typing import Any, Literal

import numpy as np

from flows.core.atomic import real_dir, write_atomic

log = logging.getLogger(__name__)

_MAGIC = b"article-etl langid v1\n"
_ALIGN = 64
_MAX_HEADER = 64 * 1024
_MAX_FILE = 1 << 30  # the model is 65 MiB; a larger file is not one we wrote
# name -> the dtypes a valid file may hold it in
_ARRAYS = {
    "ptc": ("float16",),
    "pc": ("float32",),
    "nextmove": ("uint16", "uint32"),
    "row": ("uint16", "uint32"),
    "out": ("int32",),
}
_TYPECODE: dict[int, Literal["H", "I"]] = {2: "H", 4: "I"}


class ModelFileError(ValueError):
    """A cache file that is not a model this module wrote."""


def cache_dir() -> Path:
    """ARTICLE_ETL_CACHE_DIR, else $XDG_CACHE_HOME/article-etl, else ~/.cache/article-etl."""
    if env := os.environ.get("ARTICLE_ETL_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "article-etl"


def _package_model() -> Path:
    from py3langid.langid import MODEL_DIR, MODEL_FILE

    return Path(MODEL_DIR) / MODEL_FILE


def cache_path(folder: Path, model: Path) -> Path:
    """The cache file for the package's model file ``model`` (named for its digest)."""
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    return folder / f"py3langid-{digest[:32]}.model"


def _identifier(
    ptc: np.ndarray,
    pc: np.ndarray,
    classes: list[str],
    nextmove: Any,
    row: Any,
    out: list[int],
) -> Any:
    from py3langid.langid import LanguageIdentifier

    return LanguageIdentifier(ptc, pc, classes, nextmove, out, norm_probs=True, tk_row=row)


def write_model(path: Path, model: Path) -> None:
    """Unpack the package's model file into ``path`` (atomically)."""
    from py3langid.modelio import load_model

    ptc, pc, classes, nextmove, row, out = load_model(model)
    arrays: dict[str, np.ndarray] = {
        "ptc": np.ascontiguousarray(ptc, dtype=np.float16),
        "pc": np.ascontiguousarray(pc, dtype=np.float32),
        "nextmove": np.frombuffer(nextmove, dtype=f"uint{8 * nextmove.itemsize}"),
        "row": np.frombuffer(row, dtype=f"uint{8 * row.itemsize}"),
        "out": np.asarray(out, dtype=np.int32),
    }
    entries: dict[str, dict[str, Any]] = {}
    offset = 0
    for name, arr in arrays.items():
        entries[name] = {"dtype": str(arr.dtype), "shape": list(arr.shape), "offset": offset}
        offset += -(-arr.nbytes // _ALIGN) * _ALIGN
    header = json.dumps({"classes": list(classes), "arrays": entries}).encode()
    start = -(-(len(_MAGIC) + 8 + len(header)) // _ALIGN) * _ALIGN

    def write(tmp: Path) -> None:
        with open(tmp, "xb") as fh:
            fh.write(_MAGIC + len(header).to_bytes(8, "little") + header)
            for name, arr in arrays.items():
                fh.seek(start + entries[name]["offset"])
                fh.write(arr.tobytes())

    write_atomic(path, write)


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise ModelFileError(what)


def read_model(path: Path) -> Any:
    """The identifier in a cache file, its tables mapped from the file; ModelFileError when
    the file is anything but a whole model this module wrote."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise ModelFileError(f"cannot open: {exc}") from exc
    try:
        info = os.fstat(fd)
        _check(stat.S_ISREG(info.st_mode), "not a regular file")
        _check(0 < info.st_size <= _MAX_FILE, f"size {info.st_size}")
        mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    finally:
        os.close(fd)
    size = len(mapped)
    _check(mapped[: len(_MAGIC)] == _MAGIC, "not a model file")
    at = len(_MAGIC)
    length = int.from_bytes(mapped[at : at + 8], "little")
    _check(0 < length <= _MAX_HEADER and at + 8 + length <= size, "bad header length")
    try:
        header = json.loads(mapped[at + 8 : at + 8 + length])
        classes, entries = header["classes"], header["arrays"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"bad header: {exc}") from exc
    _check(isinstance(classes, list) and all(isinstance(c, str) for c in classes), "classes")
    _check(isinstance(entries, dict) and set(entries) == set(_ARRAYS), "array names")
    start = -(-(at + 8 + length) // _ALIGN) * _ALIGN
    arrays: dict[str, np.ndarray] = {}
    for name, dtypes in _ARRAYS.items():
        entry = entries[name]
        _check(isinstance(entry, dict) and entry.get("dtype") in dtypes, f"{name} dtype")
        shape, offset = entry.get("shape"), entry.get("offset")
        _check(
            isinstance(shape, list)
            and 1 <= len(shape) <= 2
            and all(type(n) is int and 0 < n < _MAX_FILE for n in shape)
            and type(offset) is int
            and 0 <= offset < _MAX_FILE
            and offset % _ALIGN == 0,
            f"{name} layout",
        )
        count = int(np.prod(shape))
        dtype = np.dtype(entry["dtype"])
        _check(start + offset + count * dtype.itemsize <= size, f"{name} beyond the file")
        arrays[name] = np.frombuffer(mapped, dtype, count, start + offset).reshape(shape)
    ptc, pc, nextmove, row, out = (arrays[n] for n in _ARRAYS)
    states, rows, features = len(row), len(nextmove) // 256, len(ptc)
    # Every index the detector follows stays inside its table, whatever the file says.
    _check(ptc.ndim == 2 and pc.ndim == 1 and ptc.shape[1] == len(pc) == len(classes), "classes")
    _check(nextmove.ndim == 1 and len(nextmove) % 256 == 0 and len(out) == states, "shapes")
    _check(int(nextmove.max()) < states and int(row.max()) < rows, "a transition out of range")
    _check(int(out.min()) >= -1 and int(out.max()) < features, "a feature out of range")
    _check(bool(np.isfinite(pc).all() and np.isfinite(ptc).all()), "a probability not finite")
    moves = nextmove.data.cast("B").cast(_TYPECODE[nextmove.itemsize])  # ints, like array
    return _identifier(ptc, pc, classes, moves, array(_TYPECODE[row.itemsize], row), out.tolist())


def load_identifier(folder: Path | None = None) -> Any:
    """py3langid's identifier (probabilities normalised) from the cache in ``folder``
    (default: ``cache_dir()``), unpacking the package's model there first when the cache is
    missing or not valid. Without a usable cache folder, the model is loaded as py3langid
    loads it, in this process."""
    model = _package_model()
    try:
        folder = cache_dir() if folder is None else folder
        path = cache_path(folder, model)
    except (OSError, RuntimeError) as exc:  # no home folder, an unreadable package file
        log.info("no language model cache (%s): loading the model per process", exc)
        return _identifier_from_package(model)
    try:
        return read_model(path)
    except ModelFileError as exc:
        if os.path.lexists(path):
            log.warning("language model cache %s is not usable (%s): rebuilding it", path, exc)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not real_dir(folder):
            raise NotADirectoryError(f"{folder} is not a folder itself (a symlink?)")
        write_model(path, model)
        return read_model(path)
    except (OSError, ModelFileError) as exc:
        log.info("language model cache not written (%s): loading the model per process", exc)
    return _identifier_from_package(model)


def _identifier_from_package(model: Path) -> Any:
    from py3langid.langid import LanguageIdentifier

    return LanguageIdentifier.from_model_file(model, norm_probs=True)
