"""Isolation and guards (issue 16): one input's exception is its own reject, implausible
stored dates never win, parameters are checked at the edge, truncated gzip is a read_error."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import flows.transform.article as article_module
from flows.core.params import InvalidParameter, validate_params
from flows.core.schema import STAGING_SCHEMA
from flows.core.units import Article, Rejection, WorkUnit, printable, row
from flows.executors.batch import articles_table, process_batch, transform_unit
from flows.extract.files import discover_files
from flows.load.known import known_fingerprints
from flows.load.merge import RunRecord, load_run
from flows.load.warehouse import connect, prepare_run, staging_dir

from .items import PARAGRAPHS, item_text

T0 = 1690933501000


def _page(url: str, extra_head: str = "") -> str:
    return (
        f'<html><head><title>Page {url}</title><link rel="canonical" href="{url}">{extra_head}'
        f"</head><body><article><p>{PARAGRAPHS[0]}</p><p>{PARAGRAPHS[1]}</p></article>"
        "</body></html>"
    )


# --- isolation -------------------------------------------------------------------------


def test_an_unforeseen_exception_rejects_that_input_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library raising on one page (here: its extraction step, made to raise on one URL)
    turns into that page's internal_error; the batch's other pages are written."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        (src / f"p{i}.html").write_text(_page(f"https://a.example/{i}"), "utf-8")
    real = article_module.extract_body

    def flaky(tree: object, url: str | None, **kwargs: object) -> str:
        if url == "https://a.example/1":
            raise KeyError("a library bug")
        return real(tree, url, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(article_module, "extract_body", flaky)
    units = [u for u in discover_files([str(src)]) if isinstance(u, WorkUnit)]
    result = process_batch(units, str(tmp_path), "b1")
    assert (result.articles, result.rejected, result.reasons) == (2, 1, {"internal_error": 1})
    rejects = pq.read_table(result.rejects_path).to_pylist()
    assert rejects[0]["source"].endswith("p1.html")
    assert rejects[0]["detail"] == "KeyError: 'a library bug'"
    urls = pq.read_table(result.articles_path).column("url").to_pylist()
    assert sorted(urls) == ["https://a.example/0", "https://a.example/2"]


def test_offset_beyond_a_day_never_fails_the_batch(tmp_path: Path) -> None:
    """`+99:00` made htmldate raise ValueError: it is now a reject or an article, never more."""
    bad = _page(
        "https://a.example/99",
        '<meta property="article:published_time" content="2024-05-01T10:00:00+99:00">',
    )
    (tmp_path / "p99.html").write_text(bad, "utf-8")
    (tmp_path / "ok.html").write_text(_page("https://a.example/ok"), "utf-8")
    units = [u for u in discover_files([str(tmp_path)]) if isinstance(u, WorkUnit)]
    result = process_batch(units, str(tmp_path), "b1")
    assert result.articles + result.rejected == 2 and result.articles >= 1


def test_a_file_name_that_is_not_utf8_is_read_and_kept_readable(tmp_path: Path) -> None:
    name = os.fsencode(tmp_path) + b"/bad_\xff.html"
    with open(name, "wb") as fh:
        fh.write(_page("https://a.example/bytes").encode())
    (unit,) = discover_files([str(tmp_path)])
    assert isinstance(unit, WorkUnit)
    assert unit.source.endswith("bad_\\xff.html")  # backslash escape: valid text, lossless
    assert os.fsencode(unit.path) == name  # the real name, still opened
    result = process_batch([unit], str(tmp_path), "b1")
    assert result.articles == 1
    assert pq.read_table(result.articles_path).column("source").to_pylist() == [unit.source]


def test_printable_is_lossless_and_leaves_valid_text_alone() -> None:
    assert printable("héllo/新闻.html") == "héllo/新闻.html"
    assert printable(os.fsdecode(b"a\xff\xfeb")) == "a\\xff\\xfeb"
    assert printable("lone \ud800") == "lone \\ud800"


def test_a_row_arrow_cannot_hold_rejects_only_that_input() -> None:
    unit = WorkUnit(source="s0", data=_page("https://a.example/r").encode())
    good = transform_unit(unit)
    assert isinstance(good, Article)
    fields = {name: getattr(good, name) for name in Article.__slots__}
    broken = Article(**{**fields, "title": "lone \ud800", "source": "s1", "seq": 1})
    rejects: list[Rejection] = []
    # row() escapes what Unicode cannot hold; a row built another way must still fail alone.
    table = articles_table([row(good), {**row(broken), "title": "lone \ud800"}], rejects)
    assert table.column("source").to_pylist() == ["s0"]
    assert [(r.source, r.reason) for r in rejects] == [("s1", "internal_error")]


# --- the load: implausible stored dates never win -------------------------------------------


def _stage(warehouse: Path, run_id: str, url: str, ts: datetime | None, title: str) -> Path:
    stage = staging_dir(warehouse, run_id)
    stage.mkdir(parents=True)
    row = {
        "url": url,
        "timestamp": ts,
        "title": title,
        "body": f"{title} body text",
        "image": None,
        "source": f"{run_id}.html",
        "content_hash": f"hash-{run_id}",
        "timestamp_source": "meta",
        "seq": 0,
        "fingerprint": None,
    }
    part = stage / "articles-000001.parquet"
    pq.write_table(pa.Table.from_pylist([row], schema=STAGING_SCHEMA), part)
    return part


def _load_one(warehouse: Path, run_id: str, ts: datetime | None, title: str) -> tuple:
    prepare_run(warehouse)
    part = _stage(warehouse, run_id, "https://a.example/story", ts, title)
    record = RunRecord(run_id, None, datetime.now(UTC), "test", 1, 0, 1)
    counts, _ = load_run(warehouse, record, [str(part)], [])
    return counts.new, counts.updated, counts.superseded


@pytest.mark.parametrize("bad_year", [2099, 9999, 1900])
def test_an_implausible_stored_date_loses_to_a_plausible_one(
    warehouse: Path, bad_year: int
) -> None:
    assert _load_one(warehouse, "r1", datetime(bad_year, 1, 1, tzinfo=UTC), "Wrong") == (1, 0, 0)
    assert _load_one(warehouse, "r2", datetime(2024, 5, 1, tzinfo=UTC), "Right") == (0, 1, 0)
    # ...and once plausible, an implausible version cannot take the url back.
    assert _load_one(warehouse, "r3", datetime(bad_year, 6, 1, tzinfo=UTC), "Again") == (0, 0, 1)
    con = connect(warehouse, read_only=True)
    try:
        rows = con.execute('SELECT title, year("timestamp") FROM articles').fetchall()
    finally:
        con.close()
    assert rows == [("Right", 2024)]


def test_a_plausible_stored_date_still_beats_an_undated_version(warehouse: Path) -> None:
    assert _load_one(warehouse, "r1", datetime(2024, 5, 1, tzinfo=UTC), "Dated") == (1, 0, 0)
    assert _load_one(warehouse, "r2", None, "Undated") == (0, 0, 1)


# --- parameters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"batch_size": 0}, "batch_size (--batch-size)"),
        ({"batch_size": -1}, "batch_size (--batch-size)"),
        ({"workers": -3}, "workers (--workers)"),
        ({"workers": 0}, "workers (--workers)"),
        ({"min_delay_s": -0.5}, "min_delay_s (--min-delay)"),
        ({"time_budget_s": 0}, "time_budget_s (--time-budget)"),
        ({"lock_wait_s": -1}, "lock_wait_s (--lock-wait)"),
        ({"per_host_concurrency": 0}, "per_host_concurrency (--per-host)"),
        ({"max_internal_error_share": 1.5}, "max_internal_error_share"),
        ({"max_internal_error_share": float("nan")}, "max_internal_error_share"),
        ({"batch_size": 2.5}, "batch_size (--batch-size)"),
    ],
)
def test_parameters_out_of_range_name_themselves(params: dict, named: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        validate_params(params)
    assert str(info.value).startswith(named) and "\n" not in str(info.value)


def test_defaults_and_edges_pass() -> None:
    validate_params(
        {
            "batch_size": 1,
            "workers": None,
            "min_delay_s": 0,
            "lock_wait_s": 0,
            "max_internal_error_share": 0,
            "time_budget_s": 0.1,
        }
    )


# --- truncated gzip ----------------------------------------------------------------------


def test_a_truncated_gzip_page_is_a_read_error(tmp_path: Path) -> None:
    whole = gzip.compress(item_text(T0, "Cut", "https://a.example/cut").encode() * 4)
    for cut in (len(whole) - 8, len(whole) // 2):  # without its trailer; half of it
        path = tmp_path / f"cut{cut}.html.gz"
        path.write_bytes(whole[:cut])
        outcome = transform_unit(WorkUnit(source=str(path), path=str(path)))
        assert isinstance(outcome, Rejection) and outcome.reason == "read_error", outcome
    whole_path = tmp_path / "whole.html.gz"
    whole_path.write_bytes(whole)
    assert isinstance(transform_unit(WorkUnit(source="w", path=str(whole_path))), Article)


def test_discovery_goes_on_past_an_entry_that_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.extract.files as files_module

    for name in ("a.html", "b.html", "c.html"):
        (tmp_path / name).write_text(_page(f"https://a.example/{name}"), "utf-8")
    real = files_module.fingerprint
    calls: list[int] = []

    def fragile(st: os.stat_result) -> str:
        calls.append(1)
        if len(calls) == 2:  # the second entry in walk order: b.html
            raise OverflowError("a platform oddity")
        return real(st)

    monkeypatch.setattr(files_module, "fingerprint", fragile)
    found = list(discover_files([str(tmp_path)]))
    assert [type(f).__name__ for f in found] == ["WorkUnit", "Rejection", "WorkUnit"]
    rejected = found[1]
    assert isinstance(rejected, Rejection) and rejected.source.endswith("b.html")
    assert (rejected.reason, rejected.detail) == (
        "internal_error",
        "OverflowError: a platform oddity",
    )


def test_a_non_utf8_name_is_loaded_and_skipped_as_unchanged_next_time(
    tmp_path: Path, warehouse: Path
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    with open(os.fsencode(src) + b"/caf\xe9.html", "wb") as fh:  # Latin-1 name
        fh.write(_page("https://a.example/cafe").encode())
    prepare_run(warehouse)
    (unit,) = discover_files([str(src)])
    assert isinstance(unit, WorkUnit)
    stage = staging_dir(warehouse, "r1")
    stage.mkdir(parents=True)
    result = process_batch([unit], str(stage), "000001")
    record = RunRecord("r1", None, datetime.now(UTC), "test", 1, 0, 1)
    counts, _ = load_run(warehouse, record, [str(result.articles_path)], [])
    assert counts.new == 1
    prepare_run(warehouse)
    known = known_fingerprints(warehouse, [unit.source, "other"])
    assert known == {str(src / "caf\\xe9.html"): unit.fingerprint}  # the next run skips it


def test_a_page_gzipped_in_several_members_is_read_whole(tmp_path: Path) -> None:
    """`gzip -c a >> f; gzip -c b >> f` makes one file of two members: both are the page."""
    text = item_text(T0, "Two members", "https://a.example/two").encode()
    half = len(text) // 2
    path = tmp_path / "two.txt.gz"
    path.write_bytes(gzip.compress(text[:half]) + gzip.compress(text[half:]))
    outcome = transform_unit(WorkUnit(source=str(path), path=str(path)))
    assert isinstance(outcome, Article) and outcome.title == "Two members", outcome
    assert outcome.body.endswith(transform_unit(WorkUnit(source="w", data=text)).body[-40:])
