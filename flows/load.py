"""The only writer of the warehouse: one DuckDB transaction per run, Parquet files atomically.

Layout: ``DIR/articles.duckdb``, ``DIR/parquet/<run>.parquet`` (the versions each run loaded,
exactly ARTICLE_SCHEMA), ``DIR/staging/<run>/`` (transform output until the run commits).

Fault injection for the crash tests: with ``ARTICLE_ETL_CRASH_AT=before_commit`` (inside the
transaction, everything written but not committed) or ``after_commit`` (committed, the run's
Parquet file not yet renamed into parquet/), ``load_run`` kills its own process with SIGKILL
there, as an OOM kill or a power cut would; ``compaction_before_rename`` and
``compaction_after_rename`` do the same in the maintenance flow's compaction. Unset, it costs
one dict lookup per load.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from flows.lock import tell
from flows.settings import (
    DB_FILENAME,
    LOAD_MEMORY_MAX_MB,
    LOAD_MEMORY_MB,
    PARQUET_DIRNAME,
    STAGING_DIRNAME,
)
from flows.sqlfiles import files, sql

CRASH_AT_ENV = "ARTICLE_ETL_CRASH_AT"
COMPACTION_LOG = ".compaction.log"  # in parquet/: a compaction between its rename and deletes
_HOLDER_PID = re.compile(r"\(PID (\d+)\)")


class WarehouseBusy(RuntimeError):
    """Another process holds the DuckDB file; we waited as long as allowed."""


def crash_point(name: str) -> None:
    """Test-only fault injection (see the module docstring): die here without any cleanup."""
    if os.environ.get(CRASH_AT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(slots=True)
class LoadCounts:
    transformed: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    superseded: int = 0
    rejected: int = 0


@dataclass(slots=True)
class RunRecord:
    run_id: str
    flow_run_id: str | None
    started_at: datetime
    sources: str
    inputs: int
    skipped_unchanged: int
    task_runs: int


def db_path(warehouse: Path) -> Path:
    return warehouse / DB_FILENAME


def staging_dir(warehouse: Path, run_id: str) -> Path:
    return warehouse / STAGING_DIRNAME / run_id


def connect(
    warehouse: Path,
    *,
    read_only: bool = False,
    wait_s: float = 30.0,
    memory_mb: int = LOAD_MEMORY_MB,
) -> duckdb.DuckDBPyConnection:
    """Open the database, waiting (bounded) while another process holds its lock."""
    path = db_path(warehouse)
    if not read_only:
        warehouse.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: run `article-etl ingest` first")
    deadline = time.monotonic() + wait_s
    delay = 0.05
    told = False
    while True:
        try:
            con = duckdb.connect(
                str(path), read_only=read_only, config=_config(warehouse, read_only, memory_mb)
            )
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            m = _HOLDER_PID.search(str(exc))
            holder = f"process {m.group(1)}" if m else "another process"
            if time.monotonic() >= deadline:
                raise WarehouseBusy(
                    f"{path} is locked by {holder} (waited {wait_s:g} s); "
                    "try again when the running ingest has finished"
                ) from exc
            if not told:  # say so once: a silent wait looks like a hang
                tell(f"{path} is in use by {holder}; waiting up to {wait_s:g} s")
                told = True
            time.sleep(min(delay, max(deadline - time.monotonic(), 0.01)))
            delay = min(delay * 2, 1.0)
    # TIMESTAMPTZ values and their dates must not move with the session's zone.
    con.execute("SET TimeZone = 'UTC'")
    return con


def _config(warehouse: Path, read_only: bool, memory_mb: int) -> dict[str, object]:
    """The writer's memory is bounded whatever the run's size: DuckDB spills past the limit."""
    if read_only:
        return {}
    (warehouse / STAGING_DIRNAME).mkdir(parents=True, exist_ok=True)
    return {
        "memory_limit": f"{memory_mb}MB",
        "preserve_insertion_order": False,
        "threads": 1,
        "temp_directory": str(warehouse / STAGING_DIRNAME / "duckdb-tmp"),
    }


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    for path in files("ddl"):
        con.execute(path.read_text(encoding="utf-8"))


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create every view in sql/views; a view may build on another, so retry in passes."""
    pending = files("views")
    while pending:
        failed: list[Path] = []
        error: Exception | None = None
        for path in pending:
            try:
                con.execute(path.read_text(encoding="utf-8"))
            except duckdb.CatalogException as exc:
                failed.append(path)
                error = exc
        if len(failed) == len(pending):
            raise RuntimeError(f"cannot create views {[p.name for p in failed]}: {error}")
        pending = failed


def prepare(warehouse: Path, keep: str | None = None) -> dict[str, str]:
    """Create what is missing, finish what a crashed run left, return known fingerprints.

    ``keep`` names this run's staging folder when it already holds work (a head start).
    """
    return prepare_run(warehouse, keep)[0]


def prepare_run(
    warehouse: Path, keep: str | None = None
) -> tuple[dict[str, str], list[tuple[str, str | None, str | None, str | None]]]:
    """``prepare``, and the HTTP validators of earlier runs, read on the same connection."""
    con = connect(warehouse)
    try:
        ensure_schema(con)
        # Every load re-creates the views (their definitions may change with the code);
        # here only missing ones, so that a run with nothing new writes no catalog change.
        existing = {row[0] for row in con.execute(sql("load/view_names.sql")).fetchall()}
        if not {path.stem for path in files("views")} <= existing:
            create_views(con)
        committed = [
            row[0] for row in con.execute(sql("load/committed_parquet_files.sql")).fetchall()
        ]
        known = dict(con.execute(sql("load/known_fingerprints.sql")).fetchall())
        validators = con.execute(sql("load/known_validators.sql")).fetchall()
    finally:
        con.close()
    recover(warehouse, committed, keep)
    return known, validators


def recover(warehouse: Path, committed: Sequence[str], keep: str | None = None) -> None:
    """Publish Parquet files of committed runs that a crash left in staging; drop the rest."""
    parquet = warehouse / PARQUET_DIRNAME
    staging = warehouse / STAGING_DIRNAME
    committed_set = set(committed)
    for name in committed_set:
        run_id = name.removesuffix(".parquet")
        pending = staging / run_id / name
        if pending.exists() and not (parquet / name).exists():
            parquet.mkdir(parents=True, exist_ok=True)
            os.replace(pending, parquet / name)
    if staging.is_dir():
        for run_dir in staging.iterdir():
            if run_dir.name != keep and not in_use(run_dir):
                shutil.rmtree(run_dir, ignore_errors=True)
    if parquet.is_dir():
        finish_compaction(parquet)
        for leftover in parquet.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)


OWNER_FILE = ".owner"


def claim(stage: Path) -> int:
    """Mark a staging folder in use before the run lock is taken (a head start), so that
    another run's recovery leaves it; the claim ends with the descriptor or the process."""
    stage.mkdir(parents=True, exist_ok=True)
    fd = os.open(stage / OWNER_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def in_use(stage: Path) -> bool:
    try:
        fd = os.open(stage / OWNER_FILE, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def finish_compaction(parquet: Path) -> None:
    """Settle a compaction that crashed. Its log names the new file, then the files it replaces:
    those go only if the new file is in place; otherwise the compaction never happened."""
    log = parquet / COMPACTION_LOG
    if not log.exists():
        return
    new, *replaced = log.read_text(encoding="utf-8").split() or [""]
    if new and (parquet / new).exists():
        for name in replaced:
            (parquet / name).unlink(missing_ok=True)
    log.unlink()


def _write_loaded(con: duckdb.DuckDBPyConnection, path: Path, parts: Sequence[str]) -> int:
    # pyarrow is loaded here, once the workers have stopped, not while they run beside the
    # flow process (29 MiB of the run's peak memory); a run with nothing new never loads it.
    import pyarrow as pa
    import pyarrow.parquet as pq

    from flows.schema import ARTICLE_SCHEMA

    query = con.sql(sql("load/10_loaded_rows.sql"), params={"parts": list(parts)})
    reader = query.to_arrow_reader(batch_size=2_000)
    rows = 0
    tmp = path.with_name(f".{path.name}.tmp")
    with pq.ParquetWriter(tmp, ARTICLE_SCHEMA, compression="zstd") as writer:
        for batch in reader:
            table = pa.Table.from_batches([batch]).cast(ARTICLE_SCHEMA)
            writer.write_table(table)
            rows += table.num_rows
    if rows == 0:
        tmp.unlink()
        return 0
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return rows


def load_run(
    warehouse: Path,
    run: RunRecord,
    article_parts: Sequence[str],
    reject_parts: Sequence[str],
    validator_parts: Sequence[str] = (),
    *,
    wait_s: float = 60.0,
) -> tuple[LoadCounts, str | None]:
    """Merge the run's staging parts in one transaction; publish its Parquet file after commit."""
    stage = staging_dir(warehouse, run.run_id)
    stage.mkdir(parents=True, exist_ok=True)
    parquet_name = f"{run.run_id}.parquet"
    memory_mb = LOAD_MEMORY_MB
    con = connect(warehouse, wait_s=wait_s, memory_mb=memory_mb)
    try:
        ensure_schema(con)
        committed = con.execute(sql("load/committed_run.sql"), {"run_id": run.run_id}).fetchone()
    except BaseException:
        con.close()
        raise
    if committed is not None:
        # A retry of a load that committed and then failed (say, at the rename): merging
        # again would add its rejects twice and fail on the run log; just finish publishing.
        con.close()
        new, updated, unchanged, duplicates, rejected, parquet_file = committed
        counts = LoadCounts(
            new + updated + unchanged + duplicates, new, updated, unchanged, 0, rejected
        )
        return counts, _publish(warehouse, stage, parquet_file)
    try:
        while True:
            try:
                counts, written = _merge(
                    con, run, article_parts, reject_parts, validator_parts, stage / parquet_name
                )
                break
            except duckdb.OutOfMemoryException:
                if memory_mb >= LOAD_MEMORY_MAX_MB:
                    raise
                memory_mb = min(memory_mb * 4, LOAD_MEMORY_MAX_MB)
                tell(f"the load ran out of DuckDB memory; retrying with a {memory_mb} MB limit")
                con.close()
                con = connect(warehouse, wait_s=wait_s, memory_mb=memory_mb)
    finally:
        con.close()
    crash_point("after_commit")
    return counts, _publish(warehouse, stage, parquet_name if written else None)


def _merge(
    con: duckdb.DuckDBPyConnection,
    run: RunRecord,
    article_parts: Sequence[str],
    reject_parts: Sequence[str],
    validator_parts: Sequence[str],
    pending: Path,
) -> tuple[LoadCounts, int]:
    """The run's one transaction; rolled back on any error. Returns the counts and how many
    rows went to the run's Parquet file (``pending``, renamed into the dataset after commit)."""
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(sql("load/01_stage_articles.sql"))
        con.execute(sql("load/02_stage_rejects.sql"))
        con.execute(sql("load/02b_stage_validators.sql"))
        if article_parts:
            con.execute(sql("load/03_fill_articles.sql"), {"parts": list(article_parts)})
        if reject_parts:
            con.execute(sql("load/04_fill_rejects.sql"), {"parts": list(reject_parts)})
        if validator_parts:
            con.execute(sql("load/04b_fill_validators.sql"), {"parts": list(validator_parts)})
        con.execute(sql("load/04c_transient_rejects.sql"))
        con.execute(sql("load/05_decide.sql"))
        row = con.execute(sql("load/11_counts.sql")).fetchone()
        counts = LoadCounts(*row)
        now = datetime.now(UTC)
        params = {"run_id": run.run_id, "now": now}
        # Keys first, bodies last: the upserts' indexes need memory that cannot be spilled,
        # which the bodies (spillable, but pinned while this transaction holds them) would take.
        con.execute(sql("load/07_insert_lineage.sql"), params)
        con.execute(sql("load/08_insert_rejects.sql"), params)
        con.execute(sql("load/09_upsert_source_state.sql"), {"run_id": run.run_id})
        con.execute(sql("load/09b_upsert_validators.sql"), {"run_id": run.run_id})
        if article_parts:
            con.execute(sql("load/06_delete_replaced.sql"))
            con.execute(sql("load/06b_insert_articles.sql"), {"parts": list(article_parts)})
        written = _write_loaded(con, pending, article_parts) if article_parts else 0
        duplicates = counts.transformed - (counts.new + counts.updated + counts.unchanged)
        con.execute(
            sql("load/12_insert_run.sql"),
            {
                **params,
                "flow_run_id": run.flow_run_id,
                "started_at": run.started_at,
                "sources": run.sources,
                "inputs": run.inputs,
                "skipped_unchanged": run.skipped_unchanged,
                "new": counts.new,
                "updated": counts.updated,
                "unchanged": counts.unchanged,
                "duplicates": duplicates,
                "rejected": counts.rejected,
                "task_runs": run.task_runs,
                "seconds": (now - run.started_at).total_seconds(),
                "parquet_file": pending.name if written else None,
            },
        )
        create_views(con)
        crash_point("before_commit")
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # already gone: nothing was committed
            con.execute("ROLLBACK")
        raise
    return counts, written


def _publish(warehouse: Path, stage: Path, parquet_name: str | None) -> str | None:
    """After the commit: rename the run's Parquet file into the dataset, drop its staging."""
    if parquet_name is not None and (stage / parquet_name).exists():
        parquet = warehouse / PARQUET_DIRNAME
        parquet.mkdir(parents=True, exist_ok=True)
        os.replace(stage / parquet_name, parquet / parquet_name)
    shutil.rmtree(stage, ignore_errors=True)
    return parquet_name


def known_fingerprints(warehouse: Path, wait_s: float = 30.0) -> dict[str, str]:
    """Source -> fingerprint of every input earlier runs saw, read without the run lock
    (none if the warehouse does not exist yet)."""
    if not db_path(warehouse).exists():
        return {}
    con = connect(warehouse, read_only=True, wait_s=wait_s)
    try:
        return dict(con.execute(sql("load/known_fingerprints.sql")).fetchall())
    finally:
        con.close()
