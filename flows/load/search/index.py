"""The search index in ``DIR/search/``: built from ``articles``, updated after each load with
what the run loaded (read back from its own Parquet file, else from ``articles`` by key: never
a scan of the table, so a run's cost follows the run), repaired when it is behind, rebuilt
when it cannot be trusted.

The index holds, per url, the terms of its title and body, its host and timestamp for the
filters, and a copy of title, timestamp and body (for checks and snippets). Beside tantivy's
files, ``state.json`` records the last run the index holds. When that is not the warehouse's
last run (a run killed between its commit and the index update), the runs after it are
applied again by url; an index folder that is not ours (a symlink, a symlink inside it, no or
a damaged state file, a run the warehouse never had, a document count that differs from
``articles``) is rebuilt from scratch, never trusted. Writers hold the warehouse's run lock:
an ingest's load, maintenance, or a search that finds the index missing or behind while no
run is going.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import tantivy

from flows.core.atomic import write_atomic
from flows.core.schema import ARTICLE_SCHEMA
from flows.core.settings import KEYS_PER_QUERY, PARQUET_DIRNAME, SEARCH_DIRNAME
from flows.core.sqlfiles import sql
from flows.load.search.tokenize import TOKENIZER_NAME, analyzer
from flows.load.warehouse import connect, scalar, tell

STATE_FILE = "state.json"
# What state.json must say: a folder written by another layout or schema is rebuilt.
STATE_FORMAT = "article-etl-search/3"
WRITER_HEAP_BYTES = 96 * 1024 * 1024  # tantivy's indexing buffer, split between its threads
WRITER_THREADS = 2

Progress = Callable[[int, int], None]  # (articles indexed, articles in all)


class SearchIndexError(RuntimeError):
    """The index cannot be used or made usable now (say, a run is building it)."""


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What ``sync`` did: ``current``, ``caught_up`` (runs applied again) or ``built``."""

    action: str
    documents: int
    runs: int = 0

    def __str__(self) -> str:
        if self.action == "caught_up":
            runs = f"{self.runs} run{'s' if self.runs != 1 else ''}"
            return f"caught up {runs} ({self.documents:,} docs)"
        return f"{self.action} ({self.documents:,} docs)"


def search_dir(warehouse: Path) -> Path:
    """Where the warehouse's index lives."""
    return warehouse / SEARCH_DIRNAME


def schema() -> tantivy.Schema:
    """The index's fields: title and body to rank (stored: hits are checked by title, the
    body gives snippets), host and timestamp to filter (the timestamp stored for checks)."""
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("url", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("title", stored=True, tokenizer_name=TOKENIZER_NAME)
    # stored: snippets are cut from it (DuckDB reads long strings slowly one row at a time)
    builder.add_text_field("body", stored=True, tokenizer_name=TOKENIZER_NAME)
    builder.add_text_field("host", tokenizer_name="raw", index_option="basic")
    builder.add_date_field("timestamp", stored=True, indexed=True, fast=True)
    return builder.build()


def read_state(folder: Path) -> dict[str, object] | None:
    """The folder's state file, checked: None when missing, not a regular file, not ours."""
    path = folder / STATE_FILE
    try:
        if not stat.S_ISREG(path.lstat().st_mode) or path.stat().st_size > 64 * 1024:
            return None
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        not isinstance(state, dict)
        or state.get("format") != STATE_FORMAT
        or not isinstance(state.get("run_id"), str | None)
    ):
        return None
    return state


def _write_state(folder: Path, run_id: str | None) -> None:
    text = json.dumps({"format": STATE_FORMAT, "run_id": run_id})
    write_atomic(folder / STATE_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _own_folder(folder: Path) -> bool:
    """A real folder with only regular files in it: tantivy writes nothing through a link."""
    try:
        if not stat.S_ISDIR(folder.lstat().st_mode):
            return False
        return all(
            stat.S_ISREG(entry.stat(follow_symlinks=False).st_mode) for entry in os.scandir(folder)
        )
    except OSError:
        return False


def open_index(warehouse: Path) -> tuple[tantivy.Index, dict[str, object]] | None:
    """The warehouse's index and its state, or None when there is none it can trust."""
    folder = search_dir(warehouse)
    if not _own_folder(folder):
        return None
    state = read_state(folder)
    if state is None:
        return None
    try:
        index = tantivy.Index.open(str(folder))
        index.register_tokenizer(TOKENIZER_NAME, analyzer())
        index.searcher()  # opens every segment: a damaged one fails here
        _probe(index.schema)
    except (ValueError, OSError):
        return None
    return index, state


def _probe(found: tantivy.Schema) -> None:
    """ValueError unless the index has our fields (another layout passes no other check)."""
    for field in ("url", "title", "body", "host"):
        tantivy.Query.term_query(found, field, "probe")
    tantivy.Query.range_query(found, "timestamp", tantivy.FieldType.Date, datetime.now(UTC))


def _document(row: Sequence[object]) -> tantivy.Document:
    url, timestamp, title, body, host = row
    doc = tantivy.Document()
    doc.add_text("url", str(url))
    doc.add_text("title", str(title))
    doc.add_text("body", str(body))
    doc.add_text("host", str(host or ""))
    if isinstance(timestamp, datetime):
        doc.add_date("timestamp", timestamp)
    return doc


def _fetch(cursor: duckdb.DuckDBPyConnection, size: int = 1_000) -> Iterator[tuple[object, ...]]:
    while rows := cursor.fetchmany(size):
        yield from rows


def build(warehouse: Path, progress: Progress | None = None) -> SyncResult:
    """Index every article from scratch, beside the old index, then swap the folders: a crash
    leaves the old index or none, never half of one. Call under the run lock."""
    con = connect(warehouse, read_only=True)
    try:
        total = scalar(con, sql("search/article_count.sql"))
        run_id = latest_run(con)
        work = warehouse / f".search-build-{uuid.uuid4().hex[:8]}"
        work.mkdir()
        try:
            index = tantivy.Index(schema(), path=str(work))
            index.register_tokenizer(TOKENIZER_NAME, analyzer())
            writer = index.writer(WRITER_HEAP_BYTES, WRITER_THREADS)
            done = 0
            for row in _fetch(con.execute(sql("search/all_rows.sql"))):
                writer.add_document(_document(row))
                done += 1
                if progress is not None and done % 1_000 == 0:
                    progress(done, total)
            writer.commit()
            writer.wait_merging_threads()
            _write_state(work, run_id)
            _swap(warehouse, work)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    finally:
        con.close()
    if progress is not None:
        progress(done, total)
    return SyncResult("built", done)


def _swap(warehouse: Path, built: Path) -> None:
    """Put the built folder in the index's place; the old one (or whatever was there: a link
    is removed as itself) goes."""
    folder = search_dir(warehouse)
    old = warehouse / f".search-old-{uuid.uuid4().hex[:8]}"
    with contextlib.suppress(FileNotFoundError):
        if folder.is_symlink() or not folder.is_dir():
            folder.unlink()
        else:
            folder.rename(old)
    built.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def clear_leftovers(warehouse: Path) -> None:
    """Folders a crashed build or swap left; each removed as itself, never followed."""
    for leftover in warehouse.glob(".search-*"):
        if leftover.is_symlink() or not leftover.is_dir():
            leftover.unlink(missing_ok=True)
        else:
            shutil.rmtree(leftover, ignore_errors=True)


def latest_run(con: duckdb.DuckDBPyConnection) -> str | None:
    """The warehouse's last committed run: the one an index in step records."""
    row = con.execute(sql("search/latest_run.sql")).fetchone()
    return row[0] if row else None


def run_file(warehouse: Path, name: object, rows: object) -> Path | None:
    """The run's own Parquet file in ``parquet/``, if it can stand for what the run loaded: a
    plain name, a regular file (a symlink is not followed) in a real folder, the article
    schema and exactly the run's count of new and updated versions. None otherwise (missing:
    compacted by maintenance, or the run was killed before publishing; damaged; not ours)."""
    if not isinstance(name, str) or not isinstance(rows, int) or Path(name).name != name:
        return None
    if not name.endswith(".parquet"):
        return None
    folder = warehouse / PARQUET_DIRNAME
    path = folder / name
    try:
        if not stat.S_ISDIR(folder.lstat().st_mode) or not stat.S_ISREG(path.lstat().st_mode):
            return None
        meta = pq.read_metadata(path)
        schema = meta.schema.to_arrow_schema()
    except (OSError, ValueError, pa.ArrowException):
        return None
    if meta.num_rows != rows or not schema.equals(ARTICLE_SCHEMA, check_metadata=False):
        return None
    return path


def _run_sources(
    warehouse: Path, con: duckdb.DuckDBPyConnection, run_ids: Sequence[str]
) -> list[tuple[str, Path | None]]:
    """Per run, in order, where its versions are read: its Parquet file, or None (the
    articles, by the run's urls); a run that loaded no version has nothing to apply."""
    outputs = {
        str(run_id): (name, rows)
        for run_id, name, rows in con.execute(
            sql("search/run_outputs.sql"), {"run_ids": list(run_ids)}
        ).fetchall()
    }
    sources: list[tuple[str, Path | None]] = []
    for run_id in run_ids:
        name, rows = outputs.get(run_id, (None, None))
        if name is None and rows == 0:
            continue
        sources.append((run_id, run_file(warehouse, name, rows)))
    return sources


def _take_file(writer: tantivy.IndexWriter, con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """The run's versions from its Parquet file: each url's old document goes (a delete
    touches only what was added before it), its new version comes in."""
    for row in _fetch(con.execute(sql("search/run_file_rows.sql"), {"path": str(path)})):
        writer.delete_documents_by_term("url", str(row[0]))
        writer.add_document(_document(row))


def _take_articles(
    writer: tantivy.IndexWriter, con: duckdb.DuckDBPyConnection, run_id: str
) -> None:
    """The run's urls (from lineage) taken again from ``articles`` by key: its old document
    goes, its current row (if it still has one) comes in. Chunks of KEYS_PER_QUERY: DuckDB
    answers each from the primary key's index, never a scan of the bodies."""
    found = con.execute(sql("search/changed_urls.sql"), {"run_ids": [run_id]}).fetchall()
    urls = [str(url) for (url,) in found]
    for start in range(0, len(urls), KEYS_PER_QUERY):
        keys = urls[start : start + KEYS_PER_QUERY]
        for url in keys:
            writer.delete_documents_by_term("url", url)
        for row in _fetch(con.execute(sql("search/rows_by_key.sql"), {"keys": keys})):
            writer.add_document(_document(row))


def _take(
    writer: tantivy.IndexWriter,
    con: duckdb.DuckDBPyConnection,
    sources: Sequence[tuple[str, Path | None]],
) -> None:
    for run_id, path in sources:
        if path is None:
            _take_articles(writer, con, run_id)
        else:
            _take_file(writer, con, path)


def apply_runs(
    warehouse: Path,
    index: tantivy.Index,
    con: duckdb.DuckDBPyConnection,
    run_ids: Sequence[str],
) -> int:
    """Apply these runs, in order, in one tantivy commit: what each loaded (new and updated
    versions) replaces the url's old document. Read from the run's own Parquet file when it
    checks out, else from ``articles`` by the run's urls; never a scan of ``articles``: the
    cost follows the runs, not the warehouse. A file that fails while read is dropped with
    all the writer took, and every run is taken from ``articles``. Returns how many runs came
    from their files."""
    sources = _run_sources(warehouse, con, run_ids)
    writer = index.writer(WRITER_HEAP_BYTES, WRITER_THREADS)
    try:
        _take(writer, con, sources)
    except (duckdb.Error, ValueError):
        if all(path is None for _, path in sources):
            raise
        writer.rollback()
        sources = [(run_id, None) for run_id, _ in sources]
        _take(writer, con, sources)
    writer.commit()
    writer.wait_merging_threads()
    return sum(path is not None for _, path in sources)


def sync(warehouse: Path, progress: Progress | None = None, rebuild: bool = False) -> SyncResult:
    """Bring the index in step with ``articles``: nothing to do, the runs it missed applied
    again by url, or a build from scratch when there is no index it can trust. Call under the
    run lock."""
    clear_leftovers(warehouse)
    opened = None if rebuild else open_index(warehouse)
    if opened is None:
        return build(warehouse, progress)
    index, state = opened
    con = connect(warehouse, read_only=True)
    try:
        pending = pending_runs(con, state["run_id"])  # type: ignore[arg-type]
        in_step = False
        if pending is not None:
            if pending:
                apply_runs(warehouse, index, con, pending)
                _write_state(search_dir(warehouse), pending[-1])
            index.reload()
            documents = index.searcher().num_docs
            in_step = documents == scalar(con, sql("search/article_count.sql"))
    finally:
        con.close()
    if pending is None or not in_step:
        return build(warehouse, progress)
    return SyncResult("caught_up" if pending else "current", documents, len(pending))


def pending_runs(con: duckdb.DuckDBPyConnection, held: str | None) -> list[str] | None:
    """The runs committed after the one the index holds (every run when it was built before
    the first); None when it holds a run this warehouse never had: not its index."""
    if held == latest_run(con):
        return []
    if held is not None and not scalar(con, sql("search/run_known.sql"), {"run_id": held}):
        return None
    return [
        row[0] for row in con.execute(sql("search/runs_after.sql"), {"run_id": held}).fetchall()
    ]


def keep_in_step(warehouse: Path, progress: Progress | None = None) -> None:
    """``sync`` for the ingest: at a run's start, and in the load right after its commit (the
    index takes the run's urls). A failure leaves the warehouse right and the index behind,
    which the next run or maintenance repairs: it is said, never the run's failure."""
    try:
        sync(warehouse, progress)
    except Exception as exc:  # the articles are committed; the index is only behind
        tell(f"the search index was not updated ({exc}); the next run or maintenance repairs it")


def current_run(warehouse: Path) -> str | None:
    """The warehouse's last run (what an index in step records)."""
    con = connect(warehouse, read_only=True)
    try:
        return latest_run(con)
    finally:
        con.close()
