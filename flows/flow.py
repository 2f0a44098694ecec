"""The Prefect flows. They only wire plain functions: discover, transform batches, load, report."""

from __future__ import annotations

import itertools
import time
import uuid
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from prefect import flow, get_run_logger, task
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from flows import artifacts, progress
from flows.batch import BatchResult, write_parquet_atomic
from flows.extract.files import check_sources, count_files, discover_files
from flows.load import RunRecord, load_run, prepare, staging_dir
from flows.lock import run_lock
from flows.maintenance import compact_parquet, prune_lineage
from flows.pool import WorkerPool
from flows.schema import REJECT_SCHEMA
from flows.settings import BATCH_SIZE, DEFAULT_WAREHOUSE, DOC_TIME_BUDGET_S, worker_count
from flows.units import Rejection, WorkUnit

_POOLS: dict[str, WorkerPool] = {}  # per run: worker processes shared by the batch tasks
SAMPLE_REJECTS = 50


@task(name="prepare-warehouse", retries=2, retry_delay_seconds=[1, 5])
def prepare_warehouse(warehouse: str) -> dict[str, str]:
    """Create tables and views, recover a crashed run, return the fingerprints of known inputs."""
    return prepare(Path(warehouse))


@task(
    name="transform-batch",
    task_run_name="batch-{batch_no}",
    retries=1,
    retry_delay_seconds=2,
)
def transform_batch(units: list[WorkUnit], staging: str, run_id: str, batch_no: int) -> BatchResult:
    """Extract articles from one batch in a worker process; write its staging Parquet parts."""
    result = _POOLS[run_id].run_batch(units, staging, f"{batch_no:06d}")
    get_run_logger().info(
        "batch %d: %d items -> %d articles, %d rejected in %.1f s",
        batch_no,
        result.items,
        result.articles,
        result.rejected,
        result.seconds,
    )
    return result


@task(name="load-warehouse", retries=1, retry_delay_seconds=5)
def load_warehouse(
    warehouse: str, run: RunRecord, article_parts: list[str], reject_parts: list[str]
) -> dict[str, Any]:
    """Merge the run into DuckDB in one transaction and publish its Parquet file."""
    counts, parquet_file = load_run(Path(warehouse), run, article_parts, reject_parts)
    return {"counts": counts, "parquet_file": parquet_file}


def _run_name() -> str:
    params = flow_run.parameters or {}
    sources = params.get("sources") or []
    label = ", ".join(_short(str(s)) for s in sources[:2]) + (" …" if len(sources) > 2 else "")
    return f"ingest {label} -> {_short(str(params.get('warehouse', DEFAULT_WAREHOUSE)))}"[:100]


def _short(source: str) -> str:
    """A readable label: a URL's host and path, or a path's last two parts."""
    if "://" in source:
        return source.split("://", 1)[1][:40]
    return "/".join(Path(source).parts[-2:]) or source


def _numbered(units: Iterator[WorkUnit | Rejection]) -> Iterator[WorkUnit | Rejection]:
    for seq, unit in enumerate(units):
        unit.seq = seq
        yield unit


class _RejectSink:
    """Rejections found before the transform (unreadable files), written as staging parts."""

    def __init__(self, staging: Path) -> None:
        self.staging, self.rows, self.parts, self.count = staging, [], [], 0
        self.samples: list[tuple[str, str, str]] = []
        self.reasons: dict[str, int] = {}

    def add(self, r: Rejection) -> None:
        self.rows.append(
            {
                "source": r.source,
                "reason": r.reason,
                "detail": r.detail,
                "seq": r.seq,
                "fingerprint": r.fingerprint,
            }
        )
        self.count += 1
        self.reasons[r.reason] = self.reasons.get(r.reason, 0) + 1
        if len(self.samples) < SAMPLE_REJECTS:
            self.samples.append((r.source, r.reason, r.detail))
        if len(self.rows) >= 1000:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            path = self.staging / f"rejects-discovery-{len(self.parts):04d}.parquet"
            write_parquet_atomic(pa.Table.from_pylist(self.rows, schema=REJECT_SCHEMA), path)
            self.parts.append(str(path))
            self.rows = []


@flow(
    name="ingest",
    flow_run_name=_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=8),
    log_prints=True,
)
def ingest(
    sources: list[str],
    warehouse: str = str(DEFAULT_WAREHOUSE),
    batch_size: int = BATCH_SIZE,
    workers: int | None = None,
    time_budget_s: float = DOC_TIME_BUDGET_S,
    lock_wait_s: float = 60.0,
) -> dict[str, Any]:
    """Ingest article files into the warehouse: extract, transform with trafilatura, load DuckDB.

    Args:
        sources: Files, directories (walked recursively) or globs of archived feed items and
            saved HTML pages (optionally gzipped).
        warehouse: Folder of the warehouse: articles.duckdb and the parquet/ dataset.
        batch_size: Items per transform task; hundreds keep Prefect's overhead negligible.
        workers: Worker processes for the CPU-bound transform (default: all cores).
        time_budget_s: Time allowed for one document before it is rejected as `timeout`.
        lock_wait_s: How long to wait for another ingest of the same warehouse to finish.
    """
    logger = get_run_logger()
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    check_sources(sources)
    wh = Path(warehouse)
    name = _run_name()
    with run_lock(wh, lock_wait_s):
        known = prepare_warehouse(warehouse)
        run_id = f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        staging = staging_dir(wh, run_id)
        staging.mkdir(parents=True, exist_ok=True)
        total = count_files(sources)
        bar = artifacts.ProgressArtifact(name)
        logger.info("run %s: %d inputs found in %s", run_id, total, ", ".join(sources))

        pool = WorkerPool(workers or worker_count(), budget_s=time_budget_s)
        _POOLS[run_id] = pool
        results: list[BatchResult] = []
        sink = _RejectSink(staging)
        done = 0
        in_flight: deque[PrefectFuture[BatchResult]] = deque()
        max_in_flight = 2 * pool.size

        def collect(future: PrefectFuture[BatchResult]) -> None:
            nonlocal done
            result = future.result()
            results.append(result)
            done += result.items
            seen = done + counters[1] + sink.count
            bar.update(seen, total)
            progress.notify(seen, total)

        try:
            stream = _numbered(discover_files(sources))
            counters = [0, 0]  # inputs, skipped unchanged
            fresh = _partition(stream, known, sink, counters)
            for batch_no, chunk in enumerate(_chunks(fresh, batch_size), start=1):
                in_flight.append(
                    transform_batch.submit(quote(chunk), str(staging), run_id, batch_no)
                )
                while len(in_flight) > max_in_flight:
                    collect(in_flight.popleft())
            while in_flight:
                collect(in_flight.popleft())
            sink.flush()
        finally:
            pool.close()
            _POOLS.pop(run_id, None)
        inputs, skipped = counters
        progress.notify(total, total)
        bar.update(total, total)

        task_runs = len(results) + 2  # prepare, one per batch, load
        record = RunRecord(
            run_id=run_id,
            flow_run_id=str(flow_run.id) if flow_run.id else None,
            started_at=started,
            sources=" ".join(sources)[:2000],
            inputs=inputs,
            skipped_unchanged=skipped,
            task_runs=task_runs,
        )
        loaded = load_warehouse(
            warehouse,
            record,
            [r.articles_path for r in results if r.articles_path],
            [r.rejects_path for r in results if r.rejects_path] + sink.parts,
        )
    counts = loaded["counts"]
    seconds = time.perf_counter() - t0
    duplicates = counts.transformed - (counts.new + counts.updated + counts.unchanged)
    accounted = (
        skipped + counts.rejected + counts.new + counts.updated + counts.unchanged + duplicates
    )
    summary: dict[str, Any] = {
        "run_id": run_id,
        "inputs": inputs,
        "new": counts.new,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "duplicates": duplicates,
        "rejected": counts.rejected,
        "skipped_unchanged": skipped,
        "batches": len(results),
        "task_runs": task_runs,
        "seconds": round(seconds, 2),
        "pages_per_s": round((inputs - skipped) / seconds, 1) if seconds else 0.0,
        "reasons": _reject_reasons(results, sink),
        "parquet_file": loaded["parquet_file"],
        "reconciliation": (
            f"{counts.new} new + {counts.updated} updated + {counts.unchanged} unchanged + "
            f"{duplicates} duplicates + {counts.rejected} rejected + {skipped} skipped unchanged"
        ),
    }
    if accounted != inputs:
        raise RuntimeError(
            f"count mismatch: {inputs} inputs but {accounted} accounted for "
            f"({summary['reconciliation']})"
        )
    logger.info("run %s: %d inputs = %s", run_id, inputs, summary["reconciliation"])
    samples = list(sink.samples)
    for r in results:
        samples.extend(r.sample_rejects[: SAMPLE_REJECTS - len(samples)])
    artifacts.publish_summary(summary, name)
    artifacts.publish_rejects(samples[:SAMPLE_REJECTS], name)
    return summary


def _reject_reasons(results: list[BatchResult], sink: _RejectSink) -> dict[str, int]:
    reasons = dict(sink.reasons)
    for r in results:
        for reason, n in r.reasons.items():
            reasons[reason] = reasons.get(reason, 0) + n
    return dict(sorted(reasons.items()))


def _partition(
    stream: Iterator[WorkUnit | Rejection],
    known: dict[str, str],
    sink: _RejectSink,
    counters: list[int],
) -> Iterator[WorkUnit]:
    """Route discovery output: rejections to the sink, unchanged inputs skipped, the rest on."""
    for item in stream:
        counters[0] += 1
        if isinstance(item, Rejection):
            sink.add(item)
        elif item.fingerprint is not None and known.get(item.source) == item.fingerprint:
            counters[1] += 1
        else:
            yield item


def _chunks(units: Iterator[WorkUnit], size: int) -> Iterator[list[WorkUnit]]:
    while chunk := list(itertools.islice(units, size)):
        yield chunk


@task(name="compact-parquet", retries=1, retry_delay_seconds=5)
def compact_task(warehouse: str) -> tuple[int, int, int]:
    """Rewrite small Parquet files into large ones: same rows, same schema."""
    return compact_parquet(Path(warehouse))


@task(name="prune-lineage-and-checkpoint", retries=1, retry_delay_seconds=5)
def prune_task(warehouse: str, retention_days: int) -> int:
    """Delete lineage past the retention (keeping each url's current record), checkpoint DuckDB."""
    return prune_lineage(Path(warehouse), retention_days)


@flow(name="maintenance", flow_run_name="maintenance {warehouse}")
def maintenance(
    warehouse: str = str(DEFAULT_WAREHOUSE),
    lineage_retention_days: int = 90,
    lock_wait_s: float = 600.0,
) -> dict[str, int]:
    """Compact the Parquet dataset, checkpoint DuckDB and prune old lineage.

    Args:
        warehouse: Folder of the warehouse to maintain.
        lineage_retention_days: Lineage records older than this are deleted, except the record
            of each url's current version.
        lock_wait_s: How long to wait for a running ingest of the same warehouse to finish.
    """
    logger = get_run_logger()
    with run_lock(Path(warehouse), lock_wait_s):  # nothing else writes meanwhile
        prepare_warehouse(warehouse)
        before, after, rows = compact_task(warehouse)
        pruned = prune_task(warehouse, lineage_retention_days)
    logger.info("parquet files %d -> %d (%d rows); lineage pruned %d", before, after, rows, pruned)
    return {"files_before": before, "files_after": after, "rows": rows, "lineage_pruned": pruned}
