"""Local files, directories (walked recursively) and globs as a lazy stream of work units."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from flows.units import Rejection, RejectReason, WorkUnit


class SourceNotFound(FileNotFoundError):
    """A SOURCE argument matches nothing on disk."""


def fingerprint(st: os.stat_result) -> str:
    """Cheap change detector: a changed file gets a new size or mtime."""
    return f"{st.st_size}:{st.st_mtime_ns}"


def _walk(root: Path) -> Iterator[Path]:
    # Sorted for a stable ingest order (ties are won by the later item). Symlinked directories
    # are not followed, so a symlink loop cannot trap the walk; they are yielded like files,
    # so discovery accounts for each with a rejection instead of dropping it silently.
    for dirpath, dirnames, filenames in os.walk(root, onerror=None, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        for name in sorted([*filenames, *links]):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _expand(source: str) -> Iterator[Path]:
    path = Path(source)
    if path.is_dir():
        yield from _walk(path)
    elif path.exists() or path.is_symlink():
        yield path
    elif glob.has_magic(source):
        matches = sorted(glob.iglob(source, recursive=True))
        if not matches:
            raise SourceNotFound(f"no file matches {source!r}")
        for match in matches:
            yield from _expand(match) if Path(match).is_dir() else iter([Path(match)])
    else:
        raise SourceNotFound(f"no such file or directory: {source!r}")


def discover_files(sources: Iterable[str]) -> Iterator[WorkUnit | Rejection]:
    """One unit per regular file; what cannot be read becomes a rejection, never a silent skip."""
    for source in sources:
        for path in _expand(source):
            name = str(path)
            try:
                st = path.stat()
            except OSError as exc:  # dangling symlink, symlink loop, permission
                yield Rejection(name, RejectReason.READ_ERROR, f"{type(exc).__name__}: {exc}")
                continue
            if not path.is_file():
                yield Rejection(name, RejectReason.READ_ERROR, _not_a_file(path))
                continue
            yield WorkUnit(source=name, path=name, fingerprint=fingerprint(st))


def _not_a_file(path: Path) -> str:
    if path.is_symlink() and path.is_dir():
        target = path.resolve()
        if target == path.parent.resolve() or target in path.parent.resolve().parents:
            return f"symlink loop: points to the enclosing folder {target}"
        return f"symlinked folder, not followed: {target}"
    return "not a regular file (a FIFO, socket or device)" if not path.is_dir() else "a folder"


def count_files(sources: Iterable[str]) -> int:
    """How many files discovery will yield (names only, no stat): the progress bar's total."""
    total = 0
    for source in sources:
        try:
            total += sum(1 for _ in _expand(source))
        except SourceNotFound:
            continue
    return total


def check_sources(sources: Iterable[str]) -> None:
    """Fail before the run starts if a SOURCE matches nothing."""
    for source in sources:
        path = Path(source)
        if not (
            path.exists()
            or path.is_symlink()
            or (glob.has_magic(source) and any(True for _ in glob.iglob(source, recursive=True)))
        ):
            raise SourceNotFound(f"no such file, directory or glob match: {source!r}")
