"""Issue 27: nothing read back is trusted, no value makes a run hang or forget.

Real processes throughout: the installed ``article-etl`` command, real folders, a real DuckDB
file. Staging notes and parts are input (forged ones change nothing), listings and folders
that cannot be read are one input's reject, parameters are bounded above as below.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import zlib
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pytest_httpserver import HTTPServer

import flows.executors.batch as batch_module
import flows.load.known as known_module
import flows.load.merge as load_module
from flows import __version__
from flows.core.schema import REJECT_SCHEMA, SOURCE_STATE_SCHEMA, STAGING_SCHEMA
from flows.core.settings import RESUME_DIRNAME
from flows.core.units import BatchResult, Rejection, WorkUnit
from flows.core.urls import BadURL, absolute_http_url, canonical_url
from flows.executors.batch import process_batch
from flows.extract.files import count_files, discover_files, fingerprint
from flows.extract.warc import crawled_at, index_warc
from flows.extract.web.download import LISTING_MAX_BYTES, Downloader, warc_urls
from flows.extract.web.options import WebOptions
from flows.load.known import known_fingerprints
from flows.load.merge import RunRecord, load_run
from flows.load.resume import RESUME_ARTICLES, Resume, note_batch, resume_key
from flows.load.warehouse import connect, finish_compaction, prepare_run

from .conftest import REPO
from .items import write_item
from .test_bad_input import run_like_the_flow
from .test_crash import article_etl, cli_env
from .warcs import page, record, response, write_warc

T0 = 1690933501000


def cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*article_etl(), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )


# --- parameters: bounded above as below, one line naming the parameter --------------------


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("--time-budget", "inf", "time_budget_s (--time-budget) must be a finite number"),
        ("--time-budget", "1e10", "time_budget_s (--time-budget) must be at most 600"),
        ("--min-delay", "inf", "min_delay_s (--min-delay) must be a finite number"),
        ("--min-delay", "3601", "min_delay_s (--min-delay) must be at most 3600"),
        ("--lock-wait", "inf", "lock_wait_s (--lock-wait) must be a finite number"),
        ("--per-host", "100000", "per_host_concurrency (--per-host) must be at most 64"),
        ("--workers", "100000", "workers (--workers) must be at most 1024"),
        ("--batch-size", "100000000", "batch_size (--batch-size) must be at most 1e+06"),
        ("--max-internal-error-share", "nan", "max_internal_error_share"),
    ],
)
def test_out_of_range_parameters_are_refused_in_one_line(
    tmp_path: Path, option: str, value: str, named: str
) -> None:
    done = cli("ingest", tmp_path, "--warehouse", tmp_path / "wh", option, value)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"article-etl: error: {named}"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "wh").exists()  # refused before anything ran


def test_maintenance_parameters_are_bounded_too(tmp_path: Path) -> None:
    for option, value in (("--lock-wait", "inf"), ("--lineage-retention-days", "-1")):
        done = cli("maintenance", "--warehouse", tmp_path / "wh", option, value)
        assert done.returncode == 1 and option in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


# --- WARC: an empty HTTP block, an implausible WARC-Date ----------------------------------


@pytest.mark.parametrize("block", [b"", b"\r\n", b"\r\n\r\n", b"   \r\n\r\n"])
@pytest.mark.parametrize("name", ["empty.warc", "empty.warc.gz"])
def test_a_response_with_an_empty_http_block_is_a_corrupt_record(
    tmp_path: Path, block: bytes, name: str
) -> None:
    path = write_warc(
        tmp_path / name,
        [
            record("response", "https://a.example/x", block),
            response("https://a.example/y", page("Y")),
        ],
    )
    first, second = index_warc(str(path), str(path))
    assert isinstance(first, Rejection) and first.reason == "corrupt_record", first
    assert "no HTTP status" in first.detail
    assert isinstance(second, WorkUnit) and second.url == "https://a.example/y"


@pytest.mark.parametrize(
    ("warc_date", "kept"),
    [
        ("2024-05-01T10:00:00Z", True),
        ("9999-12-31T23:59:59Z", False),
        ("1800-01-01T00:00:00Z", False),
        ("yesterday", False),
    ],
)
def test_crawled_at_passes_the_plausibility_window(warc_date: str, kept: bool) -> None:
    value = crawled_at(WorkUnit("w#0", meta={"crawled_at": warc_date}))
    assert (value is not None) == kept


# --- URLs: no control character, canonical form idempotent ---------------------------------


@pytest.mark.parametrize("control", ["\x00", "\x07", "\x1b", "\x7f", "\x80", "\x85", "\x9b"])
def test_urls_and_images_with_a_control_character_are_refused(control: str) -> None:
    for raw in (f"https://a.example/x{control}[31m", f"https://a{control}.example/"):
        with pytest.raises(BadURL):
            canonical_url(raw)
        assert absolute_http_url(raw, None) is None
    assert absolute_http_url(f"/img{control}.png", "https://a.example/") is None


def test_canonical_form_of_an_odd_netloc_is_stable() -> None:
    canonical = canonical_url("http://&[::1]/a")
    assert canonical == "http://[::1]/a" and canonical_url(canonical) == canonical


# --- staging notes and parts are input: forged ones change nothing -----------------------


def _articles(warehouse: Path) -> list[tuple[object, ...]]:
    con = connect(warehouse, read_only=True, wait_s=5)
    try:
        return con.execute(
            "SELECT url, title, body, timestamp FROM articles ORDER BY url"
        ).fetchall()
    finally:
        con.close()


def _forged_part(path: Path, rows: list[dict[str, object]]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows, schema=STAGING_SCHEMA), path)
    return path


def _evil_row(source: str, fp: str, **change: object) -> dict[str, object]:
    row: dict[str, object] = {
        "url": "https://evil.example/owned",
        "timestamp": datetime(2024, 1, 1, tzinfo=UTC),
        "title": "Forged",
        "body": "A forged article that no input holds.",
        "image": None,
        "source": source,
        "content_hash": "x",
        "timestamp_source": "header",
        "seq": 0,
        "fingerprint": fp,
        "crawled_at": None,
    }
    row.update(change)
    return row


def _note(folder: Path, batch: str, inputs: dict[str, str], articles: object = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    note = {"version": __version__, "articles": articles, "rejects": None, "inputs": inputs}
    (folder / f"done-{batch}.json").write_text(json.dumps(note), encoding="utf-8")


def test_forged_staging_changes_nothing_and_deletes_nothing_outside(
    tmp_path: Path, prefect_api: None
) -> None:
    """A staging folder seeded with forged notes (names with `..`, absolute names, symlinked
    parts, rows that no check would pass), symlinks out of it and foreign Parquet files: two
    real runs load exactly what the inputs hold, the database stays where it is, and nothing
    outside the staging folder is removed or moved."""
    src, warehouse, outside = tmp_path / "in", tmp_path / "wh", tmp_path / "outside"
    write_item(src, "a.txt", T0, "First story", "https://n.example/a")
    env = cli_env()
    first = cli("ingest", src, "--warehouse", warehouse, "--json", env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    before = _articles(warehouse)

    # New inputs for the second run; the forged notes claim their outcomes.
    b = write_item(src, "b.txt", T0 + 1, "Second story", "https://n.example/b")
    c = write_item(src, "c.txt", T0 + 2, "Third story", "https://n.example/c")
    ids = {str(p): fingerprint(p.stat()) for p in (b, c)}
    outside.mkdir()
    precious = outside / "precious.parquet"
    _forged_part(precious, [_evil_row(str(b), ids[str(b)])])
    (outside / "keepsake.txt").write_text("not staging", encoding="utf-8")
    staging = warehouse / "staging"
    dead = staging / "20260101T000000-deadbeef"
    _note(dead, "000001", ids, "../../articles.duckdb")
    _note(dead, "000002", ids, str(precious))
    _note(dead, "000003", ids, "articles-000003.parquet")
    (dead / "articles-000003.parquet").symlink_to(precious)
    for batch, change in (
        ("000004", {"url": "javascript:alert(1)"}),
        ("000005", {"timestamp": datetime(1800, 1, 1, tzinfo=UTC)}),
        ("000006", {"body": ""}),
        ("000007", {"title": "Bell\x07\x1b[31m"}),
        ("000008", {"url": "https://evil.example/\x1b[31m"}),
    ):
        _forged_part(dead / f"articles-{batch}.parquet", [_evil_row(str(b), ids[str(b)], **change)])
        _note(dead, batch, ids, f"articles-{batch}.parquet")
    foreign = pa.table({"source": [str(c)], "anything": [1]})
    pq.write_table(foreign, dead / "articles-000009.parquet")
    _note(dead, "000009", ids, "articles-000009.parquet")
    (dead / "downloads").symlink_to(outside, target_is_directory=True)
    (staging / "20260101T000001-linked").symlink_to(outside, target_is_directory=True)
    (staging / ".resume").mkdir(parents=True, exist_ok=True)
    (staging / ".resume" / "20260101T000002-linked").symlink_to(outside)
    resumed = staging / ".resume" / "20260101T000003-forged"
    resumed.mkdir(parents=True)
    _forged_part(resumed / "articles-000001.parquet", [_evil_row(str(c), ids[str(c)])])
    _note(resumed, "000001", ids, "articles-000001.parquet")
    victim = outside / "20260101T000004-victim"
    victim.mkdir()
    (victim / "data").write_text("someone else's", encoding="utf-8")
    (staging / "20260101T000004-victim.elsewhere").write_text(str(victim), encoding="utf-8")

    second = cli("ingest", src, "--warehouse", warehouse, "--json", env=env)
    assert second.returncode == 0, second.stderr[-2000:]
    summary = json.loads(second.stdout)
    assert (summary["new"], summary["skipped_unchanged"], summary["resumed"]) == (2, 1, 0)

    # What a clean warehouse makes of the same inputs, and nothing else.
    clean = cli("ingest", src, "--warehouse", tmp_path / "clean", "--json", env=env)
    assert clean.returncode == 0, clean.stderr[-2000:]
    assert _articles(warehouse) == _articles(tmp_path / "clean")
    assert set(before) < set(_articles(warehouse))
    assert sorted(p.name for p in outside.iterdir()) == [
        victim.name,
        "keepsake.txt",
        "precious.parquet",
    ]
    assert (victim / "data").exists() and pq.read_table(precious).num_rows == 1
    assert (warehouse / "articles.duckdb").is_file()


def test_a_signed_note_is_still_ignored_when_a_row_fails_the_checks(tmp_path: Path) -> None:
    """The signature says which warehouse wrote a note, the checks what a row may hold: a
    part with a row no transform would write (say, from a buggy version) is not resumed,
    nor is an internal_error (the next run tries it itself)."""
    key = resume_key(tmp_path)
    src = tmp_path / "in"
    paths = [
        write_item(src, f"{i}.txt", T0 + i, f"Story {i}", f"https://r.example/{i}")
        for i in range(2)
    ]
    units = [WorkUnit(str(p), path=str(p), fingerprint=fingerprint(p.stat())) for p in paths]
    folder = tmp_path / "staging" / RESUME_DIRNAME / "20260101T000000-run"
    folder.mkdir(parents=True)
    bad = {"url": "https://r.example/0", "body": "one line\n\nafter an empty one"}
    part = _forged_part(
        folder / "articles-000001.parquet",
        [_evil_row(units[0].source, units[0].fingerprint or "", **bad)],
    )
    rejects = folder / "rejects-000001.parquet"
    rows = [
        {
            "source": units[1].source,
            "reason": "internal_error",
            "detail": "x",
            "seq": 1,
            "fingerprint": None,
        }
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=REJECT_SCHEMA), rejects)
    result = BatchResult("000001", articles_path=str(part), rejects_path=str(rejects))
    note_batch(folder, result, units, key)

    earlier = Resume(tmp_path / "staging", key=key)
    assert set(earlier.found) == {u.source for u in units}  # the note itself is genuine
    earlier.mark(units)
    assert not any(RESUME_ARTICLES in u.meta for u in units)
    # Signed by another warehouse: not even read.
    assert Resume(tmp_path / "staging", key=b"\0" * 32).found == {}


# --- internal_error never strands an input ------------------------------------------------


def _one_run(warehouse: Path, src: Path, run_no: int) -> tuple[int, dict[str, int]]:
    """A run as the flow makes it: (inputs processed, reasons)."""
    done = run_like_the_flow(warehouse, src, f"20260101T00000{run_no}-run")
    return done["fresh"], done["reasons"]


def test_an_internal_error_is_tried_again_by_the_next_runs_and_on_a_new_version(
    tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in"
    write_item(src, "fine.txt", T0, "Fine", "https://i.example/fine")
    buggy = write_item(src, "buggy.txt", T0 + 1, "Buggy", "https://i.example/buggy")
    real = batch_module.transform_with_budget

    def bug(
        unit: WorkUnit, budget_s: float, run_start: object = None
    ) -> object:  # a library's bug on this one input
        if unit.source == str(buggy):
            return Rejection(
                unit.source, "internal_error", "KeyError: a bug", unit.seq, unit.fingerprint
            )
        return real(unit, budget_s)

    monkeypatch.setattr(batch_module, "transform_with_budget", bug)
    runs = [_one_run(warehouse, src, n) for n in range(1, 5)]
    # The first run does both; the next two try the buggy input again; then it waits.
    assert [n for n, _ in runs] == [2, 1, 1, 0]
    assert runs[1][1] == {"internal_error": 1}

    # A new version (a fix shipped): processed again, and loaded now that it passes.
    monkeypatch.setattr(batch_module, "transform_with_budget", real)
    monkeypatch.setattr(load_module, "__version__", "99.0")
    monkeypatch.setattr(known_module, "__version__", "99.0")
    assert _one_run(warehouse, src, 5) == (1, {})
    assert _one_run(warehouse, src, 6)[0] == 0
    assert [r[0] for r in _articles(warehouse)] == [
        "https://i.example/buggy",
        "https://i.example/fine",
    ]


# --- folders: unreadable ones are counted, any depth is walked ----------------------------


def _without_root_override() -> list[str]:
    """A prefix that runs a command without the power to read any folder: root keeps its
    uid but loses CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so a chmod 000 folder is
    unreadable to it as to anyone."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is needed to drop root's read override")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def test_an_unreadable_folder_is_a_counted_read_error(tmp_path: Path, prefect_api: None) -> None:
    src = tmp_path / "in"
    write_item(src, "ok.txt", T0, "Readable", "https://u.example/ok")
    locked_inside = src / "locked"
    write_item(locked_inside, "hidden.txt", T0 + 1, "Inside", "https://u.example/in")
    locked_source = tmp_path / "locked-source"
    write_item(locked_source, "also.txt", T0 + 2, "Also", "https://u.example/also")
    globbed = tmp_path / "globbed"
    write_item(globbed / "open", "g.txt", T0 + 3, "Globbed", "https://u.example/g")
    locked_globbed = globbed / "shut"
    write_item(locked_globbed, "no.txt", T0 + 4, "Not seen", "https://u.example/no")
    locked = (locked_inside, locked_source, locked_globbed)
    for folder in locked:
        folder.chmod(0)
    argv = ["ingest", str(src), str(locked_source), f"{globbed}/**/*.txt"]
    argv += ["--warehouse", str(tmp_path / "wh"), "--json"]
    try:
        done = subprocess.run(
            [*_without_root_override(), *article_etl(), *argv],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=cli_env(),
            timeout=300,
        )
    finally:
        for folder in locked:
            folder.chmod(0o755)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert (summary["inputs"], summary["new"], summary["rejected"]) == (5, 2, 3)
    assert summary["reasons"] == {"read_error": 3}
    con = connect(tmp_path / "wh", read_only=True, wait_s=5)
    try:
        rejects = con.execute("SELECT source, detail FROM rejects ORDER BY source").fetchall()
    finally:
        con.close()
    assert [r[0] for r in rejects] == sorted(map(str, locked))
    assert all("folder cannot be read" in r[1] for r in rejects)


def test_a_glob_walks_any_depth(tmp_path: Path) -> None:
    deep = tmp_path / "root"
    folder = str(deep)
    os.mkdir(folder)
    for _ in range(sys.getrecursionlimit() + 100):  # os.makedirs itself would recurse
        folder += "/d"
        os.mkdir(folder)
    write_item(Path(folder), "deep.txt", T0, "Deep", "https://d.example/deep")
    write_item(deep, "top.txt", T0, "Top", "https://d.example/top")
    try:
        for pattern in (f"{deep}/**/*.txt", f"{deep}/**"):
            found = [u.source for u in discover_files([pattern])]
            assert sorted(Path(s).name for s in found) == ["deep.txt", "top.txt"], pattern
            assert count_files([pattern]) == 2
    finally:  # bottom up: shutil.rmtree (and pytest's clean-up) would recurse
        while True:
            for entry in os.scandir(folder):
                if not entry.is_dir(follow_symlinks=False):
                    os.unlink(entry.path)
            os.rmdir(folder)
            if folder == str(deep):
                break
            folder = os.path.dirname(folder)


# --- warc.paths.gz listings: cut short or a bomb, that listing alone is rejected -----------


def _bomb(size: int) -> bytes:
    """A gzip stream of ``size`` zero bytes, written piece by piece (never held whole)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(size >> 20)]
    return b"".join(parts) + compressor.flush()


def test_a_cut_or_bomb_listing_is_rejected_and_the_warc_beside_it_loads(
    tmp_path: Path, prefect_api: None
) -> None:
    whole = gzip.compress(b"crawl-data/a.warc.gz\ncrawl-data/b.warc.gz\n" * 50)
    cut = tmp_path / "cut" / "warc.paths.gz"
    cut.parent.mkdir()
    cut.write_bytes(whole[: len(whole) // 2])
    bomb = tmp_path / "bomb" / "warc.paths.gz"
    bomb.parent.mkdir()
    bomb.write_bytes(_bomb(LISTING_MAX_BYTES + (4 << 20)))
    warc = write_warc(
        tmp_path / "good.warc.gz",
        [response(f"https://g.example/{i}", page(f"Good {i}")) for i in range(2)],
    )
    done = cli("ingest", cut, bomb, warc, "--warehouse", tmp_path / "wh", "--json", env=cli_env())
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert (summary["inputs"], summary["new"]) == (4, 2)
    assert summary["reasons"] == {"read_error": 1, "too_large": 1}


def test_a_remote_listing_is_bounded_on_its_decompressed_size(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    bomb = _bomb(LISTING_MAX_BYTES + (4 << 20))  # small on the wire, 68 MiB inflated
    httpserver.expect_request("/bomb/warc.paths.gz").respond_with_data(bomb)
    listing = gzip.compress(b"crawl-data/a.warc.gz\n" * 100)
    httpserver.expect_request("/cut/warc.paths.gz").respond_with_data(listing[: len(listing) // 2])
    options = WebOptions(allow_private_network=True, min_delay_s=0, retries=0)
    found = {
        name: list(
            warc_urls(
                httpserver.url_for(f"/{name}/warc.paths.gz"), "http://b/", Downloader(options)
            )
        )
        for name in ("bomb", "cut")
    }
    assert [(r.reason, "too large" in r.detail) for r in found["bomb"]] == [("too_large", True)]  # type: ignore[union-attr]
    assert [r.reason for r in found["cut"]] == ["read_error"]  # type: ignore[union-attr]


def test_every_signed_note_of_several_is_read(tmp_path: Path) -> None:
    key = resume_key(tmp_path)
    src = tmp_path / "in"
    for n in range(3):
        path = write_item(src, f"{n}.txt", T0 + n, f"Story {n}", f"https://s.example/{n}")
        unit = WorkUnit(str(path), path=str(path), fingerprint=fingerprint(path.stat()))
        folder = tmp_path / "staging" / RESUME_DIRNAME / f"20260101T00000{n}-run"
        folder.mkdir(parents=True)
        result = process_batch([unit], str(folder), "000001")
        note_batch(folder, result, [unit], key)
    assert len(Resume(tmp_path / "staging", key=key).found) == 3


def test_query_shows_no_path_of_the_users_home(tmp_path: Path) -> None:
    warehouse = tmp_path / "wh"
    prepare_run(warehouse)
    done = cli(
        "query",
        "SELECT name, value FROM duckdb_settings()",
        "--warehouse",
        warehouse,
        "--format",
        "csv",
    )
    assert done.returncode == 0, done.stderr
    assert str(Path.home()) not in done.stdout
    assert "secret_directory" in done.stdout


def test_a_warc_file_with_an_internal_error_record_is_read_again(
    tmp_path: Path, warehouse: Path
) -> None:
    """A WARC file is remembered whole (its fingerprint and record count): one record's
    internal_error keeps the whole file from being skipped for the next runs, as for a
    file input."""
    parts = tmp_path / "parts"
    parts.mkdir()
    sources = parts / "sources.parquet"
    state = "warc:100:7:2"
    pq.write_table(
        pa.Table.from_pylist(
            [{"source": "c.warc", "fingerprint": state}], schema=SOURCE_STATE_SCHEMA
        ),
        sources,
    )
    rejects = parts / "rejects.parquet"
    rows = [
        {
            "source": "c.warc#0",
            "reason": "internal_error",
            "detail": "bug",
            "seq": 0,
            "fingerprint": None,
        }
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=REJECT_SCHEMA), rejects)
    remembered = []
    for run_no in range(1, 5):
        prepare_run(warehouse)
        record = RunRecord(
            f"20260101T00000{run_no}-warc", None, datetime.now(UTC), "c.warc", 2, 0, 1
        )
        load_run(warehouse, record, [], [str(rejects)], [], [str(sources)])
        prepare_run(warehouse)
        remembered.append(known_fingerprints(warehouse, ["c.warc"]).get("c.warc") == state)
    assert remembered == [False, False, True, True]


def test_an_input_stranded_by_an_older_version_is_loaded_by_a_real_run(
    tmp_path: Path, prefect_api: None
) -> None:
    """A warehouse of a version before attempts were counted, where an input's last outcome
    was internal_error: the upgraded command processes it again (and loads it), instead of
    skipping it as unchanged for ever."""
    src, warehouse, env = tmp_path / "in", tmp_path / "wh", cli_env()
    write_item(src, "a.txt", T0, "Stranded", "https://s.example/a")
    write_item(src, "b.txt", T0 + 1, "Fine", "https://s.example/b")
    assert cli("ingest", src, "--warehouse", warehouse, env=env).returncode == 0
    con = duckdb.connect(str(warehouse / "articles.duckdb"))
    try:  # as the older version left it: no attempts, no version, a.txt an internal_error
        con.execute("ALTER TABLE source_state DROP COLUMN attempts")
        con.execute("ALTER TABLE source_state DROP COLUMN version")
        con.execute("UPDATE source_state SET outcome = 'internal_error' WHERE source LIKE '%a.txt'")
        con.execute("DELETE FROM articles WHERE url = 'https://s.example/a'")
        con.execute("DELETE FROM lineage WHERE url = 'https://s.example/a'")
    finally:
        con.close()
    again = cli("ingest", src, "--warehouse", warehouse, "--json", env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    summary = json.loads(again.stdout)
    assert (summary["new"], summary["skipped_unchanged"]) == (1, 1)
    assert [r[0] for r in _articles(warehouse)] == ["https://s.example/a", "https://s.example/b"]
    third = json.loads(cli("ingest", src, "--warehouse", warehouse, "--json", env=env).stdout)
    assert third["skipped_unchanged"] == 2


def test_a_shared_staging_folder_cannot_feed_a_run(tmp_path: Path, prefect_api: None) -> None:
    """A cluster's `--staging` folder, writable by others: a forged note there (well-formed,
    plausible rows, right identities, but not signed by this warehouse) and symlinks in its
    `.resume/` are ignored; the run loads what its inputs hold and removes nothing outside."""
    src, warehouse, shared, outside = (tmp_path / n for n in ("in", "wh", "shared", "outside"))
    a = write_item(src, "a.txt", T0, "Real story", "https://c.example/a")
    ids = {str(a): fingerprint(a.stat())}
    forged = shared / RESUME_DIRNAME / "20260101T000000-forged"
    forged.mkdir(parents=True)
    _forged_part(forged / "articles-000001.parquet", [_evil_row(str(a), ids[str(a)])])
    _note(forged, "000001", ids, "articles-000001.parquet")
    outside.mkdir()
    (outside / "keepsake.txt").write_text("not staging", encoding="utf-8")
    (shared / RESUME_DIRNAME / "20260101T000001-linked").symlink_to(outside)
    old = 0  # older than a week: discarded as stale, if it were followed
    os.utime(shared / RESUME_DIRNAME / "20260101T000001-linked", (old, old), follow_symlinks=False)

    argv = ["ingest", src, "--warehouse", warehouse, "--staging", shared, "--json"]
    done = cli(*argv, env=cli_env())
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert (summary["new"], summary["resumed"]) == (1, 0)
    assert [r[:2] for r in _articles(warehouse)] == [("https://c.example/a", "Real story")]
    assert (outside / "keepsake.txt").exists()


def test_a_forged_compaction_log_removes_nothing_outside_the_dataset(
    tmp_path: Path, warehouse: Path
) -> None:
    parquet = warehouse / "parquet"
    parquet.mkdir(parents=True)
    (parquet / "new.parquet").write_bytes(b"PAR1")
    (parquet / "old.parquet").write_bytes(b"PAR1")
    precious = warehouse / "articles.duckdb"
    precious.write_bytes(b"the database")
    elsewhere = tmp_path / "elsewhere.parquet"
    elsewhere.write_bytes(b"PAR1")
    (parquet / ".compaction.log").write_text(
        f"new.parquet\nold.parquet\n../articles.duckdb\n{elsewhere}\n", encoding="utf-8"
    )
    finish_compaction(parquet)
    assert sorted(p.name for p in parquet.iterdir()) == ["new.parquet"]
    assert precious.read_bytes() == b"the database" and elsewhere.exists()
