"""Reading the warehouse from the command line: ``query`` runs any SQL on a sandboxed
connection, ``export`` writes the current articles to one file it is told.

Both open the database read-only with DuckDB's external access off and its configuration
locked (``connect(..., sandboxed=True)``): SQL given by a user can read the database's own
tables and nothing else. That is also why ``export --where`` may take a SQL predicate from
the user: DuckDB parses it as one expression (no second statement, no closing parenthesis
escaping the filter) and, whatever it says, it runs on that locked connection, so at worst
it reads the warehouse. The file is written by pyarrow from Python, never by DuckDB.

Text output spells every timestamp one way, ISO 8601 with ``T`` and ``Z``
(``2023-03-04T05:06:07.000000Z``), which pandas, polars and pyarrow read as timestamps.
"""

from __future__ import annotations

import json
import queue
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import duckdb

from flows.load.warehouse import connect

if TYPE_CHECKING:
    import pyarrow as pa

EXPORT_FORMATS = ("parquet", "csv", "jsonl")
EXPORT_SUFFIXES = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
EXPORT_BATCH_ROWS = 2_000
QUERY_BATCH_ROWS = 1_000  # rows handed from DuckDB to the output at a time
ISO_UTC = "%Y-%m-%dT%H:%M:%S.%fZ"  # the one spelling of a UTC timestamp in text output
ISO_NAIVE = "%Y-%m-%dT%H:%M:%S.%f"  # a TIMESTAMP without a zone says none


class ExportError(ValueError):
    """An export that cannot be written where it was asked to be."""


class QueryError(ValueError):
    """A query that cannot run as given (no such file, stopped by its timeout)."""


def iso(value: datetime) -> str:
    """A timestamp as text: UTC ones end in Z; naive ones carry no zone."""
    if value.tzinfo is None:
        return value.strftime(ISO_NAIVE)
    return value.astimezone(UTC).strftime(ISO_UTC)


def text_value(value: object) -> object:
    """A value as JSON or CSV carry it: timestamps and dates in ISO 8601, others as they are."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def read_sql(arg: str) -> str:
    """The SQL of ``query``'s argument: a word ending in .sql names a file, which must exist."""
    if arg.endswith(".sql") and not any(c.isspace() for c in arg):
        path = Path(arg)
        if not path.is_file():
            raise QueryError(f"no such file: {arg}")
        return path.read_text(encoding="utf-8")
    return arg


class Sink:
    """Where results go, one statement after another: ``begin`` with the columns, ``rows``
    batch by batch (returning False when it wants no more of this result), ``end``."""

    def begin(self, columns: list[str]) -> None: ...

    def rows(self, batch: list[tuple[Any, ...]]) -> bool:
        return True

    def end(self) -> None: ...


def run_query(
    warehouse: Path,
    text: str,
    sink: Sink,
    *,
    wait_s: float = 30.0,
    timeout_s: float | None = None,
    batch_rows: int = QUERY_BATCH_ROWS,
) -> None:
    """Run every statement of ``text`` in order, streaming each result into ``sink``.

    DuckDB runs in a thread of its own while this one waits on a small queue: Ctrl-C
    (KeyboardInterrupt) and the timeout reach Python here at once, and stop DuckDB with
    ``interrupt()``; the connection is closed, so the file is free, before this returns.
    """
    con = connect(warehouse, read_only=True, wait_s=wait_s, sandboxed=True)
    try:
        statements = con.extract_statements(text)
        _Streamer(con, statements, batch_rows).run(sink, timeout_s)
    finally:
        con.close()


class _Streamer:
    def __init__(
        self, con: duckdb.DuckDBPyConnection, statements: Sequence[Any], batch_rows: int
    ) -> None:
        self.con, self.statements, self.batch_rows = con, statements, batch_rows
        self.items: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=2)  # bounded: streamed
        self.stop = threading.Event()
        self.enough = -1  # index of a statement whose sink wants no more rows

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self.stop.is_set():
            try:
                self.items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for i, statement in enumerate(self.statements):
                cur = self.con.execute(statement)
                if cur.description is None:
                    continue
                if not self._put(("columns", [d[0] for d in cur.description])):
                    return
                while self.enough != i and (batch := cur.fetchmany(self.batch_rows)):
                    if not self._put(("rows", (i, batch))):
                        return
                if not self._put(("end", None)):
                    return
        except BaseException as exc:  # handed to the waiting thread, which raises it
            self._put(("error", exc))
        finally:
            self._put(("done", None))

    def run(self, sink: Sink, timeout_s: float | None) -> None:
        worker = threading.Thread(target=self._produce, name="query", daemon=True)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        worker.start()
        try:
            while True:
                if deadline is not None and time.monotonic() > deadline:
                    raise QueryError(f"query stopped by its --timeout of {timeout_s:g} s")
                try:
                    kind, payload = self.items.get(timeout=0.1)
                except queue.Empty:
                    continue
                if kind == "columns":
                    sink.begin(payload)
                elif kind == "rows":
                    i, batch = payload
                    if self.enough != i and not sink.rows(batch):
                        self.enough = i
                elif kind == "end":
                    sink.end()
                elif kind == "error":
                    raise payload
                else:
                    break
        except BaseException:
            self.stop.set()
            self.con.interrupt()
            raise
        finally:
            worker.join(timeout=10)


# --- export -------------------------------------------------------------------------------


def export_format(out: str, fmt: str | None) -> str:
    """The format asked for, else the one OUT's suffix names; anything else is an error."""
    if fmt is not None:
        if fmt not in EXPORT_FORMATS:
            raise ExportError(f"unknown export format {fmt!r}: one of {', '.join(EXPORT_FORMATS)}")
        return fmt
    if out == "-":
        raise ExportError("to write to standard output (-), choose --format parquet|csv|jsonl")
    suffix = Path(out).suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        known = ", ".join(EXPORT_SUFFIXES)
        raise ExportError(
            f"cannot tell the format from {out!r}: name a file ending in {known}, "
            "or choose --format parquet|csv|jsonl"
        )
    return EXPORT_SUFFIXES[suffix]


def export_target(warehouse: Path, out: Path) -> Path:
    """Where ``out`` is written: a regular file (new, or replaced whole) outside the warehouse
    folder. A symbolic link, device, FIFO, socket or folder is refused, never written
    through; the returned path has its folder resolved, so the check and the write agree."""
    try:
        mode = out.lstat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISLNK(mode):
        raise ExportError(f"{out} is a symbolic link: give the file itself")
    if mode is not None and stat.S_ISDIR(mode):
        raise ExportError(f"{out} is a folder: give the file to write")
    if mode is not None and not stat.S_ISREG(mode):
        raise ExportError(f"{out} is not a regular file (a device, FIFO or socket): refused")
    parent = out.parent.resolve()
    if not parent.is_dir():
        raise ExportError(f"no folder {out.parent} for {out}: create it first")
    target = parent / out.name
    if target.is_relative_to(warehouse.resolve()):
        raise ExportError(f"{out} is inside the warehouse folder {warehouse}: choose another path")
    return target


def export(
    warehouse: Path,
    out: str,
    fmt: str | None = None,
    where: str | None = None,
    wait_s: float = 30.0,
) -> int:
    """Write the current articles (``articles``, ordered by url), filtered by the SQL
    predicate ``where``, to ``out`` atomically, or streamed to standard output when ``out`` is
    ``-``; returns the number of rows written."""
    from flows.core.atomic import write_atomic

    fmt = export_format(out, fmt)
    target = None if out == "-" else export_target(warehouse, Path(out))
    con = connect(warehouse, read_only=True, wait_s=wait_s, sandboxed=True)
    try:
        relation = con.table("articles")
        if where is not None and where.strip():
            relation = relation.filter(where)
        reader = relation.order("url").to_arrow_reader(batch_size=EXPORT_BATCH_ROWS)
        if target is None:
            sys.stdout.flush()
            return _WRITERS[fmt](_batches(reader), sys.stdout.buffer)
        rows = 0

        def write(tmp: Path) -> None:
            nonlocal rows
            with open(tmp, "wb") as fh:
                rows = _WRITERS[fmt](_batches(reader), fh)

        write_atomic(target, write)
    finally:
        con.close()
    return rows


def _batches(reader: Any) -> Iterator[pa.Table]:
    import pyarrow as pa

    from flows.core.schema import ARTICLE_SCHEMA

    for batch in reader:
        yield pa.Table.from_batches([batch]).cast(ARTICLE_SCHEMA)


def _write_parquet(tables: Iterator[pa.Table], fh: IO[bytes]) -> int:
    import pyarrow.parquet as pq

    from flows.core.schema import ARTICLE_SCHEMA

    rows = 0
    with pq.ParquetWriter(fh, ARTICLE_SCHEMA, compression="zstd") as writer:
        for table in tables:
            writer.write_table(table)
            rows += table.num_rows
    return rows


def _as_text(table: pa.Table) -> pa.Table:
    """The timestamp column in the one ISO 8601 spelling, as the other text formats write it."""
    import pyarrow.compute as pc

    i = table.schema.get_field_index("timestamp")
    # %S carries the microseconds for a microsecond timestamp: 05:06:07.000000
    text = pc.strftime(table.column(i), format="%Y-%m-%dT%H:%M:%SZ", locale="C")
    return table.set_column(i, "timestamp", text)


def _write_csv(tables: Iterator[pa.Table], fh: IO[bytes]) -> int:
    import pyarrow.csv as pcsv

    rows = 0
    writer = None
    for table in tables:
        table = _as_text(table)
        if writer is None:
            writer = pcsv.CSVWriter(fh, table.schema)
        writer.write_table(table)
        rows += table.num_rows
    if writer is None:  # no rows: the header alone
        from flows.core.schema import ARTICLE_SCHEMA

        empty = _as_text(ARTICLE_SCHEMA.empty_table())
        writer = pcsv.CSVWriter(fh, empty.schema)
    writer.close()
    return rows


def _write_jsonl(tables: Iterator[pa.Table], fh: IO[bytes]) -> int:
    rows = 0
    for table in tables:
        lines = [
            json.dumps({k: text_value(v) for k, v in row.items()}, ensure_ascii=False) + "\n"
            for row in table.to_pylist()
        ]
        fh.write("".join(lines).encode("utf-8"))
        rows += len(lines)
    return rows


_WRITERS: dict[str, Callable[[Iterator[pa.Table], IO[bytes]], int]] = {
    "parquet": _write_parquet,
    "csv": _write_csv,
    "jsonl": _write_jsonl,
}
