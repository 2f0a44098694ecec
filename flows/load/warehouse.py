"""The warehouse folder: connecting to DuckDB, the run lock, tables and views, recovery.

Layout: ``DIR/articles.duckdb``, ``DIR/parquet/<run>.parquet`` (the versions each run loaded,
exactly ARTICLE_SCHEMA), ``DIR/staging/<run>/`` (transform output until the run commits).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from flows.core.atomic import real_dir, regular_file, write_atomic
from flows.core.settings import (
    DB_FILENAME,
    LOAD_MEMORY_MAX_MB,
    LOAD_MEMORY_MB,
    PARQUET_DIRNAME,
    READ_WAIT_S,
    RESUME_DIRNAME,
    STAGING_DIRNAME,
    STORAGE_VERSION,
    STORY_BAND_ROWS,
    STORY_PERMUTATIONS,
)
from flows.core.sqlfiles import sql
from flows.load.resume import keep, remove, resume_key

# An input that failed with internal_error is processed again until it failed so this many
# runs in a row under one version (then it waits for a change of file or of version).
INTERNAL_ERROR_ATTEMPTS = 3
COMPACTION_LOG = ".compaction.log"  # in parquet/: a compaction between its rename and deletes
# Beside parquet/: the next set of files a compaction builds, then (swapped) the old set.
NEXT_PARQUET_DIRNAME = ".parquet.next"
_HOLDER_PID = re.compile(r"\(PID (\d+)\)")
_Config = dict[str, str | bool | int | float | list[str]]  # what duckdb.connect takes

# Created in this order: a later object may depend on an earlier one.
TABLES = (
    "articles",
    "rejects",
    "lineage",
    "current_versions",  # from articles and lineage, when a warehouse made before lacks it
    "runs",
    "source_state",
    "http_validators",
    "article_meta",
    "story_signatures",
    "story_bands",
    "article_stories",
)
VIEWS = (
    "article_hosts",
    "articles_per_day",
    "articles_per_host",  # from article_hosts
    "latest_articles",  # from article_hosts
    "rejects_by_reason",
    "stories",  # from article_hosts
    "articles_per_language",
    "top_authors",  # from article_hosts
)


class WarehouseBusy(RuntimeError):
    """Another process holds the DuckDB file; we waited as long as allowed."""


class WarehouseLocked(RuntimeError):
    """Another ingest run holds the warehouse."""


def tell(message: str) -> None:
    """Say why we wait (or what we adapted): in the run's log inside a Prefect run, else one
    line on stderr."""
    if "prefect" in sys.modules:  # never import Prefect just for this: queries stay fast
        from prefect.exceptions import MissingContextError
        from prefect.logging import get_run_logger

        try:
            get_run_logger().warning(message)
            return
        except MissingContextError:
            pass
    print(f"article-etl: {message}", file=sys.stderr, flush=True)


def db_path(warehouse: Path) -> Path:
    """The DuckDB file of the warehouse."""
    return warehouse / DB_FILENAME


STAGING_POINTER = ".elsewhere"  # RUN_ID.elsewhere: where that run's --staging folder is
RUN_MARKER = ".article-etl-run"  # in a --staging run folder: the run id it belongs to


def staging_dir(warehouse: Path, run_id: str) -> Path:
    """The staging folder of one run."""
    return warehouse / STAGING_DIRNAME / run_id


def point_to_staging(warehouse: Path, run_id: str, folder: Path) -> Path:
    """A run whose staging folder is outside the warehouse (``--staging``) leaves where it is
    in the warehouse's staging folder, so that recovery finds it if the run is killed."""
    pointer = warehouse / STAGING_DIRNAME / f"{run_id}{STAGING_POINTER}"
    pointer.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(pointer, lambda tmp: tmp.write_text(str(folder.absolute()), encoding="utf-8"))
    # The folder says whose it is: recovery acts on a pointed-to folder only when it does, so
    # a forged pointer cannot make it remove or move anything of someone else's.
    marker = folder / RUN_MARKER
    write_atomic(marker, lambda tmp: tmp.write_text(run_id, encoding="utf-8"))
    return pointer


def connect(
    warehouse: Path,
    *,
    read_only: bool = False,
    wait_s: float = READ_WAIT_S,
    memory_mb: int = LOAD_MEMORY_MB,
    sandboxed: bool = False,
) -> duckdb.DuckDBPyConnection:
    """Open the database, waiting (bounded) while another process holds its lock.

    ``sandboxed`` (read-only only): DuckDB's external access off and its configuration locked
    once the time zone is set, so the connection answers queries on the database's own tables
    and nothing else: no file read or written outside it (COPY, EXPORT, read_*, glob), no
    ATTACH, INSTALL or SET. DuckDB cannot take the time zone in the connect configuration
    (its icu extension is not loaded yet), hence SET first, then the lock.
    """
    if sandboxed and not read_only:
        raise ValueError("a sandboxed connection is read-only")
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
                str(path),
                read_only=read_only,
                config=_sandbox(warehouse)
                if sandboxed
                else _config(warehouse, read_only, memory_mb),
            )
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            m = _HOLDER_PID.search(str(exc))
            holder = describe_process(int(m.group(1))) if m else "another process"
            if time.monotonic() >= deadline:
                raise WarehouseBusy(
                    f"{path} is locked by {holder} (waited {wait_s:g} s); "
                    "try again when it has finished"
                ) from exc
            if not told:  # say so once: a silent wait looks like a hang
                tell(f"{path} is in use by {holder}; waiting up to {wait_s:g} s")
                told = True
            time.sleep(min(delay, max(deadline - time.monotonic(), 0.01)))
            delay = min(delay * 2, 1.0)
    # TIMESTAMPTZ values and their dates must not move with the session's zone.
    con.execute("SET TimeZone = 'UTC'")
    if sandboxed:
        con.execute("SET lock_configuration = true")
    return con


def _sandbox(warehouse: Path) -> _Config:
    """No file but the database's own; DuckDB's home and secret folders pointed at the
    warehouse, so that ``duckdb_settings()`` shows no path of the user's home."""
    folder = str(warehouse.absolute())
    return {"enable_external_access": False, "home_directory": folder, "secret_directory": folder}


class WarehouseUnwritable(OSError):
    """The warehouse folder cannot be created or written."""


def require_writable(warehouse: Path) -> None:
    """Fail before anything else, in a line that names the parameter, when the warehouse
    folder cannot be created or written (not Prefect's raw FileNotFoundError later)."""
    try:
        warehouse.mkdir(parents=True, exist_ok=True)
        if not os.access(warehouse, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        raise WarehouseUnwritable(
            f"warehouse {str(warehouse)!r} (parameter warehouse, --warehouse) cannot be "
            f"written: {exc.strerror or exc}"
        ) from None


def describe_process(pid: int) -> str:
    """What holds a file, in a user's words: which article-etl command (an ingest and a query
    are told apart), a Prefect flow run, or the program's name."""
    import psutil

    try:
        proc = psutil.Process(pid)
        argv, name = proc.cmdline(), proc.name()
    except psutil.Error:
        return f"process {pid}"
    words = [Path(a).name for a in argv]
    if any(w == "article-etl" or w == "flows.cli" for w in words):
        command = next((w for w in words if w in _COMMANDS), None)
        label = f"article-etl {command}" if command else "article-etl"
        return f"`{label}` (process {pid})"
    if "prefect.engine" in words:
        return f"a Prefect flow run (process {pid}, an ingest or maintenance)"
    return f"process {pid} ({name})"


_COMMANDS = ("ingest", "query", "export", "maintenance", "search")


def _config(warehouse: Path, read_only: bool, memory_mb: int) -> _Config:
    """The writer's memory is bounded whatever the run's size: DuckDB spills past the limit."""
    if read_only:
        return {}
    (warehouse / STAGING_DIRNAME).mkdir(parents=True, exist_ok=True)
    return {
        # the format of a new file; an existing one keeps its own (maintenance converts it)
        "storage_compatibility_version": STORAGE_VERSION,
        "memory_limit": f"{memory_mb}MB",
        "preserve_insertion_order": False,
        "threads": 1,
        "temp_directory": str(warehouse / STAGING_DIRNAME / "duckdb-tmp"),
    }


def scalar(con: duckdb.DuckDBPyConnection, query: str, params: object = None) -> Any:
    """The one value of a query that always returns one row (an aggregate, a pragma)."""
    row = con.execute(query, params).fetchone()
    if row is None:  # a bug in the query, not a state of the warehouse
        raise LookupError(f"no row from {query[:80]!r}")
    return row[0]


def storage_version(con: duckdb.DuckDBPyConnection) -> str:
    """The storage format of the open file, as DuckDB tags it (``v1.5.0+``)."""
    return str(scalar(con, sql("warehouse/storage_version.sql")))


def convert_storage(warehouse: Path, memory_mb: int = LOAD_MEMORY_MB) -> str | None:
    """Rewrite a database written in another storage format in STORAGE_VERSION's; returns the
    format it had, or None when it already had ours. Call under the run lock.

    The copy is written beside the file and renamed over it: a crash leaves the old file.
    """
    path = db_path(warehouse)
    con = connect(warehouse, memory_mb=memory_mb)
    try:
        found = storage_version(con)
        if found == f"{STORAGE_VERSION}+":
            return None
        con.execute("CHECKPOINT")  # everything in the file, nothing left in its WAL
    finally:
        con.close()
    tmp = warehouse / f".{DB_FILENAME}.convert.tmp"
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(
        config={
            "memory_limit": f"{memory_mb}MB",
            "temp_directory": str(warehouse / STAGING_DIRNAME / "duckdb-tmp"),
        }
    )
    try:
        con.execute(sql("maintenance/attach_source.sql"), {"path": str(path)})
        con.execute(
            sql("maintenance/attach_converted.sql"), {"path": str(tmp), "version": STORAGE_VERSION}
        )
        con.execute(sql("maintenance/copy_database.sql"))
    finally:
        con.close()
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return found


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables that are missing and migrate older ones in place; current_versions,
    new to a warehouse made before it, is built from articles and lineage in the transaction
    that creates it, so it never exists half filled. Story bands of a warehouse made before
    the story window (no day column) are rebuilt, dated, the same way."""
    existing = {row[0] for row in con.execute(sql("warehouse/table_names.sql")).fetchall()}
    # Asked first, while no migration holds memory (one may leave its index in it).
    undated_stories = _undated_stories(con)
    for name in TABLES:
        if name == "current_versions" and name not in existing:
            _migrate(
                con,
                "current_versions",
                [
                    (sql("ddl/current_versions.sql"), {}),
                    (sql("warehouse/expected_versions.sql"), {}),
                    (sql("warehouse/fill_current_versions.sql"), {}),
                    ("DROP TABLE expected_versions", {}),
                ],
            )
        elif name == "story_bands" and undated_stories:
            bands = {"permutations": STORY_PERMUTATIONS, "band_rows": STORY_BAND_ROWS}
            _migrate(
                con,
                "the dated story bands",
                [
                    (sql("warehouse/date_signatures.sql"), {}),
                    ("DROP TABLE IF EXISTS story_bands", {}),
                    (sql("ddl/story_bands.sql"), {}),
                    (sql("warehouse/band_key.sql"), {}),
                    (sql("warehouse/fill_story_bands.sql"), bands),
                ],
            )
        else:
            con.execute(sql(f"ddl/{name}.sql"))


def _undated_stories(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the story tables are a warehouse's made before the story window: a table of
    theirs without its day column."""
    columns: dict[str, set[str]] = {}
    for table, column in con.execute(sql("warehouse/story_columns.sql")).fetchall():
        columns.setdefault(table, set()).add(column)
    return any("day" not in names for names in columns.values())


def _migrate(
    con: duckdb.DuckDBPyConnection,
    what: str,
    statements: Sequence[tuple[str, dict[str, Any]]],
) -> None:
    """A migration in place: one transaction, so a crash leaves the warehouse as it was (and
    no empty table, which the next start would take as built). Key indexes and sorts are
    built in memory, so a large warehouse gets a larger DuckDB memory limit for it, as the
    load does."""
    before = scalar(con, "SELECT current_setting('memory_limit')")
    memory_mb = LOAD_MEMORY_MB
    try:
        while True:
            con.execute("BEGIN TRANSACTION")
            try:
                for text, params in statements:
                    con.execute(text, params or None)
                con.execute("COMMIT")
                return
            except duckdb.OutOfMemoryException:
                con.execute("ROLLBACK")
                if memory_mb >= LOAD_MEMORY_MAX_MB:
                    raise
                memory_mb = min(memory_mb * 4, LOAD_MEMORY_MAX_MB)
                tell(f"building {what} needs more memory: a {memory_mb} MB limit")
                con.execute(sql("warehouse/memory_limit.sql"), {"limit": f"{memory_mb}MB"})
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise
    finally:
        con.execute(sql("warehouse/memory_limit.sql"), {"limit": before})


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create every view of sql/views, in VIEWS order: the code's definitions win."""
    for name in VIEWS:
        con.execute(sql(f"views/{name}.sql"))


def prepare_run(warehouse: Path) -> None:
    """Create what is missing, finish what a crashed run left. What earlier runs saw stays in
    DuckDB: a run asks for its own inputs' (flows/load/known.py), never for all of it."""
    con = connect(warehouse)
    try:
        create_tables(con)
        # Every load re-creates the views (their definitions may change with the code);
        # here only missing ones, so that a run with nothing new writes no catalog change.
        existing = {row[0] for row in con.execute(sql("warehouse/view_names.sql")).fetchall()}
        if not set(VIEWS) <= existing:
            create_views(con)
        committed = [
            row[0] for row in con.execute(sql("warehouse/committed_parquet_files.sql")).fetchall()
        ]
    finally:
        con.close()
    recover(warehouse, committed)


def recover(warehouse: Path, committed: Sequence[str]) -> None:
    """Publish Parquet files of committed runs that a crash left in staging; keep the finished
    batches of runs that never committed, for the next run to resume from; drop the rest.

    Called under the run lock: no other run's staging folder is in use."""
    parquet = warehouse / PARQUET_DIRNAME
    staging = warehouse / STAGING_DIRNAME
    key = resume_key(warehouse)
    for name in set(committed):
        run_id = name.removesuffix(".parquet")
        pending = staging / run_id / name
        # Only the file itself: a symlink in its place would publish whatever it points to.
        if real_dir(pending.parent) and regular_file(pending) and not (parquet / name).exists():
            parquet.mkdir(parents=True, exist_ok=True)
            os.replace(pending, parquet / name)
    done = {name.removesuffix(".parquet") for name in committed}
    if real_dir(staging):
        for run_dir in staging.iterdir():
            if run_dir.name == RESUME_DIRNAME and real_dir(run_dir):
                continue
            if run_dir.suffix == STAGING_POINTER and regular_file(run_dir):
                _recover_elsewhere(run_dir, done, key)
            elif not real_dir(run_dir) or run_dir.name in done:
                remove(run_dir)  # a file or symlink as itself; a committed run's folder
            else:  # a run that never committed: what its finished batches did is kept
                keep(staging, run_dir, key)
    settle_compaction(warehouse)
    if parquet.is_dir():
        for leftover in parquet.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)


def _recover_elsewhere(pointer: Path, done: set[str], key: bytes) -> None:
    """A run's staging folder outside the warehouse: dropped if the run committed, else what
    its finished batches did is kept beside it (where the cluster's workers can read it)."""
    with contextlib.suppress(OSError, ValueError):
        folder = Path(pointer.read_text(encoding="utf-8").strip())
        # Only the run's own folder, named for it and saying so (its marker), never through a
        # symlink: a damaged or forged pointer removes nothing else.
        if (
            folder.is_absolute()
            and folder.name == pointer.stem
            and real_dir(folder)
            and regular_file(folder / RUN_MARKER)
            and (folder / RUN_MARKER).read_text(encoding="utf-8") == pointer.stem
        ):
            if pointer.stem in done:
                remove(folder)
            else:
                keep(folder.parent, folder, key)
    pointer.unlink(missing_ok=True)


def settle_compaction(warehouse: Path) -> None:
    """Finish what a compaction that died left: the folder beside parquet/ holds either the
    unfinished next set (not swapped in) or the old set (swapped out); neither is read by
    anyone, so it goes, as itself (a symlink in its place is removed, not followed). A log
    of the older in-place compaction is finished."""
    remove(warehouse / NEXT_PARQUET_DIRNAME)
    if real_dir(warehouse / PARQUET_DIRNAME):
        finish_compaction(warehouse / PARQUET_DIRNAME)


def finish_compaction(parquet: Path) -> None:
    """Settle a compaction that crashed. Its log names the new file, then the files it replaces:
    those go only if the new file is in place; otherwise the compaction never happened."""
    log = parquet / COMPACTION_LOG
    if not log.exists():
        return
    new, *replaced = log.read_text(encoding="utf-8").split() or [""]
    if _plain_parquet(new) and regular_file(parquet / new):
        for name in replaced:
            # Read back, so checked: a name that would leave parquet/ removes nothing.
            if _plain_parquet(name) and name != new:
                (parquet / name).unlink(missing_ok=True)
    log.unlink()


def _plain_parquet(name: str) -> bool:
    """A Parquet file's plain name inside its folder: no separator, no `..`, not hidden."""
    return name.endswith(".parquet") and "/" not in name and not name.startswith(".")


@contextmanager
def run_lock(warehouse: Path, wait_s: float) -> Iterator[None]:
    """One ingest (or maintenance) at a time per warehouse: an advisory file lock."""
    warehouse.mkdir(parents=True, exist_ok=True)
    path = warehouse / ".ingest.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    told = False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pid = os.pread(fd, 64, 0).decode(errors="replace").strip()
                holder = describe_process(int(pid)) if pid.isdigit() else "another run"
                if time.monotonic() >= deadline:
                    raise WarehouseLocked(
                        f"{holder} is writing {warehouse}; waited {wait_s:g} s, try again later"
                    ) from None
                if not told:
                    tell(
                        f"{holder} is writing {warehouse}; "
                        f"waiting up to {wait_s:g} s for it to finish"
                    )
                    told = True
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock, also when the process dies
