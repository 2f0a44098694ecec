"""Crash safety: kill -9 a real `article-etl ingest` process at several points.

After each kill the warehouse is exactly as before that run or as after it (tables compared
with an uninterrupted reference run), the Parquet glob shows only complete files with exactly
ARTICLE_SCHEMA and no duplicated rows, and the next run completes the work.

The subprocesses talk to the session's test Prefect API (PREFECT_API_URL), so none of them
starts its own temporary server. The load-phase kills use the fault-injection hook of
flows/load/merge.py (ARTICLE_ETL_CRASH_AT), which SIGKILLs the process at that exact point.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.core.schema import ARTICLE_SCHEMA
from flows.core.units import WorkUnit
from flows.executors.batch import process_batch
from flows.extract.files import discover_files
from flows.load.merge import RunRecord, load_run
from flows.load.warehouse import CRASH_AT_ENV, connect, prepare_run, staging_dir

from .conftest import REPO
from .items import item_text, write_item
from .warcs import page, response, write_warc

T0 = 1690933501000

# --- helpers shared with test_concurrency.py -------------------------------------------------


def cli_env(**extra: str) -> dict[str, str]:
    """Environment for a subprocess that uses the session's test Prefect API (no own server).

    Call it inside a test that uses the ``prefect_api`` fixture.
    """
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if k != CRASH_AT_ENV}
    env.update(
        PREFECT_API_URL=str(PREFECT_API_URL.value()),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        ARTICLE_ETL_WORKERS="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def article_etl() -> list[str]:
    """The installed console script of this venv (the real command users run)."""
    script = Path(sys.executable).with_name("article-etl")
    return [str(script)] if script.exists() else [sys.executable, "-m", "flows.cli"]


def run_cli(*args: str | Path, check: bool = False) -> subprocess.CompletedProcess[str]:
    """``article-etl ARGS`` run as a user runs it, against the session's Prefect API (call it
    in a test that uses ``prefect_api``); with ``check`` it must exit 0."""
    done = subprocess.run(
        [*article_etl(), *map(str, args)],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def start_ingest(
    sources: Sequence[str | Path],
    warehouse: Path,
    log: Path,
    *,
    batch_size: int = 5,
    env: dict[str, str],
    options: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """`article-etl ingest` in its own process group (so killpg takes its workers too)."""
    argv = [*article_etl(), "ingest", *map(str, sources), "--warehouse", str(warehouse)]
    argv += ["--batch-size", str(batch_size), "--workers", "1", "--json", *options]
    with open(log, "wb") as out:
        return subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def wait_for(
    condition: Callable[[], bool],
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
    timeout: float = 60,
) -> None:
    """Poll ``condition()`` (while ``proc`` is still running)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise AssertionError(f"process ended (rc {proc.returncode}) too early:\n{tail}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)


def notes(warehouse: Path) -> list[Path]:
    """The notes of a run's finished batches (flows/load/resume.py)."""
    return list((warehouse / "staging").glob("*/done-*.json"))


def transforming(warehouse: Path, parts: int = 2) -> bool:
    """At least ``parts`` batches of a run have written their staging parts."""
    return len(list((warehouse / "staging").glob("*/articles-*.parquet"))) >= parts


def dataset(warehouse: Path) -> tuple[int, list[tuple[Any, ...]]]:
    """What a reader of the Parquet glob sees: every file complete, exactly the schema.

    Returns (number of files, all rows sorted).
    """
    files = sorted((warehouse / "parquet").glob("*.parquet"))
    rows: list[tuple[Any, ...]] = []
    for path in files:
        table = pq.read_table(path)  # raises on a partial file
        assert table.schema.equals(ARTICLE_SCHEMA), (path, table.schema)
        rows += [tuple(r.values()) for r in table.to_pylist()]
    if files:  # and DuckDB, the other reader of the contract, reads the same glob
        glob = str(warehouse / "parquet" / "*.parquet")
        with duckdb.connect() as con:  # not the shared default connection
            assert con.execute("SELECT count(*) FROM read_parquet(?)", [glob]).fetchall() == [
                (len(rows),)
            ]
    return len(files), sorted(rows, key=repr)


def snapshot(warehouse: Path) -> dict[str, Any]:
    """The warehouse's contents, without what differs between two identical runs (ids, times)."""
    con = connect(warehouse, read_only=True, wait_s=5)
    try:
        q = {
            "articles": "SELECT * FROM articles ORDER BY url",
            "rejects": "SELECT source, reason, detail FROM rejects ORDER BY ALL",
            "lineage": "SELECT url, source, content_hash, timestamp_source FROM lineage "
            "ORDER BY ALL",
            "source_state": "SELECT source, fingerprint, outcome FROM source_state ORDER BY ALL",
            "loaded": "SELECT sum(new), sum(updated), sum(rejected) FROM runs",
            "run_count": "SELECT count(*) FROM runs",
            "distinct_urls": "SELECT count(DISTINCT url) - count(*) FROM articles",
        }
        snap: dict[str, Any] = {k: con.execute(v).fetchall() for k, v in q.items()}
    finally:
        con.close()
    assert snap["distinct_urls"] == [(0,)]  # no duplicated rows
    assert snap["articles"], "an empty warehouse proves nothing"
    snap["parquet"] = dataset(warehouse)
    return snap


# --- the crash scenarios ----------------------------------------------------------------------


@dataclass
class World:
    sources: list[str]
    base: Path  # the warehouse before the run that is killed
    before: dict[str, Any]
    after: dict[str, Any]  # an uninterrupted run on a copy of base
    summary: dict[str, Any]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, prefect_api: None) -> World:
    from flows.ingest import ingest

    root = tmp_path_factory.mktemp("crash")
    a, b = root / "a", root / "b"
    for i in range(10):
        write_item(a, f"a{i:03d}.txt", T0 + i, f"Story {i}", f"https://n.example/{i}")
    (a / "bad.txt").write_text(item_text("soon", "T", "https://n.example/t"), "utf-8")
    # The killed run: new articles, newer versions of old ones, a duplicate and a reject.
    for i in range(60):
        write_item(b, f"b{i:03d}.txt", T0 + 10_000 + i, f"News {i}", f"https://m.example/{i}")
    for i in range(3):
        write_item(b, f"u{i}.txt", T0 + 20_000, f"Story {i} v2", f"https://n.example/{i}")
    write_item(b, "dup.txt", T0 + 10_000, "News 0", "HTTPS://M.example/0")
    (b / "empty.html").write_bytes(b"")
    # A web archive in the same run: its records are killed and resumed with the rest.
    write_warc(
        b / "crawl.warc.gz",
        [response(f"https://w.example/{i}", page(f"Archived {i}")) for i in range(20)],
    )

    base, ref = root / "base", root / "ref"
    ingest(sources=[str(a)], warehouse=str(base), batch_size=20, workers=1)
    shutil.copytree(base, ref)
    run = ingest(sources=[str(a), str(b)], warehouse=str(ref), batch_size=20, workers=1)
    summary = run
    assert (summary["new"], summary["updated"], summary["duplicates"]) == (80, 3, 1)
    return World([str(a), str(b)], base, snapshot(base), snapshot(ref), summary)


def _same_tables(got: dict[str, Any], want: dict[str, Any]) -> None:
    for key in ("articles", "rejects", "lineage", "source_state", "loaded", "run_count"):
        assert got[key] == want[key], key


@pytest.mark.timeout(180)
@pytest.mark.parametrize("point", ["transform", "before_commit", "after_commit"])
def test_kill_9_leaves_before_or_after_and_next_run_completes(
    world: World, point: str, tmp_path: Path
) -> None:
    from flows.ingest import ingest

    wh = tmp_path / "wh"
    shutil.copytree(world.base, wh)
    log = tmp_path / "ingest.log"
    env = cli_env(**({CRASH_AT_ENV: point} if point != "transform" else {}))
    proc = start_ingest(world.sources, wh, log, env=env)
    try:
        if point == "transform":  # kill the whole group, workers too, after a few batches
            wait_for(lambda: len(notes(wh)) >= 2, proc, log)
            kill_group(proc)
        else:  # the hook kills the flow process itself at that point
            proc.wait(timeout=120)
    finally:
        kill_group(proc)
    assert proc.returncode == -signal.SIGKILL, log.read_text(errors="replace")[-3000:]

    # What the killed run's finished batches did: the next run takes it instead of redoing it.
    finished = sum(len(json.loads(p.read_text())["inputs"]) for p in notes(wh))
    # The run's own Parquet file (staging/<run>/<run>.parquet), written before the commit.
    pending = [p for p in (wh / "staging").glob("*/*.parquet") if p.stem == p.parent.name]
    got = snapshot(wh)
    if point == "after_commit":
        _same_tables(got, world.after)  # committed: the run happened
        # Its Parquet file is complete but still in staging, out of the glob's sight.
        assert got["parquet"] == world.before["parquet"]
        assert len(pending) == 1
    else:
        assert got == world.before  # nothing of the run is visible
        assert len(pending) == (1 if point == "before_commit" else 0)

    run = ingest(sources=world.sources, warehouse=str(wh), batch_size=20, workers=1)
    summary = run
    final = snapshot(wh)
    assert final["parquet"] == world.after["parquet"]  # the committed file got published
    assert not any((wh / "staging").glob("*/*")), "staging is cleaned up"
    if point == "after_commit":  # the work was done; the next run only finishes publishing
        assert summary["skipped_unchanged"] == summary["inputs"]
        final["run_count"] = [(final["run_count"][0][0] - 1,)]
    else:  # the work is done, exactly as the uninterrupted run did it
        for key in ("inputs", "new", "updated", "unchanged", "duplicates", "rejected"):
            assert summary[key] == world.summary[key], key
        assert summary["resumed"] == finished
        if point == "transform":
            assert finished >= 2 * 5  # two batches (of 5) at least were not done again
    _same_tables(final, world.after)


@pytest.mark.timeout(180)
def test_a_killed_run_staged_elsewhere_is_resumed_and_leaves_nothing_there(
    world: World, tmp_path: Path
) -> None:
    """`--staging` outside the warehouse (a cluster's shared folder): a run killed before its
    commit is resumed by the next, and neither leaves a folder behind."""
    from flows.ingest import ingest

    wh, shared = tmp_path / "wh", tmp_path / "shared"
    shutil.copytree(world.base, wh)
    log = tmp_path / "ingest.log"
    env = cli_env(**{CRASH_AT_ENV: "before_commit"})
    proc = start_ingest(world.sources, wh, log, env=env, options=["--staging", str(shared)])
    try:
        proc.wait(timeout=120)
    finally:
        kill_group(proc)
    assert proc.returncode == -signal.SIGKILL, log.read_text(errors="replace")[-3000:]
    finished = sum(len(json.loads(p.read_text())["inputs"]) for p in shared.glob("*/done-*"))
    assert finished and list((wh / "staging").glob("*.elsewhere"))

    summary = ingest(
        sources=world.sources, warehouse=str(wh), batch_size=20, workers=1, staging=str(shared)
    )
    assert summary["resumed"] == finished
    for key in ("inputs", "new", "updated", "unchanged", "duplicates", "rejected"):
        assert summary[key] == world.summary[key], key
    _same_tables(snapshot(wh), world.after)
    assert list(shared.iterdir()) == [] and not list((wh / "staging").glob("*.elsewhere"))


def _runs_on(warehouse: Path) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort

    async def fetch() -> list[Any]:
        async with get_client() as client:
            runs = await client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=50)
        return [r for r in runs if r.parameters.get("warehouse") == str(warehouse)]

    return asyncio.run(fetch())


@pytest.mark.timeout(180)
def test_ctrl_c_stops_at_once_and_next_run_completes(world: World, tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the whole foreground group, as a terminal sends it) mid-transform:
    the command exits 130 within seconds, no worker survives, Prefect shows the run ended,
    nothing of it is visible, and the next run does the work exactly once."""
    from flows.ingest import ingest

    wh = tmp_path / "wh"
    shutil.copytree(world.base, wh)
    log = tmp_path / "ingest.log"
    argv = [*article_etl(), "ingest", *world.sources, "--warehouse", str(wh)]
    argv += ["--batch-size", "5", "--workers", "1"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env=cli_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # A shell without job control starts background commands with SIGINT ignored.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        wait_for(lambda: len(notes(wh)) >= 2, proc, log)
        os.killpg(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=30)
        text = log.read_text(errors="replace")
        assert rc == 130, text[-3000:]
        assert "article-etl: interrupted" in text
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the workers go with the flow process
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("a process of the interrupted ingest is still running")
    finally:
        kill_group(proc)

    (interrupted,) = _runs_on(wh)
    assert interrupted.state.type.value in ("CRASHED", "CANCELLED"), interrupted.state
    assert snapshot(wh) == world.before  # nothing of the run is visible
    finished = sum(len(json.loads(p.read_text())["inputs"]) for p in notes(wh))

    summary = ingest(sources=world.sources, warehouse=str(wh), batch_size=20)
    for key in ("inputs", "new", "updated", "unchanged", "duplicates", "rejected"):
        assert summary[key] == world.summary[key], key
    assert summary["resumed"] == finished >= 2 * 5  # its finished batches were not redone
    final = snapshot(wh)
    assert final["parquet"] == world.after["parquet"]
    _same_tables(final, world.after)
    assert not any((wh / "staging").glob("*/*")), "staging is cleaned up"


# --- the same for the other writers: a retried load, the maintenance compaction ----------------


def test_load_retried_after_its_commit_neither_doubles_nor_loses(
    tmp_path: Path, warehouse: Path
) -> None:
    """Prefect retries load-warehouse on failure; a failure after the commit (here the rename
    into parquet/) must not merge the run twice on the retry."""
    src = tmp_path / "in"
    write_item(src, "a.txt", T0, "A", "https://n.example/a")
    write_item(src, "b.txt", T0, "B", "https://n.example/b")
    (src / "c.txt").write_text("not html", "utf-8")
    prepare_run(warehouse)
    stage = staging_dir(warehouse, "run1")
    stage.mkdir(parents=True)
    units = [u for u in discover_files([str(src)]) if isinstance(u, WorkUnit)]
    result = process_batch(units, str(stage), "000001")
    record = RunRecord("run1", None, datetime.now(UTC), str(src), 3, 0, 3)
    parts = ([result.articles_path], [result.rejects_path])
    (warehouse / "parquet").write_text("in the way", "utf-8")  # the rename will fail
    with pytest.raises(OSError):
        load_run(warehouse, record, *parts)  # type: ignore[arg-type]
    (warehouse / "parquet").unlink()
    counts, name = load_run(warehouse, record, *parts)  # type: ignore[arg-type]
    assert (counts.new, counts.rejected, name) == (2, 1, "run1.parquet")
    snap = snapshot(warehouse)
    assert len(snap["rejects"]) == 1 and len(snap["lineage"]) == 2
    assert snap["run_count"] == [(1,)]
    assert snap["parquet"][0] == 1 and not stage.exists()


def _parquet_file(path: Path, urls: Sequence[str]) -> None:
    rows = [
        {
            "url": u,
            "timestamp": datetime(2024, 1, 1, tzinfo=UTC),
            "title": u,
            "body": u,
            "image": None,
        }
        for u in urls
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=ARTICLE_SCHEMA), path, compression="zstd")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("point", ["compaction_before_rename", "compaction_after_rename"])
def test_kill_9_during_compaction_loses_nothing(point: str, warehouse: Path) -> None:
    folder = warehouse / "parquet"
    folder.mkdir(parents=True)
    for n in range(3):
        _parquet_file(folder / f"run{n}.parquet", [f"https://n.example/{n}/{i}" for i in range(5)])
    files, rows = dataset(warehouse)
    code = (
        "import sys, pathlib, flows.maintenance as m; m.compact_parquet(pathlib.Path(sys.argv[1]))"
    )
    env = {**os.environ, CRASH_AT_ENV: point}
    proc = subprocess.run([sys.executable, "-c", code, str(warehouse)], env=env, cwd=REPO)
    assert proc.returncode == -signal.SIGKILL
    seen = dataset(warehouse)[1]
    if point == "compaction_before_rename":
        assert seen == rows  # the compacted file is not in the glob yet
    else:  # replaced files not deleted yet: rows twice until recovery, never fewer
        assert set(seen) == set(rows) and len(seen) == 2 * len(rows)
    prepare_run(warehouse)  # what the next ingest or maintenance run does first
    after_files, after_rows = dataset(warehouse)
    assert after_rows == rows
    assert after_files == (1 if point == "compaction_after_rename" else files)
    assert not list(folder.glob(".*"))  # no temporary file or log left
