"""The maintenance flow: convert an older warehouse's storage format, compact small Parquet
files, checkpoint DuckDB, prune old lineage."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.artifacts import artifact_key
from flows.core.params import validate_params
from flows.core.schema import ARTICLE_SCHEMA
from flows.core.settings import DEFAULT_WAREHOUSE, PARQUET_DIRNAME, STORAGE_VERSION
from flows.core.sqlfiles import sql
from flows.load.warehouse import (
    COMPACTION_LOG,
    connect,
    convert_storage,
    crash_point,
    db_path,
    finish_compaction,
    prepare_run,
    run_lock,
)

SMALL_FILE_BYTES = 32 * 1024 * 1024


def compact_parquet(warehouse: Path, small_bytes: int = SMALL_FILE_BYTES) -> tuple[int, int, int]:
    """Rewrite the small files into as few as possible: same rows, same schema.

    The new file is written aside, then a log naming it and the files it replaces, then the
    rename, then the deletes. A crash before the rename leaves the dataset as it was; after
    it, rows are in the glob twice until ``finish_compaction`` (here, or at the next ingest's
    recovery) deletes the replaced files.
    """
    folder = warehouse / PARQUET_DIRNAME
    if folder.is_dir():
        finish_compaction(folder)
    files = sorted(p for p in folder.glob("*.parquet")) if folder.is_dir() else []
    small = [p for p in files if p.stat().st_size < small_bytes]
    if len(small) < 2:
        return len(files), len(files), sum(pq.ParquetFile(p).metadata.num_rows for p in files)
    name = f"compact-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}.parquet"
    tmp = folder / f".{name}.tmp"
    rows = 0
    with pq.ParquetWriter(tmp, ARTICLE_SCHEMA, compression="zstd") as writer:
        for path in small:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=20_000):
                writer.write_batch(batch.cast(ARTICLE_SCHEMA))
                rows += batch.num_rows
    _fsync(tmp)
    # The log appears atomically too: a torn list would leave replaced files behind.
    log_tmp = folder / f".{COMPACTION_LOG}.tmp"
    log_tmp.write_text("\n".join([name, *(p.name for p in small)]), encoding="utf-8")
    _fsync(log_tmp)
    os.replace(log_tmp, folder / COMPACTION_LOG)
    crash_point("compaction_before_rename")
    os.replace(tmp, folder / name)
    crash_point("compaction_after_rename")
    finish_compaction(folder)
    after = sorted(folder.glob("*.parquet"))
    total = sum(pq.ParquetFile(p).metadata.num_rows for p in after)
    return len(files), len(after), total


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def prune_lineage(warehouse: Path, retention_days: int) -> int:
    """Drop lineage older than the retention, but never the record of a url's current version."""
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    con = connect(warehouse)
    try:
        con.execute("BEGIN TRANSACTION")
        before = con.execute("SELECT count(*) FROM lineage").fetchone()[0]
        con.execute(sql("maintenance/prune_lineage.sql"), {"cutoff": cutoff})
        after = con.execute("SELECT count(*) FROM lineage").fetchone()[0]
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return before - after


@task(name="compact-parquet", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def compact_task(warehouse: str) -> tuple[int, int, int]:
    """Rewrite small Parquet files into large ones: same rows, same schema."""
    return compact_parquet(Path(warehouse))


@task(name="prune-lineage-and-checkpoint", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def prune_task(warehouse: str, retention_days: int) -> int:
    """Delete lineage past the retention (keeping each url's current record), checkpoint DuckDB."""
    return prune_lineage(Path(warehouse), retention_days)


@task(name="convert-storage", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def convert_task(warehouse: str) -> str | None:
    """Rewrite a warehouse written in a newer DuckDB storage format in the one we write."""
    return convert_storage(Path(warehouse))


def require_warehouse(warehouse: Path) -> None:
    """Maintenance works on a warehouse that exists: a mistyped folder is an error, not a new
    empty warehouse."""
    if not db_path(warehouse).is_file():
        raise FileNotFoundError(
            f"no warehouse at {db_path(warehouse)} (parameter warehouse, --warehouse): "
            "check the folder, or run `article-etl ingest` first"
        )


@task(name="prepare-warehouse", retries=2, retry_delay_seconds=[1, 5], cache_policy=NO_CACHE)
def prepare_task(warehouse: str) -> None:
    """Create what is missing and finish what a crashed run left."""
    prepare_run(Path(warehouse))


@flow(name="maintenance", flow_run_name="maintenance {warehouse}")
def maintenance(
    warehouse: str = str(DEFAULT_WAREHOUSE),
    lineage_retention_days: int = 90,
    lock_wait_s: float = 600.0,
) -> dict[str, int | str]:
    """Convert an older storage format, compact the Parquet dataset, checkpoint DuckDB and
    prune old lineage.

    Args:
        warehouse: Folder of the warehouse to maintain.
        lineage_retention_days: Lineage records older than this are deleted, except the record
            of each url's current version.
        lock_wait_s: How long to wait for a running ingest of the same warehouse to finish.
    """
    logger = get_run_logger()
    validate_params({"lineage_retention_days": lineage_retention_days, "lock_wait_s": lock_wait_s})
    require_warehouse(Path(warehouse))
    with run_lock(Path(warehouse), lock_wait_s):  # nothing else writes meanwhile
        converted = convert_task(warehouse)
        prepare_task(warehouse)
        before, after, rows = compact_task(warehouse)
        pruned = prune_task(warehouse, lineage_retention_days)
    if converted:
        logger.info("storage format %s -> %s", converted.rstrip("+"), STORAGE_VERSION)
    logger.info("parquet files %d -> %d (%d rows); lineage pruned %d", before, after, rows, pruned)
    result: dict[str, int | str] = {
        "storage_format": f"{converted.rstrip('+')} -> {STORAGE_VERSION}"
        if converted
        else f"{STORAGE_VERSION} (unchanged)",
        "files_before": before,
        "files_after": after,
        "rows": rows,
        "lineage_pruned": pruned,
    }
    create_table_artifact(
        [{"measure": k, "value": v} for k, v in result.items()],
        key=f"{artifact_key(f'maintenance {warehouse}')}-summary",
        description="Maintenance: storage format, Parquet compaction, lineage pruned",
    )
    return result
