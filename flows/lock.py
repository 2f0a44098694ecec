"""One ingest at a time per warehouse: an advisory file lock with a bounded wait."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class WarehouseLocked(RuntimeError):
    """Another ingest run holds the warehouse."""


@contextmanager
def run_lock(warehouse: Path, wait_s: float) -> Iterator[None]:
    warehouse.mkdir(parents=True, exist_ok=True)
    path = warehouse / ".ingest.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                    raise WarehouseLocked(
                        f"another ingest (pid {holder}) is writing {warehouse}; "
                        f"waited {wait_s:g} s, try again later"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock, also when the process dies
