"""Files appear whole or not at all: written aside under a temporary name, synced, renamed."""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)``, fsync, rename to ``path``: readers and globs never see a partial file
    (the temporary name starts with a dot, which globs skip)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet(table: pa.Table, path: Path) -> None:
    """One zstd Parquet file, atomically."""
    import pyarrow.parquet as pq

    write_atomic(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # renameat2(2): swap the two paths in one step


def exchange(a: Path, b: Path) -> None:
    """Swap two paths (here: two folders) in one atomic step, Linux's renameat2 with
    RENAME_EXCHANGE: a reader resolves either the old folder or the new one, never a mix.

    Raises OSError (ENOSYS, EINVAL, ...) where the C library or the file system lacks it."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available", str(a))
    done = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if done != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(a), None, str(b))


def fsync_dir(folder: Path) -> None:
    """Make a folder's entries (a rename into it, a new name) durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def regular_file(path: Path) -> bool:
    """A regular file itself, not a symlink to one (that could lead anywhere)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def real_dir(path: Path) -> bool:
    """A folder itself, not a symlink to one."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False
