"""Local files, directories (walked recursively) and globs as a lazy stream of work units."""

from __future__ import annotations

import fnmatch
import glob
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from flows.core.units import Rejection, RejectReason, WorkUnit, internal_error, printable


class SourceNotFound(FileNotFoundError):
    """A SOURCE argument matches nothing on disk."""


def fingerprint(st: os.stat_result) -> str:
    """Cheap change detector: a changed file gets a new size or mtime."""
    return f"{st.st_size}:{st.st_mtime_ns}"


class Unreadable:
    """A folder that cannot be listed (permissions, I/O error): one input, rejected
    read_error, so that what it would hold is accounted for instead of silently missing."""

    __slots__ = ("error", "path")

    def __init__(self, path: str, error: OSError) -> None:
        self.path, self.error = path, error


def _walk(root: str) -> Iterator[os.DirEntry[str] | Unreadable]:
    """Every entry below ``root`` except folders, in a stable order: a folder's entries sorted
    by name, then its subfolders, each the same way (ties are won by the later item).

    Symlinked folders are not followed, so a symlink loop cannot trap the walk; they are
    yielded like files, so discovery accounts for each with a rejection instead of dropping it
    silently; so is a folder that cannot be listed (``Unreadable``). ``scandir`` entries carry
    the file type, so a file costs one ``stat`` in all. An explicit stack, not recursion:
    any depth of nesting is walked.
    """
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted((e for e in it if not e.name.startswith(".")), key=_name)
        except OSError as exc:
            yield Unreadable(folder, exc)
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


def _iglob(pattern: str, unreadable: list[Unreadable] | None = None) -> Iterator[Path]:
    """The matches ``glob.iglob(pattern, recursive=True)`` gives, except that ``**`` never
    descends into a symlinked folder (glob does, so one symlink loop repeats every file ~40
    times and two loops in a folder make the expansion run practically for ever), and that
    any depth is matched: an explicit stack, where glob and pathlib recurse once per level
    and fail past Python's recursion limit.

    A ``**`` part matches zero or more folders; a trailing ``**`` matches the folder itself
    (discovery walks it). As with glob, a name starting with a dot is matched only by a
    pattern part starting with one. A folder that cannot be listed is added to
    ``unreadable``, when given.
    """
    parts = Path(pattern).parts
    fixed = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    base = str(Path(*parts[:fixed])) if fixed else ""  # "": the current folder, as glob
    # ** counts only as a whole part; inside a part glob treats it as *.
    rest = [p if p == "**" else p.replace("**", "*") for p in parts[fixed:]]
    seen: set[tuple[str, int]] = set()
    stack: list[tuple[str, int]] = [(base, 0)]
    while stack:
        folder, i = stack.pop()
        if (folder, i) in seen:
            continue
        seen.add((folder, i))
        if i == len(rest):
            yield Path(folder)
            continue
        part = rest[i]
        if part == "**":
            stack.append((folder, i + 1))  # zero folders
            stack.extend((sub, i) for sub in _subfolders(folder, unreadable))
            continue
        last = i == len(rest) - 1
        for entry in _entries(folder, unreadable):
            if _part_matches(entry.name, part) and (last or _is_dir(entry)):
                stack.append((os.path.join(folder, entry.name), i + 1))


def _entries(folder: str, unreadable: list[Unreadable] | None) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder or os.curdir) as it:
            return list(it)
    except FileNotFoundError:
        return []  # a literal part of the pattern that is not there: no match
    except OSError as exc:
        if unreadable is not None and not isinstance(exc, NotADirectoryError):
            unreadable.append(Unreadable(folder or os.curdir, exc))
        return []


def _subfolders(folder: str, unreadable: list[Unreadable] | None) -> list[str]:
    """The folders ``**`` descends into: never a symlinked one, never a hidden one."""
    return [
        os.path.join(folder, e.name)
        for e in _entries(folder, unreadable)
        if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)
    ]


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _part_matches(name: str, part: str) -> bool:
    if name.startswith(".") and not part.startswith("."):
        return False
    return fnmatch.fnmatchcase(name, part) if glob.has_magic(part) else name == part


def _expand(source: str) -> Iterator[Path | os.DirEntry[str] | Unreadable]:
    path = Path(source)
    if path.is_dir():
        yield from _walk(source)
    elif path.exists() or path.is_symlink():
        yield path
    elif glob.has_magic(source):
        unreadable: list[Unreadable] = []
        matches = sorted(_iglob(source, unreadable))
        if not matches and not unreadable:
            raise SourceNotFound(f"no file matches {source!r}")
        walked: list[Path] = []
        for match in matches:
            if walked and match.is_relative_to(walked[-1]):
                continue  # `dir/**` matches dir and all below it: walk it once (sorted order)
            if match.is_dir() and not match.is_symlink():
                walked.append(match)
                yield from _walk(str(match))
            else:  # a symlinked folder is yielded as itself: discovery rejects it
                yield match
        # Folders the pattern could not look into: counted, not skipped (once: a walk that
        # met one has already given it).
        told: set[str] = set()
        for folder in unreadable:
            if folder.path not in told and not any(
                Path(folder.path).is_relative_to(w) for w in walked
            ):
                told.add(folder.path)
                yield folder
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
            if isinstance(found, Unreadable):
                yield Rejection(
                    printable(found.path),
                    RejectReason.READ_ERROR,
                    printable(
                        f"folder cannot be read: {type(found.error).__name__}: {found.error}"
                    ),
                )
                continue
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
    return WorkUnit(
        source=source, path=os.path.abspath(name), fingerprint=fingerprint(st), size=st.st_size
    )


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
