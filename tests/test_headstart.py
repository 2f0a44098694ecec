"""The command line's head start: batches begun before Prefect, taken over by the flow."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows import headstart
from flows.load import connect, prepare
from flows.pool import prestart

from .items import write_item


@pytest.fixture(autouse=True)
def _no_pending_head_start() -> Iterator[None]:
    """A head start a test leaves untaken must not meet a later test's flow."""
    yield
    headstart._pending = None


def _items(src: Path, n: int) -> list[Path]:
    return [
        write_item(src, f"{i:03d}.txt", 1690933501000 + i, f"Story {i}", f"https://n.example/{i}")
        for i in range(n)
    ]


@pytest.mark.usefixtures("prefect_api")
def test_the_head_starts_batches_become_the_runs_first_batches(
    tmp_path: Path, warehouse: Path
) -> None:
    from flows.flow import ingest

    src = tmp_path / "in"
    _items(src, 9)
    (src / "empty.html").write_bytes(b"")
    pool = prestart(2)
    head = headstart.begin([str(src)], str(warehouse), 3, None, pool)
    assert head is not None
    head.join()
    assert [len(b) for b in head.first] == [3, 3] and set(head.running) == {"000001", "000002"}

    summary = asyncio.run(
        ingest(sources=[str(src)], warehouse=str(warehouse), batch_size=3, workers=2)
    )

    assert summary["run_id"] == head.run_id  # the flow took the head start over
    assert head.running == {}  # both of its batches answered their tasks
    assert (summary["inputs"], summary["new"], summary["rejected"]) == (10, 9, 1)
    assert summary["batches"] == 4  # 3 + 3 begun before the flow, then 3 and 1
    assert not head.stage.exists()
    con = connect(warehouse, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM articles").fetchall() == [(9,)]
        assert con.execute("SELECT count(*) FROM source_state").fetchall() == [(10,)]
    finally:
        con.close()


@pytest.mark.usefixtures("prefect_api")
def test_a_head_start_is_dropped_when_the_warehouse_changed_before_the_take_over(
    tmp_path: Path, warehouse: Path
) -> None:
    from flows.flow import ingest

    src = tmp_path / "in"
    files = _items(src, 8)
    first = asyncio.run(
        ingest(sources=[str(f) for f in files[:3]], warehouse=str(warehouse), workers=2)
    )
    assert first["new"] == 3

    head = headstart.begin([str(src)], str(warehouse), 2, None, prestart(2))
    assert head is not None
    head.join()
    assert head.stands(head.known) and len(head.known) == 3 and head.running
    # Another run changes the warehouse between the head start's read and the take-over.
    con = connect(warehouse)
    try:
        con.execute("DELETE FROM source_state WHERE source = ?", [str(files[0])])
    finally:
        con.close()

    summary = asyncio.run(
        ingest(sources=[str(src)], warehouse=str(warehouse), batch_size=2, workers=2)
    )
    assert summary["run_id"] != head.run_id
    assert not head.stage.exists() and head.running == {}  # its work thrown away
    # files[0] is seen again (its article unchanged), the other two stay skipped.
    assert (summary["new"], summary["unchanged"], summary["skipped_unchanged"]) == (5, 1, 2)


def test_a_head_start_made_for_another_run_is_thrown_away(tmp_path: Path) -> None:
    src = tmp_path / "in"
    _items(src, 2)
    pool = prestart(1)
    try:
        head = headstart.begin([str(src)], str(tmp_path / "wh"), 10, None, pool)
        assert head is not None
        head.join()
        assert head.stands({})
        assert head.stage.is_dir() and list(head.running) == ["000001"]
        assert headstart.take([str(src)], str(tmp_path / "other"), 10, 1, None) is None
        assert not head.stage.exists() and head.running == {}
        assert headstart.take([str(src)], str(tmp_path / "wh"), 10, 1, None) is None  # gone
    finally:
        pool.close()


def test_no_head_start_when_the_warehouse_cannot_be_read(tmp_path: Path) -> None:
    src, wh = tmp_path / "in", tmp_path / "wh"
    _items(src, 2)
    wh.mkdir()
    (wh / "articles.duckdb").write_bytes(b"not a database" * 100)
    pool = prestart(1)
    try:
        head = headstart.begin([str(src)], str(wh), 10, None, pool)
        assert head is not None
        assert not head.stands({}) and head.error is not None and head.running == {}
        head.discard()
    finally:
        pool.close()


def test_web_sources_get_no_head_start(tmp_path: Path) -> None:
    pool = prestart(1)
    try:
        assert headstart.begin(["https://n.example/feed"], str(tmp_path), 10, None, pool) is None
    finally:
        pool.close()


def test_another_runs_recovery_leaves_a_head_starts_folder_alone(tmp_path: Path) -> None:
    src, wh = tmp_path / "in", tmp_path / "wh"
    _items(src, 2)
    pool = prestart(1)
    try:
        head = headstart.begin([str(src)], str(wh), 10, None, pool)
        assert head is not None
        head.join()
        concurrent.futures.wait(list(head.running.values()))
        (wh / "staging" / "crashed-run").mkdir()
        prepare(wh)  # another run's recovery, under the run lock this one does not hold yet
        assert head.stage.is_dir() and not (wh / "staging" / "crashed-run").exists()
        assert head.stands(head.known)
        head.release()  # this process ended, say
        prepare(wh)
        assert not head.stage.exists()
        assert not head.stands(head.known)  # its batches' parts are gone: the run starts afresh
    finally:
        pool.close()
