"""`article-etl query` as a database shell, through the real command line: files and
statements, streamed output, one timestamp spelling, Ctrl-C, --timeout, who holds the file."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest

from flows.load.warehouse import WarehouseBusy, connect

from .conftest import EXAMPLES, REPO
from .test_crash import article_etl, cli_env

LONG = "SELECT sum(hash(i)) FROM range(1000000000000) t(i)"  # runs for hours


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory, prefect_api: None) -> Path:
    wh = tmp_path_factory.mktemp("shell") / "wh"
    done = subprocess.run(
        [*article_etl(), "ingest", str(EXAMPLES / "items"), "--warehouse", str(wh), "-q"],
        env=cli_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return wh


def query(wh: Path, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*article_etl(), "query", *args, "--warehouse", str(wh)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def running(wh: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [*article_etl(), "query", *args, "--warehouse", str(wh)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _wait_until_open(proc: subprocess.Popen[str], path: Path) -> None:
    """Until the process has ``path`` open (its query is running): an event, not a delay."""
    fds = Path(f"/proc/{proc.pid}/fd")
    while proc.poll() is None:
        for fd in fds.iterdir() if fds.exists() else []:
            try:
                if Path(os.readlink(fd)) == path.resolve():
                    return
            except OSError:
                continue
    raise AssertionError(f"exited {proc.returncode} before opening {path}")


def test_a_missing_sql_file_is_named(wh: Path, tmp_path: Path) -> None:
    done = query(wh, "missing.sql", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == "article-etl: error: no such file: missing.sql"
    (tmp_path / "n.sql").write_text("SELECT 41 + 1 AS n", "utf-8")
    assert "| 42 |" in query(wh, "n.sql", cwd=tmp_path).stdout


def test_every_statement_prints_its_result_in_order(wh: Path) -> None:
    sql = "SELECT 1 AS first; SELECT 2 AS second, 3 AS third"
    table = query(wh, sql).stdout
    assert table.index("| first |") < table.index("| 1     |") < table.index("| second |")
    assert table.count("(1 row)") == 2
    assert query(wh, sql, "--format", "csv").stdout == "first\n1\n\nsecond,third\n2,3\n"
    assert query(wh, sql, "--nl").stdout.splitlines() == [
        '{"first": 1}',
        '{"second": 2, "third": 3}',
    ]


def test_timestamps_are_spelled_one_way_and_read_back_as_timestamps(wh: Path) -> None:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson

    sql = "SELECT url, timestamp FROM articles WHERE timestamp IS NOT NULL ORDER BY url LIMIT 3"
    rows = json.loads(query(wh, sql, "--format", "json").stdout)
    spelled = [r["timestamp"] for r in rows]
    assert all(len(t) == 27 and t[10] == "T" and t.endswith("Z") for t in spelled), spelled
    csv_out = query(wh, sql, "--format", "csv").stdout
    table = pcsv.read_csv(io.BytesIO(csv_out.encode()))
    assert table.schema.field("timestamp").type == pa.timestamp("ns", tz="UTC")
    nl = query(wh, sql, "--nl").stdout
    schema = pa.schema([("url", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC"))])
    read = pjson.read_json(
        io.BytesIO(nl.encode()), parse_options=pjson.ParseOptions(explicit_schema=schema)
    )
    assert read.column("timestamp").to_pylist() == [datetime.fromisoformat(t) for t in spelled]
    assert [r["timestamp"] for r in map(json.loads, nl.splitlines())] == spelled
    assert spelled[0] in query(wh, sql).stdout  # the table too


def test_a_table_caps_its_rows_and_says_so(wh: Path) -> None:
    out = query(wh, "SELECT i FROM range(5000) t(i)").stdout
    assert "| 999 |" in out and "| 1000 |" not in out
    assert out.strip().endswith("--format csv, json or ndjson prints every row)")
    assert (
        len(query(wh, "SELECT i FROM range(5000) t(i)", "--format", "csv").stdout.split()) == 5001
    )


def test_results_stream_before_the_query_ends(wh: Path) -> None:
    with running(wh, "SELECT i FROM range(10000000000) t(i)", "--nl") as proc:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # returns as soon as the first batch is written
        assert json.loads(first) == {"i": 0} and proc.poll() is None
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert proc.returncode == 130


def test_ctrl_c_stops_a_running_query_and_frees_the_file(wh: Path) -> None:
    db = wh / "articles.duckdb"
    with running(wh, LONG) as proc:
        _wait_until_open(proc, db)
        # meanwhile a writer is told what holds the file: a query, not an ingest
        with pytest.raises(WarehouseBusy) as busy:
            connect(wh, wait_s=0.5)
        assert f"locked by `article-etl query` (process {proc.pid})" in str(busy.value)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip() == "article-etl: interrupted", err
    con = connect(wh, wait_s=0)  # read-write at once: nothing holds it any more
    con.close()


def test_timeout_stops_a_query(wh: Path) -> None:
    done = query(wh, LONG, "--timeout", "1")
    assert done.returncode == 1
    assert done.stderr.strip() == "article-etl: error: query stopped by its --timeout of 1 s"
    assert query(wh, "SELECT 1", "--timeout", "0").returncode == 1
