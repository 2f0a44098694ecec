"""What earlier runs saw is asked of DuckDB for a run's own inputs, chunk by chunk, on a real
warehouse that remembers far more sources than the run touches."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from flows import __version__
from flows.extract.discover import chunked
from flows.extract.files import fingerprint
from flows.extract.warc import file_state
from flows.extract.web.options import Validator, WebOptions
from flows.load.known import Known
from flows.load.warehouse import INTERNAL_ERROR_ATTEMPTS, connect, prepare_run
from flows.plan import plan

from .items import write_item
from .warcs import page, response, write_warc

T0 = 1690933501000
OTHERS = 50_000  # sources of earlier runs that this run never sees


def _remember(warehouse: Path, rows: list[tuple[str, str, str, int, str | None]]) -> None:
    """source_state rows as earlier runs leave them, plus OTHERS sources of other inputs."""
    con = connect(warehouse)
    try:
        con.execute(
            "INSERT INTO source_state (source, fingerprint, outcome, run_id, attempts, version) "
            "SELECT '/elsewhere/' || i || '.html', 'fp' || i, 'article', 'old', 1, $version "
            "FROM range($n) AS t(i)",
            {"n": OTHERS, "version": __version__},
        )
        if rows:
            con.executemany(
                "INSERT INTO source_state "
                "(source, fingerprint, outcome, run_id, attempts, version) "
                "VALUES (?, ?, ?, 'old', ?, ?)",
                rows,
            )
        con.execute(
            "INSERT INTO http_validators VALUES ('https://a.example/feed', '\"e1\"', NULL, "
            "'h1', 'old')"
        )
    finally:
        con.close()


def _state(path: Path) -> str:
    return fingerprint(os.stat(path))


def test_a_run_asks_only_for_its_own_inputs_one_question_per_chunk(
    tmp_path: Path, warehouse: Path
) -> None:
    src = tmp_path / "in"
    paths = [
        write_item(src, f"{i:04d}.txt", T0 + i, f"Story {i}", f"https://n.example/{i}")
        for i in range(2500)
    ]
    warc = write_warc(
        src / "crawl.warc", [response(f"https://w.example/{i}", page(f"W {i}")) for i in range(2)]
    )
    prepare_run(warehouse)
    unchanged = paths[:1200]
    stranded, given_up = paths[1200], paths[1201]  # internal_error: tried again, given up on
    changed = paths[1202]
    _remember(
        warehouse,
        [(str(p), _state(p), "article", 1, __version__) for p in unchanged]
        + [
            (str(stranded), _state(stranded), "internal_error", 1, __version__),
            (
                str(given_up),
                _state(given_up),
                "internal_error",
                INTERNAL_ERROR_ATTEMPTS,
                __version__,
            ),
            (str(changed), "1:1", "article", 1, __version__),
            (str(warc), file_state(_state(warc), 2), "indexed", 1, __version__),
        ],
    )
    known = Known(warehouse)
    try:
        router, total, chunks = plan(
            [str(src)], tmp_path / "stage", known, WebOptions(), known.validators, 1000, 2
        )
        fresh = [unit.source for chunk in chunks for unit in chunk]
        asked = known.queries
        feed = known.validators.get("https://a.example/feed")
        none = known.validators.get("https://a.example/other")
        one = known.get("/elsewhere/7.html")
    finally:
        known.close()
    assert total == 2501
    # 2,500 items and a WARC file of two records: the unchanged ones and the WARC file's
    # records are skipped, the internal_error tried again under this version is not.
    assert router.inputs == 2502 and router.skipped == 1200 + 1 + 2
    assert str(stranded) in fresh and str(changed) in fresh and str(given_up) not in fresh
    assert len(fresh) == 2500 - 1201
    # one question per chunk of discovered files, never one per input: the router reuses
    # discovery's answers instead of asking again
    assert 1 <= asked <= 5
    assert feed == Validator("https://a.example/feed", '"e1"', None, "h1") and none is None
    assert one == "fp7"


def test_chunks_end_on_size_time_or_a_slow_source() -> None:
    assert [len(c) for c in chunked(range(10), most=4)] == [4, 4, 2]
    assert [len(c) for c in chunked(range(10), ends=lambda i: i == 2)] == [3, 7]

    def slow() -> Iterator[int]:
        yield 1
        time.sleep(0.05)
        yield 2  # past the first one's time: the chunk ends with it
        yield 3

    assert list(chunked(slow(), seconds=0.01)) == [[1, 2], [3]]


def test_lookups_end_with_discovery(warehouse: Path) -> None:
    """The lookups' read-only connection never outlives discovery: the load must be able to
    open the file to write, in the same process."""
    prepare_run(warehouse)
    known = Known(warehouse)
    assert known.fingerprints([f"/in/{i}" for i in range(20)]) == {}
    known.close()
    con = connect(warehouse)  # read-write, same process: possible only once it is closed
    con.close()
    with pytest.raises(RuntimeError, match="discovery is over"):
        known.get("/in/1")


@pytest.mark.usefixtures("prefect_api")
def test_a_run_into_a_warehouse_that_remembers_much_more_skips_and_loads_right(
    tmp_path: Path, warehouse: Path
) -> None:
    from flows.ingest import ingest

    src = tmp_path / "in"
    for i in range(3):
        write_item(src, f"{i}.txt", T0 + i, f"Story {i}", f"https://n.example/{i}")
    first = ingest(sources=[str(src)], warehouse=str(warehouse))
    assert (first["new"], first["skipped_unchanged"]) == (3, 0)
    _remember(warehouse, [])
    write_item(src, "1.txt", T0 + 10, "Story 1, updated", "https://n.example/1", marker="v2")
    write_item(src, "3.txt", T0 + 3, "Story 3", "https://n.example/3")
    second = ingest(sources=[str(src)], warehouse=str(warehouse))
    assert second["inputs"] == 4
    assert (second["new"], second["updated"], second["skipped_unchanged"]) == (1, 1, 2)
    assert second["reconciliation"].endswith("0 rejected + 2 skipped unchanged")
    con = duckdb.connect(str(warehouse / "articles.duckdb"), read_only=True)
    try:
        titles = con.execute("SELECT url, title FROM articles ORDER BY url").fetchall()
        remembered = con.execute("SELECT count(*) FROM source_state").fetchall()
    finally:
        con.close()
    assert titles == [
        ("https://n.example/0", "Story 0"),
        ("https://n.example/1", "Story 1, updated"),
        ("https://n.example/2", "Story 2"),
        ("https://n.example/3", "Story 3"),
    ]
    assert remembered == [(OTHERS + 4,)]
