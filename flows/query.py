"""Reading the warehouse from the command line: ``query`` runs any SQL on a sandboxed
connection, ``export`` writes the current articles to one file it is told.

Both open the database read-only with DuckDB's external access off and its configuration
locked (``connect(..., sandboxed=True)``): SQL given by a user can read the database's own
tables and nothing else. That is also why ``export --where`` may take a SQL predicate from
the user: DuckDB parses it as one expression (no second statement, no closing parenthesis
escaping the filter) and, whatever it says, it runs on that locked connection, so at worst
it reads the warehouse. The file is written by pyarrow from Python, never by DuckDB.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows.settings import DB_FILENAME, PARQUET_DIRNAME, STAGING_DIRNAME
from flows.warehouse import connect

if TYPE_CHECKING:
    import pyarrow as pa

EXPORT_FORMATS = ("parquet", "csv", "jsonl")
_SUFFIXES = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
EXPORT_BATCH_ROWS = 2_000


class ExportError(ValueError):
    """An export that cannot be written where it was asked to be."""


def run_query(warehouse: Path, text: str, wait_s: float = 30.0) -> tuple[list[str], list[tuple]]:
    """The columns and rows of ``text`` (one or more statements: the last one's result)."""
    con = connect(warehouse, read_only=True, wait_s=wait_s, sandboxed=True)
    try:
        cur = con.execute(text)
        columns = [d[0] for d in cur.description or []]
        return columns, cur.fetchall()
    finally:
        con.close()


def export_format(out: Path, fmt: str | None) -> str:
    """The format asked for, else the one OUT's suffix names, else Parquet."""
    if fmt is None:
        return _SUFFIXES.get(out.suffix.lower(), "parquet")
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: one of {', '.join(EXPORT_FORMATS)}")
    return fmt


def _check_target(warehouse: Path, out: Path) -> None:
    target = out.resolve()
    if not target.parent.is_dir():
        raise ExportError(f"no folder {out.parent} for {out}: create it first")
    if target.is_dir():
        raise ExportError(f"{out} is a folder: give the file to write")
    wh = warehouse.resolve()
    if target == wh / DB_FILENAME or any(
        target.is_relative_to(wh / name) for name in (PARQUET_DIRNAME, STAGING_DIRNAME)
    ):
        raise ExportError(f"{out} is inside the warehouse's own files: choose another path")


def export(
    warehouse: Path,
    out: Path,
    fmt: str | None = None,
    where: str | None = None,
    wait_s: float = 30.0,
) -> int:
    """Write the current articles (``articles``, ordered by url), filtered by the SQL
    predicate ``where``, to ``out`` atomically; returns the number of rows written."""
    from flows.atomic import write_atomic

    fmt = export_format(out, fmt)
    _check_target(warehouse, out)
    con = connect(warehouse, read_only=True, wait_s=wait_s, sandboxed=True)
    try:
        relation = con.table("articles")
        if where is not None and where.strip():
            relation = relation.filter(where)
        reader = relation.order("url").to_arrow_reader(batch_size=EXPORT_BATCH_ROWS)
        rows = 0

        def write(tmp: Path) -> None:
            nonlocal rows
            rows = _WRITERS[fmt](_batches(reader), tmp)

        write_atomic(out, write)
    finally:
        con.close()
    return rows


def _batches(reader: Any) -> Iterator[pa.Table]:
    import pyarrow as pa

    from flows.schema import ARTICLE_SCHEMA

    for batch in reader:
        yield pa.Table.from_batches([batch]).cast(ARTICLE_SCHEMA)


def _write_parquet(tables: Iterator[pa.Table], path: Path) -> int:
    import pyarrow.parquet as pq

    from flows.schema import ARTICLE_SCHEMA

    rows = 0
    with pq.ParquetWriter(path, ARTICLE_SCHEMA, compression="zstd") as writer:
        for table in tables:
            writer.write_table(table)
            rows += table.num_rows
    return rows


def _write_csv(tables: Iterator[pa.Table], path: Path) -> int:
    import pyarrow.csv as pcsv

    from flows.schema import ARTICLE_SCHEMA

    rows = 0
    with pcsv.CSVWriter(path, ARTICLE_SCHEMA) as writer:
        for table in tables:
            writer.write_table(table)
            rows += table.num_rows
    return rows


def _json_value(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _write_jsonl(tables: Iterator[pa.Table], path: Path) -> int:
    rows = 0
    with open(path, "w", encoding="utf-8") as fh:
        for table in tables:
            for row in table.to_pylist():
                record = {key: _json_value(value) for key, value in row.items()}
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                rows += 1
    return rows


_WRITERS = {"parquet": _write_parquet, "csv": _write_csv, "jsonl": _write_jsonl}
