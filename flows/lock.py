"""One ingest at a time per warehouse: an advisory file lock with a bounded wait."""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class WarehouseLocked(RuntimeError):
    """Another ingest run holds the warehouse."""


def tell(message: str) -> None:
    """Say why we wait (or what we adapted): in the run's log inside a Prefect run, else one
    line on stderr."""
    if "prefect" in sys.modules:  # never import Prefect just for this: queries stay fast
        from prefect.exceptions import MissingContextError
        from prefect.logging import get_run_logger

        try:
            get_run_logger().warning(message)
            return
        except MissingContextError:
            pass
    print(f"article-etl: {message}", file=sys.stderr, flush=True)


@contextmanager
def run_lock(warehouse: Path, wait_s: float) -> Iterator[None]:
    warehouse.mkdir(parents=True, exist_ok=True)
    path = warehouse / ".ingest.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    told = False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                if time.monotonic() >= deadline:
                    raise WarehouseLocked(
                        f"another ingest (pid {holder}) is writing {warehouse}; "
                        f"waited {wait_s:g} s, try again later"
                    ) from None
                if not told:
                    tell(
                        f"another ingest (pid {holder}) is writing {warehouse}; "
                        f"waiting up to {wait_s:g} s for it to finish"
                    )
                    told = True
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock, also when the process dies
