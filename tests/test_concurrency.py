"""Concurrency with real processes: two ingests at once, queries during an ingest, a busy DB.

DuckDB lets no other process open the file while one holds it read-write (DESIGN.md §5), so
the writer holds it only for the short merge and everyone else waits, bounded, saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from flows.load.warehouse import WarehouseLocked, connect, prepare_run

from .conftest import REPO
from .items import write_item
from .test_crash import article_etl, cli_env, kill_group, start_ingest, transforming, wait_for

T0 = 1690933501000

HOLD_DB = """
import duckdb, sys, time
con = duckdb.connect(sys.argv[1])  # read-write: no other process can open the file now
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""
HOLD_RUN_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.pwrite(fd, str(os.getpid()).encode(), 0)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


@contextmanager
def holding(script: str, path: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process holding ``path`` (the DuckDB file or the run lock) for ``seconds``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        kill_group(proc)  # type: ignore[arg-type]


def query(warehouse: Path, sql: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*article_etl(), "query", sql, "--warehouse", str(warehouse), "--format", "json", *extra],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def _count(warehouse: Path, sql: str) -> Any:
    con = connect(warehouse, read_only=True, wait_s=5)
    try:
        return con.execute(sql).fetchall()[0][0]
    finally:
        con.close()


@pytest.mark.usefixtures("prefect_api")
@pytest.mark.timeout(180)
def test_two_ingests_at_once_and_queries_meanwhile(tmp_path: Path) -> None:
    one, two, wh = tmp_path / "one", tmp_path / "two", tmp_path / "wh"
    for i in range(160):
        write_item(one, f"{i:03d}.txt", T0 + i, f"One {i}", f"https://one.example/{i}")
    for i in range(40):
        write_item(two, f"{i:03d}.txt", T0 + i, f"Two {i}", f"https://two.example/{i}")
    env = cli_env()
    logs = [tmp_path / "one.log", tmp_path / "two.log"]
    procs = [start_ingest([one], wh, logs[0], batch_size=4, env=env)]
    # The second starts once the first is transforming under the run lock (its head start
    # transforms before it takes the lock); the first is paused until the second has met the
    # lock, so the two overlap on any machine.
    lock = wh / ".ingest.lock"

    def first_holds_lock() -> bool:
        return lock.exists() and lock.read_text().strip() == str(procs[0].pid)

    wait_for(lambda: transforming(wh, parts=1) and first_holds_lock(), procs[0], logs[0])
    os.killpg(procs[0].pid, signal.SIGSTOP)
    try:
        procs.append(start_ingest([two], wh, logs[1], batch_size=4, env=env))
        wait_for(lambda: "waiting up to" in logs[1].read_text(errors="replace"), timeout=90)
    finally:
        os.killpg(procs[0].pid, signal.SIGCONT)
    answers: list[int] = []
    during_transform = 0
    try:
        # Query until both runs are done: a query never fails (one that meets a merge waits
        # for it), and only ever sees a committed state.
        while any(p.poll() is None for p in procs):
            before = transforming(wh, parts=1)
            q = query(wh, "SELECT count(*) AS n FROM articles", "--wait", "30")
            assert q.returncode == 0, q.stderr
            answers.append(json.loads(q.stdout)[0]["n"])
            # Staging parts before and after: the query ran while a run had not committed.
            during_transform += before and transforming(wh, parts=1)
        for proc in procs:
            proc.wait(timeout=120)
    finally:
        for proc in procs:
            kill_group(proc)
    outputs = [log.read_text(errors="replace") for log in logs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    # The second run waited for the first, and said so.
    waited = [o for o in outputs if "is writing" in o and "waiting up to" in o]
    assert len(waited) == 1, outputs
    assert during_transform >= 1, answers
    assert set(answers) <= {0, 160, 200}  # only ever a committed state, first run first
    assert _count(wh, "SELECT count(*) FROM articles") == 200
    assert _count(wh, "SELECT count(DISTINCT url) FROM articles") == 200
    assert _count(wh, "SELECT count(*) FROM runs") == 2
    assert len(list((wh / "parquet").glob("*.parquet"))) == 2


@pytest.mark.timeout(60)
def test_query_waits_for_a_busy_database_or_fails_in_one_line(warehouse: Path) -> None:
    prepare_run(warehouse)
    db = warehouse / "articles.duckdb"
    sql = "SELECT count(*) AS n FROM articles"
    with holding(HOLD_DB, db, 3.0) as holder:
        started = time.monotonic()
        patient = subprocess.Popen(
            [*article_etl(), "query", sql, "--warehouse", str(warehouse), "--wait", "30"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        impatient = query(warehouse, sql, "--wait", "0.5")
        out, err = patient.communicate(timeout=40)
        waited = time.monotonic() - started
    assert impatient.returncode == 1
    lines = impatient.stderr.strip().splitlines()
    assert lines[-1].startswith("article-etl: error: ") and "locked by process" in lines[-1]
    assert f"process {holder.pid}" in lines[-1] and "waited 0.5 s" in lines[-1]
    assert sum(line.startswith("article-etl: error:") for line in lines) == 1
    assert patient.returncode == 0, err
    assert "waiting up to 30 s" in err and f"process {holder.pid}" in err
    assert "| 0 |" in out and waited >= 2.0


@pytest.mark.usefixtures("prefect_api")
@pytest.mark.timeout(60)
def test_second_ingest_fails_cleanly_when_the_wait_runs_out(tmp_path: Path) -> None:
    from flows.ingest import ingest

    src = tmp_path / "in"
    write_item(src, "a.txt", T0, "A", "https://n.example/a")
    wh = tmp_path / "wh"
    wh.mkdir()
    with (
        holding(HOLD_RUN_LOCK, wh / ".ingest.lock", 10.0) as holder,
        pytest.raises(WarehouseLocked) as info,
    ):
        ingest(sources=[str(src)], warehouse=str(wh), lock_wait_s=1.0, workers=1)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert f"process {holder.pid} (" in message and "is writing" in message
    assert "waited 1 s" in message
    assert not (wh / "articles.duckdb").exists()  # nothing was touched


def _load_task_run_count(flow_run_id: Any) -> int:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def fetch() -> int:
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
        (load,) = [t for t in runs if t.task_key.startswith("load_warehouse")]
        assert load.state is not None and load.state.is_completed()
        return load.run_count

    return asyncio.run(fetch())


@pytest.mark.usefixtures("prefect_api")
@pytest.mark.timeout(90)
def test_busy_database_at_load_is_retried_and_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transient failure (the DuckDB file held by another process) is retried by Prefect:
    the first load attempt gives up after a short wait, the retry waits (bounded) and commits.
    """
    import flows.ingest as flow_module
    from flows.load.merge import load_run
    from flows.load.warehouse import WarehouseBusy

    src = tmp_path / "in"
    for i in range(3):
        write_item(src, f"{i}.txt", T0 + i, f"Story {i}", f"https://n.example/{i}")
    wh = tmp_path / "wh"
    attempts: list[str] = []
    waited: list[float] = []

    with contextlib.ExitStack() as stack:

        def busy_load_run(warehouse: Path, *args: Any, **kwargs: Any) -> Any:
            if not attempts:  # first attempt: another process takes the file for 2.5 s
                stack.enter_context(holding(HOLD_DB, warehouse / "articles.duckdb", 2.5))
                try:
                    return load_run(warehouse, *args, **kwargs, wait_s=0.3)
                except WarehouseBusy:
                    attempts.append("busy")
                    raise
            started = time.monotonic()
            result = load_run(warehouse, *args, **kwargs)  # the real wait: 60 s
            attempts.append("retry")
            waited.append(time.monotonic() - started)
            return result

        monkeypatch.setattr(flow_module, "load_run", busy_load_run)
        # The task's own retry policy, with a shorter delay so the test stays quick.
        quick = flow_module.load_warehouse.with_options(retry_delay_seconds=0.2)
        monkeypatch.setattr(flow_module, "load_warehouse", quick)
        state = flow_module.ingest(
            sources=[str(src)], warehouse=str(wh), workers=1, return_state=True
        )
    summary = state.result()
    assert summary["new"] == 3
    assert attempts == ["busy", "retry"]
    assert 0.5 < waited[0] < 10  # the retry found the file still held and waited it out
    assert _load_task_run_count(state.state_details.flow_run_id) == 2
    assert _count(wh, "SELECT count(*) FROM articles") == 3
