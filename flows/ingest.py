"""The ingest flow: it only wires the stages (prepare, discover, transform batches, load,
report), each a thin task over plain functions."""

from __future__ import annotations

import logging
import queue
import shutil
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from flows import artifacts, progress
from flows.core.params import validate_params
from flows.core.settings import (
    BATCH_SIZE,
    DEFAULT_WAREHOUSE,
    DOC_TIME_BUDGET_S,
    INGEST_LOCK_WAIT_S,
    MAX_INTERNAL_ERROR_SHARE,
    MIN_DELAY_S,
    PER_HOST_CONCURRENCY,
    STAGING_DIRNAME,
    USER_AGENT,
    WARC_BASE_URL,
    hard_kill_s,
    worker_count,
)
from flows.core.sqlfiles import sql
from flows.core.units import TRANSIENT_REASONS, BatchResult, RejectReason, WorkUnit
from flows.executors.base import Executor
from flows.executors.pool import PoolClosed, WorkerPool
from flows.extract.discover import check_all
from flows.extract.web.downloaded import DownloadedFiles
from flows.extract.web.options import WebOptions
from flows.load.known import Known
from flows.load.merge import RunRecord, load_run
from flows.load.resume import Resume, note_batch, resume_key
from flows.load.search import index as search_index
from flows.load.warehouse import (
    WarehouseBusy,
    connect,
    point_to_staging,
    prepare_run,
    require_writable,
    run_lock,
    staging_dir,
)
from flows.plan import Router, plan

SAMPLE_REJECTS = 50

# Every task here has effects (staging files, the warehouse) and reports what it did: there
# is nothing to cache.


class SystemicFailure(RuntimeError):
    """Too many inputs failed with internal_error: the good ones are loaded, the run fails."""


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


def _not_closing(task: object, task_run: object, state: Any) -> bool:
    """Retry a failed batch (a worker lost to the machine), unless the run is ending or the
    cluster cannot see the files (that does not pass)."""
    from flows.executors.dask import ClusterSetupError

    error = _raised(state)
    return error is not None and not isinstance(error, (PoolClosed, ClusterSetupError))


@task(
    name="prepare-warehouse",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[1, 5],
    retry_condition_fn=_transient,
)
def prepare_warehouse(warehouse: str) -> None:
    """Create tables and views, recover a crashed run, bring the search index in step."""
    prepare_run(Path(warehouse))
    search_index.keep_in_step(Path(warehouse), _index_progress)


@task(
    name="transform-batch",
    task_run_name="batch-{batch_no}",
    cache_policy=NO_CACHE,
    retries=1,
    retry_delay_seconds=2,
    retry_condition_fn=_not_closing,
)
def transform_batch(
    executor: Executor, units: list[WorkUnit], staging: str, batch_no: int
) -> BatchResult:
    """Extract articles from one batch on the executor; write its staging Parquet parts."""
    return executor.run_batch(units, staging, f"{batch_no:06d}")


@task(
    name="load-warehouse",
    retries=2,
    retry_delay_seconds=[5, 20],
    retry_condition_fn=_transient,
    cache_policy=NO_CACHE,
)
def load_warehouse(
    warehouse: str,
    run: RunRecord,
    articles: list[str],
    rejects: list[str],
    validators: list[str],
    sources: list[str] | None = None,
) -> dict[str, Any]:
    """Merge the run into DuckDB in one transaction and publish its Parquet file."""
    counts, parquet_file = load_run(
        Path(warehouse), run, articles, rejects, validators, sources or []
    )
    return {"counts": counts, "parquet_file": parquet_file}


@task(name="publish-report", retries=1, retry_delay_seconds=2, cache_policy=NO_CACHE)
def publish_report(warehouse: str, summary: dict[str, Any], name: str) -> None:
    """Summary, first rejects and articles per day as artifacts in the Prefect UI.

    Only what the run changed is read back: its rejects if it had any, and the chart (a scan
    of all articles, seconds at 10 million) only if it loaded something; a run that loaded
    nothing leaves the key's last chart, which still holds, and opens no connection."""
    loaded = summary.get("new", 0) + summary.get("updated", 0)
    rejects: list[tuple[Any, ...]] = []
    per_day: list[tuple[Any, ...]] = []
    if loaded or summary.get("rejected", 0):
        con = connect(Path(warehouse), read_only=True)
        try:
            if summary.get("rejected", 0):
                params = {"run_id": summary["run_id"], "limit": SAMPLE_REJECTS}
                rejects = con.execute(sql("report/rejects.sql"), params).fetchall()
            if loaded:
                per_day = con.execute(sql("report/per_day.sql")).fetchall()
        finally:
            con.close()
    artifacts.publish_summary(summary, name)
    artifacts.publish_rejects(rejects, name)
    if loaded:
        artifacts.publish_per_day(per_day, name)


def _index_progress(done: int, total: int) -> None:
    """A search index built for an existing warehouse: a log line every 10,000 articles."""
    if done % 10_000 == 0 or done == total:
        get_run_logger().info("search index: %d of %d articles", done, total)


LABEL_CHARS = 48


def short_source(source: str) -> str:
    """A source as given (a URL without its scheme); a long one keeps its first and last
    parts, so that two runs' names differ where their sources do."""
    text = source.split("://", 1)[1] if "://" in source else source
    if len(text) <= LABEL_CHARS:
        return text
    return f"{text[: LABEL_CHARS // 3]}…{text[-(LABEL_CHARS - LABEL_CHARS // 3 - 1) :]}"


def _run_name() -> str:
    params = flow_run.parameters or {}
    sources = params.get("sources") or []
    label = ", ".join(short_source(str(s)) for s in sources[:2])
    label += " …" if len(sources) > 2 else ""
    return f"ingest {label} -> {short_source(str(params.get('warehouse', DEFAULT_WAREHOUSE)))}"


def open_executor(
    workers: int | None, dask_address: str | None, budget_s: float, run_start: datetime
) -> Executor:
    """The run's executor: a Dask cluster when given its address, else local processes."""
    if dask_address:
        from flows.executors.dask import DaskExecutor

        return DaskExecutor(dask_address, budget_s=budget_s, run_start=run_start)
    return WorkerPool(
        workers or worker_count(),
        budget_s=budget_s,
        hard_kill_s=hard_kill_s(budget_s),
        run_start=run_start,
    )


# The type parameter of Prefect's TaskRunner is invariant, so its own ThreadPoolTaskRunner does
# not match the decorator's annotation.
@flow(
    name="ingest",
    flow_run_name=_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=8),  # type: ignore[arg-type]
)
def ingest(
    sources: list[str],
    warehouse: str = str(DEFAULT_WAREHOUSE),
    batch_size: int = BATCH_SIZE,
    workers: int | None = None,
    time_budget_s: float = DOC_TIME_BUDGET_S,
    lock_wait_s: float = INGEST_LOCK_WAIT_S,
    allow_private_network: bool = False,
    user_agent: str = USER_AGENT,
    per_host_concurrency: int = PER_HOST_CONCURRENCY,
    min_delay_s: float = MIN_DELAY_S,
    dask_address: str | None = None,
    staging: str | None = None,
    max_internal_error_share: float = MAX_INTERNAL_ERROR_SHARE,
    warc_base_url: str = WARC_BASE_URL,
) -> dict[str, Any]:
    """Ingest articles into the warehouse: extract, transform with trafilatura, load DuckDB.

    Args:
        sources: Files, directories (walked recursively) or globs of archived feed items,
            saved HTML pages (optionally gzipped) and WARC files; http(s) URLs of article
            pages, RSS/Atom feeds, XML sitemaps or WARC files; text files listing such URLs
            (one per line, # comments); Common Crawl warc.paths.gz listings.
        warehouse: Folder of the warehouse: articles.duckdb and the parquet/ dataset.
        batch_size: At most this many items per transform task; a batch also ends at 100 MB
            of input, and the last rounds are smaller (at least 1 MB of input).
        workers: Worker processes for the CPU-bound transform (default: all cores).
        time_budget_s: CPU seconds one document may use before it is rejected as `timeout`.
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
        max_internal_error_share: When more than this share of the run's inputs (those not
            skipped as unchanged) fail with `internal_error`, the run loads the others and
            then ends Failed: a bug must not pass for bad data.
        warc_base_url: What the paths in a warc.paths.gz listing are relative to (Common
            Crawl's data host by default).
    """
    params = dict(locals())
    logger = get_run_logger()
    started, t0 = datetime.now(UTC), time.perf_counter()
    try:
        validate_params(params)
        require_writable(Path(warehouse))
        check_all(sources)
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
        executor = open_executor(workers, dask_address, time_budget_s, started)
        finished = False
        try:
            with run_lock(Path(warehouse), lock_wait_s):
                summary = _run(params, executor, started)
            finished = True
        finally:
            executor.close(force=not finished)  # a failed run's batches in flight are of no use
    except Exception as exc:
        # One line that says why, before Prefect's traceback.
        logger.error("ingest failed: %s", str(exc).strip().splitlines()[0] if str(exc) else exc)
        raise
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    done = summary["inputs"] - summary["skipped_unchanged"]
    summary["pages_per_s"] = round(done / summary["seconds"], 1) if summary["seconds"] else 0.0
    logger.info(
        "run %s: %d inputs = %s", summary["run_id"], summary["inputs"], summary["reconciliation"]
    )
    if summary["warning"]:
        logger.warning("%s", summary["warning"])
    publish_report(warehouse, summary, _run_name())
    systemic = systemic_failure(summary, max_internal_error_share)
    if systemic is not None:
        logger.error("ingest failed: %s", systemic)
        raise SystemicFailure(systemic)
    return summary


def systemic_failure(summary: dict[str, Any], max_share: float) -> str | None:
    """Why the run must fail although it loaded, or None: internal errors past the share."""
    errors = summary["reasons"].get(RejectReason.INTERNAL_ERROR, 0)
    processed = summary["inputs"] - summary["skipped_unchanged"]
    if not errors or errors <= max_share * processed:
        return None
    return (
        f"{errors} of {processed} inputs failed with internal_error "
        f"(more than {max_share:.0%}): a bug, not bad data; the other {processed - errors} "
        f"were loaded in run {summary['run_id']}; see its rejects for the exceptions"
    )


def _run(params: dict[str, Any], executor: Executor, started: datetime) -> dict[str, Any]:
    warehouse: str = params["warehouse"]
    web_options = WebOptions(
        user_agent=params["user_agent"],
        per_host_concurrency=params["per_host_concurrency"],
        min_delay_s=params["min_delay_s"],
        allow_private_network=params["allow_private_network"],
    )
    prepare_warehouse(warehouse)
    # What earlier runs saw is asked for the inputs discovery finds, chunk by chunk.
    known = Known(Path(warehouse))
    try:
        return _discover_and_load(params, executor, started, known, web_options)
    finally:
        known.close()


def _discover_and_load(
    params: dict[str, Any],
    executor: Executor,
    started: datetime,
    known: Known,
    web_options: WebOptions,
) -> dict[str, Any]:
    logger = get_run_logger()
    sources: list[str] = list(params["sources"])
    warehouse: str = params["warehouse"]
    run_id = f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    stage = (
        Path(params["staging"]) / run_id
        if params["staging"]
        else staging_dir(Path(warehouse), run_id)
    )
    stage = stage.absolute()  # workers may run in another folder, or on another machine
    stage.mkdir(parents=True, exist_ok=True)
    roots = [Path(warehouse).absolute() / STAGING_DIRNAME]
    pointer = None
    if params["staging"]:
        pointer = point_to_staging(Path(warehouse), run_id, stage)
        roots.append(stage.parent)
    key = resume_key(Path(warehouse))
    earlier = Resume(*roots, key=key)
    router, total, chunks = plan(
        sources,
        stage,
        known,
        web_options,
        known.validators,
        params["batch_size"],
        executor.size,
        params["warc_base_url"],
        # Workers take about a second to import the extractor: they start on the run's first
        # unit of work, while discovery fills the first batch, not after it.
        on_first_unit=executor.start,
    )
    downloads = DownloadedFiles()
    bar = artifacts.ProgressArtifact(_run_name())
    if total:
        logger.info("run %s: %d local inputs in %s", run_id, total, ", ".join(sources))
    else:  # feeds, sitemaps, URL lists: their inputs are known only once fetched
        logger.info(
            "run %s: reading %s (inputs are counted as they are fetched)",
            run_id,
            ", ".join(sources),
        )
    results: list[BatchResult] = []
    in_flight: dict[int, tuple[PrefectFuture[BatchResult], list[WorkUnit]]] = {}
    finished: queue.SimpleQueue[PrefectFuture[BatchResult]] = queue.SimpleQueue()
    chunk_numbers: dict[int, int] = {}

    def collect_one() -> None:
        # Whichever batch finishes first: waiting for the oldest would leave a worker idle
        # while a later, smaller batch is already done.
        future = finished.get()
        _, chunk = in_flight.pop(id(future))
        results.append(future.result())
        note_batch(stage, results[-1], chunk, key)
        downloads.done(chunk)
        seen = sum(r.items for r in results) + router.skipped + router.rejects.count
        expected = max(total, router.inputs)
        done = results[-1]
        # one line a batch, with the running total (Prefect adds its own "Finished" line)
        logger.info(
            "batch %d: %d items -> %d articles, %d rejected in %.1f s; %d of %d inputs done",
            chunk_numbers[id(future)],
            done.items,
            done.articles,
            done.rejected,
            done.seconds,
            seen,
            expected,
        )
        bar.update(seen, expected)
        progress.notify(seen, expected)

    for batch_no, chunk in enumerate(chunks, start=1):
        downloads.submitted(chunk)
        earlier.mark(chunk)
        # quote(x) hands x to the task as it is (no walk of its items); Prefect types it as
        # its wrapper, not as what the task receives.
        future = transform_batch.submit(  # type: ignore[call-overload]
            quote(executor), quote(chunk), str(stage), batch_no
        )
        in_flight[id(future)] = (future, chunk)
        chunk_numbers[id(future)] = batch_no
        future.add_done_callback(finished.put)
        while len(in_flight) > 2 * executor.size:  # bounded memory, all workers busy
            collect_one()
    while in_flight:
        collect_one()
    router.flush()
    known.close()  # discovery is over; the load opens the file to write
    logger.info(
        "run %s: inputs looked up in the warehouse: %d queries, %.2f s",
        run_id,
        known.queries,
        known.seconds,
    )
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
        router.files.parts,
    )
    shutil.rmtree(stage, ignore_errors=True)  # a --staging folder outside the warehouse too
    if pointer is not None:
        pointer.unlink(missing_ok=True)
    earlier.discard()
    summary = summarize(run_id, router, results, loaded, task_runs)
    if summary["resumed"]:
        logger.info("%d inputs took their outcome from a killed run", summary["resumed"])
    return summary


def summarize(
    run_id: str,
    router: Router,
    results: list[BatchResult],
    loaded: dict[str, Any],
    task_runs: int,
) -> dict[str, Any]:
    """The run's accounting; raises if any input is not accounted for."""
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
    warning = None
    if router.web_inputs and router.web_failed == router.web_inputs:
        failed = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()) if r in TRANSIENT_REASONS)
        warning = (
            f"every web source failed ({failed}): is the network or the site down? "
            "Nothing was fetched; the next run tries them again."
        )
    return {
        "warning": warning,
        "run_id": run_id,
        "inputs": inputs,
        "new": counts.new,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "duplicates": duplicates,
        "rejected": counts.rejected,
        "skipped_unchanged": skipped,
        "batches": len(results),
        "resumed": sum(r.resumed for r in results),
        "task_runs": task_runs,
        "seconds": 0.0,  # set by the flow once the lock is released
        "pages_per_s": 0.0,
        "reasons": dict(sorted(reasons.items())),
        "parquet_file": loaded["parquet_file"],
        "workers": sorted({r.worker for r in results}),
        "reconciliation": reconciliation,
    }
