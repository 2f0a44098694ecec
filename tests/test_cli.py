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
    kinds = ("folders", "globs", "archived feed items", ".gz", "RSS/Atom", "sitemaps", "WARC")
    for kind in (*kinds, "warc.paths.gz"):
        assert kind in text, kind


def test_maintenance_command(loaded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["maintenance", "--warehouse", str(loaded)]) == 0
    out = capsys.readouterr().out
    assert "| files_after       | 1 " in out and "(7 rows)" in out
    assert "| search_index      | current (" in out


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


def _snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file below ``root``: size, mtime and content, to prove nothing changed."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_query_is_read_only_by_construction(
    loaded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every way out of the warehouse is refused with one line, and nothing on disk moves."""
    import duckdb

    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE articles AS SELECT 'https://o.example/' AS url")
    con.close()
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours", "utf-8")
    (own_parquet,) = (loaded / "parquet").glob("*.parquet")
    before, other_before = _snapshot(loaded), other.read_bytes()
    attacks = {
        "copy over its own parquet": (
            f"COPY (SELECT * FROM articles WHERE false) TO '{own_parquet}' (FORMAT parquet)"
        ),
        "attach another warehouse": (f"ATTACH '{other}' AS o (READ_WRITE); DELETE FROM o.articles"),
        "read_blob": f"SELECT * FROM read_blob('{secret}')",
        "read_text": f"SELECT content FROM read_text('{secret}')",
        "read_csv": f"SELECT * FROM read_csv('{secret}')",
        "glob": f"SELECT * FROM glob('{tmp_path}/*')",
        "export database": f"EXPORT DATABASE '{tmp_path / 'dump'}'",
        "set": "SET threads = 1",
        "unlock": "SET lock_configuration = false",
        "external access": "SET enable_external_access = true",
        "time zone": "SET TimeZone = 'Europe/Paris'",
        "install": "INSTALL httpfs",
        "load": "LOAD httpfs",
        "write": "DELETE FROM articles",
    }
    capsys.readouterr()
    for name, attack in attacks.items():
        assert main(["query", attack, "--warehouse", str(loaded)]) == 1, name
        err = capsys.readouterr().err
        assert err.startswith("article-etl: error: ") and len(err.strip().splitlines()) == 1, name
    assert _snapshot(loaded) == before
    assert other.read_bytes() == other_before
    assert not (tmp_path / "dump").exists()
    # ...and it still answers on its own tables, in UTC.
    sql = "SELECT current_setting('TimeZone') AS tz, count(*) AS n FROM articles"
    assert main(["query", sql, "--warehouse", str(loaded), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"tz": "UTC", "n": 2}]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_export_writes_the_articles_only_to_out(
    loaded: Path, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from flows.core.schema import ARTICLE_SCHEMA

    before = _snapshot(loaded)
    out = tmp_path / f"articles.{fmt}"
    where = "url LIKE '%city.example%'"
    assert (
        main(["export", str(out), "--format", fmt, "--where", where, "--warehouse", str(loaded)])
        == 0
    )
    assert capsys.readouterr().out.strip() == f"exported 1 article to {out} ({fmt})"
    if fmt == "parquet":
        table = pq.read_table(out)
        assert table.schema.equals(ARTICLE_SCHEMA)
        rows = table.to_pylist()
    elif fmt == "csv":
        rows = pcsv.read_csv(out).to_pylist()
    else:
        rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [(r["url"], r["title"]) for r in rows] == [("https://city.example/a", "Budget passes")]
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary left
    assert _snapshot(loaded) == before


def test_export_where_is_one_predicate_on_a_locked_connection(
    loaded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.parquet"
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours", "utf-8")
    escapes = [
        "true) UNION ALL SELECT 1, NULL, 'x', 'y', NULL --",  # leave the filter: not parsed
        "true; DROP TABLE articles",  # a second statement: not parsed
        f"title IN (SELECT content FROM read_text('{secret}'))",  # outside files: refused
        "no_such_column = 1",
    ]
    capsys.readouterr()
    for where in escapes:
        assert main(["export", str(out), "--where", where, "--warehouse", str(loaded)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("article-etl: error: ") and len(err.strip().splitlines()) == 1
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["secret.txt"]
    # Into the warehouse's own dataset: refused before anything is opened.
    inside = loaded / "parquet" / "export.parquet"
    assert main(["export", str(inside), "--warehouse", str(loaded)]) == 1
    assert "inside the warehouse" in capsys.readouterr().err and not inside.exists()
    # No filter: every article, the format taken from the suffix.
    assert main(["export", str(tmp_path / "all.jsonl"), "--warehouse", str(loaded)]) == 0
    assert capsys.readouterr().out.strip().endswith("(jsonl)")
    assert len((tmp_path / "all.jsonl").read_text("utf-8").splitlines()) == 2


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("--batch-size", "0", "batch_size (--batch-size)"),
        ("--batch-size", "-1", "batch_size (--batch-size)"),
        ("--workers", "-3", "workers (--workers)"),
        ("--min-delay", "-1", "min_delay_s (--min-delay)"),
        ("--max-internal-error-share", "2", "max_internal_error_share"),
    ],
)
def test_bad_parameters_fail_in_one_line_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, named: str
) -> None:
    src = tmp_path / "in"
    write_item(src, "a.txt", 1690933501000, "T", "https://a.example/a")
    wh = tmp_path / "wh"
    assert main(["ingest", str(src), "--warehouse", str(wh), option, value]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"article-etl: error: {named}") and len(err.strip().splitlines()) == 1
    assert not wh.exists()  # nothing ran


# Each option's default is its flow's (or function's) parameter default: one source, settings.
# Per command: the flow or function the command runs, and its parameters' options (dest names).
OPTIONS: dict[str, tuple[str, dict[str, str]]] = {
    "ingest": (
        "flows.ingest:ingest",
        {
            "warehouse": "warehouse",
            "batch_size": "batch_size",
            "workers": "workers",
            "time_budget_s": "time_budget",
            "lock_wait_s": "lock_wait",
            "allow_private_network": "allow_private_network",
            "user_agent": "user_agent",
            "per_host_concurrency": "per_host",
            "min_delay_s": "min_delay",
            "dask_address": "dask",
            "staging": "staging",
            "max_internal_error_share": "max_internal_error_share",
            "warc_base_url": "warc_base_url",
        },
    ),
    "maintenance": (
        "flows.maintenance:maintenance",
        {
            "warehouse": "warehouse",
            "lineage_retention_days": "lineage_retention_days",
            "lock_wait_s": "lock_wait",
            "rebuild_search": "rebuild_search",
        },
    ),
    "query": ("flows.query:run_query", {"wait_s": "wait", "timeout_s": "timeout"}),
    "export": ("flows.query:export", {"fmt": "format", "where": "where", "wait_s": "wait"}),
}
ARGV = {"ingest": ["x"], "maintenance": [], "query": ["SELECT 1"], "export": ["out.csv"]}


@pytest.mark.parametrize("command", sorted(OPTIONS))
def test_the_cli_defaults_are_the_flows_defaults(command: str) -> None:
    import importlib
    import inspect

    from prefect import Flow

    from flows.cli import parse_args

    target, options = OPTIONS[command]
    module, name = target.split(":")
    function = getattr(importlib.import_module(module), name)
    is_flow = isinstance(function, Flow)
    parameters = inspect.signature(function.fn if is_flow else function).parameters
    defaults = {n: p.default for n, p in parameters.items() if p.default is not p.empty}
    if is_flow:  # every parameter of a flow with a default is an option of its command
        assert set(defaults) == set(options)
    args = parse_args([command, *ARGV[command]])
    for parameter, dest in options.items():
        given = getattr(args, dest)
        given = str(given) if isinstance(given, Path) else given  # a flow's warehouse is a str
        assert given == defaults[parameter], (command, parameter)


def test_the_web_options_defaults_are_the_ingest_flows() -> None:
    import inspect

    from flows.extract.web.options import WebOptions
    from flows.ingest import ingest

    parameters = inspect.signature(ingest.fn).parameters
    options = WebOptions()
    for name in ("per_host_concurrency", "min_delay_s", "user_agent", "allow_private_network"):
        assert getattr(options, name) == parameters[name].default, name
