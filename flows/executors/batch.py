"""One batch of work units -> one staging Parquet part of articles and one of rejects.

Runs wherever the batch is sent: a local worker process, or a Dask worker on another machine
(then ``staging_dir`` must be a folder every worker can reach).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from flows.core.atomic import write_parquet
from flows.core.dates import is_plausible, parse_iso
from flows.core.schema import REJECT_SCHEMA, STAGING_SCHEMA
from flows.core.settings import DOC_TIME_BUDGET_S
from flows.core.units import (
    TRANSIENT_REASONS,
    Article,
    BatchResult,
    Rejection,
    RejectReason,
    WorkUnit,
    internal_error,
    row,
)
from flows.extract.read import Unreadable, read_bytes
from flows.load.resume import RESUME_ARTICLES, RESUME_DIGEST, RESUME_REJECTS

Progress = Callable[[int], None]


_WATCH_TICK_S = 0.1  # how often a thread's CPU clock is read against its budget


class DocumentTimeout(Exception):
    """A document spent its CPU-time budget."""


def _expired(_signum: int, _frame: object) -> None:
    raise DocumentTimeout


_signal_depth = 0  # budget_signal() contexts open in this process's main thread


@contextmanager
def budget_signal() -> Iterator[None]:
    """Our SIGPROF handler, installed once around many documents (in the main thread; a no-op
    elsewhere): installing and restoring it for every document cost a batch of small items
    more than arming their timers."""
    global _signal_depth
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGPROF, _expired) if _signal_depth == 0 else None
    _signal_depth += 1
    try:
        yield
    finally:
        _signal_depth -= 1
        if _signal_depth == 0:
            signal.signal(signal.SIGPROF, previous)


@contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Raise DocumentTimeout in this thread once it has spent ``seconds`` of CPU time.

    CPU time, not wall-clock time, so that a busy machine does not turn pages into timeouts.
    In a process's main thread (local workers) the kernel counts it (ITIMER_PROF, SIGPROF: the
    worker does one document at a time); elsewhere (a Dask worker thread) a watchdog reads this
    thread's CPU clock and sets an asynchronous exception. Both fire at the next Python
    bytecode: code that never returns from C is left to the parent's wall-clock ceiling,
    which kills the worker.
    """
    if seconds <= 0:
        yield
        return
    if threading.current_thread() is threading.main_thread():
        with budget_signal():  # nested in a batch's: only the timer is set per document
            signal.setitimer(signal.ITIMER_PROF, seconds)
            try:
                yield
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
        return
    target = threading.get_ident()
    clock = time.pthread_getcpuclockid(target)
    deadline = time.clock_gettime(clock) + seconds
    done = threading.Event()

    def _watch() -> None:
        while not done.wait(min(_WATCH_TICK_S, seconds)):
            if time.clock_gettime(clock) >= deadline:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(target), ctypes.py_object(DocumentTimeout)
                )
                return

    watchdog = threading.Thread(target=_watch, name="time-budget", daemon=True)
    watchdog.start()
    try:
        yield
    finally:
        done.set()
        watchdog.join()


def transform_unit(unit: WorkUnit, run_start: datetime | None = None) -> Article | Rejection:
    """Read one input (extract) and turn its bytes into an article or a reject (transform).

    Never raises for bad input. ``run_start`` bounds the plausible dates (None: now).
    """
    from flows.transform.article import transform_document  # heavy (trafilatura): workers only

    try:
        raw = read_bytes(unit)
    except Unreadable as exc:
        return Rejection(unit.source, exc.reason, exc.detail[:500], unit.seq, unit.fingerprint)
    return transform_document(unit, raw, run_start)


def transform_with_budget(
    unit: WorkUnit, budget_s: float, run_start: datetime | None = None
) -> Article | Rejection:
    """``transform_unit`` within a CPU-time budget; whatever it raises rejects this unit only."""
    try:
        with time_budget(budget_s):
            return transform_unit(unit, run_start)
    except DocumentTimeout:
        return Rejection(
            unit.source,
            RejectReason.TIMEOUT,
            f"over the {budget_s:g} s CPU-time budget",
            unit.seq,
            unit.fingerprint,
        )
    except Exception as exc:  # isolation: whatever one input raises rejects that input alone
        return internal_error(unit.source, exc, unit.seq, unit.fingerprint)


def crawled_at(unit: WorkUnit) -> datetime | None:
    """A WARC record's WARC-Date: when it was crawled (lineage, never the article's timestamp)."""
    # The same parser and window as every other date: a WARC-Date in year 9999 is no crawl time
    value = parse_iso(unit.meta.get("crawled_at"), naive_is_utc=True)
    return value if value is not None and is_plausible(value) else None


def articles_table(rows: list[dict[str, object]], rejects: list[Rejection]) -> pa.Table:
    """The articles as one table; a row Arrow cannot hold becomes that input's reject, so one
    article can never lose the batch its neighbours are in."""
    try:
        return pa.Table.from_pylist(rows, schema=STAGING_SCHEMA)
    except (pa.ArrowException, ValueError, TypeError, UnicodeError):
        pass
    good: list[dict[str, object]] = []
    for one in rows:
        try:
            pa.Table.from_pylist([one], schema=STAGING_SCHEMA)
        except (pa.ArrowException, ValueError, TypeError, UnicodeError) as exc:
            rejects.append(
                internal_error(
                    str(one["source"]),
                    exc,
                    int(one["seq"]),  # type: ignore[call-overload]
                    one["fingerprint"],  # type: ignore[arg-type]
                )
            )
            continue
        good.append(one)
    return pa.Table.from_pylist(good, schema=STAGING_SCHEMA)


class _Earlier:
    """Outcomes a killed run left for the batch's inputs (flows/load/resume.py), by part file."""

    def __init__(self) -> None:
        self.parts: dict[str, dict[str, dict[str, object]]] = {}

    def _rows(self, path: str, digest: str) -> dict[str, dict[str, object]]:
        """The part's rows by source, read once, and only when its bytes are the ones the
        flow process checked (``digest``): a part swapped since is not taken."""
        if path not in self.parts:
            self.parts[path] = {}
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
                if digest and hashlib.sha256(data).hexdigest() == digest:
                    table = pq.read_table(pa.BufferReader(data))
                    self.parts[path] = {str(r["source"]): r for r in table.to_pylist()}
            except (OSError, pa.ArrowException):  # gone or damaged: transform the inputs
                pass
        return self.parts[path]

    def outcome(self, unit: WorkUnit) -> dict[str, object] | Rejection | None:
        """The unit's earlier article row or (lasting) reject, with this run's ``seq``."""
        for key in (RESUME_ARTICLES, RESUME_REJECTS):
            path = unit.meta.get(key)
            digest = unit.meta.get(RESUME_DIGEST + key, "")
            found = self._rows(path, digest).get(unit.source) if path else None
            if found is None:
                continue
            if key == RESUME_ARTICLES:
                return {**found, "seq": unit.seq, "fingerprint": unit.fingerprint}
            if found["reason"] in TRANSIENT_REASONS:
                return None  # may pass this time
            detail = str(found["detail"] or "")
            return Rejection(unit.source, str(found["reason"]), detail, unit.seq, unit.fingerprint)
        return None


def process_batch(
    units: Sequence[WorkUnit],
    staging_dir: str,
    batch_id: str,
    *,
    budget_s: float = DOC_TIME_BUDGET_S,
    run_start: datetime | None = None,
    preset: dict[int, Rejection] | None = None,
    progress: Progress | None = None,
) -> BatchResult:
    """Transform every unit; ``preset`` holds outcomes already decided (a document that hung).

    ``run_start`` is the run's start, which bounds plausible dates in every document alike.
    """
    started = time.perf_counter()
    result = BatchResult(
        batch_id=batch_id,
        items=len(units),
        worker=f"{socket.gethostname()}:{os.getpid()}",
        started_at=time.time(),
    )
    articles: list[Article | dict[str, object]] = []  # new, or kept from a killed run
    rejects: list[Rejection] = []
    earlier = _Earlier()
    from flows.transform.about import load_language_model, settle_languages  # workers only
    from flows.transform.signature import sign_articles

    load_language_model()  # once per process, outside every document's budget
    with budget_signal():  # once for the batch, not once per document
        for index, unit in enumerate(units):
            if progress is not None:
                progress(index)
            kept = earlier.outcome(unit)
            if kept is not None:
                result.resumed += 1
                if isinstance(kept, Rejection):
                    rejects.append(kept)
                else:
                    articles.append(kept)
                continue
            outcome = (preset or {}).get(index) or transform_with_budget(unit, budget_s, run_start)
            if isinstance(outcome, Article):
                outcome.crawled_at = crawled_at(unit)
                articles.append(outcome)
            else:
                rejects.append(outcome)
    new = [a for a in articles if isinstance(a, Article)]
    settle_languages(new)  # the side columns a batch computes together, after its transforms
    sign_articles(new)
    if progress is not None:
        progress(len(units))

    out = Path(staging_dir)
    rows = [row(a) if isinstance(a, Article) else a for a in articles]
    table = articles_table(rows, rejects) if rows else None
    if table is not None and table.num_rows:
        result.articles_path = str(out / f"articles-{batch_id}.parquet")
        write_parquet(table, Path(result.articles_path))
    if rejects:
        result.rejects_path = str(out / f"rejects-{batch_id}.parquet")
        lost = [row(r) for r in rejects]
        write_parquet(pa.Table.from_pylist(lost, schema=REJECT_SCHEMA), Path(result.rejects_path))
    result.articles = table.num_rows if table is not None else 0
    result.rejected = len(rejects)
    for r in rejects:
        result.reasons[r.reason] = result.reasons.get(r.reason, 0) + 1
    result.seconds = time.perf_counter() - started
    return result
