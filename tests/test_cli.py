"""The command line: exit codes, one-line errors, read-only queries, output formats."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from flows.cli import main

from .items import write_item


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, prefect_api: None) -> Path:
    tmp_path = tmp_path_factory.mktemp("cli")
    src = tmp_path / "in"
    write_item(src, "a.txt", 1690933501000, "Budget passes", "https://city.example/a")
    write_item(src, "b.txt", 1690933502000, "Budget fails", "https://town.example/b")
    (src / "bad.txt").write_text("<!--x-->\n[T](https://x.example/)\n---\n<p>y</p>", "utf-8")
    wh = tmp_path / "wh"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):  # Prefect's log handlers keep the real stderr
        assert main(["ingest", str(src), "--warehouse", str(wh), "--json"]) == 0
    (tmp_path / "summary.json").write_text(out.getvalue(), "utf-8")
    return wh


def test_ingest_prints_summary_and_query_formats(
    loaded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = json.loads((loaded.parent / "summary.json").read_text("utf-8"))
    assert (summary["inputs"], summary["new"], summary["rejected"]) == (3, 2, 1)
    assert summary["reasons"] == {"bad_timestamp": 1}

    sql = "SELECT url, title FROM articles ORDER BY url"
    assert main(["query", sql, "--warehouse", str(loaded), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"url": "https://city.example/a", "title": "Budget passes"},
        {"url": "https://town.example/b", "title": "Budget fails"},
    ]
    assert main(["query", sql, "--warehouse", str(loaded), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "url,title"
    assert (
        main(["query", "SELECT host, articles FROM articles_per_host", "--warehouse", str(loaded)])
        == 0
    )
    out = capsys.readouterr().out
    assert "| city.example | 1        |" in out and "(2 rows)" in out


def test_query_is_read_only(loaded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["query", "DELETE FROM articles", "--warehouse", str(loaded)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("article-etl: error: ") and "read-only" in err
    assert len(err.strip().splitlines()) == 1


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "SELECT 1", "--warehouse", str(tmp_path / "none")]) == 1
    assert "run `article-etl ingest` first" in capsys.readouterr().err
    assert main(["ingest", str(tmp_path / "missing"), "--warehouse", str(tmp_path / "w")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("article-etl: error: no such file") and len(err.splitlines()) == 1


def test_version_and_defaults_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    from flows import __version__

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"article-etl {__version__}"
    with pytest.raises(SystemExit):
        main(["ingest", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: warehouse)" in text and "(default: 1000)" in text
    for kind in ("folders", "globs", "archived feed items", ".gz", "RSS/Atom", "sitemaps"):
        assert kind in text, kind


def test_maintenance_command(loaded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["maintenance", "--warehouse", str(loaded)]) == 0
    out = capsys.readouterr().out
    assert "| files_after    | 1     |" in out and "(4 rows)" in out


def test_cjk_cells_keep_the_table_aligned(capsys: pytest.CaptureFixture[str]) -> None:
    from flows.cli import print_table

    print_table(("title", "n"), [("新闻标题", 1), ("[b]plain[/b]", None)])
    lines = capsys.readouterr().out.splitlines()
    from rich.cells import cell_len

    assert len({cell_len(line) for line in lines[:-1]}) == 1  # every row as wide
    assert "| 新闻标题     | 1    |" in lines and "| [b]plain[/b] | NULL |" in lines


@pytest.mark.timeout(300)
def test_first_run_on_an_empty_prefect_home(tmp_path: Path) -> None:
    """What a newcomer runs first: the command line on a Prefect home that does not exist
    yet, so its temporary server creates and migrates a new database before the run."""
    import os
    import subprocess
    import sys

    src = tmp_path / "in"
    write_item(src, "a.txt", 1690933501000, "First run", "https://first.example/a")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(tmp_path / "empty-prefect-home")
    cli = Path(sys.executable).with_name("article-etl")
    done = subprocess.run(
        [str(cli), "ingest", str(src), "--warehouse", str(tmp_path / "wh")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| new               | 1     |" in done.stdout
    assert (tmp_path / "empty-prefect-home").is_dir()
