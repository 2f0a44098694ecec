"""Full-text search (flows/load/search/) through the real pipeline: archived items ingested into a
real warehouse by the ingest flow, then searched; the query language, CJK words inside running
text, the filters, an index that is stale, damaged or not ours, and a real kill of
`article-etl ingest` between the DuckDB commit and the index update."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from flows.cli import main
from flows.ingest import ingest
from flows.load.search import index as search_index
from flows.load.search.query import BadQuery, Hit, search
from flows.load.warehouse import connect, run_lock

from .items import write_item
from .test_crash import cli_env, start_ingest

FILLER = (
    "The report was published on the agency's website together with the full data set, "
    "and officials said they would answer questions from the public next week."
)


def epoch_ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


# name -> (day, title, url, paragraphs)
ITEMS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "tram": (
        "2024-03-04",
        "Council approves the eastern tram line",
        "https://news.example.com/2024/03/tram",
        (
            "The city council approved the eastern tram line on Tuesday after a debate "
            "that lasted two years and drew hundreds of residents to the public gallery.",
            FILLER,
        ),
    ),
    "budget": (
        "2024-05-16",
        "Budget passes after a long debate",
        "https://www.example.net/2024/05/budget",
        (
            "The budget funds road repairs, two new libraries and free public transport for "
            "students; a tram extension was left for next year by the finance committee.",
            FILLER,
        ),
    ),
    "sea": (
        "2024-05-20",
        "Deep-sea survey finds dozens of new species",
        "https://news.example.com/2024/05/sea",
        (
            "Researchers studied photosynthesis in shallow reefs and photosynthetic "
            "bacteria near vents, then catalogued creatures never described before.",
            FILLER,
        ),
    ),
    "zh": (
        "2024-04-01",
        "政府发布新政策",
        "https://cn.example.com/2024/04/policy",
        (
            "政府昨天正式发布了新的环境保护政策，旨在减少城市空气污染并鼓励市民使用公共交通工具出行。"
            "专家认为这项政策将对制造业产生深远影响，企业需要在三年内完成设备升级改造工作。",
            "同一天举行的iPhone发布会吸引了大量关注，分析人士预计新产品将在下个月正式上市销售。",
        ),
    ),
    "ja": (
        "2024-04-02",
        "地方の町で新しいバスが走る",
        "https://jp.example.com/2024/04/bus",
        (
            "政府は気候変動対策の一環として、過疎化が進む山あいの町で電気バスの運行を始めると発表した。"
            "住民からは通院や買い物が便利になるとの声が上がっており、町は利用者の増加を期待している。",
        ),
    ),
}


def write_items(folder: Path, names: list[str], changed: dict[str, str] | None = None) -> None:
    for name in names:
        day, title, url, paragraphs = ITEMS[name]
        extra = (changed or {}).get(name)
        text = (*paragraphs, extra) if extra else paragraphs
        write_item(folder, f"{name}.txt", epoch_ms(day), title, url, text)


@pytest.fixture(scope="module")
def loaded(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse of the items above, loaded by the real ingest flow."""
    root = tmp_path_factory.mktemp("search")
    write_items(root / "in", list(ITEMS))
    summary = ingest(sources=[str(root / "in")], warehouse=str(root / "wh"), workers=1)
    assert summary["new"] == len(ITEMS), summary
    return root / "wh"


def urls(hits: list[Hit]) -> list[str]:
    return [hit.url for hit in hits]


def url_of(name: str) -> str:
    return ITEMS[name][2]


def test_the_load_keeps_the_index_in_step(loaded: Path) -> None:
    state = search_index.read_state(search_index.search_dir(loaded))
    assert state is not None
    assert state["run_id"] == search_index.current_run(loaded)
    assert search_index.sync(loaded) == search_index.SyncResult("current", len(ITEMS))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # a word in the title weighs more than the same word in a body
        ("tram", ["tram", "budget"]),
        ('"public transport"', ["budget"]),
        ('"transport public"', []),
        ("council +budget", ["budget"]),
        ("tram -committee", ["tram"]),
        ("photosynth*", ["sea"]),
        ("title:tram", ["tram"]),
        ('title:"new species"', ["sea"]),
        ("title:debate", ["budget"]),
        ("TRAM", ["tram", "budget"]),
        ("nothing-like-this-anywhere", []),
    ],
)
def test_query_language(loaded: Path, query: str, expected: list[str]) -> None:
    assert urls(search(loaded, query)) == [url_of(name) for name in expected]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("环境", ["zh"]),  # two characters inside a sentence
        ("环境保护政策", ["zh"]),
        ("空气污染", ["zh"]),
        ("环保", []),  # its characters, but not next to each other
        ("気候変動", ["ja"]),
        ("バス", ["ja"]),
        ("政府", ["zh", "ja"]),
        ("iphone", ["zh"]),  # a Latin word written against Chinese text
        ("iPhone发布会", ["zh"]),
        ("title:政策", ["zh"]),
    ],
)
def test_chinese_and_japanese_words_inside_running_text(
    loaded: Path, query: str, expected: list[str]
) -> None:
    assert sorted(urls(search(loaded, query))) == sorted(url_of(name) for name in expected)


def test_snippets_mark_the_matched_words(loaded: Path) -> None:
    (hit,) = search(loaded, "気候変動")
    assert "**気候変動**" in hit.snippet
    assert hit.title == ITEMS["ja"][1]
    assert hit.timestamp == datetime(2024, 4, 2, tzinfo=UTC)
    (hit,) = search(loaded, "photosynthesis")
    assert "**photosynthesis**" in hit.snippet
    assert "**photosynthetic**" not in hit.snippet


def test_filters_by_date_and_host(loaded: Path) -> None:
    assert urls(search(loaded, "tram", host="news.example.com")) == [url_of("tram")]
    assert urls(search(loaded, "tram", host="WWW.EXAMPLE.NET")) == [url_of("budget")]
    assert urls(search(loaded, "tram", since=date(2024, 5, 1))) == [url_of("budget")]
    assert urls(search(loaded, "tram", until=date(2024, 5, 15))) == [url_of("tram")]
    # a day given as until takes in the whole day
    assert urls(search(loaded, "tram", since=date(2024, 5, 16), until=date(2024, 5, 16))) == [
        url_of("budget")
    ]
    assert search(loaded, "tram", since=date(2024, 5, 17), host="www.example.net") == []
    assert len(search(loaded, "the", limit=2)) == 2


@pytest.mark.parametrize(
    ("query", "options", "message"),
    [
        ("-tram", {}, "nothing to search for"),
        ("   ", {}, "nothing to search for"),
        ("x" * 1001, {}, "at most 1000"),
        ("tram", {"limit": 0}, "from 1 to 1000"),
        ("tram", {"limit": 1001}, "from 1 to 1000"),
        ("tram", {"host": "http://a/b"}, "host name"),
        ("tram", {"since": date(2024, 5, 2), "until": date(2024, 5, 1)}, "not before"),
    ],
)
def test_bad_queries_are_refused_with_a_reason(
    loaded: Path, query: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(BadQuery, match=message):
        search(loaded, query, **options)  # type: ignore[arg-type]


def test_command_line_formats_and_errors(loaded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["search", "气候 OR 環境 OR 环境", "--warehouse", str(loaded), "--format", "json"])
        == 0
    )
    (record,) = json.loads(capsys.readouterr().out)
    assert record["url"] == url_of("zh")
    assert record["timestamp"] == "2024-04-01T00:00:00.000000Z"
    assert set(record) == {"score", "timestamp", "title", "url", "snippet"}
    assert main(["search", "tram", "--warehouse", str(loaded), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "score,timestamp,title,url,snippet" and len(lines) == 3
    assert main(["search", "tram", "--warehouse", str(loaded), "--limit", "0"]) == 1
    assert "article-etl: error: limit (--limit) must be" in capsys.readouterr().err
    assert main(["search", "tram", "--warehouse", str(loaded.parent / "none")]) == 1
    assert "no warehouse at" in capsys.readouterr().err


def test_a_stale_index_cannot_return_an_outdated_version(
    loaded: Path, tmp_path: Path, prefect_api: None
) -> None:
    wh = tmp_path / "wh"
    shutil.copytree(loaded, wh)
    old = tmp_path / "old-index"
    shutil.copytree(search_index.search_dir(wh), old)
    # the tram article changes: same url, title and date, another body
    day, title, url, _ = ITEMS["tram"]
    body = ("A late amendment renamed the project the harbour line before the final vote.", FILLER)
    write_item(tmp_path / "in", "tram.txt", epoch_ms(day), title, url, body)
    ingest(sources=[str(tmp_path / "in")], warehouse=str(wh), workers=1)
    assert urls(search(wh, "harbour")) == [url_of("tram")]
    assert search(wh, "gallery") == []
    # The index from before that run, as a crash would leave it, while another run holds the
    # warehouse (so the search cannot repair it): the outdated version is never shown.
    shutil.rmtree(search_index.search_dir(wh))
    shutil.copytree(old, search_index.search_dir(wh))
    with run_lock(wh, 1):
        assert search(wh, "gallery", lock_wait_s=0) == []
        assert urls(search(wh, "tram", lock_wait_s=0)) == [url_of("budget")]
        assert urls(search(wh, "species", lock_wait_s=0)) == [url_of("sea")]
    # with the warehouse free, the next search brings the index in step first
    assert urls(search(wh, "harbour")) == [url_of("tram")]
    assert search(wh, "gallery") == []


def test_a_damaged_or_foreign_index_is_rebuilt_not_trusted(loaded: Path, tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    shutil.copytree(loaded, wh)
    folder = search_index.search_dir(wh)
    (folder / "meta.json").write_text("{not json")
    assert urls(search(wh, "photosynthesis")) == [url_of("sea")]
    # an index that records a run this warehouse never had is another warehouse's
    state = {"format": search_index.STATE_FORMAT, "run_id": "20990101T000000-deadbeef"}
    (folder / search_index.STATE_FILE).write_text(json.dumps(state))
    assert search_index.sync(wh).action == "built"
    # a symlink in the index's place is removed as itself: nothing is written where it points
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(folder)
    folder.symlink_to(elsewhere, target_is_directory=True)
    assert urls(search(wh, "photosynthesis")) == [url_of("sea")]
    assert not folder.is_symlink() and list(elsewhere.iterdir()) == []


def test_a_run_killed_between_commit_and_index_update_is_repaired(
    prefect_api: None, tmp_path: Path
) -> None:
    wh = tmp_path / "wh"
    write_items(tmp_path / "first", ["tram", "zh"])
    log = tmp_path / "ingest.log"
    proc = start_ingest([tmp_path / "first"], wh, log, env=cli_env(), crash_at="after_commit")
    assert proc.wait(timeout=300) == -9, log.read_text(errors="replace")[-3000:]
    con = connect(wh, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == 2
    finally:
        con.close()
    state = search_index.read_state(search_index.search_dir(wh))
    assert state is not None and state["run_id"] != search_index.current_run(wh)
    # maintenance's repair (on a copy) takes the killed run's urls from articles
    copy = tmp_path / "copy"
    shutil.copytree(wh, copy)
    assert search_index.sync(copy) == search_index.SyncResult("caught_up", 2, 1)
    # the next run notices and repairs it, and loads its own articles into the index too
    write_items(tmp_path / "second", ["ja"])
    ingest(sources=[str(tmp_path / "second")], warehouse=str(wh), workers=1)
    state = search_index.read_state(search_index.search_dir(wh))
    assert state is not None and state["run_id"] == search_index.current_run(wh)
    assert search_index.sync(wh) == search_index.SyncResult("current", 3)
    assert urls(search(wh, "环境")) == [url_of("zh")]
    assert urls(search(wh, "気候変動")) == [url_of("ja")]
    assert urls(search(wh, "tram")) == [url_of("tram")]


def test_the_prefect_task_returns_the_same_hits(loaded: Path) -> None:
    from prefect import flow

    from flows.load.search.tasks import search_articles

    @flow
    def look_up(query: str, warehouse: str) -> list[dict[str, object]]:
        return search_articles(query, warehouse=warehouse, limit=5)

    records = look_up("気候変動 OR tram", str(loaded))
    assert records == [hit.record() for hit in search(loaded, "気候変動 OR tram", limit=5)]
    assert {r["url"] for r in records} == {url_of("ja"), url_of("tram"), url_of("budget")}


def test_an_index_of_another_layout_is_rebuilt(loaded: Path, tmp_path: Path) -> None:
    import tantivy

    wh = tmp_path / "wh"
    shutil.copytree(loaded, wh)
    folder = search_index.search_dir(wh)
    state = (folder / search_index.STATE_FILE).read_text()
    shutil.rmtree(folder)
    folder.mkdir()
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("url", stored=True)
    tantivy.Index(builder.build(), path=str(folder))
    (folder / search_index.STATE_FILE).write_text(state)  # a state that says it is ours
    assert search_index.open_index(wh) is None
    assert urls(search(wh, "photosynthesis")) == [url_of("sea")]


def _behind_by_one_run(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A warehouse whose second run (the tram article changed, the Japanese one new) is
    committed and published while its index holds only the first run, as a run killed
    between its publish and the index update leaves it; the index copy to restore, and the
    second run's Parquet file."""
    wh = tmp_path / "wh"
    write_items(tmp_path / "first", ["tram", "zh"])
    ingest(sources=[str(tmp_path / "first")], warehouse=str(wh), workers=1)
    old = tmp_path / "old-index"
    shutil.copytree(search_index.search_dir(wh), old)
    day, title, url, _ = ITEMS["tram"]
    body = ("A late amendment renamed the project the harbour line before the final vote.", FILLER)
    write_item(tmp_path / "second", "tram.txt", epoch_ms(day), title, url, body)
    write_items(tmp_path / "second", ["ja"])
    summary = ingest(sources=[str(tmp_path / "second")], warehouse=str(wh), workers=1)
    assert (summary["new"], summary["updated"]) == (1, 1), summary
    con = connect(wh, read_only=True)
    try:
        row = con.execute(
            "SELECT parquet_file, new + updated FROM runs WHERE run_id = $run_id",
            {"run_id": search_index.current_run(wh)},
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    published = search_index.run_file(wh, row[0], row[1])
    assert published is not None and published.parent == wh / "parquet"
    return wh, old, published


def _restore(wh: Path, old: Path) -> None:
    shutil.rmtree(search_index.search_dir(wh))
    shutil.copytree(old, search_index.search_dir(wh))


def _assert_in_step(wh: Path) -> None:
    assert urls(search(wh, "harbour")) == [url_of("tram")]
    assert search(wh, "gallery") == []  # the replaced version is gone
    assert urls(search(wh, "気候変動")) == [url_of("ja")]
    assert urls(search(wh, "环境")) == [url_of("zh")]
    assert search(wh, "forgery") == []


def test_a_run_is_applied_from_its_own_parquet_file(prefect_api: None, tmp_path: Path) -> None:
    wh, old, _ = _behind_by_one_run(tmp_path)
    _assert_in_step(wh)  # the load applied it
    _restore(wh, old)
    opened = search_index.open_index(wh)
    assert opened is not None
    index, state = opened
    con = connect(wh, read_only=True)
    try:
        pending = search_index.pending_runs(con, state["run_id"])  # type: ignore[arg-type]
        assert pending == [search_index.current_run(wh)]
        # from the file: the run's two versions, not a scan of articles
        assert search_index.apply_runs(wh, index, con, pending) == 1
    finally:
        con.close()
    index.reload()
    assert index.searcher().num_docs == 3
    _restore(wh, old)
    assert search_index.sync(wh) == search_index.SyncResult("caught_up", 3, 1)
    _assert_in_step(wh)


def _forged(path: Path, into: Path) -> Path:
    """A file like the run's (same schema, same row count) that says something else."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    bodies = ["A forgery that no run ever loaded."] * table.num_rows
    forged = table.set_column(table.schema.get_field_index("body"), "body", [bodies])
    pq.write_table(forged.cast(table.schema), into)
    return into


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbled", "symlink", "extra row"])
def test_a_run_file_that_cannot_be_trusted_falls_back_to_articles(
    prefect_api: None, tmp_path: Path, damage: str
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    wh, old, published = _behind_by_one_run(tmp_path)
    _restore(wh, old)
    if damage == "missing":  # as compaction by maintenance leaves it
        published.unlink()
    elif damage == "truncated":
        published.write_bytes(published.read_bytes()[:-40])
    elif damage == "garbled":  # the footer intact, the column data not
        data = bytearray(published.read_bytes())
        data[4:200] = b"\xff" * 196
        published.write_bytes(bytes(data))
    elif damage == "symlink":  # never followed, whatever it points at
        target = _forged(published, tmp_path / "elsewhere.parquet")
        published.unlink()
        published.symlink_to(target)
    else:  # more rows than the run loaded
        table = pq.read_table(_forged(published, tmp_path / "forged.parquet"))
        pq.write_table(pa.concat_tables([pq.read_table(published), table]), published)
    assert search_index.sync(wh) == search_index.SyncResult("caught_up", 3, 1)
    _assert_in_step(wh)
