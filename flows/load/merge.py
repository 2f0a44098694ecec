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
from flows.core.settings import KEYS_PER_QUERY, LOAD_MEMORY_MAX_MB, LOAD_MEMORY_MB, PARQUET_DIRNAME
from flows.core.sqlfiles import sql
from flows.load.search import index as search_index
from flows.load.stories import load_side_tables
from flows.load.warehouse import (
    connect,
    create_tables,
    create_views,
    staging_dir,
    tell,
)

# The merge, in order: (step, the kind of part it reads or None, its keys or None). A step that
# reads a kind of part runs only when the run has such parts. A step with keys runs once per
# chunk of the keys that sql/load/<keys>.sql lists, bound as $keys: DuckDB answers `IN` a
# bound list from the primary key's index, where a join or an upsert (ON CONFLICT is a MERGE
# that scans the whole table) would read every row the warehouse holds.
# Keys first, bodies last: the indexes need memory that cannot be spilled, which the
# bodies (spillable, but pinned while the transaction holds them) would take.
MERGE_STEPS: tuple[tuple[str, str | None, str | None], ...] = (
    ("stage_articles", None, None),
    ("stage_rejects", None, None),
    ("stage_validators", None, None),
    ("stage_sources", None, None),
    ("fill_articles", "articles", None),
    ("fill_rejects", "rejects", None),
    ("fill_validators", "validators", None),
    ("fill_sources", "sources", None),
    ("transient_rejects", None, None),
    ("stage_known", None, None),
    ("known_versions", "articles", "run_urls_keys"),
    ("known_states", None, "run_sources_keys"),
    ("known_validators", "validators", "run_validator_keys"),
    ("decide", None, None),
    ("insert_lineage", None, None),
    ("delete_replaced_versions", "articles", "updated_keys"),
    ("insert_current_versions", None, None),
    ("insert_rejects", None, None),
    ("incoming_states", None, None),
    ("incoming_source_files", "sources", None),
    ("delete_replaced_states", None, "replaced_states_keys"),
    ("insert_states", None, None),
    ("incoming_validators", None, None),
    ("delete_replaced_validators", "validators", "replaced_validators_keys"),
    ("insert_validators", None, None),
    ("delete_replaced", "articles", "updated_keys"),
    ("insert_articles", "articles", None),
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


def run_by_keys(
    con: duckdb.DuckDBPyConnection, name: str, keys: str, params: Mapping[str, Any]
) -> None:
    """Run ``sql/<name>`` once per chunk of the keys ``sql/<keys>`` lists, bound as $keys."""
    found = [row[0] for row in con.execute(sql(keys)).fetchall()]
    for start in range(0, len(found), KEYS_PER_QUERY):
        run_sql(con, name, {**params, "keys": found[start : start + KEYS_PER_QUERY]})


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
        published = publish(warehouse, stage, parquet_file)
        search_index.keep_in_step(warehouse)
        return counts, published
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
    published = publish(warehouse, stage, parquet_name if written else None)
    search_index.keep_in_step(warehouse)  # the index takes the run's urls (flows/load/search/)
    return counts, published


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
        for step, kind, keys in MERGE_STEPS:
            if kind is not None and not parts[kind]:
                continue
            params = {
                "run_id": run.run_id,
                "version": __version__,
                "now": now,
                "started_at": run.started_at,
                "parts": list(parts[kind or "articles"]),
            }
            if keys is None:
                run_sql(con, f"load/{step}.sql", params)
            else:
                run_by_keys(con, f"load/{step}.sql", f"load/{keys}.sql", params)
            if step == "decide":
                counts = LoadCounts(*run_sql(con, "load/counts.sql", {}).fetchone())
        if parts["articles"]:
            # article_meta and the stories; an undated article's day is the run's
            load_side_tables(con, parts["articles"], run.started_at.astimezone(UTC).date())
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


def publish(warehouse: Path, stage: Path, parquet_name: str | None) -> str | None:
    """After the commit: rename the run's Parquet file into the dataset, drop its staging."""
    if parquet_name is not None and (stage / parquet_name).exists():
        parquet = warehouse / PARQUET_DIRNAME
        parquet.mkdir(parents=True, exist_ok=True)
        (stage / parquet_name).replace(parquet / parquet_name)
    shutil.rmtree(stage, ignore_errors=True)
    return parquet_name
