"""The package as a user installs it: a wheel built from this checkout, installed into a fresh
virtual environment with the lock file, runs the quick start from another folder (so nothing
is read from the checkout: the SQL comes from inside the wheel)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import EXAMPLES, REPO


def _run(cmd: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=900, **kwargs
    )
    assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.timeout(900)
def test_wheel_in_a_fresh_venv_runs_the_quick_start(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, REPO])
    (wheel,) = dist.glob("article_etl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "flows/sql/ddl/articles.sql" in names and "flows/sql/views/article_hosts.sql" in names
    assert not any(n.startswith("sql/") for n in names)  # no top-level package named sql

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv])
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q"]
    _run([*pip, "-r", REPO / "requirements.lock", wheel])

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "VIRTUAL_ENV"))}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    cli = venv / "bin" / "article-etl"
    ingest = _run([cli, "ingest", EXAMPLES], cwd=elsewhere, env=env)
    query = _run(
        [cli, "query", "SELECT count(*) AS articles FROM articles"], cwd=elsewhere, env=env
    )
    print(ingest.stdout, query.stdout, sep="\n")  # shown with -s: the closing note quotes it
    assert (elsewhere / "warehouse" / "articles.duckdb").is_file()
    assert int(query.stdout.splitlines()[3].strip(" |")) > 0
    # the installed package, not the checkout, answered
    where = _run(
        [venv / "bin" / "python", "-c", "import flows.core.sqlfiles as s; print(s.SQL_DIR)"],
        cwd=elsewhere,
        env=env,
    )
    assert Path(where.stdout.strip()).is_relative_to(venv)
