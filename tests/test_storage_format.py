"""The warehouse opens in the newest DuckDB command line on PyPI (1.5) as well as in our DuckDB
2.0, also after 2.0 has written to it again; `maintenance` converts a file written in 2.0's
own format. The DuckDB 1.5 command line is installed from the registry into its own venv."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from flows.core.settings import STORAGE_VERSION

from .conftest import EXAMPLES
from .test_crash import run_cli

DUCKDB_CLI = "duckdb-cli==1.5.6"  # the newest on PyPI when written


@pytest.fixture(scope="module")
def duckdb15(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `duckdb` executable of duckdb-cli 1.5, pip-installed into a venv of its own."""
    venv = tmp_path_factory.mktemp("duckdb15")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", DUCKDB_CLI],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        pytest.skip(
            f"cannot install {DUCKDB_CLI} (is the package registry reachable?): "
            f"{done.stderr.strip().splitlines()[-1:]}"
        )
    return venv / "bin" / "duckdb"


def _count_15(duckdb15: Path, warehouse: Path) -> int:
    done = subprocess.run(
        [
            str(duckdb15),
            "-readonly",
            "-csv",
            "-noheader",
            str(warehouse / "articles.duckdb"),
            "-c",
            "SELECT count(*) FROM articles",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


def _count_20(warehouse: Path) -> int:
    con = duckdb.connect(str(warehouse / "articles.duckdb"), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM articles").fetchall()[0][0]
    finally:
        con.close()


def test_the_warehouse_opens_in_duckdb_15_and_20(
    duckdb15: Path, tmp_path: Path, prefect_api: None
) -> None:
    wh = tmp_path / "wh"
    run_cli("ingest", EXAMPLES / "items", "--warehouse", wh, check=True)
    assert _count_15(duckdb15, wh) == _count_20(wh) > 0
    # DuckDB 2.0 writes to it again: still 1.5's format
    run_cli("ingest", EXAMPLES / "pages", "--warehouse", wh, check=True)
    assert _count_15(duckdb15, wh) == _count_20(wh) > 30


def test_maintenance_converts_a_warehouse_in_the_newer_format(
    duckdb15: Path, tmp_path: Path, prefect_api: None
) -> None:
    wh = tmp_path / "wh"
    run_cli("ingest", EXAMPLES / "items", "--warehouse", wh, check=True)
    before = _count_20(wh)
    # rewrite it as DuckDB 2.0 does by default, as an older article-etl did
    path, newer = wh / "articles.duckdb", tmp_path / "newer.duckdb"
    con = duckdb.connect()
    con.execute("ATTACH $p AS old (READ_ONLY)", {"p": str(path)})
    con.execute("ATTACH $p AS newer (STORAGE_VERSION 'v2.0.0')", {"p": str(newer)})
    con.execute("COPY FROM DATABASE old TO newer")
    con.close()
    newer.replace(path)
    refused = subprocess.run(
        [str(duckdb15), "-readonly", str(path), "-c", "SELECT 1"], capture_output=True, text=True
    )
    assert refused.returncode != 0 and "version number" in refused.stderr

    done = run_cli("maintenance", "--warehouse", wh, check=True)
    assert f"v2.0.0 -> {STORAGE_VERSION}" in done.stdout
    assert _count_15(duckdb15, wh) == _count_20(wh) == before
    con = duckdb.connect(str(path), read_only=True)
    try:  # the primary key and the views came along
        assert con.execute("SELECT count(*) FROM articles_per_host").fetchall()[0][0] > 0
        keys = con.execute(
            "SELECT count(*) FROM duckdb_constraints() "
            "WHERE table_name = 'articles' AND constraint_type = 'PRIMARY KEY'"
        ).fetchall()[0][0]
        assert keys == 1
    finally:
        con.close()
    again = run_cli("maintenance", "--warehouse", wh, check=True)
    assert f"{STORAGE_VERSION} (unchanged)" in again.stdout
