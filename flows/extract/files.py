"""Local files, directories (walked recursively) and globs as a lazy stream of work units."""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from flows.units import Rejection, RejectReason, WorkUnit, internal_error, printable


class SourceNotFound(FileNotFoundError):
    """A SOURCE argument matches nothing on disk."""


def fingerprint(st: os.stat_result) -> str:
    """Cheap change detector: a changed file gets a new size or mtime."""
    return f"{st.st_size}:{st.st_mtime_ns}"


def _walk(root: str) -> Iterator[os.DirEntry[str]]:
    """Every entry below ``root`` except folders, in a stable order: a folder's entries sorted
    by name, then its subfolders, each the same way (ties are won by the later item).

    Symlinked folders are not followed, so a symlink loop cannot trap the walk; they are
    yielded like files, so discovery accounts for each with a rejection instead of dropping it
    silently. ``scandir`` entries carry the file type, so a file costs one ``stat`` in all.
    """
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted((e for e in it if not e.name.startswith(".")), key=_name)
        except OSError:  # unreadable folder: as os.walk, nothing below it is seen
            continue
        subfolders = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                subfolders.append(entry.path)
            else:
                yield entry
        stack.extend(reversed(subfolders))


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _iglob(pattern: str) -> Iterator[Path]:
    """The matches ``glob.iglob(pattern, recursive=True)`` gives, except that ``**``
    never descends into a symlinked folder: glob does, so one symlink loop repeats every file
    ~40 times and two loops in a folder make the expansion run practically for ever.
    """
    parts = Path(pattern).parts
    fixed = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    base = Path(*parts[:fixed]) if fixed else Path()
    # pathlib accepts ** only as a whole part; inside a part glob treats it as *.
    rest = [p if p == "**" else p.replace("**", "*") for p in parts[fixed:]]
    hidden_ok = any(p.startswith(".") for p in rest)  # glob's rule: dots match only dots
    for match in base.glob("/".join(rest)):  # pathlib's ** does not follow symlinks
        if hidden_ok or not any(p.startswith(".") for p in match.relative_to(base).parts):
            yield match


def _expand(source: str) -> Iterator[Path | os.DirEntry[str]]:
    path = Path(source)
    if path.is_dir():
        yield from _walk(source)
    elif path.exists() or path.is_symlink():
        yield path
    elif glob.has_magic(source):
        matches = sorted(_iglob(source))
        if not matches:
            raise SourceNotFound(f"no file matches {source!r}")
        walked: Path | None = None
        for match in matches:
            if walked is not None and match.is_relative_to(walked):
                continue  # `dir/**` matches dir and all below it: walk it once (sorted order)
            if match.is_dir() and not match.is_symlink():
                walked = match
                yield from _walk(str(match))
            else:  # a symlinked folder is yielded as itself: discovery rejects it
                yield match
    else:
        raise SourceNotFound(f"no such file or directory: {source!r}")


def discover_files(sources: Iterable[str]) -> Iterator[WorkUnit | Rejection]:
    """One unit per regular file; what cannot be read becomes a rejection, never a silent skip.

    A unit's ``source`` is its path as valid text (``printable``); ``path`` keeps the name the
    OS gave, so a file whose name is not UTF-8 is still read.
    """
    sources = list(sources)
    # Overlapping sources (`dir dir/a.txt`) name a file twice: it is still one input.
    seen: set[str] | None = set() if len(sources) > 1 else None
    for source in sources:
        for found in _expand(source):
            name = found.path if isinstance(found, os.DirEntry) else str(found)
            if seen is not None:
                key = os.path.abspath(name)
                if key in seen:
                    continue
                seen.add(key)
            try:
                yield _classify(found, name)
            except Exception as exc:  # isolation: one odd entry never ends the discovery
                yield internal_error(printable(name), exc)


def _classify(found: Path | os.DirEntry[str], name: str) -> WorkUnit | Rejection:
    source = printable(name)
    try:
        st = found.stat()  # follows symlinks, as reading the file will
    except OSError as exc:  # dangling symlink, symlink loop, permission
        return Rejection(source, RejectReason.READ_ERROR, printable(f"{type(exc).__name__}: {exc}"))
    if not stat.S_ISREG(st.st_mode):
        return Rejection(source, RejectReason.READ_ERROR, printable(_not_a_file(Path(name))))
    # The path absolute: workers may run in another folder (or on another machine).
    return WorkUnit(source=source, path=os.path.abspath(name), fingerprint=fingerprint(st))


def _not_a_file(path: Path) -> str:
    if path.is_symlink() and path.is_dir():
        target, folder = path.resolve(), path.parent.resolve()
        if target == folder or target in folder.parents:
            return f"symlink loop: points to its own enclosing folder {target}"
        return f"symlinked folder, not followed: {target}"
    return "not a regular file (a FIFO, socket or device)"


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
            or (glob.has_magic(source) and any(True for _ in _iglob(source)))
        ):
            raise SourceNotFound(f"no such file, directory or glob match: {source!r}")
