"""The load: the only writer of the warehouse, one DuckDB transaction per run.

The run's staging parts (articles, rejects, HTTP validators) are merged by the statements of
``MERGE_STEPS`` (sql/load/, one per file, in that order); the run's Parquet file is renamed
into the dataset after the commit. A crash leaves the warehouse as it was before the run, and
a re-run finishes the job without duplicates.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from flows import __version__
from flows.core.atomic import write_atomic
from flows.core.settings import LOAD_MEMORY_MAX_MB, LOAD_MEMORY_MB, PARQUET_DIRNAME
from flows.core.sqlfiles import sql
from flows.load.warehouse import (
    connect,
    crash_point,
    create_tables,
    create_views,
    staging_dir,
    tell,
)

# The merge, in order; a step that reads a kind of part runs only when the run has such parts.
# Keys first, bodies last: the upserts' indexes need memory that cannot be spilled, which the
# bodies (spillable, but pinned while the transaction holds them) would take.
MERGE_STEPS: tuple[tuple[str, str | None], ...] = (
    ("stage_articles", None),
    ("stage_rejects", None),
    ("stage_validators", None),
    ("stage_sources", None),
    ("fill_articles", "articles"),
    ("fill_rejects", "rejects"),
    ("fill_validators", "validators"),
    ("fill_sources", "sources"),
    ("transient_rejects", None),
    ("decide", None),
    ("insert_lineage", None),
    ("insert_rejects", None),
    ("upsert_source_state", None),
    ("upsert_source_files", "sources"),
    ("upsert_validators", None),
    ("delete_replaced", "articles"),
    ("insert_articles", "articles"),
)
_PARAM = re.compile(r"\$([a-z_]+)")


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


def run_sql(con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, Any]) -> Any:
    """Run ``sql/<name>``, binding the parameters it names (and only those)."""
    text = sql(name)
    needed = set(_PARAM.findall(text))
    return con.execute(text, {key: params[key] for key in needed} if needed else None)


def load_run(
    warehouse: Path,
    run: RunRecord,
    article_parts: Sequence[str],
    reject_parts: Sequence[str],
    validator_parts: Sequence[str] = (),
    source_parts: Sequence[str] = (),
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
        create_tables(con)
        committed = run_sql(con, "warehouse/committed_run.sql", {"run_id": run.run_id}).fetchone()
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
    parts = {
        "articles": article_parts,
        "rejects": reject_parts,
        "validators": validator_parts,
        "sources": source_parts,
    }
    try:
        while True:
            try:
                counts, written = _merge(con, run, parts, stage / parquet_name)
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
    parts: Mapping[str, Sequence[str]],
    pending: Path,
) -> tuple[LoadCounts, int]:
    """The run's one transaction; rolled back on any error. Returns the counts and how many
    rows went to the run's Parquet file (``pending``, renamed into the dataset after commit)."""
    now = datetime.now(UTC)
    try:
        con.execute("BEGIN TRANSACTION")
        counts = LoadCounts()
        for step, kind in MERGE_STEPS:
            if kind is not None and not parts[kind]:
                continue
            params = {
                "run_id": run.run_id,
                "version": __version__,
                "now": now,
                "started_at": run.started_at,
                "parts": list(parts[kind or "articles"]),
            }
            run_sql(con, f"load/{step}.sql", params)
            if step == "decide":
                counts = LoadCounts(*run_sql(con, "load/counts.sql", {}).fetchone())
        written = _write_loaded(con, pending, parts["articles"]) if parts["articles"] else 0
        duplicates = counts.transformed - (counts.new + counts.updated + counts.unchanged)
        run_sql(
            con,
            "load/insert_run.sql",
            {
                "run_id": run.run_id,
                "now": now,
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


def _write_loaded(con: duckdb.DuckDBPyConnection, path: Path, parts: Sequence[str]) -> int:
    """The versions this run loaded, streamed into the run's Parquet file (written aside)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from flows.core.schema import ARTICLE_SCHEMA

    query = con.sql(sql("load/loaded_rows.sql"), params={"parts": list(parts)})
    reader = query.to_arrow_reader(batch_size=2_000)
    rows = 0

    def write(tmp: Path) -> None:
        nonlocal rows
        with pq.ParquetWriter(tmp, ARTICLE_SCHEMA, compression="zstd") as writer:
            for batch in reader:
                table = pa.Table.from_batches([batch]).cast(ARTICLE_SCHEMA)
                writer.write_table(table)
                rows += table.num_rows

    write_atomic(path, write)
    if rows == 0:
        path.unlink()
    return rows


def _publish(warehouse: Path, stage: Path, parquet_name: str | None) -> str | None:
    """After the commit: rename the run's Parquet file into the dataset, drop its staging."""
    if parquet_name is not None and (stage / parquet_name).exists():
        parquet = warehouse / PARQUET_DIRNAME
        parquet.mkdir(parents=True, exist_ok=True)
        (stage / parquet_name).replace(parquet / parquet_name)
    shutil.rmtree(stage, ignore_errors=True)
    return parquet_name
