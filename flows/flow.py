"""The Prefect flows. They only wire plain functions: discover, transform batches, load, report."""

from __future__ import annotations

import functools
import itertools
import logging
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb
from prefect import Flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import SyncClientContext, TagsContext
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote
from pydantic_core import to_jsonable_python

from flows import artifacts, headstart, progress
from flows.clock import process_started_at
from flows.discover import check_all
from flows.load import (
    RunRecord,
    WarehouseBusy,
    connect,
    load_run,
    prepare_run,
)
from flows.lock import run_lock
from flows.pool import PoolClosed, WorkerPool, open_pool
from flows.prefect_tls import share_api_context
from flows.route import Router, plan
from flows.settings import (
    BATCH_SIZE,
    DEFAULT_WAREHOUSE,
    DOC_TIME_BUDGET_S,
    USER_AGENT,
    worker_count,
)
from flows.sqlfiles import sql
from flows.threads import Stopped, run_in_thread
from flows.units import BatchResult, WorkUnit
from flows.web.options import Validator, WebOptions

SAMPLE_REJECTS = 50

# Every process that imports these flows (the command line, a deployment's run) gives
# Prefect's API clients one TLS context instead of one each (flows/prefect_tls.py).
share_api_context()


class Executor(Protocol):
    size: int

    def run_batch(self, units: list[WorkUnit], staging_dir: str, batch_id: str) -> BatchResult: ...

    def close(self, force: bool = False) -> None: ...


_EXECUTORS: dict[str, Executor] = {}  # per run: shared by its batch tasks (threads)

# Every task here has effects (staging files, the warehouse) and reports what it did: there
# is nothing to cache, and NO_CACHE spares hashing a batch's inputs for a key (8 ms for 400).


def _raised(state: Any) -> Exception | None:
    """The exception a failed task run raised (None if it did not fail)."""
    try:
        state.result()
    except Exception as exc:
        return exc
    return None


def _transient(task: object, task_run: object, state: Any) -> bool:
    """Retry what may pass (a busy database, a locked or vanished file), never a bug or bad data."""
    return isinstance(_raised(state), (WarehouseBusy, duckdb.IOException, OSError))


@task(
    name="prepare-warehouse",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[1, 5],
    retry_condition_fn=_transient,
)
def prepare_warehouse(
    warehouse: str, keep: str | None = None
) -> tuple[dict[str, str], dict[str, Validator]]:
    """Create tables and views, recover a crashed run; return what earlier runs saw."""
    known, rows = prepare_run(Path(warehouse), keep)
    return known, {row[0]: Validator(*row) for row in rows}


def _not_closing(task: object, task_run: object, state: Any) -> bool:
    """Retry a failed batch (a worker lost to the machine), unless the run is ending."""
    error = _raised(state)
    return error is not None and not isinstance(error, PoolClosed)


@task(
    name="transform-batch",
    task_run_name="batch-{batch_no}",
    cache_policy=NO_CACHE,
    retries=1,
    retry_delay_seconds=2,
    retry_condition_fn=_not_closing,
)
def transform_batch(units: list[WorkUnit], staging: str, run_id: str, batch_no: int) -> BatchResult:
    """Extract articles from one batch in a worker process; write its staging Parquet parts."""
    result = _EXECUTORS[run_id].run_batch(units, staging, f"{batch_no:06d}")
    get_run_logger().info(
        "batch %d: %d items -> %d articles, %d rejected in %.1f s",
        batch_no,
        result.items,
        result.articles,
        result.rejected,
        result.seconds,
    )
    return result


@task(
    name="load-warehouse",
    retries=2,
    retry_delay_seconds=[5, 20],
    retry_condition_fn=_transient,
    cache_policy=NO_CACHE,
)
def load_warehouse(
    warehouse: str, run: RunRecord, articles: list[str], rejects: list[str], validators: list[str]
) -> dict[str, Any]:
    """Merge the run into DuckDB in one transaction and publish its Parquet file."""
    counts, parquet_file = load_run(Path(warehouse), run, articles, rejects, validators)
    return {"counts": counts, "parquet_file": parquet_file}


@task(name="publish-report", retries=1, retry_delay_seconds=2, cache_policy=NO_CACHE)
def publish_report(warehouse: str, summary: dict[str, Any], name: str) -> None:
    """Summary, first rejects and articles per day as artifacts in the Prefect UI."""
    con = connect(Path(warehouse), read_only=True)
    try:
        rejects = con.execute(
            sql("load/report_rejects.sql"), {"run_id": summary["run_id"], "limit": SAMPLE_REJECTS}
        ).fetchall()
        per_day = con.execute(sql("load/report_per_day.sql")).fetchall()
    finally:
        con.close()
    artifacts.publish_summary(summary, name)
    artifacts.publish_rejects(rejects, name)
    artifacts.publish_per_day(per_day, name)


def _short(source: str) -> str:
    """A readable label: a URL's host and path, or a path's last two parts."""
    if "://" in source:
        return source.split("://", 1)[1][:40]
    return "/".join(Path(source).parts[-2:]) or source


def _run_name() -> str:
    params = flow_run.parameters or {}
    sources = params.get("sources") or []
    label = ", ".join(_short(str(s)) for s in sources[:2]) + (" …" if len(sources) > 2 else "")
    return f"ingest {label} -> {_short(str(params.get('warehouse', DEFAULT_WAREHOUSE)))}"[:100]


class _Flow(Flow[Any, Any]):
    """A flow whose parameters are plain JSON values.

    Prefect records a run's parameters with FastAPI's encoder, and importing FastAPI costs
    0.4 s of every run's start; pydantic's encoder, already loaded, gives the same JSON.
    """

    def serialize_parameters(self, parameters: dict[str, Any]) -> dict[str, Any]:
        try:
            return {key: to_jsonable_python(value) for key, value in parameters.items()}
        except Exception:  # a value it cannot encode: Prefect's way, with its placeholders
            return super().serialize_parameters(parameters)


def flow(**options: Any) -> Callable[[Callable[..., Any]], _Flow]:
    """``@prefect.flow`` for our flows."""
    return lambda fn: _Flow(fn=fn, **options)


def _open_executor(workers: int | None, dask_address: str | None, budget_s: float) -> Executor:
    if dask_address:
        from flows.dask_executor import DaskExecutor

        return DaskExecutor(dask_address, budget_s=budget_s)
    # Warm workers on the cores this process leaves idle while it prepares and discovers (the
    # command line spawns them earlier still): the first batch starts at once, and a run with
    # nothing to do costs no contention.
    return open_pool(workers or worker_count(), budget_s)


@flow(
    name="ingest",
    flow_run_name=_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=8),
)
async def ingest(
    sources: list[str],
    warehouse: str = str(DEFAULT_WAREHOUSE),
    batch_size: int = BATCH_SIZE,
    workers: int | None = None,
    time_budget_s: float = DOC_TIME_BUDGET_S,
    lock_wait_s: float = 60.0,
    allow_private_network: bool = False,
    user_agent: str = USER_AGENT,
    per_host_concurrency: int = 2,
    min_delay_s: float = 0.5,
    dask_address: str | None = None,
    staging: str | None = None,
) -> dict[str, Any]:
    """Ingest articles into the warehouse: extract, transform with trafilatura, load DuckDB.

    An async flow: ``await ingest(...)``, or ``asyncio.run(ingest(...))`` from synchronous code.

    Args:
        sources: Files, directories (walked recursively) or globs of archived feed items and
            saved HTML pages (optionally gzipped); http(s) URLs of article pages, RSS/Atom
            feeds or XML sitemaps; text files listing such URLs (one per line, # comments).
        warehouse: Folder of the warehouse: articles.duckdb and the parquet/ dataset.
        batch_size: Items per transform task; hundreds keep Prefect's overhead negligible.
        workers: Worker processes for the CPU-bound transform (default: all cores).
        time_budget_s: Time allowed for one document before it is rejected as `timeout`.
        lock_wait_s: How long to wait for another ingest of the same warehouse to finish.
        allow_private_network: Fetch URLs whose host is on a loopback or private network.
        user_agent: The User-Agent of every request (robots.txt rules are matched to it).
        per_host_concurrency: At most this many requests at once to one host.
        min_delay_s: At least this long between request starts to one host (robots.txt
            Crawl-delay raises it).
        dask_address: Address of a Dask scheduler (tcp://host:8786) to run the batches on a
            cluster instead of local worker processes.
        staging: Folder for the batches' Parquet parts; with a Dask cluster it must be a
            folder every worker can reach (default: the warehouse's staging/ folder).
    """
    params = dict(locals())
    # Tags (`with prefect.tags(...)` around the call) label the flow run; its task runs do
    # not inherit them, as in a deployment's run: a tagged task run costs an API call to
    # check tag concurrency limits, and the first one starts a service for it (0.2 s).
    try:
        with TagsContext(current_tags=set()):
            work = functools.partial(_ingest, **params)
            return await run_in_thread(work, name="ingest")
    except Exception as exc:
        logger = get_run_logger()
        # One line that says why, before Prefect's traceback.
        logger.error("ingest failed: %s", str(exc).strip().splitlines()[0] if str(exc) else exc)
        raise


def _ingest(stop: threading.Event, **params: Any) -> dict[str, Any]:
    # Prefect's async engine opens no sync client: open one for the run, as its sync engine
    # does, so that task runs and artifacts share it instead of each building a new one.
    with SyncClientContext.get_or_create():
        return _ingest_with_client(stop, params)


def _ingest_with_client(stop: threading.Event, params: dict[str, Any]) -> dict[str, Any]:
    started, t0 = datetime.now(UTC), time.perf_counter()
    check_all(params["sources"])
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    # Workers start now (spawn and imports take seconds) and overlap with the preparation.
    executor = _open_executor(params["workers"], params["dask_address"], params["time_budget_s"])
    head = None
    if isinstance(executor, WorkerPool):  # what the command line began before Prefect started
        head = headstart.take(
            params["sources"],
            params["warehouse"],
            params["batch_size"],
            executor.size,
            params["staging"],
        )
    if head is not None:
        started, t0 = head.started, head.t0
    finished = False
    try:
        with run_lock(Path(params["warehouse"]), params["lock_wait_s"]):
            summary = _run(params, executor, started, stop, head)
        finished = True
    finally:
        executor.close(force=not finished)  # a failed run's batches in flight are of no use
        if head is not None:
            head.release()
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    done = summary["inputs"] - summary["skipped_unchanged"]
    summary["pages_per_s"] = round(done / summary["seconds"], 1) if summary["seconds"] else 0.0
    get_run_logger().info(
        "run %s: %d inputs = %s", summary["run_id"], summary["inputs"], summary["reconciliation"]
    )
    publish_report(params["warehouse"], summary, _run_name())
    summary["finished_at"] = time.time()  # the benchmark measures the exit cost from here
    return summary


def _run(
    params: dict[str, Any],
    executor: Executor,
    started: datetime,
    stop: threading.Event,
    head: headstart.HeadStart | None,
) -> dict[str, Any]:
    logger = get_run_logger()
    sources: list[str] = list(params["sources"])
    warehouse: str = params["warehouse"]
    web_options = WebOptions(
        user_agent=params["user_agent"],
        per_host_concurrency=params["per_host_concurrency"],
        min_delay_s=params["min_delay_s"],
        allow_private_network=params["allow_private_network"],
    )
    if head is not None:
        head.wait_read()
    known, validators = prepare_warehouse(warehouse, head.run_id if head else None)
    if head is not None and not head.stands(known):
        logger.info("head start dropped: the warehouse changed before this run took it over")
        head.discard()
        head = None
    if head is not None and head.router is not None:
        run_id, stage, total, router = head.run_id, head.stage, head.total, head.router
        # Its first batches are running; discovery goes on from where it stopped.
        chunks = itertools.chain(head.first, head.rest)
        _EXECUTORS[run_id] = headstart.Adopted(executor, head.running)
    else:
        head = None
        run_id = headstart.new_run_id(started)
        stage = headstart.run_stage(warehouse, params["staging"], run_id)
        stage.mkdir(parents=True, exist_ok=True)
        router, total, chunks = plan(
            sources, stage, known, web_options, validators, params["batch_size"], executor.size
        )
        _EXECUTORS[run_id] = executor
    bar = artifacts.ProgressArtifact(_run_name())
    logger.info("run %s: %d local inputs in %s", run_id, total, ", ".join(sources))
    results: list[BatchResult] = []
    in_flight: deque[PrefectFuture[BatchResult]] = deque()

    def collect(future: PrefectFuture[BatchResult]) -> None:
        # Wait on the future's own completion (not its `state`, which asks the API each time),
        # a slice at a time so that a cancelled run stops here at once.
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        while not done.wait(0.5):
            if stop.is_set():
                raise Stopped("the run was cancelled")
        results.append(future.result())
        seen = sum(r.items for r in results) + router.skipped + router.rejects.count
        bar.update(seen, max(total, router.inputs))
        progress.notify(seen, max(total, router.inputs))

    try:
        for batch_no, chunk in enumerate(chunks, start=1):
            if stop.is_set():
                raise Stopped("the run was cancelled")
            in_flight.append(transform_batch.submit(quote(chunk), str(stage), run_id, batch_no))
            while len(in_flight) > 2 * executor.size:  # bounded memory, all workers busy
                collect(in_flight.popleft())
        while in_flight:
            collect(in_flight.popleft())
        router.flush()
    finally:
        _EXECUTORS.pop(run_id, None)
    # The workers' memory is not needed by the load: free it before DuckDB takes its share.
    executor.close()
    progress.notify(router.inputs, router.inputs)
    bar.update(router.inputs, router.inputs)

    task_runs = len(results) + 3  # prepare, one per batch, load, report
    record = RunRecord(
        run_id=run_id,
        flow_run_id=str(flow_run.id) if flow_run.id else None,
        started_at=started,
        sources=" ".join(sources)[:2000],
        inputs=router.inputs,
        skipped_unchanged=router.skipped,
        task_runs=task_runs,
    )
    loaded = load_warehouse(
        warehouse,
        record,
        [r.articles_path for r in results if r.articles_path],
        [r.rejects_path for r in results if r.rejects_path] + router.rejects.parts,
        router.validators.parts,
    )
    shutil.rmtree(stage, ignore_errors=True)  # a --staging folder outside the warehouse too
    summary = _summary(run_id, router, results, loaded, task_runs)
    # Fixed cost: from the process's start (interpreter, imports, Prefect) until a worker
    # began the first batch.
    if results:
        summary["first_batch_at"] = min(r.started_at for r in results)
        summary["startup_s"] = round(summary["first_batch_at"] - process_started_at(), 2)
    return summary


def _summary(
    run_id: str,
    router: Router,
    results: list[BatchResult],
    loaded: dict[str, Any],
    task_runs: int,
) -> dict[str, Any]:
    counts = loaded["counts"]
    duplicates = counts.transformed - (counts.new + counts.updated + counts.unchanged)
    skipped, inputs = router.skipped, router.inputs
    accounted = skipped + counts.rejected + counts.new + counts.updated + counts.unchanged
    accounted += duplicates
    reasons = dict(router.reasons)
    for r in results:
        for reason, n in r.reasons.items():
            reasons[reason] = reasons.get(reason, 0) + n
    reconciliation = (
        f"{counts.new} new + {counts.updated} updated + {counts.unchanged} unchanged + "
        f"{duplicates} duplicates + {counts.rejected} rejected + {skipped} skipped unchanged"
    )
    if accounted != inputs:  # never lose a record silently
        raise RuntimeError(
            f"count mismatch: {inputs} inputs but {accounted} accounted for ({reconciliation})"
        )
    return {
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
        "seconds": 0.0,  # set by the caller once the lock is released
        "pages_per_s": 0.0,
        "reasons": dict(sorted(reasons.items())),
        "parquet_file": loaded["parquet_file"],
        "workers": sorted({r.worker for r in results}),
        "reconciliation": reconciliation,
    }


@task(name="compact-parquet", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def compact_task(warehouse: str) -> tuple[int, int, int]:
    """Rewrite small Parquet files into large ones: same rows, same schema."""
    from flows.maintenance import compact_parquet  # pyarrow: not in every ingest's start

    return compact_parquet(Path(warehouse))


@task(name="prune-lineage-and-checkpoint", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def prune_task(warehouse: str, retention_days: int) -> int:
    """Delete lineage past the retention (keeping each url's current record), checkpoint DuckDB."""
    from flows.maintenance import prune_lineage

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
