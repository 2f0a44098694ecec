"""Worker processes for the CPU-bound transform, with a watchdog per document.

Prefect tasks (threads in the flow process) hand whole batches to these processes, so Prefect
and DuckDB stay out of the workers, and a page that hangs inside C code cannot stall a run:
the parent kills the worker, rejects that page as ``timeout`` and re-sends the rest.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

import psutil

from flows.core.settings import DOC_HARD_KILL_S, DOC_TIME_BUDGET_S, WORKER_MAX_DOCS, WORKER_MAX_RSS
from flows.core.units import BatchResult, Rejection, RejectReason, WorkUnit

_CTX = mp.get_context("spawn")  # never fork: a forked child inherits DuckDB and Prefect state


class WorkerError(RuntimeError):
    """A batch failed for a reason that is not one document's fault."""


class PoolClosed(WorkerError):
    """The run is ending (cancelled or failed): batches in flight stop, none is retried."""


GC_GEN0_THRESHOLD = 10_000  # Python's default is 700


def tune_collector() -> None:
    """Garbage-collector settings for a process that only transforms documents.

    Parsing a page allocates many short-lived containers, so at Python's default threshold
    the collector runs every few hundred allocations and each full pass walks every object
    the imports left behind. Moving those to the permanent generation and collecting the
    young generation less often halves the collector's share of a worker's time; garbage
    is still collected, each document's cycles within about ten documents.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def _worker_main(conn: Connection, progress: Any) -> None:
    # Import the extractor now, while the parent is still preparing the run, so the first
    # batch finds the worker warm. (Only workers import the batch code and pyarrow.)
    import flows.transform.article  # noqa: F401
    from flows.executors.batch import process_batch
    from flows.transform.about import load_language_model

    load_language_model()  # before the freeze: the model's tables are never garbage
    tune_collector()

    def report(index: int) -> None:
        progress[1] = time.monotonic()
        progress[0] = index

    while True:
        try:
            job = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if job is None:
            return
        units, staging_dir, batch_id, budget_s, run_start, preset = job
        try:
            result = process_batch(
                units,
                staging_dir,
                batch_id,
                budget_s=budget_s,
                run_start=run_start,
                preset=preset,
                progress=report,
            )
            conn.send(("ok", result))
        except Exception as exc:  # reported to the parent, which fails the task (retryable)
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


@dataclass
class _Worker:
    process: Any
    conn: Connection
    progress: Any
    docs: int = 0

    def ask_to_stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            self.ask_to_stop()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self.conn.close()


def _rss(worker: _Worker) -> int:
    try:
        return psutil.Process(worker.process.pid).memory_info().rss
    except psutil.Error:
        return 0


class WorkerPool:
    """A fixed set of spawn-started processes; ``run_batch`` is thread-safe and blocking."""

    def __init__(
        self,
        workers: int,
        *,
        budget_s: float = DOC_TIME_BUDGET_S,
        hard_kill_s: float = DOC_HARD_KILL_S,
        max_docs: int = WORKER_MAX_DOCS,
        max_rss: int = WORKER_MAX_RSS,
        run_start: datetime | None = None,
    ) -> None:
        self.size = workers
        self.budget_s = budget_s
        self.run_start = run_start
        self.hard_kill_s = hard_kill_s
        self.max_docs = max_docs
        self.max_rss = max_rss
        self.restarts = 0
        # None in the queue means closed: each waiter that takes it puts it back for the next.
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self._spawned = 0
        self._live: dict[int, _Worker] = {}  # by pid, idle or busy: what a forced close kills

    def start(self, count: int | None = None) -> None:
        """Spawn workers up to ``count`` (default: all; idempotent). The run calls it when it
        finds its first unit of work (and every batch does), so a run with nothing to
        transform spawns none."""
        with self._lock:
            target = self.size if count is None else min(count, self.size)
            while self._spawned < target:
                self._idle.put(self._start())
                self._spawned += 1

    @property
    def pids(self) -> list[int]:
        """The worker processes alive now, idle or busy (none before the first batch)."""
        return sorted(self._live)

    def current_document(self, pid: int) -> int:
        """Where worker ``pid`` is in its batch: the index of its document, -1 before one."""
        return int(self._live[pid].progress[0])

    def _start(self) -> _Worker:
        parent, child = _CTX.Pipe()
        progress = _CTX.Array("d", [-1.0, time.monotonic()], lock=False)
        process = _CTX.Process(
            target=_worker_main, args=(child, progress), daemon=True, name="article-etl-worker"
        )
        process.start()
        child.close()
        worker = _Worker(process, parent, progress)
        assert process.pid is not None  # typed optional for a process not started yet
        self._live[process.pid] = worker
        return worker

    def _retire(self, worker: _Worker, kill: bool) -> None:
        worker.stop(kill=kill)
        self._live.pop(worker.process.pid, None)

    def _replace(self, worker: _Worker, kill: bool) -> _Worker:
        self._retire(worker, kill=kill)
        with self._lock:
            self.restarts += 1
        return self._start()

    def run_batch(self, units: Sequence[WorkUnit], staging_dir: str, batch_id: str) -> BatchResult:
        """Run one batch on an idle worker, replacing one that hangs or dies on a document."""
        if self._closed:
            raise PoolClosed("the worker pool is closed")
        self.start()
        preset: dict[int, Rejection] = {}
        worker = self._take()
        try:
            if self._closed:  # closed while this batch waited: the worker is not to be used
                raise PoolClosed("the worker pool is closed")
            while True:
                worker.progress[0], worker.progress[1] = -1.0, time.monotonic()
                worker.conn.send(
                    (list(units), staging_dir, batch_id, self.budget_s, self.run_start, preset)
                )
                outcome = self._wait(worker, len(units))
                if self._closed and not isinstance(outcome, BatchResult):
                    raise PoolClosed("the run ended while this batch was in a worker")
                if isinstance(outcome, BatchResult):
                    worker.docs += len(units)
                    if worker.docs >= self.max_docs or _rss(worker) > self.max_rss:
                        # Recycle: bounds memory creep (a leak, a pathological page's residue).
                        worker = self._replace(worker, kill=False)
                    return outcome
                if isinstance(outcome, str):
                    raise WorkerError(outcome)
                index, reason, detail = outcome
                if index < 0 or index >= len(units) or index in preset:
                    worker = self._replace(worker, kill=True)
                    raise WorkerError(f"worker failed outside any document: {detail}")
                unit = units[index]
                preset[index] = Rejection(unit.source, reason, detail, unit.seq, unit.fingerprint)
                worker = self._replace(worker, kill=True)
        finally:
            if self._closed:  # closed while this batch ran: nothing will take the worker
                self._retire(worker, kill=True)
            else:
                self._idle.put(worker)

    def _take(self) -> _Worker:
        # A blocking get: waiters are served in the order they came (a timed poll would send
        # each to the back of the line, so a large batch could be left to run last).
        worker = self._idle.get()
        if worker is None:
            self._idle.put(None)
            raise PoolClosed("the worker pool is closed")
        return worker

    def _wait(self, worker: _Worker, n: int) -> BatchResult | str | tuple[int, str, str]:
        while True:
            if worker.conn.poll(0.1):
                try:
                    status, payload = worker.conn.recv()
                except (EOFError, OSError):
                    return self._died(worker)
                return payload if status == "ok" else str(payload)
            if not worker.process.is_alive():
                return self._died(worker)
            index, since = int(worker.progress[0]), worker.progress[1]
            if 0 <= index < n and time.monotonic() - since > self.hard_kill_s:
                return index, RejectReason.TIMEOUT, f"killed after {self.hard_kill_s:g} s"

    @staticmethod
    def _died(worker: _Worker) -> tuple[int, str, str]:
        worker.process.join(timeout=1)
        code = worker.process.exitcode
        return (
            int(worker.progress[0]),
            RejectReason.PARSE_ERROR,
            f"worker process died (exit code {code}) on this document",
        )

    def close(self, force: bool = False) -> None:
        """Stop the idle workers; ``force`` kills the busy ones too, failing their batches at
        once (a cancelled run) instead of letting them finish."""
        self._closed = True
        if force:
            for worker in list(self._live.values()):
                with contextlib.suppress(OSError):
                    worker.process.kill()
        idle: list[_Worker] = []
        while True:
            try:
                waiting = self._idle.get_nowait()
            except queue.Empty:
                break
            if waiting is not None:
                idle.append(waiting)
        self._idle.put(None)  # wakes the batches waiting for a worker: they fail as closed
        # A worker that never got work may still be importing: no state to lose, kill it.
        # The others are all told first, so that their exits overlap (on the way to the load).
        kills = [force or worker.docs == 0 for worker in idle]
        for worker, kill in zip(idle, kills, strict=True):
            if not kill:
                worker.ask_to_stop()
        for worker, kill in zip(idle, kills, strict=True):
            self._retire(worker, kill=kill)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
