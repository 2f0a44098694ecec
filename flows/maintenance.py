"""The maintenance flow: convert an older warehouse's storage format, compact small Parquet
files, checkpoint DuckDB, prune old lineage."""

from __future__ import annotations

import errno
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.artifacts import artifact_key
from flows.core.atomic import exchange, fsync_dir, regular_file
from flows.core.params import validate_params
from flows.core.schema import ARTICLE_SCHEMA
from flows.core.settings import (
    DEFAULT_WAREHOUSE,
    LINEAGE_RETENTION_DAYS,
    MAINTENANCE_LOCK_WAIT_S,
    PARQUET_DIRNAME,
    STORAGE_VERSION,
)
from flows.core.sqlfiles import sql
from flows.load.resume import remove
from flows.load.search import index as search_index
from flows.load.warehouse import (
    COMPACTION_LOG,
    NEXT_PARQUET_DIRNAME,
    connect,
    convert_storage,
    db_path,
    finish_compaction,
    prepare_run,
    run_lock,
    scalar,
    settle_compaction,
)

SMALL_FILE_BYTES = 32 * 1024 * 1024


def compact_parquet(warehouse: Path, small_bytes: int = SMALL_FILE_BYTES) -> tuple[int, int, int]:
    """Rewrite the small files into as few as possible: same rows, same schema.

    The next set of files is built in a folder beside the dataset (the files kept, hard
    linked; the compacted one, written whole), then swapped with ``parquet/`` in one step
    (``exchange``): a glob over ``parquet/*.parquet`` sees either the old set or the new one,
    each row once, also when the process dies at any point. The old set, now in the folder
    beside, is removed after; a crash before that leaves it for recovery
    (``settle_compaction``) to remove. Where the file system cannot swap folders, the older
    way: rename the new file in, then delete the replaced ones (a crash between the two shows
    their rows twice until the next run).
    """
    folder = warehouse / PARQUET_DIRNAME
    settle_compaction(warehouse)
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    small = [p for p in files if regular_file(p) and p.stat().st_size < small_bytes]
    if len(small) < 2:
        return len(files), len(files), sum(pq.ParquetFile(p).metadata.num_rows for p in files)
    name = f"compact-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}.parquet"
    swapped = _compact_by_exchange(warehouse, small, name)
    if not swapped:
        _compact_in_place(folder, small, name)
    after = sorted(folder.glob("*.parquet"))
    total = sum(pq.ParquetFile(p).metadata.num_rows for p in after)
    return len(files), len(after), total


def _write_compacted(path: Path, small: list[Path]) -> None:
    """The small files' rows, in order, in one file written under ``path`` and synced."""
    with pq.ParquetWriter(path, ARTICLE_SCHEMA, compression="zstd") as writer:
        for part in small:
            for batch in pq.ParquetFile(part).iter_batches(batch_size=20_000):
                writer.write_batch(batch.cast(ARTICLE_SCHEMA))
    _fsync(path)


def _compact_by_exchange(warehouse: Path, small: list[Path], name: str) -> bool:
    """Build the next set beside ``parquet/`` and swap the two folders; False (nothing
    changed) where the file system cannot, or ``parquet/`` holds what we cannot carry over."""
    folder = warehouse / PARQUET_DIRNAME
    nxt = warehouse / NEXT_PARQUET_DIRNAME
    replaced = {p.name for p in small}
    nxt.mkdir()
    try:
        for entry in folder.iterdir():
            if entry.name in replaced or entry.name.startswith("."):
                continue  # compacted, or a temporary file recovery would remove anyway
            if regular_file(entry):
                os.link(entry, nxt / entry.name, follow_symlinks=False)
            elif entry.is_symlink():  # someone else's link: carried over as a link
                os.symlink(os.readlink(entry), nxt / entry.name)
            else:  # a folder, a FIFO, ...: not ours to move; leave the dataset as it is
                raise OSError(errno.ENOTSUP, "not a file", str(entry))
        tmp = nxt / f".{name}.tmp"
        _write_compacted(tmp, small)
        os.replace(tmp, nxt / name)
        fsync_dir(nxt)
        exchange(nxt, folder)
    except OSError as exc:
        if exc.errno not in _NO_EXCHANGE:
            remove(nxt)
            raise
        remove(nxt)
        return False
    fsync_dir(warehouse)
    remove(nxt)  # the old set: its compacted files go, the kept ones live on in parquet/
    return True


# Errors that mean "this file system (or C library) cannot swap folders or hard link".
_NO_EXCHANGE = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EPERM, errno.EXDEV, errno.EMLINK}


def _compact_in_place(folder: Path, small: list[Path], name: str) -> None:
    """The fallback: the new file, a log naming it and the files it replaces, the rename, the
    deletes. A crash before the rename leaves the dataset as it was; after it, rows are in the
    glob twice until ``finish_compaction`` (here, or at the next run's recovery)."""
    tmp = folder / f".{name}.tmp"
    _write_compacted(tmp, small)
    write_compaction_log(folder, name, small)
    os.replace(tmp, folder / name)
    finish_compaction(folder)


def write_compaction_log(folder: Path, name: str, replaced: list[Path]) -> None:
    """Record the compacted file and the files it replaces, before it enters the glob."""
    # The log appears atomically too: a torn list would leave replaced files behind.
    log_tmp = folder / f".{COMPACTION_LOG}.tmp"
    log_tmp.write_text("\n".join([name, *(p.name for p in replaced)]), encoding="utf-8")
    _fsync(log_tmp)
    os.replace(log_tmp, folder / COMPACTION_LOG)


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def prune_lineage(warehouse: Path, retention_days: int) -> tuple[int, int]:
    """Drop lineage older than the retention, but never the record of a url's current version;
    repair current_versions where it disagrees with articles and lineage. Returns how many
    lineage records went and how many versions were repaired."""
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    con = connect(warehouse)
    try:
        con.execute("BEGIN TRANSACTION")
        before = scalar(con, "SELECT count(*) FROM lineage")
        con.execute(sql("maintenance/prune_lineage.sql"), {"cutoff": cutoff})
        after = scalar(con, "SELECT count(*) FROM lineage")
        repaired = repair_versions(con)
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return before - after, repaired


def repair_versions(con: duckdb.DuckDBPyConnection) -> int:
    """Make current_versions say what articles and lineage say where rows were written or
    deleted by hand (the load keeps the two in step); returns the rows changed. The full
    comparison reads both tables whole (minutes at 10 million rows), so it runs only when
    their row counts differ."""
    counts = con.execute(sql("maintenance/version_counts.sql")).fetchone()
    assert counts is not None  # an aggregate: always one row
    articles, versions = counts
    if articles == versions:
        return 0
    con.execute(sql("warehouse/expected_versions.sql"))
    dropped = scalar(con, sql("maintenance/drop_stale_versions.sql"))
    fixed = scalar(con, sql("maintenance/repair_versions.sql"))
    con.execute("DROP TABLE expected_versions")
    return dropped + fixed


@task(name="compact-parquet", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def compact_task(warehouse: str) -> tuple[int, int, int]:
    """Rewrite small Parquet files into large ones: same rows, same schema."""
    return compact_parquet(Path(warehouse))


@task(name="prune-lineage-and-checkpoint", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def prune_task(warehouse: str, retention_days: int) -> tuple[int, int]:
    """Delete lineage past the retention (keeping each url's current record), repair
    current_versions, checkpoint DuckDB."""
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


@task(name="sync-search-index", retries=1, retry_delay_seconds=5, cache_policy=NO_CACHE)
def search_task(warehouse: str, rebuild: bool) -> str:
    """Repair the search index when it is behind or damaged, or rebuild it from articles."""
    return str(search_index.sync(Path(warehouse), rebuild=rebuild))


@flow(name="maintenance", flow_run_name="maintenance {warehouse}")
def maintenance(
    warehouse: str = str(DEFAULT_WAREHOUSE),
    lineage_retention_days: int = LINEAGE_RETENTION_DAYS,
    lock_wait_s: float = MAINTENANCE_LOCK_WAIT_S,
    rebuild_search: bool = False,
) -> dict[str, int | str]:
    """Convert an older storage format, compact the Parquet dataset, checkpoint DuckDB and
    prune old lineage.

    Args:
        warehouse: Folder of the warehouse to maintain.
        lineage_retention_days: Lineage records older than this are deleted, except the record
            of each url's current version.
        lock_wait_s: How long to wait for a running ingest of the same warehouse to finish.
        rebuild_search: Rebuild the search index from the articles, not only repair it.
    """
    logger = get_run_logger()
    validate_params({"lineage_retention_days": lineage_retention_days, "lock_wait_s": lock_wait_s})
    require_warehouse(Path(warehouse))
    with run_lock(Path(warehouse), lock_wait_s):  # nothing else writes meanwhile
        converted = convert_task(warehouse)
        prepare_task(warehouse)
        before, after, rows = compact_task(warehouse)
        pruned, repaired = prune_task(warehouse, lineage_retention_days)
        searched = search_task(warehouse, rebuild_search)
    if converted:
        logger.info("storage format %s -> %s", converted.rstrip("+"), STORAGE_VERSION)
    logger.info(
        "parquet files %d -> %d (%d rows); lineage pruned %d; versions repaired %d",
        *(before, after, rows, pruned, repaired),
    )
    result: dict[str, int | str] = {
        "storage_format": f"{converted.rstrip('+')} -> {STORAGE_VERSION}"
        if converted
        else f"{STORAGE_VERSION} (unchanged)",
        "files_before": before,
        "files_after": after,
        "rows": rows,
        "lineage_pruned": pruned,
        "search_index": searched,
        "versions_repaired": repaired,
    }
    create_table_artifact(
        [{"measure": k, "value": v} for k, v in result.items()],
        key=f"{artifact_key(f'maintenance {warehouse}')}-summary",
        description="Maintenance: storage format, Parquet compaction, lineage pruned",
    )
    return result
