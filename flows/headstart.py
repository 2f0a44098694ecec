"""A head start: the command line's first batches run while Prefect starts.

Importing Prefect and creating the flow run take 2 to 3 s on one core, and until the flow
submits its first batch the cores wait. So the command line, before it imports Prefect,
starts a thread that reads what the warehouse already holds (read-only), walks the local
sources, spawns the workers and sends each its first batch. The flow then takes the run
over under its lock: if the warehouse still holds what the head start read, those batches
become the run's first batch tasks and discovery goes on where it stopped; if not (another
run loaded meanwhile), the head start's work is thrown away and the run starts afresh.
Web sources get no head start: their discovery is the fetching.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from flows.discover import split_sources
from flows.load import OWNER_FILE, claim, known_fingerprints, staging_dir
from flows.pool import WorkerPool
from flows.route import Router, plan
from flows.units import BatchResult, WorkUnit
from flows.web.options import WebOptions

Key = tuple[tuple[str, ...], str, int, int, str | None]


def new_run_id(started: datetime) -> str:
    return f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def run_stage(warehouse: str, staging: str | None, run_id: str) -> Path:
    """A run's staging folder: under --staging when given, else in the warehouse."""
    return Path(staging) / run_id if staging else staging_dir(Path(warehouse), run_id)


def key(
    sources: Sequence[str], warehouse: str, batch_size: int, workers: int, staging: str | None
) -> Key:
    return tuple(sources), warehouse, batch_size, workers, staging


class HeadStart:
    """Discovery and the first batch per worker, begun from a thread before the flow exists."""

    def __init__(
        self,
        sources: Sequence[str],
        warehouse: str,
        batch_size: int,
        staging: str | None,
        pool: WorkerPool,
    ) -> None:
        self.sources = list(sources)
        self.key = key(sources, warehouse, batch_size, pool.size, staging)
        self.pool = pool
        self.started = datetime.now(UTC)
        self.t0 = time.perf_counter()
        self.run_id = new_run_id(self.started)
        self.stage = run_stage(warehouse, staging, self.run_id)
        self.known: dict[str, str] = {}
        self.total = 0
        self.router: Router | None = None
        self.rest: Iterator[list[WorkUnit]] = iter(())
        self.first: list[list[WorkUnit]] = []
        self.running: dict[str, concurrent.futures.Future[BatchResult]] = {}
        self.error: BaseException | None = None
        self._warehouse, self._batch_size = Path(warehouse), batch_size
        self._claim: int | None = None
        self._read = threading.Event()  # the read-only connection is closed
        self._done = threading.Event()
        threading.Thread(target=self._begin, name="head-start", daemon=True).start()

    def _begin(self) -> None:
        try:
            try:
                # No waiting: a warehouse in use means another run, and no head start.
                self.known = known_fingerprints(self._warehouse, wait_s=0)
            finally:
                self._read.set()
            self._claim = claim(self.stage)  # another run's recovery must not take it
            self.router, self.total, self.rest = plan(
                self.sources,
                self.stage,
                self.known,
                WebOptions(),
                {},
                self._batch_size,
                self.pool.size,
            )
            for batch_no in range(1, self.pool.size + 1):
                chunk = next(self.rest, None)
                if chunk is None:
                    break
                self.first.append(chunk)
                self._send(chunk, f"{batch_no:06d}")
        except Exception as exc:  # the flow starts afresh and meets the error itself
            self.error = exc
        finally:
            self._read.set()
            self._done.set()

    def _send(self, units: list[WorkUnit], batch_id: str) -> None:
        future: concurrent.futures.Future[BatchResult] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(self.pool.run_batch(units, str(self.stage), batch_id))
            except BaseException as exc:  # handed to the batch task, which may retry
                future.set_exception(exc)

        self.running[batch_id] = future
        # Daemon threads: a command that fails before the flow takes over must still exit.
        threading.Thread(target=run, name=f"head-start-{batch_id}", daemon=True).start()

    def wait_read(self) -> None:
        """Until its read-only connection is closed (DuckDB will not open the file read-write
        in the same process meanwhile)."""
        self._read.wait()

    def join(self) -> None:
        """Until its first batches are sent (or it failed)."""
        self._done.wait()

    def stands(self, known: dict[str, str]) -> bool:
        """Under the run lock: whether the warehouse still holds what the head start read."""
        self.join()
        if self.error is not None or self.router is None or known != self.known:
            return False
        # Another run's recovery may have removed the folder before it was claimed.
        return (self.stage / OWNER_FILE).exists()

    def discard(self) -> None:
        """Throw the work away: let its batches end (a worker cannot be told to drop one),
        then remove what they wrote."""
        self.join()
        concurrent.futures.wait(list(self.running.values()))
        self.running.clear()
        shutil.rmtree(self.stage, ignore_errors=True)
        self.release()

    def release(self) -> None:
        """End the claim on the staging folder (the run has loaded it, or failed)."""
        fd, self._claim = self._claim, None
        if fd is not None:
            os.close(fd)


class Adopted:
    """The run's executor with the head start's batches: those answer from what is already
    running; retries and every later batch go to the pool as usual."""

    def __init__(
        self, pool: WorkerPool, running: dict[str, concurrent.futures.Future[BatchResult]]
    ) -> None:
        self.pool = pool
        self.size = pool.size
        self._running = running

    def run_batch(self, units: list[WorkUnit], staging_dir: str, batch_id: str) -> BatchResult:
        future = self._running.pop(batch_id, None)
        if future is None:
            return self.pool.run_batch(units, staging_dir, batch_id)
        return future.result()

    def close(self, force: bool = False) -> None:
        self.pool.close(force=force)


_pending: HeadStart | None = None


def begin(
    sources: Sequence[str],
    warehouse: str,
    batch_size: int,
    staging: str | None,
    pool: WorkerPool,
) -> HeadStart | None:
    """Start a head start for the run the command line is about to make (local sources)."""
    global _pending
    if split_sources(sources)[1]:
        return None
    _pending = HeadStart(sources, warehouse, batch_size, staging, pool)
    return _pending


def take(
    sources: Sequence[str], warehouse: str, batch_size: int, workers: int, staging: str | None
) -> HeadStart | None:
    """The pending head start if it was made for this run; any other is thrown away."""
    global _pending
    head, _pending = _pending, None
    if head is None:
        return None
    if head.key != key(sources, warehouse, batch_size, workers, staging):
        head.discard()
        return None
    return head
